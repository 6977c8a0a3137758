//! `duet status [TASK] [--json] [--watch]`: the backlog's tasks with their typed status
//! (`duet_proto::status`): live from the running duet when one answers on the control socket,
//! else from the store. `--watch` follows the running duet's subscription (and polls when none
//! streams).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::scheduler::Blocker;
use duet_daemon::status::{
    StatusInputs, dependency_rule, state_since, stored_merge_rows, task_statuses, with_merge_queue,
    with_tokens,
};
use duet_proto::status::{StatusSnapshot, TaskStatus, TokenUsage};
use duet_proto::{RequestBody, Response, ResponseBody};
use duet_store::{Store, StoreErrorKind};

use crate::cli::StatusArgs;
use crate::client::{ControlClient, ControlFailure};
use crate::command_error::{CommandError, error_chain};
use crate::suggest::closest;
use crate::workspace::Workspace;

pub fn run(cwd: &Path, args: &StatusArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    if !args.watch {
        let view = current(&ws)?;
        show(&view, args, false)?;
        return Ok(ExitCode::SUCCESS);
    }
    let interval = Duration::try_from_secs_f64(args.interval)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CommandError::user(format!(
                "--interval must be a positive number of seconds, not {}",
                args.interval
            ))
        })?;
    watch(&ws, args, interval)
}

