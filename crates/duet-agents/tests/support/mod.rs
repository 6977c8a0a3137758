//! Shared helpers of the duet-agents integration tests: a tmux runtime on a unique socket that
//! is killed on drop, hermetic git repositories, a stand-in `duet` executable that records
//! hook payloads, and polling with a deadline where no event exists.

#![allow(dead_code)] // each test binary uses a different subset

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use duet_agents::{LaunchSpec, PaneCommand, TmuxRuntime};
use duet_testkit::hermetic::git_env;

/// A tmux runtime on its own socket; dropping it kills the server, waits for the panes'
/// processes and removes the socket.
#[derive(Debug)]
pub struct TestTmux {
    pub runtime: TmuxRuntime,
}

impl TestTmux {
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "duet-agents-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            runtime: TmuxRuntime::new(Some(name)),
        }
    }
}

impl Drop for TestTmux {
    fn drop(&mut self) {
        let pids = self.runtime.all_pane_pids().unwrap_or_default();
        let socket = self.runtime.socket_path().ok();
        let _ = self.runtime.kill_server();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(|&pid| running(pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in pids.into_iter().filter(|&pid| running(pid)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        if let Some(socket) = socket {
            let _ = std::fs::remove_file(socket);
        }
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// Polls `check` every 50 ms until it returns `Some`, panicking with `what` and the last
/// observation after `timeout` (for states that have no event, such as pane contents).
pub fn poll<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> (Option<T>, String)) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let (found, seen) = check();
        if let Some(found) = found {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last seen:\n{seen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A temporary git repository with one commit, its path canonical.
pub fn git_repo() -> (tempfile::TempDir, PathBuf) {
    duet_testkit::hermetic::git_repo("duet-agents-repo-")
}

/// The pane command that runs `spec` with the hermetic git env, then `agent_env` (the fake
/// model server's), then the spec's own env (later entries win).
pub fn agent_pane(spec: &LaunchSpec, agent_env: Vec<(String, String)>) -> PaneCommand {
    let mut env = git_env();
    env.extend(agent_env);
    env.extend(spec.env.clone());
    PaneCommand {
        argv: spec.argv(),
        env,
    }
}

/// A pane that only waits: the other side of a pair session whose test drives one agent.
pub fn idle_pane() -> PaneCommand {
    PaneCommand {
        argv: vec!["sleep".to_owned(), "600".to_owned()],
        env: Vec::new(),
    }
}

/// A stand-in for the `duet` executable: `hook <kind>` appends the payload (stdin for claude,
/// the last argument for codex) as one line to `<dir>/hooks.jsonl` together with the env it
/// saw; `mcp` exits at once.
pub struct StandInDuet {
    pub dir: tempfile::TempDir,
}

impl StandInDuet {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("duet-stand-in-")
            .tempdir()
            .unwrap();
        let log = dir.path().join("hooks.jsonl");
        let script = format!(
            r#"#!/bin/sh
# Stand-in for `duet`: records hook payloads.
case "$1" in
  hook)
    if [ "$2" = codex ]; then
      for last; do :; done
      payload="$last"
    else
      payload="$(cat)"
    fi
    printf '%s\t%s\t%s\n' "$DUET_TOKEN" "$DUET_ROLE" "$(printf '%s' "$payload" | tr '\n' ' ')" >> '{}'
    ;;
  *) exit 0 ;;
esac
"#,
            log.display()
        );
        let path = dir.path().join("duet");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    pub fn exe(&self) -> PathBuf {
        self.dir.path().join("duet")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("hooks.jsonl")
    }

    /// The recorded calls: (DUET_TOKEN, DUET_ROLE, payload JSON).
    pub fn calls(&self) -> Vec<(String, String, serde_json::Value)> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, '\t');
                let token = parts.next()?.to_owned();
                let role = parts.next()?.to_owned();
                let payload = serde_json::from_str(parts.next()?).ok()?;
                Some((token, role, payload))
            })
            .collect()
    }
}

/// Where a sample payload is written when DUET_AGENTS_SAMPLE_DIR is set (to refresh the
/// parsing tables' samples by hand).
pub fn sample_dir() -> Option<PathBuf> {
    std::env::var_os("DUET_AGENTS_SAMPLE_DIR").map(PathBuf::from)
}

pub fn path_str(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}
