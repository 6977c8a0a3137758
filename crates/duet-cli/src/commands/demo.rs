//! `duet demo [DIR]`: makes the sample repository with its backlog and works it with real
//! claude/codex pairs against a simulated model (no account needed), then prints a summary.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::cli::DemoArgs;
use crate::command_error::{CommandError, error_chain};
use crate::demo::driver::{DriveOptions, summary_table, work_backlog};
use crate::demo::{SCRIPT_TOML, sample};
use crate::simulate::{SimulatedModel, find_agent_bins, simulate_config};
use crate::workspace::Workspace;

/// Exit code when the demo ended with a task not done (as `duet pair`).
const EXIT_NOT_DONE: u8 = 3;
/// Exit code after Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

pub fn run(cwd: &Path, args: &DemoArgs) -> Result<ExitCode, CommandError> {
    // Everything that can be missing is checked before anything is written.
    let bins = find_agent_bins()?;
    require_program("python3", "the sample project is a Python package")?;
    require_program("tmux", "the agents run in tmux")?;
    let script = duet_testkit::Script::from_toml_str(SCRIPT_TOML).map_err(|e| {
        CommandError::internal(format!("the demo script is invalid: {}", error_chain(&e)))
    })?;
    let dir = demo_dir(cwd, args.dir.as_deref())?;

    println!("==> sample repository: {}", dir.display());
    sample::create_repository(&dir)?;
    let ws = Workspace::discover(&dir)?;
    let config = ws.load_config()?;
    let backlog = ws.load_backlog(&config)?;
    println!(
        "    textstats (Python, `python3 -m unittest`), duet.toml and a backlog of {} tasks",
        backlog.tasks.len()
    );

    let log_path = ws.root().join(".duet/logs/simulated-model.jsonl");
    let sim = SimulatedModel::start(script, bins, &[ws.root()], Some(log_path))?;
    println!(
        "==> simulated model at {} (claude: {}, codex: {})",
        sim.server().base_url(),
        sim.bins().claude.display(),
        sim.bins().codex.display()
    );
    let simulated = simulate_config(&config, &sim);
    let tasks: Vec<_> = backlog.tasks.iter().collect();
    crate::commands::doctor::preflight(&ws, &simulated, &tasks)?;
    let options = DriveOptions {
        tmux_socket: args.tmux.tmux_socket.clone(),
        task_timeout: Duration::from_secs(args.task_timeout),
    };
    let run = work_backlog(&ws, &simulated, &backlog, &options)?;

    println!();
    println!("==> summary");
    print!("{}", summary_table(&run.results));
    let all_done = run.results.iter().all(|r| r.done);
    if all_done {
        println!("every task is done and merged into main");
        print_tests_on_main(ws.root());
    } else {
        print_unmatched_requests(&sim);
    }
    println!();
    println!("repository: {}", ws.root().display());
    println!(
        "look around: `git -C {0} log --oneline --graph`, `duet -C {0} status`",
        ws.root().display()
    );
    Ok(if run.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if all_done {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NOT_DONE)
    })
}

/// DIR (created if missing; it must be empty), or a new kept temporary folder.
fn demo_dir(cwd: &Path, dir: Option<&Path>) -> Result<PathBuf, CommandError> {
    let dir = match dir {
        Some(dir) => {
            let dir = cwd.join(dir);
            let non_empty = std::fs::read_dir(&dir)
                .map(|mut entries| entries.next().is_some())
                .unwrap_or(false);
            if non_empty {
                return Err(CommandError::user(format!(
                    "{} is not empty; nothing was changed",
                    dir.display()
                ))
                .hint("give a new or empty folder, or none for a temporary one"));
            }
            std::fs::create_dir_all(&dir).map_err(|e| {
                CommandError::user(format!(
                    "failed to create {}: {}",
                    dir.display(),
                    error_chain(&e)
                ))
            })?;
            dir
        }
        None => tempfile::Builder::new()
            .prefix("duet-demo-")
            .tempdir()
            .map_err(|e| {
                CommandError::user(format!(
                    "failed to create a temporary folder: {}",
                    error_chain(&e)
                ))
            })?
            .keep(),
    };
    // Agents compare trusted folders by their real path.
    std::fs::canonicalize(&dir).map_err(|e| {
        CommandError::user(format!(
            "failed to resolve {}: {}",
            dir.display(),
            error_chain(&e)
        ))
    })
}

fn require_program(name: &str, why: &str) -> Result<(), CommandError> {
    let found = Command::new(name)
        .arg(if name == "tmux" { "-V" } else { "--version" })
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        Ok(())
    } else {
        Err(
            CommandError::user(format!("{name} is not installed ({why})"))
                .hint(format!("install {name} (e.g. `apt-get install {name}`)")),
        )
    }
}

/// Runs the sample's tests on the merged main branch and says how they went.
fn print_tests_on_main(root: &Path) {
    let output = Command::new("python3")
        .args(["-B", "-m", "unittest"])
        .current_dir(root)
        .output();
    match output {
        Ok(out) => {
            let report = String::from_utf8_lossy(&out.stderr);
            // "Ran 9 tests in 0.002s" -> "9 tests"
            let ran = report
                .lines()
                .find_map(|l| l.strip_prefix("Ran "))
                .and_then(|l| l.split(" in ").next())
                .unwrap_or("no tests");
            let verdict = if out.status.success() { "OK" } else { "FAILED" };
            println!("tests on main (python3 -m unittest): {ran}, {verdict}");
        }
        Err(e) => println!("tests on main: failed to run python3: {e}"),
    }
}

/// After a failure: the requests the script had no answer for (the usual cause of a stuck pair).
fn print_unmatched_requests(sim: &SimulatedModel) {
    let log = sim.server().log();
    let unmatched: Vec<_> = log
        .iter()
        .filter(|entry| entry.detail.is_some() && !entry.is_step())
        .collect();
    for entry in &unmatched {
        println!(
            "simulated model could not answer a request (scope {}): {}",
            entry.scope.as_deref().unwrap_or("?"),
            entry.detail.as_deref().unwrap_or("")
        );
    }
    println!(
        "simulated model request log: {}",
        sim.server().log_path().display()
    );
}
