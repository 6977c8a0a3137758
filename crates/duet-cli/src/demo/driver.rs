//! Working the demo backlog through the engine (`duet run --simulate` on the sample: one
//! `duet_daemon::run` with every task, pairs in parallel, dependencies first); the engine's
//! merge queue lands each finished branch on the base branch before the tasks that depend on
//! it start; then a summary table.

use std::time::Duration;

use duet_core::backlog::Backlog;
use duet_core::config::Config;
use duet_daemon::{DaemonProgress, RunSummary};

use crate::command_error::CommandError;
use crate::engine_setup::{EngineOptions, engine_setup};
use crate::workspace::Workspace;

/// How the driver runs the pairs.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    pub tmux_socket: String,
    /// The run is stopped when its tasks are not all finished after this long each.
    pub task_timeout: Duration,
}

/// How one task of the demo went.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResult {
    pub id: String,
    pub worker: String,
    pub reviewer: String,
    /// `done`, `needs-human: …`, `blocked by …`, ...
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

/// Works every task of `backlog` with `config`'s (simulated) agents in one engine run.
pub fn work_backlog(
    ws: &Workspace,
    config: &Config,
    backlog: &Backlog,
    options: &DriveOptions,
) -> Result<DemoRun, CommandError> {
    let setup = engine_setup(
        ws,
        config.clone(),
        EngineOptions {
            tmux_socket: options.tmux_socket.clone(),
            exit_when_done: true,
            stop_agents_on_exit: true,
            focus: None,
        },
    )?;
    for task in &backlog.tasks {
        println!(
            "    {}: {} ({} works, {} reviews)",
            task.id,
            task.title,
            task.worker_profile(config),
            task.reviewer_profile(config)
        );
    }
    println!(
        "    watch a pair with `duet -C {} attach TASK`",
        ws.root().display()
    );
    let limit = options.task_timeout * u32::try_from(backlog.tasks.len().max(1)).unwrap_or(1);
    let mut last: std::collections::HashMap<String, String> = Default::default();
    let summary: RunSummary = {
        let outcome = crate::async_run::block_on(duet_daemon::run(
            setup,
            move |progress| {
                if let DaemonProgress::TaskState { task, state } = &progress {
                    if last.get(task) == Some(state) {
                        return;
                    }
                    last.insert(task.clone(), state.clone());
                }
                print_progress(progress);
            },
            async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = tokio::time::sleep(limit) => {
                        println!("    the demo did not finish within {}s; stopping it", limit.as_secs());
                    }
                }
            },
        ))?;
        outcome?
    };
    let results = results(config, backlog, &summary);
    Ok(DemoRun {
        results,
        interrupted: summary.interrupted,
    })
}

/// One row per backlog task from the engine's summary.
fn results(config: &Config, backlog: &Backlog, summary: &RunSummary) -> Vec<TaskResult> {
    let done = |id: &str| {
        summary
            .tasks
            .iter()
            .any(|t| t.id == id && t.state == "merged")
    };
    backlog
        .tasks
        .iter()
        .map(|task| {
            let outcome = summary.tasks.iter().find(|t| t.id == task.id.as_str());
            let state = outcome.map_or_else(|| "queued".to_string(), |t| t.state.clone());
            let blockers: Vec<&str> = task
                .depends_on
                .iter()
                .map(|d| d.as_str())
                .filter(|d| !done(d))
                .collect();
            TaskResult {
                id: task.id.to_string(),
                worker: task.worker_profile(config).to_string(),
                reviewer: task.reviewer_profile(config).to_string(),
                outcome: if state == "queued" && !blockers.is_empty() {
                    format!("blocked by {}", blockers.join(", "))
                } else {
                    state.clone()
                },
                done: state == "merged",
                rounds: outcome.map_or(0, |t| t.rounds),
                commits: outcome.map_or(0, |t| t.commits.len()),
            }
        })
        .collect()
}

fn print_progress(progress: DaemonProgress) {
    match progress {
        DaemonProgress::TaskState { task, state } => println!("    {task}: {state}"),
        DaemonProgress::HumanNeeded { task, text } => println!("    {task} needs a human: {text}"),
        DaemonProgress::Note(text) => println!("    {text}"),
        DaemonProgress::Agent { .. } => {}
    }
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
