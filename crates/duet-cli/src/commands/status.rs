//! `duet status [TASK] [--json] [--watch]`: the backlog's tasks with their state: live from the
//! running duet when one answers on the control socket, else from the store.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use duet_core::backlog::Backlog;
use duet_core::config::Config;
use duet_core::lifecycle::scheduler::Blocker;
use duet_store::{Store, StoreErrorKind, TaskRow, TaskState};
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::client::{ControlClient, ControlFailure};
use crate::command_error::{CommandError, error_chain};
use crate::suggest::closest;
use crate::workspace::Workspace;

/// One row of `duet status`, also its JSON form.
#[derive(Debug, Serialize)]
struct TaskStatus {
    id: String,
    title: String,
    state: TaskState,
    priority: i64,
    depends_on: Vec<String>,
    branch: String,
    worker: String,
    reviewer: String,
    round: u32,
    /// Why a queued task cannot start yet, or why a task needs the human.
    blocked_by: Vec<String>,
    /// The running duet's reasons a queued task waits (dependencies, free slots), in words.
    waiting: Vec<String>,
    reason: Option<String>,
    /// False for tasks the store knows but the backlog no longer lists.
    in_backlog: bool,
    /// When the task last changed (ms since the epoch), if it ever did.
    last_activity_ms: Option<i64>,
    /// The task branch's last known commit.
    head: Option<String>,
    /// The running duet's own account of the task (only while one runs it).
    activity: Option<String>,
    /// True when the state came from the running duet rather than the store.
    live: bool,
}

