//! `duet doctor [--json]`: every preflight check plus the host's (inotify, control socket, disk,
//! logins, tested versions), one line each; and [`preflight`], the checks `duet pair`, `duet
//! run` and `duet demo` make before they create anything.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use duet_core::backlog::{Backlog, Task};
use duet_core::config::Config;
use duet_core::lifecycle::StateKind;
use duet_preflight::{Check, Env, Status, host};
use duet_store::Store;
use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::client::print_json;
use crate::command_error::CommandError;
use crate::workspace::{Workspace, display_path};

/// Where Linux says how many inotify watches a user may have.
const INOTIFY_LIMIT_FILE: &str = "/proc/sys/fs/inotify/max_user_watches";

/// Runs the start checks for `tasks`; prints the warnings, refuses with every error (exit 1).
pub fn preflight(ws: &Workspace, config: &Config, tasks: &[&Task]) -> Result<(), CommandError> {
    let checks = duet_preflight::start_checks(config, tasks, ws.root(), &Env::from_process());
    for warning in checks.iter().filter(|c| c.status == Status::Warning) {
        eprintln!("warning: {}", warning.message);
    }
    duet_preflight::verdict(&checks)
        .map(|_| ())
        // One `error:` per line, as the CLI prints a single error.
        .map_err(|errors| CommandError::user(errors.replace('\n', "\nerror: ")))
}

/// The backlog's tasks `duet run` would still work on: all but those done, failed or
/// cancelled in `.duet/state.db`.
pub fn tasks_to_run<'a>(ws: &Workspace, backlog: &'a Backlog) -> Vec<&'a Task> {
    let finished: BTreeSet<String> = Store::open_read_only(ws.state_db_path())
        .and_then(|store| store.task_states())
        .map(|rows| {
            rows.into_iter()
                .filter(|r| {
                    matches!(
                        r.state,
                        StateKind::Done | StateKind::Failed | StateKind::Cancelled
                    )
                })
                .map(|r| r.id)
                .collect()
        })
        .unwrap_or_default();
    backlog
        .tasks
        .iter()
        .filter(|t| !finished.contains(t.id.as_str()))
        .collect()
}

#[derive(Serialize)]
struct Report<'a> {
    checks: &'a [Check],
}

pub fn run(cwd: &Path, args: &DoctorArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    let checks = doctor_checks(&ws, &Env::from_process(), Path::new(INOTIFY_LIMIT_FILE));
    if args.json {
        print_json(&Report { checks: &checks })?;
    } else {
        for check in &checks {
            println!(
                "{:<7} {}: {}",
                check.status.as_str(),
                check.name,
                check.message
            );
        }
    }
    let failed = checks.iter().any(|c| c.status == Status::Error);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every check, in the order printed.
fn doctor_checks(ws: &Workspace, env: &Env, inotify_file: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let (config, config_check) = read_config(ws);
    checks.push(config_check);
    let (backlog, backlog_check) = read_backlog(ws, &config);
    checks.extend(backlog_check);
    let tasks = backlog
        .as_ref()
        .map(|b| tasks_to_run(ws, b))
        .unwrap_or_default();

    // The default roles count even with no task left, so a fresh repository is checked too.
    let mut profiles: BTreeSet<&str> = duet_preflight::profiles_used(&config, &tasks);
    profiles.insert(&config.roles.worker);
    profiles.insert(&config.roles.reviewer);
    for name in &profiles {
        match config.agents.get(*name) {
            Some(profile) => {
                checks.push(duet_preflight::check_agent(name, profile, env, ws.root()))
            }
            None => checks.push(Check::error(
                format!("agent {name}"),
                format!("unknown agent profile `{name}`: add `[agents.{name}]` to duet.toml"),
            )),
        }
    }
    checks.push(duet_preflight::check_tmux(env));
    checks.push(duet_preflight::check_git_identity(ws.root(), env));
    let mut bases: BTreeSet<&str> = tasks.iter().map(|t| t.base_branch(&config)).collect();
    bases.insert(&config.base_branch);
    for base in bases {
        checks.push(duet_preflight::check_base_branch(ws.root(), base, env));
    }
    for name in &profiles {
        if let Some(profile) = config.agents.get(*name) {
            checks.push(host::check_login(name, profile, env));
        }
    }
    checks.push(host::check_inotify(inotify_file));
    let state_dir = ws.root().join(".duet");
    checks.push(host::check_socket(&state_dir));
    let disk_dir = if state_dir.is_dir() {
        state_dir
    } else {
        ws.root().to_path_buf()
    };
    checks.push(host::check_disk(&disk_dir));
    checks.push(host::tested_versions());
    checks
}

/// duet.toml, or the built-in defaults (with a check saying why) when it is missing or invalid.
fn read_config(ws: &Workspace) -> (Config, Check) {
    let path = ws.config_path();
    let shown = display_path(ws.root(), &path);
    match std::fs::read_to_string(&path) {
        Ok(src) => match Config::from_toml_str(&src, &shown) {
            Ok(config) => (
                config,
                Check::ok("config", format!("{} is valid", shown.display())),
            ),
            Err(_) => (
                Config::default(),
                Check::error(
                    "config",
                    format!(
                        "{} is invalid: run `duet validate` to see every problem (checking with the defaults)",
                        shown.display()
                    ),
                ),
            ),
        },
        Err(_) => (
            Config::default(),
            Check::warning(
                "config",
                format!(
                    "no duet.toml in {}: run `duet init` (checking with the defaults)",
                    ws.root().display()
                ),
            ),
        ),
    }
}

/// The backlog, when it can be read; a check only when it cannot.
fn read_backlog(ws: &Workspace, config: &Config) -> (Option<Backlog>, Option<Check>) {
    let path = ws.root().join(&config.backlog);
    let shown = display_path(ws.root(), &path);
    let Ok(src) = std::fs::read_to_string(&path) else {
        return (
            None,
            Some(Check::warning(
                "backlog",
                format!(
                    "no backlog at {}: run `duet init`, or set `backlog` in duet.toml",
                    shown.display()
                ),
            )),
        );
    };
    let base = path.parent().unwrap_or(ws.root()).to_path_buf();
    match Backlog::from_toml_str(&src, &shown, config, &base) {
        Ok(backlog) => (Some(backlog), None),
        Err(_) => (
            None,
            Some(Check::error(
                "backlog",
                format!(
                    "{} is invalid: run `duet validate` to see every problem",
                    shown.display()
                ),
            )),
        ),
    }
}
