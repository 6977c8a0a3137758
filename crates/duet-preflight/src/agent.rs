//! Agent CLI checks: a profile's `command` resolves to an executable (on the PATH the agent
//! will see) and answers `--version` in time, with a version in the tested range.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Seek};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use duet_core::backlog::Task;
use duet_core::config::{AgentProfile, Config};

use crate::version::{Version, tested_range};
use crate::{Check, Env, Status};

/// How long a program has to answer `--version`.
pub(crate) const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// Where `command` runs from: a path (with a `/`, relative to `cwd`) as is, a bare name looked
/// up in `PATH`. `None` when nothing executable is there.
pub fn resolve_program(command: &str, path_var: Option<&OsStr>, cwd: &Path) -> Option<PathBuf> {
    if command.contains('/') {
        let path = cwd.join(command);
        return is_executable(&path).then_some(path);
    }
    std::env::split_paths(path_var?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(command))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What a program printed and how it exited, or `None` when it did not finish in time.
pub(crate) struct Answer {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program ARGS` in `env` from `cwd`, killed after `timeout`. Output goes to temp files,
/// so a chatty program or a grandchild holding a pipe cannot block the check.
pub(crate) fn run_bounded(
    program: &Path,
    args: &[&str],
    env: &Env,
    cwd: &Path,
    timeout: Duration,
) -> std::io::Result<Option<Answer>> {
    let mut out = tempfile::tempfile()?;
    let mut err = tempfile::tempfile()?;
    let mut child = env
        .command(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(err.try_clone()?)
        .spawn()?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        // Polling a child's exit: std has no wait with a timeout.
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |file: &mut std::fs::File| -> std::io::Result<String> {
        let mut text = String::new();
        file.rewind()?;
        file.read_to_string(&mut text)?;
        Ok(text)
    };
    Ok(Some(Answer {
        status,
        stdout: read(&mut out)?,
        stderr: read(&mut err)?,
    }))
}

/// Checks agent profile `name`: its command is found and answers `--version` within a few
/// seconds with a version this duet is tested with (outside the range: a warning).
pub fn check_agent(name: &str, profile: &AgentProfile, env: &Env, cwd: &Path) -> Check {
    check_agent_within(name, profile, env, cwd, VERSION_TIMEOUT)
}

/// [`check_agent`] with `--version` given `timeout` to answer.
pub fn check_agent_within(
    name: &str,
    profile: &AgentProfile,
    env: &Env,
    cwd: &Path,
    timeout: Duration,
) -> Check {
    let check = format!("agent {name}");
    let command = profile.command.as_str();
    let range = tested_range(profile.kind);
    let install = format!("npm install -g {}", range.package);
    let agent_env = env.with(&profile.env);
    let Some(program) = resolve_program(command, agent_env.get("PATH"), cwd) else {
        let fault = if command.contains('/') {
            format!("{} is not an executable file", cwd.join(command).display())
        } else {
            format!("{command} not found on PATH")
        };
        return Check::error(
            check,
            format!("{fault}: install it with `{install}`, or set `agents.{name}.command`"),
        );
    };
    let answer = match run_bounded(&program, &["--version"], &agent_env, cwd, timeout) {
        Ok(Some(answer)) => answer,
        Ok(None) => {
            return Check::error(
                check,
                format!(
                    "`{} --version` did not answer within {timeout:?}: check that it runs, reinstall it with `{install}`, or set `agents.{name}.command`",
                    program.display(),
                ),
            );
        }
        Err(err) => {
            return Check::error(
                check,
                format!(
                    "failed to run `{} --version`: {err}: reinstall it with `{install}`, or set `agents.{name}.command`",
                    program.display()
                ),
            );
        }
    };
    if !answer.status.success() {
        let why = answer
            .stderr
            .lines()
            .chain(answer.stdout.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no output");
        return Check::error(
            check,
            format!(
                "`{} --version` failed ({}): {why}: reinstall it with `{install}`, or set `agents.{name}.command`",
                program.display(),
                exit_text(answer.status)
            ),
        );
    }
    match Version::find_in(&answer.stdout) {
        Some(version) if range.contains(version) => Check::ok(
            check,
            format!(
                "{} {version} ({})",
                profile.kind.as_str(),
                program.display()
            ),
        ),
        Some(version) => Check::warning(
            check,
            format!(
                "{} {version} ({}) is outside the versions this duet is tested with ({} to {}): install a tested one with `{install}@{}`",
                profile.kind.as_str(),
                program.display(),
                range.min,
                range.max,
                range.min
            ),
        ),
        None => Check::warning(
            check,
            format!(
                "`{} --version` printed no version ({:?}); this duet is tested with {range}: check that it is the {} CLI",
                program.display(),
                answer.stdout.trim(),
                profile.kind.as_str()
            ),
        ),
    }
}

pub(crate) fn exit_text(status: ExitStatus) -> String {
    status
        .code()
        .map_or_else(|| "killed by a signal".into(), |c| format!("exit code {c}"))
}

/// The daemon's check before it starts `task`: both of its agents can start (in this process's
/// environment). `Ok` holds the warnings; `Err` the errors, one per line. Profiles that passed
/// are remembered (by command and PATH) so a daemon does not re-run `--version` per task.
pub fn check_task_agents(config: &Config, task: &Task) -> Result<Vec<Check>, String> {
    static PASSED: OnceLock<Mutex<HashMap<String, Check>>> = OnceLock::new();
    let env = Env::from_process();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut checks = Vec::new();
    for name in crate::profiles_used(config, &[task]) {
        let Some(profile) = config.agents.get(name) else {
            checks.push(Check::error(
                format!("agent {name}"),
                format!("unknown agent profile `{name}`: add `[agents.{name}]` to duet.toml"),
            ));
            continue;
        };
        let key = format!(
            "{name}\0{}\0{:?}",
            profile.command,
            env.with(&profile.env).get("PATH")
        );
        let passed = PASSED.get_or_init(Mutex::default);
        let cached = passed.lock().expect("preflight cache").get(&key).cloned();
        let check = cached.unwrap_or_else(|| check_agent(name, profile, &env, &cwd));
        if check.status != Status::Error {
            passed
                .lock()
                .expect("preflight cache")
                .insert(key, check.clone());
        }
        checks.push(check);
    }
    crate::verdict(&checks).map(|warnings| warnings.into_iter().cloned().collect())
}
