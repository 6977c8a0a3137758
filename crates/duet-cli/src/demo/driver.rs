//! Working the demo backlog: one pair at a time in dependency order (highest priority first,
//! then backlog order), each finished branch merged into the base branch before the tasks that
//! depend on it start; then a summary table.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use duet_core::backlog::{Backlog, Task};
use duet_core::config::Config;
use duet_core::lifecycle::TaskState;
use duet_pair::{Progress, run_pair};

use super::sample::git;
use crate::command_error::{CommandError, error_chain};
use crate::pair_setup::prepare_pair;
use crate::workspace::Workspace;

/// How the driver runs the pairs.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    pub tmux_socket: String,
    /// A pair still running after this long is stopped and counted as not done.
    pub task_timeout: Duration,
}

/// How one task of the demo went.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResult {
    pub id: String,
    pub worker: String,
    pub reviewer: String,
    /// `done`, `needs-human`, `timed out (…)`, `blocked by …`, ...
    pub outcome: String,
    pub done: bool,
    pub rounds: u32,
    pub commits: usize,
}

/// Everything the driver did, and whether the human stopped it (Ctrl-C).
#[derive(Debug)]
pub struct DemoRun {
    pub results: Vec<TaskResult>,
    pub interrupted: bool,
}

/// Works every task of `backlog` with `config`'s (simulated) agents.
pub fn work_backlog(
    ws: &Workspace,
    config: &Config,
    backlog: &Backlog,
    options: &DriveOptions,
) -> Result<DemoRun, CommandError> {
    let mut results: Vec<TaskResult> = Vec::new();
    let mut interrupted = false;
    while let Some(task) = next_task(backlog, &results) {
        let (worker, reviewer) = (
            task.worker_profile(config).to_string(),
            task.reviewer_profile(config).to_string(),
        );
        let blockers: Vec<&str> = task
            .depends_on
            .iter()
            .map(|dep| dep.as_str())
            .filter(|dep| !results.iter().any(|r| r.id == *dep && r.done))
            .collect();
        if interrupted || !blockers.is_empty() {
            results.push(TaskResult {
                id: task.id.to_string(),
                worker,
                reviewer,
                outcome: if interrupted {
                    "not started (stopped)".into()
                } else {
                    format!("blocked by {}", blockers.join(", "))
                },
                done: false,
                rounds: 0,
                commits: 0,
            });
            continue;
        }
        println!();
        println!(
            "==> task {}: {} ({worker} works, {reviewer} reviews)",
            task.id, task.title
        );
        let (result, stopped) = run_task(ws, config, task, options, worker, reviewer)?;
        if result.done {
            merge(ws.root(), task, config)?;
        }
        results.push(result);
        interrupted |= stopped;
    }
    Ok(DemoRun {
        results,
        interrupted,
    })
}

/// The next task to look at: not yet handled, dependencies handled (done or not), highest
/// priority first, then backlog order.
fn next_task<'a>(backlog: &'a Backlog, results: &[TaskResult]) -> Option<&'a Task> {
    let handled = |id: &str| results.iter().any(|r| r.id == id);
    backlog
        .tasks
        .iter()
        .filter(|t| !handled(t.id.as_str()))
        .filter(|t| t.depends_on.iter().all(|dep| handled(dep.as_str())))
        .min_by_key(|t| std::cmp::Reverse(t.priority))
}

