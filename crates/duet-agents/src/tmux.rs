//! The tmux runtime: one tmux session per task on duet's own tmux server (`-L duet`, no user
//! config), worker and reviewer panes side by side with their role and state in the pane
//! borders, typing messages into the agents' TUIs, reading panes, and `duet attach`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use duet_core::config::AgentKind;
use duet_core::protocol::Role;

use crate::paste_echo::PasteEcho;

/// The `-L` socket name of duet's dedicated tmux server.
pub const DEFAULT_SOCKET_NAME: &str = "duet";
/// How long to wait between typing one line into codex (`send-keys -l`) and pressing Enter:
/// codex takes an Enter that follows typed text within its paste-detection window as a
/// newline, and there is no event saying the window has closed. Pasted text (every duet
/// message, whose header is a line of its own) does not wait: its Enter follows once the paste
/// shows ([`PasteEcho`]).
pub const CODEX_ENTER_DELAY: Duration = Duration::from_millis(400);
/// How long claude (or codex) gets to draw a bracketed paste before Enter is pressed anyway: an
/// Enter right behind the paste is taken while claude still handles it and is lost (measured
/// with claude-code 2.1.197), so duet presses it once the paste shows ([`PasteEcho`]); this is
/// the fallback when it never does (a changed screen, a dialog in the way).
pub const CLAUDE_PASTE_SEEN_TIMEOUT: Duration = Duration::from_secs(2);
/// How often claude's pane is read while waiting for a paste to show (one `capture-pane`,
/// a few ms).
const PASTE_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// When the Enter that submitted a text came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnterAfter {
    /// Right after the text (one line typed into claude).
    Typed,
    /// Once the pasted text showed in the agent's pane, this long after the paste.
    PasteSeen(Duration),
    /// The paste did not show within [`CLAUDE_PASTE_SEEN_TIMEOUT`]; Enter was pressed anyway.
    PasteNotSeen(Duration),
    /// After codex's fixed pause for a typed line ([`CODEX_ENTER_DELAY`]).
    CodexPause,
}

/// Size of a new session's window (detached sessions have no client to take a size from).
const WINDOW_WIDTH: &str = "240";
const WINDOW_HEIGHT: &str = "60";
/// The pane option holding duet's title; the border shows it (a TUI cannot overwrite it with
/// an escape sequence, unlike the pane title).
const TITLE_OPTION: &str = "@duet_title";

/// Error of a tmux command.
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
    /// `tmux` could not be run at all (not installed?).
    Spawn,
    /// A tmux command exited with an error (no such session or pane, bad arguments...).
    Command,
    /// tmux printed something duet could not read.
    Output,
    /// The input cannot be given to tmux (an empty argv, `=` in an env name, NUL bytes).
    InvalidInput,
}

impl TmuxError {
    fn new(kind: TmuxErrorKind, action: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind,
            action: action.into(),
            detail: detail.into(),
            source: None,
        }
    }
}

/// What to run in a pane: `argv` with `env` added to the server's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneCommand {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// The two panes of a pair's session (tmux pane ids such as `%3`, stable for the pane's life).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairPanes {
    pub worker_pane_id: String,
    pub reviewer_pane_id: String,
}

impl PairPanes {
    pub fn pane(&self, role: Role) -> &str {
        match role {
            Role::Worker => &self.worker_pane_id,
            Role::Reviewer => &self.reviewer_pane_id,
        }
    }
}

/// Whether a pane's process runs, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaneState {
    Running {
        pid: u32,
    },
    /// The process exited (the pane stays, `remain-on-exit`): its exit code, or the signal.
    Dead {
        exit_code: Option<i32>,
        signal: Option<i32>,
    },
}

/// The argv (and env changes) that attach the user's terminal to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachCommand {
    pub argv: Vec<String>,
    /// Env vars to remove for the child (TMUX, so tmux agrees to nest in the user's tmux).
    pub env_remove: Vec<String>,
}

/// A tmux server for duet's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmuxRuntime {
    socket_name: String,
}

