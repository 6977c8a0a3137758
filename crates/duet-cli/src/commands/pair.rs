//! `duet pair TASK [--resume]`: works one task with a worker and a reviewer in tmux, in the
//! foreground, with a live status line per agent and a summary at the end.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use duet_core::lifecycle::TaskState;
use duet_core::protocol::Role;
use duet_pair::{PairSetup, PairSummary, Progress, run_pair};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::PairArgs;
use crate::command_error::{CommandError, error_chain};
use crate::live_lines::say_line;
use crate::pair_setup::prepare_pair;
use crate::suggest::closest;
use crate::workspace::Workspace;

/// Exit code of a pair that ended without the task done (needs-human, failed, cancelled).
const EXIT_NOT_DONE: u8 = 3;
/// Exit code after Ctrl-C, as shells report SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

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
    let setup = prepare_pair(&ws, &config, task, &args.tmux.tmux_socket, args.resume)?;
    let session = setup.session_name.clone();
    println!(
        "task {}: worktree {} (branch {})",
        task.id,
        setup.worktree.display(),
        setup.task.branch
    );
    println!(
        "agents in tmux session `{session}`: watch with `duet attach {}`",
        task.id
    );

    let lines = StatusLines::new(&setup);
    let outcome = crate::async_run::block_on(run_pair(setup, |p| lines.update(p), async {
        let _ = tokio::signal::ctrl_c().await;
    }))?;
    let summary = outcome.map_err(|e| CommandError::user(error_chain(&e)))?;
    lines.finish();
    print_summary(task.id.as_ref(), &summary);
    Ok(ExitCode::from(
        match (&summary.outcome, summary.interrupted) {
            (_, true) => EXIT_INTERRUPTED,
            (TaskState::Done, false) => 0,
            _ => EXIT_NOT_DONE,
        },
    ))
}

/// One live line for the task and one per agent (indicatif; hidden when not on a terminal).
struct StatusLines {
    multi: MultiProgress,
    task: ProgressBar,
    worker: ProgressBar,
    reviewer: ProgressBar,
}

impl StatusLines {
    fn new(setup: &PairSetup) -> Self {
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
            task: line("task".into(), &format!("{}: starting", setup.task.id)),
            worker: line(
                "worker".into(),
                &format!("{} starting", setup.worker.profile_name),
            ),
            reviewer: line(
                "reviewer".into(),
                &format!("{} starting", setup.reviewer.profile_name),
            ),
            multi,
        }
    }

    fn update(&self, progress: Progress) {
        match progress {
            Progress::TaskState(state) => self.task.set_message(state),
            Progress::Agent {
                role: Role::Worker,
                status,
            } => self.worker.set_message(status),
            Progress::Agent {
                role: Role::Reviewer,
                status,
            } => self.reviewer.set_message(status),
            Progress::HumanNeeded(text) => {
                say_line(
                    &self.multi,
                    format!("needs you: {text}\n  answer with `duet answer` or stop with Ctrl-C"),
                );
            }
        }
    }

    fn finish(&self) {
        for bar in [&self.task, &self.worker, &self.reviewer] {
            bar.finish_and_clear();
        }
    }
}

fn print_summary(task_id: &str, summary: &PairSummary) {
    let outcome = if summary.interrupted {
        format!("stopped ({})", summary.outcome)
    } else {
        summary.outcome.to_string()
    };
    println!("task {task_id}: {outcome}");
    println!("  review rounds: {}", summary.rounds);
    println!("  commits: {}", summary.commits.len());
    for commit in &summary.commits {
        println!("    {commit}");
    }
    println!(
        "  messages: {} accepted, {} delivered, {} suppressed",
        summary.messages_accepted, summary.messages_delivered, summary.messages_suppressed
    );
    if summary.interrupted {
        println!("  continue with `duet pair {task_id} --resume`");
    }
}
