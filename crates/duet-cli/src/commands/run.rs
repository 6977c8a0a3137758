//! `duet run`: the daemon in the foreground (live lines per task, counts, elapsed) or detached.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use duet_daemon::{DaemonProgress, RunSummary};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::RunArgs;
use crate::command_error::CommandError;
use crate::engine_setup::{EngineOptions, engine_setup};
use crate::live_lines::say_line;
use crate::simulate::{SimulatedModel, find_agent_bins, load_script, simulate_config};
use crate::workspace::Workspace;

/// How long `--detach` waits for the background daemon to answer on its socket.
const DETACH_READY_TIMEOUT: Duration = Duration::from_secs(15);

pub fn run(cwd: &Path, args: &RunArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    let mut config = ws.load_config()?;
    // The backlog must validate before anything starts; later edits that break it are reported
    // and the last good one is kept.
    let backlog = ws.load_backlog(&config)?;
    if let Some(pid) = duet_daemon::lock::running_daemon(&ws.root().join(".duet/daemon.pid")) {
        return Err(CommandError::user(format!(
            "another duet daemon (pid {pid}) is running in this repository"
        ))
        .hint("`duet status` talks to it; `duet stop` stops it"));
    }
    // Simulated agents are checked once the profiles point at them (below).
    let tasks = crate::commands::doctor::tasks_to_run(&ws, &backlog);
    if args.simulate.is_none() {
        crate::commands::doctor::preflight(&ws, &config, &tasks)?;
    }
    if args.detach {
        return detach(ws.root(), args);
    }
    let log_dir = ws.root().join(".duet").join("logs");
    crate::engine_setup::init_logging(&log_dir)?;

    // Simulated mode: the agent profiles are rewritten in memory, duet.toml is untouched.
    let simulated = match &args.simulate {
        Some(script) => {
            let script = load_script(script)?;
            let sim = SimulatedModel::start(
                script,
                find_agent_bins()?,
                &[ws.root()],
                Some(log_dir.join("simulated-model.jsonl")),
            )?;
            config = simulate_config(&config, &sim);
            crate::commands::doctor::preflight(&ws, &config, &tasks)?;
            Some(sim)
        }
        None => None,
    };
    let setup = engine_setup(
        &ws,
        config,
        EngineOptions {
            tmux_socket: args.tmux.tmux_socket.clone(),
            exit_when_done: args.exit_when_done,
            stop_agents_on_exit: args.stop_agents,
            focus: None,
        },
    )?;
    let lines = ProgressLines::new();
    let outcome = crate::async_run::block_on(async {
        let shutdown = crate::async_run::shutdown_signals();
        duet_daemon::run(setup, |p| lines.update(p), shutdown).await
    })?;
    let summary = outcome?;
    lines.finish();
    drop(simulated);
    print_summary(&summary);
    let all_done = summary.tasks.iter().all(|t| finished(&t.state));
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if all_done {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// The task's pair finished it: done, waiting for `duet merge`, or landed (a task still in the
/// merge queue when the run ends, e.g. held by a dirty checkout, is not).
fn finished(state: &str) -> bool {
    matches!(state, "done" | "ready" | "merged")
}

/// Starts `duet run` again in the background (its own process group, output to the log folder)
/// and waits until it answers on the control socket.
fn detach(root: &Path, args: &RunArgs) -> Result<ExitCode, CommandError> {
    use std::os::unix::process::CommandExt;
    let log_dir = root.join(".duet").join("logs");
    std::fs::create_dir_all(&log_dir)?;
    let out = std::fs::File::create(log_dir.join("daemon.out"))?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("-C")
        .arg(root)
        .arg("run")
        .arg("--tmux-socket")
        .arg(&args.tmux.tmux_socket);
    if args.stop_agents {
        command.arg("--stop-agents");
    }
    if args.exit_when_done {
        command.arg("--exit-when-done");
    }
    if let Some(script) = &args.simulate {
        command.arg("--simulate").arg(std::path::absolute(script)?);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()?;
    let log = log_dir.join("daemon.out");
    let deadline = Instant::now() + DETACH_READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Err(daemon_died(status, &log));
        }
        // Found afresh each time: the starting daemon writes the locator.
        let client = duet_proto::Client::new(
            duet_proto::find_socket(&root.join(".duet")),
            Duration::from_secs(2),
        );
        let status =
            duet_proto::Request::from_human(duet_proto::RequestBody::Status { task: None });
        if client.send(&status).is_ok() {
            println!(
                "duet is running in the background (pid {}); logs in {}",
                child.id(),
                log_dir.display()
            );
            println!("`duet status` shows the tasks, `duet stop` stops it");
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(CommandError::user(format!(
        "the background duet did not answer on its socket within {DETACH_READY_TIMEOUT:?}"
    ))
    .hint(format!(
        "it may still be starting (pid {}); its log is {}",
        child.id(),
        log.display()
    )))
}

/// The error for a background daemon that exited before it answered: its last error line and
/// where its log is.
fn daemon_died(status: std::process::ExitStatus, log: &Path) -> CommandError {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let code = status.code().map_or_else(
        || "killed by a signal".to_string(),
        |c| format!("exit code {c}"),
    );
    CommandError::user(format!(
        "the background duet exited before it started ({code}): {}",
        last_error_line(&text).unwrap_or("it printed nothing")
    ))
    .hint(format!("its log is {}", log.display()))
}

/// The last line starting with `error:` (what a failed `duet` prints), else the last non-empty
/// line.
fn last_error_line(text: &str) -> Option<&str> {
    let lines = || text.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .next_back()
        .or_else(|| lines().next_back())
}

/// A line per task that has started, and one with the overall counts and elapsed time.
struct ProgressLines {
    multi: MultiProgress,
    overall: ProgressBar,
    tasks: Mutex<BTreeMap<String, (ProgressBar, String)>>,
}

impl ProgressLines {
    fn new() -> Self {
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new_spinner());
        overall.set_style(
            ProgressStyle::with_template("{spinner} duet run  {wide_msg} {elapsed}")
                .expect("valid template"),
        );
        overall.enable_steady_tick(Duration::from_millis(200));
        overall.set_message("starting");
        ProgressLines {
            multi,
            overall,
            tasks: Mutex::new(BTreeMap::new()),
        }
    }

    fn update(&self, progress: DaemonProgress) {
        match progress {
            DaemonProgress::TaskState { task, state } => {
                let mut tasks = self.tasks.lock().expect("progress lock");
                let entry = tasks.entry(task.clone()).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {prefix:>16} {wide_msg}")
                            .expect("valid template"),
                    );
                    bar.set_prefix(task.clone());
                    (bar, String::new())
                });
                entry.1 = state.clone();
                entry.0.set_message(state);
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for (_, state) in tasks.values() {
                    *counts
                        .entry(state.split(':').next().unwrap_or(""))
                        .or_default() += 1;
                }
                let text: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
                self.overall.set_message(text.join(", "));
            }
            DaemonProgress::HumanNeeded { task, text } => {
                say_line(
                    &self.multi,
                    format!("{task} needs you: {text}\n  answer with `duet answer {task} TEXT`"),
                );
            }
            DaemonProgress::Note(text) => {
                say_line(&self.multi, text);
            }
            DaemonProgress::Agent { .. } => {}
        }
    }

    fn finish(&self) {
        self.overall.finish_and_clear();
        for (bar, _) in self.tasks.lock().expect("progress lock").values() {
            bar.finish_and_clear();
        }
    }
}

fn print_summary(summary: &RunSummary) {
    if summary.interrupted {
        println!(
            "duet stopped; agents keep running in tmux unless --stop-agents (the next `duet run` adopts them)"
        );
    }
    let width = summary
        .tasks
        .iter()
        .map(|t| t.id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:<12}  {:>6}  {:>7}",
        "TASK", "STATE", "ROUNDS", "COMMITS"
    );
    for task in &summary.tasks {
        println!(
            "{:<width$}  {:<12}  {:>6}  {:>7}",
            task.id,
            task.state,
            task.rounds,
            task.commits.len()
        );
    }
    let done = summary.tasks.iter().filter(|t| finished(&t.state)).count();
    let merged = summary.tasks.iter().filter(|t| t.state == "merged").count();
    if merged > 0 {
        println!(
            "{done} of {} tasks done, {merged} merged",
            summary.tasks.len()
        );
    } else {
        println!("{done} of {} tasks done", summary.tasks.len());
    }
}