/// The title shown on a pane's border: `<task> worker (claude): <state>`.
pub fn pane_title(task_id: &str, role: Role, kind: AgentKind, state: &str) -> String {
    format!("{task_id} {role} ({}): {state}", kind.as_str())
}

/// The session name of a task: `duet-<repository folder>-<task>`, with every character tmux
/// does not allow or treats specially (`.`, `:`, spaces, ...) replaced by `_`.
pub fn session_name(repo_root: &Path, task_id: &str) -> String {
    let repo = repo_root
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".to_owned());
    let sanitize = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("duet-{}-{}", sanitize(&repo), sanitize(task_id))
}

/// `text` for use inside a tmux format (status-left): `#` starts a format, so it is doubled.
fn format_literal(text: &str) -> String {
    text.replace('#', "##")
}

/// An exact-match session target (a bare name would also match a longer name by prefix).
fn exact(session: &str) -> String {
    format!("={session}")
}

impl TmuxRuntime {
    /// The runtime on socket `socket_name` (`None`: duet's dedicated server, `-L duet`).
    pub fn new(socket_name: Option<String>) -> Self {
        Self {
            socket_name: socket_name.unwrap_or_else(|| DEFAULT_SOCKET_NAME.to_owned()),
        }
    }

    /// The `-L` socket name.
    pub fn socket_name(&self) -> &str {
        &self.socket_name
    }

