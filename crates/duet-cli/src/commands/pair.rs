//! `duet pair TASK [--resume]`: works one task with a worker and a reviewer in tmux, in the
//! foreground, with a live status line per agent and a summary at the end.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use duet_core::protocol::Role;
use duet_daemon::{DaemonProgress, TaskOutcome};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::PairArgs;
use crate::command_error::CommandError;
use crate::engine_setup::{EngineOptions, engine_setup};
use crate::live_lines::say_line;
use crate::suggest::closest;
use crate::workspace::Workspace;

/// Exit code of a pair that ended without the task done (needs-human, failed, cancelled).
const EXIT_NOT_DONE: u8 = 3;
/// Exit code after Ctrl-C, as shells report SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

/// `duet pair TASK` is the engine with one task, in the foreground: the same store snapshots,
/// adoption of a pair left running, agent restarts and control socket as `duet run`.
pub fn run(cwd: &Path, args: &PairArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    let config = ws.load_config()?;
    let backlog = ws.load_backlog(&config)?;
    let Some(task) = backlog.get(&args.task) else {
        let ids: Vec<&str> = backlog.tasks.iter().map(|t| t.id.as_str()).collect();
        let hint = closest(&args.task, &ids)
            .map_or("run `duet status` to list the tasks".to_string(), |c| {
                format!("did you mean `{c}`?")
            });
        return Err(CommandError::user(format!("unknown task `{}`", args.task)).hint(hint));
    };
    crate::commands::doctor::preflight(&ws, &config, &[task])?;
    if let Some(pid) = duet_daemon::lock::running_daemon(&ws.root().join(".duet/daemon.pid")) {
        return Err(CommandError::user(format!(
            "another duet (pid {pid}) is running in this repository"
        ))
        .hint("`duet status` talks to it; `duet stop` stops it"));
    }
    let continued = has_saved_pair(&ws, task.id.as_str())?;
    if args.resume && !continued {
        return Err(CommandError::user(format!(
            "no earlier sessions of task `{}` to resume",
            task.id
        ))
        .hint(format!("start it with `duet pair {}`", task.id)));
    }
    let worktree = ws.root().join(&config.worktree_root).join(task.id.as_str());
    let branch = config.task_branch(&task.id);
    let session = duet_agents::tmux::session_name(ws.root(), task.id.as_str());
    let (worker, reviewer) = (
        task.worker_profile(&config).to_string(),
        task.reviewer_profile(&config).to_string(),
    );
    if continued {
        println!(
            "task {}: continuing where it stopped (its agents resumed)",
            task.id
        );
    }
    println!(
        "task {}: worktree {} (branch {branch})",
        task.id,
        worktree.display()
    );
    println!(
        "agents in tmux session `{session}`: watch with `duet attach {}`",
        task.id
    );
    crate::engine_setup::init_logging(&ws.root().join(".duet").join("logs"))?;
    let setup = engine_setup(
        &ws,
        config,
        EngineOptions {
            tmux_socket: args.tmux.tmux_socket.clone(),
            exit_when_done: false,
            // Ctrl-C stops both agents; their conversations stay for the next `duet pair`.
            stop_agents_on_exit: true,
            focus: Some(task.id.to_string()),
        },
    )?;
    let lines = StatusLines::new(task.id.as_str(), &worker, &reviewer);
    let outcome = crate::async_run::block_on(async {
        let shutdown = crate::async_run::shutdown_signals();
        duet_daemon::run(setup, |p| lines.update(p), shutdown).await
    })?;
    let summary = outcome?;
    lines.finish();
    let Some(outcome) = summary.tasks.iter().find(|t| t.id == task.id.as_str()) else {
        return Err(CommandError::internal(format!(
            "the engine did not report task `{}`",
            task.id
        )));
    };
    print_summary(outcome, summary.interrupted);
    Ok(ExitCode::from(
        match (outcome.state.as_str(), summary.interrupted) {
            (_, true) => EXIT_INTERRUPTED,
            ("done", false) => 0,
            _ => EXIT_NOT_DONE,
        },
    ))
}

/// The store holds a pair of `task` that a new engine takes over (adopts or relaunches resumed).
fn has_saved_pair(ws: &Workspace, task: &str) -> Result<bool, CommandError> {
    let path = ws.state_db_path();
    if !path.exists() {
        return Ok(false);
    }
    let store = duet_store::Store::open_read_only(&path)?;
    let live = store.task(task).ok().flatten().is_some_and(|row| {
        matches!(
            row.state,
            duet_core::lifecycle::StateKind::Preparing
                | duet_core::lifecycle::StateKind::Working
                | duet_core::lifecycle::StateKind::Reviewing
                | duet_core::lifecycle::StateKind::NeedsHuman
        )
    });
    let saved = store.pair_snapshots()?.iter().any(|(id, _)| id == task);
    Ok(live && saved)
}

/// One live line for the task and one per agent (indicatif; hidden when not on a terminal).
struct StatusLines {
    multi: MultiProgress,
    task: ProgressBar,
    worker: ProgressBar,
    reviewer: ProgressBar,
}

impl StatusLines {
    fn new(task: &str, worker: &str, reviewer: &str) -> Self {
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template("{spinner} {prefix:>9} {wide_msg} {elapsed}")
            .expect("valid template");
        let line = |prefix: String, msg: &str| {
            let bar = multi.add(
                ProgressBar::new_spinner()
                    .with_style(style.clone())
                    .with_prefix(prefix),
            );
            bar.set_message(msg.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        StatusLines {
            task: line("task".into(), &format!("{task}: starting")),
            worker: line("worker".into(), &format!("{worker} starting")),
            reviewer: line("reviewer".into(), &format!("{reviewer} starting")),
            multi,
        }
    }

    fn update(&self, progress: DaemonProgress) {
        match progress {
            DaemonProgress::TaskState { state, .. } => self.task.set_message(state),
            DaemonProgress::Agent {
                role: Role::Worker,
                status,
                ..
            } => self.worker.set_message(status),
            DaemonProgress::Agent {
                role: Role::Reviewer,
                status,
                ..
            } => self.reviewer.set_message(status),
            DaemonProgress::HumanNeeded { text, .. } => {
                say_line(
                    &self.multi,
                    format!("needs you: {text}\n  answer with `duet answer` or stop with Ctrl-C"),
                );
            }
            DaemonProgress::Note(text) => say_line(&self.multi, text),
        }
    }

    fn finish(&self) {
        for bar in [&self.task, &self.worker, &self.reviewer] {
            bar.finish_and_clear();
        }
    }
}

fn print_summary(outcome: &TaskOutcome, interrupted: bool) {
    let task_id = &outcome.id;
    let state = if interrupted {
        format!("stopped ({})", outcome.state)
    } else {
        outcome.state.clone()
    };
    println!("task {task_id}: {state}");
    println!("  review rounds: {}", outcome.rounds);
    println!("  commits: {}", outcome.commits.len());
    for commit in &outcome.commits {
        println!("    {commit}");
    }
    let messages = &outcome.messages;
    println!(
        "  messages: {} accepted, {} delivered, {} suppressed",
        messages.accepted, messages.delivered, messages.suppressed
    );
    if interrupted {
        println!("  continue with `duet pair {task_id} --resume`");
    }
}