/// Runs one task's pair to its end; the second value says whether the human pressed Ctrl-C.
fn run_task(
    ws: &Workspace,
    config: &Config,
    task: &Task,
    options: &DriveOptions,
    worker: String,
    reviewer: String,
) -> Result<(TaskResult, bool), CommandError> {
    let setup = prepare_pair(ws, config, task, &options.tmux_socket, false)?;
    println!(
        "    worktree {} (branch {}); watch with `duet -C {} attach {}`",
        setup.worktree.display(),
        setup.task.branch,
        ws.root().display(),
        task.id
    );
    // A runtime per pair: dropping it ends the pair's socket server before the next one binds.
    let timed_out = Arc::new(AtomicBool::new(false));
    let timeout_flag = Arc::clone(&timed_out);
    let timeout = options.task_timeout;
    let id = task.id.to_string();
    let mut last_state = String::new();
    let outcome = crate::async_run::block_on(run_pair(
        setup,
        move |progress| {
            if let Progress::TaskState(state) = &progress {
                if *state == last_state {
                    return;
                }
                last_state.clone_from(state);
            }
            print_progress(&id, progress);
        },
        async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = tokio::time::sleep(timeout) => timeout_flag.store(true, Ordering::SeqCst),
            }
        },
    ))?;
    let summary = outcome.map_err(|e| CommandError::user(error_chain(&e)))?;
    let timed_out = timed_out.load(Ordering::SeqCst);
    let done = summary.outcome == TaskState::Done && !summary.interrupted;
    let outcome = match (summary.interrupted, timed_out) {
        (true, true) => format!(
            "timed out after {} ({})",
            humanize(timeout),
            summary.outcome
        ),
        (true, false) => format!("stopped ({})", summary.outcome),
        (false, _) => summary.outcome.to_string(),
    };
    println!(
        "    {} finished: {outcome} ({} review round(s), {} commit(s))",
        task.id,
        summary.rounds,
        summary.commits.len()
    );
    let result = TaskResult {
        id: task.id.to_string(),
        worker,
        reviewer,
        outcome,
        done,
        rounds: summary.rounds,
        commits: summary.commits.len(),
    };
    Ok((result, summary.interrupted && !timed_out))
}

fn humanize(duration: Duration) -> String {
    format!("{}s", duration.as_secs())
}

fn print_progress(task: &str, progress: Progress) {
    match progress {
        Progress::TaskState(state) => println!("    {task}: {state}"),
        Progress::HumanNeeded(text) => println!("    {task} needs a human: {text}"),
        Progress::Agent { .. } => {}
    }
}

/// Merges the finished task branch into its base branch (checked out at the repository root).
fn merge(root: &Path, task: &Task, config: &Config) -> Result<(), CommandError> {
    let branch = config.task_branch(&task.id);
    let base = task.base_branch(config);
    let current = git(root, &["rev-parse", "--abbrev-ref", "HEAD"])?;
    if current.trim() != base {
        return Err(CommandError::user(format!(
            "cannot merge {branch}: the repository root has `{}` checked out, not `{base}`",
            current.trim()
        )));
    }
    git(
        root,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            &format!("Merge task {} ({branch})", task.id),
            &branch,
        ],
    )?;
    println!("    merged {branch} into {base}");
    Ok(())
}

/// The summary table, one row per task.
pub fn summary_table(results: &[TaskResult]) -> String {
    let headers = ["task", "worker", "reviewer", "outcome", "rounds", "commits"];
    let rows: Vec<[String; 6]> = results
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.worker.clone(),
                r.reviewer.clone(),
                r.outcome.clone(),
                r.rounds.to_string(),
                r.commits.to_string(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(headers)];
    for row in &rows {
        out.push(line(row.each_ref().map(String::as_str)));
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, done: bool) -> TaskResult {
        TaskResult {
            id: id.into(),
            worker: "claude".into(),
            reviewer: "codex".into(),
            outcome: if done { "done" } else { "failed" }.into(),
            done,
            rounds: 1,
            commits: 2,
        }
    }

    fn demo_backlog() -> Backlog {
        let config = Config::from_toml_str("", "duet.toml").unwrap();
        let dir = tempfile::tempdir().unwrap();
        Backlog::from_toml_str(
            super::super::BACKLOG_TOML,
            "backlog.toml",
            &config,
            dir.path(),
        )
        .unwrap()
    }

    #[test]
    fn tasks_come_in_dependency_order() {
        let backlog = demo_backlog();
        let mut results = Vec::new();
        let mut order = Vec::new();
        while let Some(task) = next_task(&backlog, &results) {
            order.push(task.id.to_string());
            results.push(result(task.id.as_str(), true));
        }
        assert_eq!(order, ["word-count", "cli-flag", "readme"]);
    }

    #[test]
    fn a_dependent_of_an_unfinished_task_is_still_offered_to_be_reported_blocked() {
        let backlog = demo_backlog();
        let results = vec![result("word-count", false)];
        let next = next_task(&backlog, &results).unwrap();
        assert_eq!(next.id.as_str(), "cli-flag");
    }

    #[test]
    fn the_summary_table_aligns_columns() {
        let mut long = result("cli-flag", false);
        long.outcome = "blocked by word-count".into();
        let table = summary_table(&[result("word-count", true), long]);
        assert_eq!(
            table,
            "task        worker  reviewer  outcome                rounds  commits\n\
             word-count  claude  codex     done                   1       2\n\
             cli-flag    claude  codex     blocked by word-count  1       2\n"
        );
    }
}