    /// A `tmux` command bound to this server, ignoring every config file.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket_name, "-f", "/dev/null"]);
        cmd
    }

    /// Creates session `name` in `cwd` with the worker (left) and the reviewer (right) pane.
    ///
    /// Dead panes stay visible (`remain-on-exit`), pane borders show the titles, the status
    /// line the session name. All in one tmux call, so the options are set before either
    /// process can exit.
    pub fn create_pair_session(
        &self,
        name: &str,
        cwd: &Path,
        worker: &PaneCommand,
        reviewer: &PaneCommand,
    ) -> Result<PairPanes, TmuxError> {
        let action = format!("create tmux session {name}");
        check_pane_command(worker, &action)?;
        check_pane_command(reviewer, &action)?;
        let mut cmd = self.command();
        cmd.args(["new-session", "-d", "-P", "-F", "#{pane_id}", "-s", name]);
        cmd.args(["-x", WINDOW_WIDTH, "-y", WINDOW_HEIGHT]);
        cmd.arg("-c").arg(cwd);
        push_env(&mut cmd, &worker.env);
        push_argv(&mut cmd, &worker.argv);
        // `=name:` names exactly this session (and its current window) for option commands.
        let target = format!("{}:", exact(name));
        // Window options first, so a worker that exits at once still leaves its pane.
        for (option, value) in [
            ("remain-on-exit", "on"),
            ("pane-border-status", "top"),
            ("pane-border-format", " #{@duet_title} "),
        ] {
            cmd.args([";", "set-option", "-w", "-t", &target, option, value]);
        }
        for (option, value) in [
            ("status-left", format!("[duet {}] ", format_literal(name))),
            ("status-left-length", "80".to_owned()),
            ("status-right", "#{@duet_title}".to_owned()),
            ("status-right-length", "120".to_owned()),
        ] {
            cmd.args([
                ";",
                "set-option",
                "-t",
                &target,
                option,
                &literal_arg(&value),
            ]);
        }
        cmd.args([";", "split-window", "-h", "-d", "-P", "-F", "#{pane_id}"]);
        cmd.args(["-t", &target]);
        cmd.arg("-c").arg(cwd);
        push_env(&mut cmd, &reviewer.env);
        push_argv(&mut cmd, &reviewer.argv);
        let output = self.run(cmd, &action)?;
        let text = String::from_utf8_lossy(&output.stdout);
        let ids: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        match ids.as_slice() {
            [worker_pane, reviewer_pane] => Ok(PairPanes {
                worker_pane_id: (*worker_pane).to_owned(),
                reviewer_pane_id: (*reviewer_pane).to_owned(),
            }),
            _ => Err(TmuxError::new(
                TmuxErrorKind::Output,
                action,
                format!("expected two pane ids, tmux printed {text:?}"),
            )),
        }
    }

    /// Sets the title shown on the pane's border (see [`pane_title`]).
    pub fn set_pane_title(&self, pane: &str, title: &str) -> Result<(), TmuxError> {
        let mut cmd = self.command();
        let title = literal_arg(title);
        cmd.args(["set-option", "-p", "-t", pane, TITLE_OPTION, &title]);
        cmd.args([";", "select-pane", "-t", pane, "-T", &title]);
        self.run(cmd, &format!("set the title of pane {pane}"))
            .map(drop)
    }

    /// Sets the right side of the session's status line (duet shows how many tasks need you).
    pub fn set_status_right(&self, session: &str, text: &str) -> Result<(), TmuxError> {
        let mut cmd = self.command();
        cmd.args([
            "set-option",
            "-t",
            session,
            "status-right",
            &literal_arg(text),
        ]);
        self.run(cmd, &format!("set the status line of session {session}"))
            .map(drop)
    }

    /// The title last set with [`set_pane_title`](Self::set_pane_title).
    pub fn pane_title(&self, pane: &str) -> Result<String, TmuxError> {
        Ok(self
            .display(pane, &format!("#{{{TITLE_OPTION}}}"))?
            .trim_end_matches('\n')
            .to_owned())
    }

    /// Types `text` into an agent's input and submits it with Enter.
    ///
    /// One line is typed literally (`send-keys -l`); text with newlines is pasted as a
    /// bracketed paste, so the TUI keeps the newlines inside one message instead of taking
    /// each as Enter. Into codex the Enter follows after [`CODEX_ENTER_DELAY`]; into claude a
    /// typed line is submitted at once and a paste once it shows in the pane (see
    /// [`EnterAfter`] for which happened).
    pub fn send_text(
        &self,
        pane: &str,
        text: &str,
        kind: AgentKind,
    ) -> Result<EnterAfter, TmuxError> {
        if text.contains('\0') {
            return Err(TmuxError::new(
                TmuxErrorKind::InvalidInput,
                format!("type text into pane {pane}"),
                "the text contains a NUL byte",
            ));
        }
        let pasted = text.contains('\n') || text.contains('\r');
        let after = match (kind, pasted) {
            (AgentKind::Claude, true) => {
                let echo = PasteEcho::new(text, &self.capture(pane)?);
                self.paste(pane, text)?;
                self.wait_for_paste(pane, &echo)
            }
            // A bracketed paste reaches codex as one paste event, outside its typing-burst
            // window: Enter goes once the paste shows, as for claude (no fixed pause).
            (AgentKind::Codex, true) => {
                let echo = PasteEcho::new(text, &self.capture(pane)?);
                self.paste(pane, text)?;
                self.wait_for_paste(pane, &echo)
            }
            (_, false) => {
                let mut cmd = self.command();
                cmd.args(["send-keys", "-t", pane, "-l", "--", &literal_arg(text)]);
                self.run(cmd, &format!("type text into pane {pane}"))?;
                if kind == AgentKind::Codex {
                    std::thread::sleep(CODEX_ENTER_DELAY);
                    EnterAfter::CodexPause
                } else {
                    EnterAfter::Typed
                }
            }
        };
        self.send_keys(pane, &["Enter"])?;
        Ok(after)
    }

    /// Reads the pane until `echo` shows on it, or [`CLAUDE_PASTE_SEEN_TIMEOUT`] passed (a pane
    /// that cannot be read counts as not showing it yet).
    fn wait_for_paste(&self, pane: &str, echo: &PasteEcho) -> EnterAfter {
        let started = Instant::now();
        loop {
            if self.capture(pane).is_ok_and(|screen| echo.shows(&screen)) {
                return EnterAfter::PasteSeen(started.elapsed());
            }
            if started.elapsed() >= CLAUDE_PASTE_SEEN_TIMEOUT {
                return EnterAfter::PasteNotSeen(started.elapsed());
            }
            std::thread::sleep(PASTE_POLL_INTERVAL);
        }
    }

    /// Pastes `text` into the pane as a bracketed paste (when the program asked for that mode).
    pub fn paste(&self, pane: &str, text: &str) -> Result<(), TmuxError> {
        let buffer = format!("duet-paste-{}", pane.trim_start_matches('%'));
        let action = format!("paste text into pane {pane}");
        let mut load = self.command();
        load.args(["load-buffer", "-b", &buffer, "-"]);
        self.run_with_stdin(load, text.as_bytes(), &action)?;
        let mut paste = self.command();
        paste.args(["paste-buffer", "-p", "-d", "-r", "-b", &buffer, "-t", pane]);
        self.run(paste, &action).map(drop)
    }

    /// Sends tmux key names (`Enter`, `Escape`, `C-c`, ...).
    pub fn send_keys(&self, pane: &str, keys: &[&str]) -> Result<(), TmuxError> {
        let mut cmd = self.command();
        cmd.args(["send-keys", "-t", pane]).args(keys);
        self.run(cmd, &format!("send keys {keys:?} to pane {pane}"))
            .map(drop)
    }

    /// The pane's visible text, wrapped lines joined.
    pub fn capture(&self, pane: &str) -> Result<String, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["capture-pane", "-p", "-J", "-t", pane]);
        let output = self.run(cmd, &format!("capture pane {pane}"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The pane's scrollback history and visible text, wrapped lines joined. A dead pane's last
    /// output is often scrolled into the history by tmux's "Pane is dead" line.
    pub fn capture_all(&self, pane: &str) -> Result<String, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["capture-pane", "-p", "-J", "-S", "-", "-t", pane]);
        let output = self.run(cmd, &format!("capture pane {pane} with its history"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Whether session `name` exists (exactly that name, not a longer one).
    pub fn has_session(&self, name: &str) -> Result<bool, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["has-session", "-t", &exact(name)]);
        let output = self.output(cmd, &format!("look for tmux session {name}"))?;
        // has-session fails both for "no such session" and for "no server running".
        Ok(output.status.success())
    }

    /// Ends session `name` and the processes in it (they get SIGHUP). A missing session is no
    /// error.
    pub fn kill_session(&self, name: &str) -> Result<(), TmuxError> {
        if !self.has_session(name)? {
            return Ok(());
        }
        let mut cmd = self.command();
        cmd.args(["kill-session", "-t", &exact(name)]);
        self.run(cmd, &format!("kill tmux session {name}"))
            .map(drop)
    }

    /// Names of the sessions on this server (empty when the server is not running).
    pub fn list_sessions(&self) -> Result<Vec<String>, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["list-sessions", "-F", "#{session_name}"]);
        let output = self.output(cmd, "list tmux sessions")?;
        if !output.status.success() {
            return Ok(Vec::new());
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// The pid of the process started in the pane (also after it died: then it is gone).
    pub fn pane_pid(&self, pane: &str) -> Result<u32, TmuxError> {
        let text = self.display(pane, "#{pane_pid}")?;
        parse_number(&text, &format!("read the pid of pane {pane}"))
    }

    /// Whether the pane's process runs, or how it ended.
    pub fn pane_state(&self, pane: &str) -> Result<PaneState, TmuxError> {
        let action = format!("read the state of pane {pane}");
        // Fields may be empty (a dead pane has no pid; an exit fills either status or signal).
        let text = self.display(
            pane,
            "#{pane_dead}|#{pane_pid}|#{pane_dead_status}|#{pane_dead_signal}",
        )?;
        let fields: Vec<&str> = text.trim_end_matches('\n').split('|').collect();
        let number = |field: &str| field.trim().parse::<i32>().ok();
        match fields.as_slice() {
            ["0", pid, ..] => Ok(PaneState::Running {
                pid: parse_number(pid, &action)?,
            }),
            ["1", _pid, status, signal] => Ok(PaneState::Dead {
                exit_code: number(status),
                signal: number(signal),
            }),
            _ => Err(TmuxError::new(
                TmuxErrorKind::Output,
                action,
                format!("tmux printed {text:?}"),
            )),
        }
    }

    /// The argv that attaches a terminal to `session`. `tmux_env` is the caller's `$TMUX`:
    /// inside this same server the client switches (`switch-client`); inside another tmux,
    /// TMUX is removed so tmux agrees to nest.
    pub fn attach_command(
        &self,
        session: &str,
        tmux_env: Option<&str>,
    ) -> Result<AttachCommand, TmuxError> {
        let base = vec![
            "tmux".to_owned(),
            "-L".to_owned(),
            self.socket_name.clone(),
            "-f".to_owned(),
            "/dev/null".to_owned(),
        ];
        let target = exact(session);
        let Some(tmux_env) = tmux_env.filter(|v| !v.is_empty()) else {
            let mut argv = base;
            argv.extend(["attach-session".to_owned(), "-t".to_owned(), target]);
            return Ok(AttachCommand {
                argv,
                env_remove: Vec::new(),
            });
        };
        // $TMUX is "<socket path>,<server pid>,<session index>".
        let outer_socket = tmux_env.split(',').next().unwrap_or_default();
        let inside_this_server = self
            .socket_path()
            .is_ok_and(|ours| Path::new(&ours) == Path::new(outer_socket));
        let mut argv = base;
        if inside_this_server {
            argv.extend(["switch-client".to_owned(), "-t".to_owned(), target]);
            Ok(AttachCommand {
                argv,
                env_remove: Vec::new(),
            })
        } else {
            argv.extend(["attach-session".to_owned(), "-t".to_owned(), target]);
            Ok(AttachCommand {
                argv,
                env_remove: vec!["TMUX".to_owned()],
            })
        }
    }

    /// The path of this server's socket (the server must be running).
    pub fn socket_path(&self) -> Result<String, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["display-message", "-p", "#{socket_path}"]);
        let output = self.run(cmd, "read the tmux socket path")?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Stops this server and everything running in it (a server that is not running is fine).
    pub fn kill_server(&self) -> Result<(), TmuxError> {
        let mut cmd = self.command();
        cmd.arg("kill-server");
        self.output(cmd, "stop the tmux server").map(drop)
    }

    /// Pids of the processes in all panes of this server (empty when it is not running).
    pub fn all_pane_pids(&self) -> Result<Vec<u32>, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["list-panes", "-a", "-F", "#{pane_pid}"]);
        let output = self.output(cmd, "list tmux panes")?;
        if !output.status.success() {
            return Ok(Vec::new());
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect())
    }

    /// The panes of this server whose process has exited, with how (one call for all of
    /// them: the engine looks every second for agents whose wrapper died without a word).
    /// Empty when the server is not running.
    pub fn dead_panes(&self) -> Result<Vec<(String, PaneState)>, TmuxError> {
        let mut cmd = self.command();
        cmd.args([
            "list-panes",
            "-a",
            "-F",
            "#{pane_id}|#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}",
        ]);
        let output = self.output(cmd, "list tmux panes")?;
        if !output.status.success() {
            return Ok(Vec::new());
        }
        Ok(parse_dead_panes(&String::from_utf8_lossy(&output.stdout)))
    }

    fn display(&self, target: &str, format: &str) -> Result<String, TmuxError> {
        let mut cmd = self.command();
        cmd.args(["display-message", "-p", "-t", target, format]);
        let output = self.run(cmd, &format!("read {format} of {target}"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `cmd`, an error unless it succeeds.
    fn run(&self, cmd: Command, action: &str) -> Result<Output, TmuxError> {
        let output = self.output(cmd, action)?;
        check_status(output, action)
    }

    fn run_with_stdin(
        &self,
        mut cmd: Command,
        input: &[u8],
        action: &str,
    ) -> Result<Output, TmuxError> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_error = |err| TmuxError {
            kind: TmuxErrorKind::Spawn,
            action: action.to_owned(),
            detail: "could not run tmux (is it installed?)".to_owned(),
            source: Some(err),
        };
        let mut child = cmd.spawn().map_err(spawn_error)?;
        let written = child.stdin.take().map(|mut stdin| stdin.write_all(input));
        // Always wait, also when writing failed, so the child is reaped.
        let output = child.wait_with_output().map_err(spawn_error)?;
        if let Some(Err(err)) = written {
            return Err(TmuxError {
                kind: TmuxErrorKind::Command,
                action: action.to_owned(),
                detail: "could not write to tmux".to_owned(),
                source: Some(err),
            });
        }
        check_status(output, action)
    }

    /// Runs `cmd` and returns its output whatever its exit status.
    fn output(&self, mut cmd: Command, action: &str) -> Result<Output, TmuxError> {
        cmd.stdin(Stdio::null());
        cmd.output().map_err(|err| TmuxError {
            kind: TmuxErrorKind::Spawn,
            action: action.to_owned(),
            detail: "could not run tmux (is it installed?)".to_owned(),
            source: Some(err),
        })
    }
}

/// The dead panes of a `list-panes -F '#{pane_id}|#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}'`
/// listing (a dead pane fills either the status or the signal).
fn parse_dead_panes(listing: &str) -> Vec<(String, PaneState)> {
    let number = |field: &str| field.trim().parse::<i32>().ok();
    listing
        .lines()
        .filter_map(|line| match line.split('|').collect::<Vec<_>>()[..] {
            [pane, "1", status, signal] => Some((
                pane.to_owned(),
                PaneState::Dead {
                    exit_code: number(status),
                    signal: number(signal),
                },
            )),
            _ => None,
        })
        .collect()
}

fn check_status(output: Output, action: &str) -> Result<Output, TmuxError> {
    if output.status.success() {
        return Ok(output);
    }
    Err(TmuxError::new(
        TmuxErrorKind::Command,
        action,
        format!(
            "tmux exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    ))
}

fn check_pane_command(pane: &PaneCommand, action: &str) -> Result<(), TmuxError> {
    let invalid = |detail: String| Err(TmuxError::new(TmuxErrorKind::InvalidInput, action, detail));
    if pane.argv.is_empty() {
        return invalid("the pane command is empty".to_owned());
    }
    for (key, _) in &pane.env {
        if key.is_empty() || key.contains('=') {
            return invalid(format!("env var name {key:?} is empty or contains `=`"));
        }
    }
    let texts = pane
        .argv
        .iter()
        .chain(pane.env.iter().flat_map(|(k, v)| [k, v]));
    for text in texts {
        if text.contains('\0') {
            return invalid(format!("{text:?} contains a NUL byte"));
        }
    }
    Ok(())
}

fn push_env(cmd: &mut Command, env: &[(String, String)]) {
    for (key, value) in env {
        cmd.arg("-e").arg(literal_arg(&format!("{key}={value}")));
    }
}

/// Pushes a pane's argv. tmux runs a single argument through the shell, so one is quoted.
fn push_argv(cmd: &mut Command, argv: &[String]) {
    cmd.arg("--");
    match argv {
        [program] => cmd.arg(literal_arg(&crate::adapter::shell_quote(program))),
        _ => cmd.args(argv.iter().map(|arg| literal_arg(arg))),
    };
}

/// An argument tmux passes on unchanged: tmux takes an argument ending in `;` as a command
/// separator unless the `;` is preceded by a backslash (which it then removes).
pub fn literal_arg(arg: &str) -> String {
    match arg.strip_suffix(';') {
        Some(head) => format!("{head}\\;"),
        None => arg.to_owned(),
    }
}

fn parse_number<T: std::str::FromStr>(text: &str, action: &str) -> Result<T, TmuxError> {
    text.trim().parse().map_err(|_| {
        TmuxError::new(
            TmuxErrorKind::Output,
            action,
            format!("tmux printed {text:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_panes_are_read_from_the_listing() {
        let listing = "%1|0||\n%2|1|0|\n%3|1||9\ngarbage\n";
        assert_eq!(
            parse_dead_panes(listing),
            vec![
                (
                    "%2".to_owned(),
                    PaneState::Dead {
                        exit_code: Some(0),
                        signal: None
                    }
                ),
                (
                    "%3".to_owned(),
                    PaneState::Dead {
                        exit_code: None,
                        signal: Some(9)
                    }
                ),
            ]
        );
    }
}
