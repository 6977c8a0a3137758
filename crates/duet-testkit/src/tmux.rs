//! A private tmux server (own `-L` socket, no user config) for driving TUIs in tests, killed with
//! everything running in it when dropped.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often `wait_for_text` looks at the pane.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Pane size: wide enough that TUIs do not wrap short lines.
const PANE_WIDTH: &str = "200";
const PANE_HEIGHT: &str = "50";

/// Error of a tmux command or of waiting for a pane.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action}: {detail}")]
pub struct TmuxError {
    pub kind: TmuxErrorKind,
    action: String,
    detail: String,
    #[source]
    source: Option<std::io::Error>,
}

/// What went wrong with tmux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TmuxErrorKind {
    /// `tmux` could not be started at all (not installed?).
    Spawn,
    /// A tmux command exited with an error.
    Command,
    /// The awaited text did not appear before the deadline.
    Timeout,
}

impl TmuxError {
    /// The pane text at the time of a timeout (empty for other kinds), for test failure messages.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

/// A tmux server on its own socket. Dropping it kills the server and the processes in its panes
/// and removes the socket file.
#[derive(Debug)]
pub struct TmuxServer {
    socket_name: String,
    socket_path: Option<PathBuf>,
}

impl TmuxServer {
    /// A server with a unique socket name; tmux itself starts with the first session.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let socket_name = format!(
            "duet-test-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            socket_name,
            socket_path: None,
        }
    }

    /// The `-L` socket name (for attaching by hand: `tmux -L NAME attach`).
    pub fn socket_name(&self) -> &str {
        &self.socket_name
    }

    /// A `tmux` command bound to this server, ignoring every config file.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket_name, "-f", "/dev/null"]);
        cmd
    }

    /// Starts a detached session `name` running `argv` in `cwd` with `env` added to the
    /// server's environment. The pane stays after its process exits (`remain-on-exit`), so a
    /// crashed TUI's last words can still be captured. Returns the target of its pane.
    pub fn new_session<K, V>(
        &mut self,
        name: &str,
        cwd: &Path,
        argv: &[impl AsRef<OsStr>],
        env: &[(K, V)],
    ) -> Result<String, TmuxError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut cmd = self.command();
        cmd.args([
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            PANE_WIDTH,
            "-y",
            PANE_HEIGHT,
        ]);
        cmd.arg("-c").arg(cwd);
        for (key, value) in env {
            cmd.arg("-e")
                .arg(format!("{}={}", key.as_ref(), value.as_ref()));
        }
        cmd.arg("--");
        cmd.args(argv);
        // Chained in the same client call, so it is set before the pane's process can exit.
        cmd.args([";", "set-option", "-w", "-t", name, "remain-on-exit", "on"]);
        self.run(cmd, &format!("start tmux session {name}"))?;
        if self.socket_path.is_none() {
            let path = self.display(name, "#{socket_path}")?;
            self.socket_path = Some(PathBuf::from(path.trim()));
        }
        Ok(format!("{name}:0.0"))
    }

    /// Types `text` literally into the pane (no key names are interpreted), without Enter.
    pub fn send_text(&self, target: &str, text: &str) -> Result<(), TmuxError> {
        let mut cmd = self.command();
        cmd.args(["send-keys", "-t", target, "-l", "--", text]);
        self.run(cmd, &format!("type text into {target}")).map(drop)
    }

    /// Presses Enter in the pane, as a key of its own (TUIs treat Enter inside a burst of typed
    /// text as part of a paste).
    pub fn send_enter(&self, target: &str) -> Result<(), TmuxError> {
        self.send_keys(target, &["Enter"])
    }

    /// Sends tmux key names (`Enter`, `Escape`, `C-c`...).
    pub fn send_keys(&self, target: &str, keys: &[&str]) -> Result<(), TmuxError> {
        let mut cmd = self.command();
        cmd.args(["send-keys", "-t", target]);
        cmd.args(keys);
        self.run(cmd, &format!("send keys {keys:?} to {target}"))
            .map(drop)
    }

    /// Types `text`, waits until the pane shows it, lets `settle` pass, then presses Enter.
    ///
    /// `settle` exists for codex, which takes an Enter that follows typed text within its paste
    /// detection window as a newline; there is no event that says the window has closed.
    pub fn submit_line(
        &self,
        target: &str,
        text: &str,
        settle: Duration,
        timeout: Duration,
    ) -> Result<(), TmuxError> {
        self.send_text(target, text)?;
        // Long text wraps in the input box: look for its beginning only.
        let head: String = text.chars().take(40).collect();
        self.wait_for_text(target, &head, timeout)?;
        if !settle.is_zero() {
            std::thread::sleep(settle);
        }
        self.send_enter(target)
    }

    /// The pane's visible text, wrapped lines joined.
    pub fn capture(&self, target: &str) -> Result<String, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["capture-pane", "-p", "-J", "-t", target]);
        let output = self.run(cmd, &format!("capture pane {target}"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The pane's scrollback history and visible text, wrapped lines joined (a dead pane's
    /// last output is often scrolled up into the history).
    pub fn capture_all(&self, target: &str) -> Result<String, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["capture-pane", "-p", "-J", "-S", "-", "-t", target]);
        let output = self.run(cmd, &format!("capture pane {target} with history"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Polls the pane until it shows `needle` and returns the pane text; a pane has no event to
    /// await, so this looks every 100 ms up to `timeout`. The timeout error carries the last
    /// pane text.
    pub fn wait_for_text(
        &self,
        target: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<String, TmuxError> {
        self.wait_for(
            target,
            timeout,
            &format!("see {needle:?} in pane {target}"),
            |screen| screen.contains(needle),
        )
    }

    /// Polls the pane until `done(pane text)` holds; see `wait_for_text`.
    pub fn wait_for(
        &self,
        target: &str,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&str) -> bool,
    ) -> Result<String, TmuxError> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture(target)?;
            if done(&screen) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                return Err(TmuxError {
                    kind: TmuxErrorKind::Timeout,
                    action: format!("{what} within {timeout:?}"),
                    detail: format!("pane shows:\n{screen}"),
                    source: None,
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Whether the pane's process has exited (the pane remains, see `new_session`).
    pub fn pane_dead(&self, target: &str) -> Result<bool, TmuxError> {
        Ok(self.display(target, "#{pane_dead}")?.trim() == "1")
    }

    /// The pid of the process running in the pane.
    pub fn pane_pid(&self, target: &str) -> Result<u32, TmuxError> {
        let text = self.display(target, "#{pane_pid}")?;
        text.trim().parse().map_err(|_| TmuxError {
            kind: TmuxErrorKind::Command,
            action: format!("read the pid of pane {target}"),
            detail: format!("tmux printed {text:?}"),
            source: None,
        })
    }

    fn display(&self, target: &str, format: &str) -> Result<String, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["display-message", "-p", "-t", target, format]);
        let output = self.run(cmd, &format!("read {format} of {target}"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn run(&self, mut cmd: Command, action: &str) -> Result<Output, TmuxError> {
        let output = cmd.output().map_err(|err| TmuxError {
            kind: TmuxErrorKind::Spawn,
            action: action.to_owned(),
            detail: "could not run tmux (is it installed?)".to_owned(),
            source: Some(err),
        })?;
        if !output.status.success() {
            return Err(TmuxError {
                kind: TmuxErrorKind::Command,
                action: action.to_owned(),
                detail: format!(
                    "tmux exited with {}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
                source: None,
            });
        }
        Ok(output)
    }
}

impl Default for TmuxServer {
    fn default() -> Self {
        Self::new()
    }
}

/// How long dropping a server waits for its panes' processes to exit after SIGHUP.
const EXIT_GRACE: Duration = Duration::from_secs(10);

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let pane_pids = self.pane_pids();
        // Fails harmlessly when no session was ever started (no server running).
        let _ = self.command().arg("kill-server").output();
        // The panes' processes get SIGHUP and may still write (e.g. into a HOME about to be
        // removed) while exiting: wait for them, then make sure they are gone.
        let deadline = Instant::now() + EXIT_GRACE;
        while pane_pids.iter().any(|&pid| process_running(pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in pane_pids.into_iter().filter(|&pid| process_running(pid)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl TmuxServer {
    /// Pids of the processes in all panes of this server (empty when it is not running).
    fn pane_pids(&self) -> Vec<u32> {
        let Ok(output) = self
            .command()
            .args(["list-panes", "-a", "-F", "#{pane_pid}"])
            .output()
        else {
            return Vec::new();
        };
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }
}

/// Whether `pid` exists and is not a zombie (a zombie has finished running).
pub(crate) fn process_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state letter follows the parenthesised command name, which may contain spaces.
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_alive(pid: u32) -> bool {
        process_running(pid)
    }

    #[test]
    fn a_session_runs_with_its_env_and_cwd_and_shows_typed_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut tmux = TmuxServer::new();
        let pane = tmux
            .new_session(
                "s",
                dir.path(),
                &["sh", "-c", "echo \"var=$DUET_TMUX_TEST_VAR pwd=$(pwd)\"; read line; echo \"got:$line\"; exec sleep 300"],
                &[("DUET_TMUX_TEST_VAR", "hello")],
            )
            .unwrap();
        let expected = format!("var=hello pwd={}", dir.path().display());
        tmux.wait_for_text(&pane, &expected, Duration::from_secs(10))
            .unwrap();
        tmux.submit_line(
            &pane,
            "typed words",
            Duration::ZERO,
            Duration::from_secs(10),
        )
        .unwrap();
        tmux.wait_for_text(&pane, "got:typed words", Duration::from_secs(10))
            .unwrap();
    }

    #[test]
    fn drop_kills_the_processes_and_removes_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let mut tmux = TmuxServer::new();
        let pane = tmux
            .new_session("s", dir.path(), &["sleep", "300"], &[] as &[(&str, &str)])
            .unwrap();
        let pid = tmux.pane_pid(&pane).unwrap();
        let socket = tmux.socket_path.clone().unwrap();
        assert!(pid_alive(pid));
        assert!(socket.exists());
        drop(tmux);
        assert!(!pid_alive(pid), "pane process {pid} survived the server");
        assert!(!socket.exists(), "socket {} left behind", socket.display());
    }

    #[test]
    fn a_timeout_reports_what_the_pane_showed() {
        let dir = tempfile::tempdir().unwrap();
        let mut tmux = TmuxServer::new();
        let pane = tmux
            .new_session(
                "s",
                dir.path(),
                &["sh", "-c", "echo visible-text; exec sleep 300"],
                &[] as &[(&str, &str)],
            )
            .unwrap();
        tmux.wait_for_text(&pane, "visible-text", Duration::from_secs(10))
            .unwrap();
        let err = tmux
            .wait_for_text(&pane, "never shown", Duration::from_millis(300))
            .unwrap_err();
        assert_eq!(err.kind, TmuxErrorKind::Timeout);
        assert!(err.detail().contains("visible-text"), "{err}");
    }

    #[test]
    fn a_pane_whose_process_exited_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut tmux = TmuxServer::new();
        let pane = tmux
            .new_session(
                "s",
                dir.path(),
                &["sh", "-c", "echo last-words; read _ignored"],
                &[] as &[(&str, &str)],
            )
            .unwrap();
        // Without remain-on-exit the session would vanish and capturing would fail.
        tmux.wait_for_text(&pane, "last-words", Duration::from_secs(10))
            .unwrap();
        tmux.send_enter(&pane).unwrap();
        tmux.wait_for(&pane, Duration::from_secs(10), "pane to die", |_| {
            tmux.pane_dead(&pane).unwrap()
        })
        .unwrap();
        assert!(tmux.capture_all(&pane).unwrap().contains("last-words"));
    }
}