/// Follows the subscription while a duet streams; polls (the store, or a duet that does not
/// stream) every `interval` otherwise. A dropped subscription resumes from its last seq.
fn watch(ws: &Workspace, args: &StatusArgs, interval: Duration) -> Result<ExitCode, CommandError> {
    let client = ControlClient::for_workspace(ws);
    let mut shown = 0;
    let mut live: Option<StatusSnapshot> = None;
    loop {
        let from = live.as_ref().map(|s| s.seq);
        if let Ok(mut subscription) = client.subscribe(from) {
            // An error answer (this duet does not stream) or a dropped connection: poll.
            while let Ok(Response::Ok { body }) = subscription.recv() {
                match (body, live.as_mut()) {
                    (ResponseBody::Status { status }, _) => live = Some(status),
                    (ResponseBody::StatusChanged { changes }, Some(view)) => {
                        for change in changes {
                            view.apply(change);
                        }
                    }
                    _ => continue,
                }
                let view = live.as_ref().expect("set above");
                show(view, args, true)?;
                shown += 1;
                if args.count.is_some_and(|count| shown >= count) {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        let view = current(ws)?;
        show(&view, args, true)?;
        shown += 1;
        if args.count.is_some_and(|count| shown >= count) {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(interval);
    }
}

/// Prints one look; `watching` clears the terminal first and prints JSON as one line.
fn show(view: &StatusSnapshot, args: &StatusArgs, watching: bool) -> Result<(), CommandError> {
    let mut view = view.clone();
    if let Some(wanted) = &args.task {
        let ids: Vec<&str> = view.tasks.iter().map(|t| t.id.as_str()).collect();
        if !ids.contains(&wanted.as_str()) {
            let mut err = CommandError::user(format!("unknown task `{wanted}`"));
            if let Some(close) = closest(wanted, &ids) {
                err = err.hint(format!("did you mean `{close}`?"));
            } else {
                err = err.hint("run `duet status` to list the tasks");
            }
            return Err(err);
        }
        view.tasks.retain(|t| &t.id == wanted);
    }
    if args.json {
        let text = if watching {
            serde_json::to_string(&view)
        } else {
            serde_json::to_string_pretty(&view)
        };
        println!(
            "{}",
            text.map_err(|e| CommandError::internal(e.to_string()))?
        );
    } else {
        if watching && std::io::stdout().is_terminal() {
            print!("\x1b[H\x1b[2J");
        }
        print!("{}", render_table(&view.tasks, now_ms()));
        print!("{}", render_needs_you(&view.tasks, now_ms()));
        if view.live {
            println!("(live from the running duet)");
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Every task now: the stored view, overlaid with the running duet's when one answers. A duet
/// that runs but cannot be asked (permission, no answer) is reported, and the store's view kept.
pub fn current(ws: &Workspace) -> Result<StatusSnapshot, CommandError> {
    let mut view = stored(ws)?;
    let client = ControlClient::for_workspace(ws);
    match client.send(RequestBody::Status { task: None }) {
        Ok(ResponseBody::Status { status }) => overlay(&mut view, status),
        Ok(_) | Err(ControlFailure::NotRunning) => {}
        Err(failure) => {
            let err = failure.into_command_error(None, &[]);
            eprintln!("warning: could not ask the running duet: {err}; showing the stored state");
        }
    }
    Ok(view)
}

/// The view from `.duet/state.db` and the backlog (no database yet: every task is queued).
pub fn stored(ws: &Workspace) -> Result<StatusSnapshot, CommandError> {
    let config = ws.load_config()?;
    let backlog = ws.load_backlog(&config)?;
    let store = match Store::open_read_only(ws.state_db_path()) {
        Ok(store) => Some(store),
        Err(e) if matches!(e.kind(), StoreErrorKind::NotFound) => None,
        Err(e) => return Err(CommandError::user(error_chain(&e))),
    };
    let rows = match &store {
        Some(store) => store
            .task_states()
            .map_err(|e| CommandError::user(error_chain(&e)))?,
        None => Vec::new(),
    };
    let inputs = StatusInputs {
        backlog: &backlog,
        config: &config,
        repo_root: ws.root(),
        live: false,
        dependency_rule: dependency_rule(&config, true),
    };
    let mut tasks = task_statuses(inputs, &rows, &BTreeMap::new(), &mut |row| {
        store.as_ref().and_then(|s| state_since(s, &row.id))
    });
    if let Some(store) = &store {
        with_merge_queue(&mut tasks, &stored_merge_rows(store));
        with_tokens(&mut tasks, store, &config.pricing);
        for task in &mut tasks {
            stored_ci_detail(store, task);
        }
    }
    Ok(StatusSnapshot::new(0, false, tasks))
}

/// A stored failure's line (which check, how, how many failing tests), from its
/// `ci_run_finished` event: the row keeps only pass or fail.
fn stored_ci_detail(store: &Store, task: &mut TaskStatus) {
    let Some(ci) = task.ci.as_mut().filter(|ci| ci.state == "failed") else {
        return;
    };
    let filter = duet_store::EventFilter {
        task_id: Some(task.id.clone()),
        ..duet_store::EventFilter::default()
    };
    let Ok(events) = store.events(&filter) else {
        return;
    };
    let failed = events.iter().rev().find_map(|r| match &r.event {
        duet_store::Event::CiRunFinished {
            sha,
            check,
            status,
            summary,
            ..
        } if *sha == ci.sha && status != "passed" && status != "cancelled" => Some((
            check.clone(),
            summary.clone().unwrap_or_else(|| status.clone()),
        )),
        _ => None,
    });
    if let Some((check, summary)) = failed {
        ci.excerpt = Some(format!(
            "CI at {}: `{check}` {summary}",
            duet_core::protocol::short_commit(&ci.sha)
        ));
    }
}

/// The CI cell: `pending`, `running`, `passed`, `failed`, `failed (2 tests)`.
fn ci_cell(s: &TaskStatus) -> String {
    let Some(ci) = &s.ci else {
        return "-".into();
    };
    match ci.excerpt.as_deref().and_then(failing_count) {
        Some(n) if ci.state == "failed" => {
            format!("failed ({n} test{})", if n == 1 { "" } else { "s" })
        }
        _ => ci.state.clone(),
    }
}

/// The count in `result_summary`'s "…, 2 failing tests".
fn failing_count(text: &str) -> Option<usize> {
    let at = text.find(" failing test")?;
    let digits: String = text[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

/// While CI runs on (or has not yet run on) the head of a task at work, the task is *checking*:
/// `mark_done` waits for the result.
fn checking(s: &TaskStatus) -> Option<String> {
    let ci = s.ci.as_ref()?;
    let at_work = matches!(s.state, StateKind::Working | StateKind::Reviewing);
    let short = duet_core::protocol::short_commit(&ci.sha);
    match ci.state.as_str() {
        "running" if at_work => Some(format!("checking: CI running at {short}")),
        "pending" if at_work => Some(format!("checking: CI not started at {short}")),
        _ => None,
    }
}

/// The running duet's tasks over the stored ones. `duet pair` knows only its own task and not
/// its title or branch: those stay the stored view's.
fn overlay(view: &mut StatusSnapshot, live: StatusSnapshot) {
    view.live = true;
    view.seq = live.seq;
    for mut task in live.tasks {
        match view.tasks.iter_mut().find(|t| t.id == task.id) {
            Some(stored) => {
                if task.title.is_empty() {
                    task.title = std::mem::take(&mut stored.title);
                }
                if task.branch.is_empty() {
                    task.branch = std::mem::take(&mut stored.branch);
                }
                if task.depends_on.is_empty() {
                    task.depends_on = std::mem::take(&mut stored.depends_on);
                    task.priority = stored.priority;
                }
                task.last_activity_ms = task.last_activity_ms.or(stored.last_activity_ms);
                task.since_ms = task.since_ms.or(stored.since_ms);
                if let (Some(needs), None) = (task.needs_human.as_mut(), task.since_ms) {
                    needs.since_ms = needs.since_ms.or(stored.since_ms);
                }
                *stored = task;
            }
            None => view.tasks.push(task),
        }
    }
}

/// How long ago `at_ms` was, shortly: `42s ago`, `5m ago`, `3h ago`, `12d ago`.
pub fn ago(at_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - at_ms).max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..172_800 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// The note after a task's title: what it waits for, why it needs you, where it went.
fn note(s: &TaskStatus) -> String {
    let mut note = s.title.clone();
    let deps: Vec<&str> = s
        .waiting
        .iter()
        .filter_map(|b| match b {
            Blocker::Dependency { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let other: Vec<String> = s
        .waiting
        .iter()
        .filter(|b| !matches!(b, Blocker::Dependency { .. }))
        .map(ToString::to_string)
        .collect();
    if !deps.is_empty() {
        note.push_str(&format!(" (waiting for {})", deps.join(", ")));
    }
    if !other.is_empty() {
        note.push_str(&format!(" ({})", other.join("; ")));
    }
    if let Some(merge) = &s.merge {
        // The queue's own words are fresher than the reason of the last state change.
        match merge.position {
            Some(position) => {
                note.push_str(&format!(" (merge queue #{position}: {})", merge.state))
            }
            None => note.push_str(&format!(" ({})", merge.state)),
        }
    } else if let Some(reason) = &s.reason {
        if s.state == StateKind::NeedsHuman {
            note.push_str(&format!(" (needs you: {reason})"));
        } else {
            note.push_str(&format!(" ({reason})"));
        }
    }
    if !s.in_backlog {
        note.push_str(" (no longer in the backlog)");
    }
    if let Some(checking) = checking(s) {
        note.push_str(&format!(" ({checking})"));
    }
    note
}

fn render_table(statuses: &[TaskStatus], now_ms: i64) -> String {
    if statuses.is_empty() {
        return "no tasks in the backlog\n".to_string();
    }
    // The activity column appears once anything has happened.
    let with_activity = statuses.iter().any(|s| s.last_activity_ms.is_some());
    // The CI column appears once any task has a CI state.
    let with_ci = statuses.iter().any(|s| s.ci.is_some());
    // The token columns appear once any record was counted.
    let with_tokens = statuses.iter().any(|s| s.tokens.is_some());
    let mut header = vec!["TASK", "STATE", "PRI", "PAIR", "ROUND"];
    if with_ci {
        header.push("CI");
    }
    if with_tokens {
        header.extend(["IN/OUT/CACHE", "COST"]);
    }
    if with_activity {
        header.push("ACTIVE");
    }
    header.push("TITLE / NOTE");
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            let pair = if s.worker.profile.is_empty() {
                "-".to_string()
            } else {
                format!("{}+{}", s.worker.profile, s.reviewer.profile)
            };
            let mut row = vec![
                s.id.clone(),
                s.state.to_string(),
                s.priority.to_string(),
                pair,
                s.round.to_string(),
            ];
            if with_ci {
                row.push(ci_cell(s));
            }
            if with_tokens {
                let (tokens, cost) = token_cells(s.tokens.as_ref());
                row.extend([tokens, cost]);
            }
            if with_activity {
                row.push(s.last_activity_ms.map_or("-".into(), |at| ago(at, now_ms)));
            }
            row.push(note(s));
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push('\n');
    };
    line(header.clone());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    let mut counts: BTreeMap<StateKind, usize> = BTreeMap::new();
    for s in statuses {
        *counts.entry(s.state).or_default() += 1;
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    out.push_str(&format!(
        "\n{} tasks: {}\n",
        statuses.len(),
        summary.join(", ")
    ));
    if let Some(run) = TokenUsage::sum(statuses.iter().filter_map(|s| s.tokens.as_ref())) {
        out.push_str(&run_total(&run));
    }
    out
}

/// A task's token cells: `12.3k/4.1k/80.0k` (input, output, cache read + write) and `$0.42`
/// (`+?` when a model had no price); `-` for a task with no counted record.
fn token_cells(tokens: Option<&TokenUsage>) -> (String, String) {
    let Some(t) = tokens else {
        return ("-".into(), "-".into());
    };
    let c = &t.total;
    (
        format!(
            "{}/{}/{}",
            compact(c.input),
            compact(c.output),
            compact(c.cache_read + c.cache_write)
        ),
        cost_text(t),
    )
}

fn cost_text(t: &TokenUsage) -> String {
    let unpriced = if t.unpriced.is_empty() { "" } else { "+?" };
    format!("${:.2}{unpriced}", t.usd)
}

/// The run's line: every task's tokens by kind and their cost.
fn run_total(run: &TokenUsage) -> String {
    let c = &run.total;
    let mut line = format!(
        "tokens: {} in, {} out, {} cache read, {} cache write; cost {}",
        compact(c.input),
        compact(c.output),
        compact(c.cache_read),
        compact(c.cache_write),
        cost_text(run)
    );
    if !run.unpriced.is_empty() {
        line.push_str(&format!(" (no price for {})", run.unpriced.join(", ")));
    }
    line.push('\n');
    line
}

/// `950`, `12.3k`, `4.2M`.
fn compact(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// The tasks that need you: why, since when, and what shows it.
fn render_needs_you(statuses: &[TaskStatus], now_ms: i64) -> String {
    let mut out = String::new();
    for s in statuses {
        let Some(needs) = &s.needs_human else {
            continue;
        };
        let since = needs
            .since_ms
            .map_or(String::new(), |at| format!(" since {}", ago(at, now_ms)));
        out.push_str(&format!("\n{} needs you{since}: {}\n", s.id, needs.reason));
        for line in &needs.evidence {
            out.push_str(&format!("  - {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_core::protocol::ci::{CiResult, CiStatus as Outcome, result_summary};
    use duet_proto::status::CiStatus;

    fn task(state: StateKind, ci: Option<(&str, Option<String>)>) -> TaskStatus {
        let mut t = TaskStatus::from_pair(
            &duet_core::protocol::pair::PairState::new(
                "t",
                "0123456789abcdef",
                duet_core::protocol::Timestamp(0),
                duet_core::protocol::pair::PairConfig::default(),
            ),
            ("claude", duet_core::config::AgentKind::Claude),
            ("codex", duet_core::config::AgentKind::Codex),
        );
        t.state = state;
        t.ci = ci.map(|(state, excerpt)| CiStatus {
            sha: "0123456789abcdef".into(),
            state: state.into(),
            excerpt,
        });
        t
    }

    #[test]
    fn the_ci_cell_counts_failing_tests_from_the_summary_the_rules_write() {
        let mut r = CiResult::new(
            "0123456789abcdef",
            "ci",
            Outcome::Failed {
                exit_code: Some(101),
            },
        );
        r.failing_tests = vec!["a::one".into(), "a::two".into()];
        let excerpt = format!("CI at 0123456: `ci` {}", result_summary(&r));
        let failed = task(StateKind::Working, Some(("failed", Some(excerpt))));
        assert_eq!(ci_cell(&failed), "failed (2 tests)");
        r.failing_tests.truncate(1);
        let one = format!("CI at 0123456: `ci` {}", result_summary(&r));
        assert_eq!(
            ci_cell(&task(StateKind::Working, Some(("failed", Some(one))))),
            "failed (1 test)"
        );
        let no_tests = task(
            StateKind::Working,
            Some((
                "failed",
                Some("CI at 0123456: `ci` timed out after 2m".into()),
            )),
        );
        assert_eq!(ci_cell(&no_tests), "failed");
        assert_eq!(ci_cell(&task(StateKind::Working, None)), "-");
        assert_eq!(
            ci_cell(&task(StateKind::Working, Some(("running", None)))),
            "running"
        );
    }

    #[test]
    fn a_task_at_work_whose_head_is_being_checked_says_so_in_its_note() {
        let running = task(StateKind::Working, Some(("running", None)));
        assert_eq!(
            checking(&running).as_deref(),
            Some("checking: CI running at 0123456")
        );
        assert!(note(&running).ends_with("(checking: CI running at 0123456)"));
        let pending = task(StateKind::Reviewing, Some(("pending", None)));
        assert!(checking(&pending).unwrap().contains("not started"));
        assert_eq!(
            checking(&task(StateKind::Working, Some(("passed", None)))),
            None
        );
        assert_eq!(
            checking(&task(StateKind::Done, Some(("running", None)))),
            None
        );
        let table = render_table(&[running], 0);
        assert!(table.lines().next().unwrap().contains("  CI  "), "{table}");
        assert!(table.contains("running"), "{table}");
    }
}