pub fn run(cwd: &Path, args: &StatusArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    if !args.watch {
        return show(&ws, args, false);
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
    let mut shown = 0;
    loop {
        show(&ws, args, true)?;
        shown += 1;
        if args.count.is_some_and(|count| shown >= count) {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(interval);
    }
}

/// One look at the tasks; `watching` clears the terminal first and prints JSON as one line.
fn show(ws: &Workspace, args: &StatusArgs, watching: bool) -> Result<ExitCode, CommandError> {
    let config = ws.load_config()?;
    let backlog = ws.load_backlog(&config)?;
    let rows = read_store_rows(&ws.state_db_path())?;
    let mut statuses = merge(&config, &backlog, rows);
    let live = ask_running_duet(ws, &mut statuses);

    if let Some(wanted) = &args.task {
        statuses.retain(|s| &s.id == wanted);
        if statuses.is_empty() {
            let ids: Vec<&str> = backlog.tasks.iter().map(|t| t.id.as_str()).collect();
            let mut err = CommandError::user(format!("unknown task `{wanted}`"));
            if let Some(close) = closest(wanted, &ids) {
                err = err.hint(format!("did you mean `{close}`?"));
            } else {
                err = err.hint("run `duet status` to list the tasks");
            }
            return Err(err);
        }
    }

    if args.json {
        let json = serde_json::json!({ "live": live, "tasks": statuses });
        let text = if watching {
            serde_json::to_string(&json)
        } else {
            serde_json::to_string_pretty(&json)
        };
        println!(
            "{}",
            text.map_err(|e| CommandError::internal(e.to_string()))?
        );
    } else {
        if watching && std::io::stdout().is_terminal() {
            print!("\x1b[H\x1b[2J");
        }
        print!("{}", render_table(&statuses, now_ms()));
        if live {
            println!("(live from the running duet)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Overlays the running duet's view of its tasks, if one answers; true when one did. A duet
/// that runs but cannot be asked (permission, no answer) is reported, and the store's view kept.
fn ask_running_duet(ws: &Workspace, statuses: &mut Vec<TaskStatus>) -> bool {
    let client = ControlClient::for_workspace(ws);
    match client.send(duet_proto::RequestBody::Status { task: None }) {
        Ok(duet_proto::ResponseBody::Status { tasks }) => {
            for task in tasks.as_array().into_iter().flatten() {
                apply_live(statuses, task);
            }
            true
        }
        Ok(_) => false,
        Err(ControlFailure::NotRunning) => false,
        Err(failure) => {
            let err = failure.into_command_error(None, &[]);
            eprintln!("warning: could not ask the running duet: {err}; showing the stored state");
            false
        }
    }
}

/// One task object of a live `Status` answer (see the controller's `status_json`) over the
/// stored view. Its `state` reads like `needs-human: reason` or `paused: working`.
fn apply_live(statuses: &mut Vec<TaskStatus>, task: &serde_json::Value) {
    let Some(id) = task["id"].as_str() else {
        return;
    };
    let text = |key: &str| task[key].as_str().map(str::to_string);
    let state_text = text("state").unwrap_or_default();
    let kind = state_text
        .split([':', '('])
        .next()
        .unwrap_or_default()
        .trim();
    let Ok(state) = kind.parse::<TaskState>() else {
        return;
    };
    let index = match statuses.iter().position(|s| s.id == id) {
        Some(index) => index,
        None => {
            statuses.push(TaskStatus {
                id: id.to_string(),
                title: String::new(),
                state,
                priority: 0,
                depends_on: Vec::new(),
                branch: String::new(),
                worker: String::new(),
                reviewer: String::new(),
                round: 0,
                blocked_by: Vec::new(),
                waiting: Vec::new(),
                reason: None,
                in_backlog: false,
                last_activity_ms: None,
                head: None,
                activity: None,
                live: true,
            });
            statuses.len() - 1
        }
    };
    let status = &mut statuses[index];
    status.state = state;
    status.live = true;
    let reason_in_state = state_text
        .split_once(": ")
        .map(|(_, reason)| reason.to_string())
        .filter(|_| matches!(state, TaskState::NeedsHuman | TaskState::Failed));
    status.reason = text("reason").or(reason_in_state);
    if let Some(round) = task["round"].as_u64() {
        status.round = u32::try_from(round).unwrap_or(u32::MAX);
    }
    for (key, field) in [
        ("worker", &mut status.worker),
        ("reviewer", &mut status.reviewer),
        ("branch", &mut status.branch),
    ] {
        if let Some(value) = text(key) {
            *field = value;
        }
    }
    // The daemon names blockers as the scheduler's `Blocker`s; a plain string is a task id.
    if let Some(blocked) = task["blocked_by"].as_array() {
        status.blocked_by.clear();
        status.waiting.clear();
        for blocker in blocked {
            if let Some(id) = blocker.as_str() {
                status.blocked_by.push(id.to_string());
            } else if let Ok(blocker) = serde_json::from_value::<Blocker>(blocker.clone()) {
                if let Blocker::Dependency { id, .. } = &blocker {
                    status.blocked_by.push(id.clone());
                }
                status.waiting.push(blocker.to_string());
            }
        }
    }
    status.head = text("head").or(status.head.take());
    status.activity = text("status");
    if let Some(at) = task["last_activity_ms"].as_i64() {
        status.last_activity_ms = Some(at);
    }
}

/// The store's rows by task id; no database yet means nothing has run: every task is queued.
fn read_store_rows(db_path: &Path) -> Result<BTreeMap<String, TaskRow>, CommandError> {
    let store = match Store::open_read_only(db_path) {
        Ok(store) => store,
        Err(e) if matches!(e.kind(), StoreErrorKind::NotFound) => return Ok(BTreeMap::new()),
        Err(e) => return Err(CommandError::user(error_chain(&e))),
    };
    let rows = store
        .task_states()
        .map_err(|e| CommandError::user(error_chain(&e)))?;
    Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
}

fn merge(
    config: &Config,
    backlog: &Backlog,
    mut rows: BTreeMap<String, TaskRow>,
) -> Vec<TaskStatus> {
    let state_of = |rows: &BTreeMap<String, TaskRow>, id: &str| {
        rows.get(id).map_or(TaskState::Queued, |r| r.state)
    };
    let mut out: Vec<TaskStatus> = backlog
        .tasks
        .iter()
        .map(|task| {
            let state = state_of(&rows, task.id.as_str());
            let blocked_by = if state == TaskState::Queued {
                task.depends_on
                    .iter()
                    .filter(|dep| state_of(&rows, dep.as_str()) != TaskState::Done)
                    .map(|dep| dep.to_string())
                    .collect()
            } else {
                Vec::new()
            };
            let row = rows.get(task.id.as_str());
            TaskStatus {
                id: task.id.to_string(),
                title: task.title.clone(),
                state,
                priority: task.priority,
                depends_on: task.depends_on.iter().map(|d| d.to_string()).collect(),
                branch: config.task_branch(&task.id),
                worker: task.worker_profile(config).to_string(),
                reviewer: task.reviewer_profile(config).to_string(),
                round: row.map_or(0, |r| r.round),
                blocked_by,
                waiting: Vec::new(),
                reason: row.and_then(|r| r.reason.clone()),
                in_backlog: true,
                last_activity_ms: row.map(|r| r.updated_at_ms),
                head: row.and_then(|r| r.head_sha.clone()),
                activity: None,
                live: false,
            }
        })
        .collect();
    for task in &backlog.tasks {
        rows.remove(task.id.as_str());
    }
    // Tasks the store remembers but the backlog dropped are still shown, so nothing vanishes.
    out.extend(rows.into_values().map(|row| TaskStatus {
        branch: format!("{}/{}", config.branch_prefix, row.id),
        id: row.id,
        title: row.title.unwrap_or_default(),
        state: row.state,
        priority: 0,
        depends_on: Vec::new(),
        worker: String::new(),
        reviewer: String::new(),
        round: row.round,
        blocked_by: Vec::new(),
        waiting: Vec::new(),
        reason: row.reason,
        in_backlog: false,
        last_activity_ms: Some(row.updated_at_ms),
        head: row.head_sha,
        activity: None,
        live: false,
    }));
    out
}

/// How long ago `at_ms` was, shortly: `42s ago`, `5m ago`, `3h ago`, `12d ago`.
fn ago(at_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - at_ms).max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..172_800 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

fn render_table(statuses: &[TaskStatus], now_ms: i64) -> String {
    if statuses.is_empty() {
        return "no tasks in the backlog\n".to_string();
    }
    // The activity column appears once anything has happened.
    let with_activity = statuses.iter().any(|s| s.last_activity_ms.is_some());
    let mut header = vec!["TASK", "STATE", "PRI", "PAIR", "ROUND"];
    if with_activity {
        header.push("ACTIVE");
    }
    header.push("TITLE / NOTE");
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            let mut note = s.title.clone();
            if !s.waiting.is_empty() {
                note.push_str(&format!(" ({})", s.waiting.join("; ")));
            } else if !s.blocked_by.is_empty() {
                note.push_str(&format!(" (waiting for {})", s.blocked_by.join(", ")));
            }
            if let Some(reason) = &s.reason {
                if s.state == TaskState::NeedsHuman {
                    note.push_str(&format!(" (needs you: {reason})"));
                } else {
                    note.push_str(&format!(" ({reason})"));
                }
            }
            if !s.in_backlog {
                note.push_str(" (no longer in the backlog)");
            }
            let pair = if s.worker.is_empty() {
                "-".to_string()
            } else {
                format!("{}+{}", s.worker, s.reviewer)
            };
            let mut row = vec![
                s.id.clone(),
                s.state.to_string(),
                s.priority.to_string(),
                pair,
                s.round.to_string(),
            ];
            if with_activity {
                row.push(s.last_activity_ms.map_or("-".into(), |at| ago(at, now_ms)));
            }
            row.push(note);
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
    let mut counts: BTreeMap<TaskState, usize> = BTreeMap::new();
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
    out
}
