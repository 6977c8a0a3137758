//! Finding the installed agent CLIs (`claude`, `codex`), skipping or failing tests without them,
//! and owning the processes started from them.
//!
//! Lookup order per CLI: the env override (`DUET_CLAUDE_BIN` / `DUET_CODEX_BIN`), then the folder
//! override `DUET_AGENTS_DIR` (`<dir>/node_modules/.bin/<cli>`; `scripts/test.sh --agents latest`
//! sets it to `.agents-latest` for nextest), then `.agents/node_modules/.bin/<cli>` in the current
//! directory or one of its ancestors, then the same under this workspace's root (where
//! `scripts/install-agents.sh` puts them). The test helpers read these variables and pass the
//! path they found to the processes they start; no test sets them on itself.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// The agent CLIs duet drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentCli {
    Claude,
    Codex,
}

impl AgentCli {
    /// The executable's name.
    pub fn bin_name(self) -> &'static str {
        match self {
            AgentCli::Claude => "claude",
            AgentCli::Codex => "codex",
        }
    }

    /// The env var that overrides where the executable is.
    pub fn env_override(self) -> &'static str {
        match self {
            AgentCli::Claude => "DUET_CLAUDE_BIN",
            AgentCli::Codex => "DUET_CODEX_BIN",
        }
    }
}

impl fmt::Display for AgentCli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.bin_name())
    }
}

/// Paths of both installed CLIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBins {
    pub claude: PathBuf,
    pub codex: PathBuf,
}

/// Where `scripts/install-agents.sh` puts the CLIs, relative to a repository root.
pub const INSTALL_BIN_DIR: &str = ".agents/node_modules/.bin";

/// The env var naming another install folder (one `scripts/install-agents.sh --latest` made).
pub const AGENTS_DIR_ENV: &str = "DUET_AGENTS_DIR";

/// Where the CLIs are inside an install folder such as `.agents-latest`.
const FOLDER_BIN_DIR: &str = "node_modules/.bin";

/// This workspace's root, known at compile time (the testkit lives in `crates/duet-testkit`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Finds one CLI, or `None` when it is not installed anywhere we look.
pub fn find_agent(cli: AgentCli) -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    find_agent_in(cli, var(cli.env_override()), var(AGENTS_DIR_ENV))
}

/// [`find_agent`] with the two overrides given (the CLI's own path, the install folder).
pub fn find_agent_in(
    cli: AgentCli,
    bin_override: Option<std::ffi::OsString>,
    dir_override: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    if let Some(path) = bin_override {
        // An explicit override that points nowhere is "not installed", not a silent fallback.
        let path = PathBuf::from(path);
        return is_executable(&path).then_some(path);
    }
    if let Some(dir) = dir_override {
        let path = Path::new(&dir).join(FOLDER_BIN_DIR).join(cli.bin_name());
        return is_executable(&path).then_some(path);
    }
    let cwd = std::env::current_dir().ok();
    let ancestors = cwd
        .iter()
        .flat_map(|dir| dir.ancestors().map(Path::to_path_buf));
    ancestors
        .chain(std::iter::once(workspace_root()))
        .map(|root| root.join(INSTALL_BIN_DIR).join(cli.bin_name()))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The line printed when a CLI is missing and the test is skipped.
pub fn skip_message(cli: AgentCli) -> String {
    format!("skipped: {cli} not installed; run scripts/install-agents.sh")
}

/// Whether we run in CI (`CI=true` or `CI=1`), where missing CLIs fail instead of skipping.
pub fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Decides what a test does without `cli`: in CI that is a failure (panic); elsewhere it prints
/// the skip line and the caller returns early.
fn missing(cli: AgentCli) {
    let message = skip_message(cli);
    if running_in_ci() {
        panic!("{cli} is required in CI (CI=true) but not installed: {message}");
    }
    println!("{message}");
}

/// The `claude` CLI for a test, or `None` after printing the skip line (panics in CI).
pub fn require_claude() -> Option<PathBuf> {
    require(AgentCli::Claude)
}

/// The `codex` CLI for a test, or `None` after printing the skip line (panics in CI).
pub fn require_codex() -> Option<PathBuf> {
    require(AgentCli::Codex)
}

/// Both CLIs for a test, or `None` after printing a skip line per missing one (panics in CI).
pub fn require_agents() -> Option<AgentBins> {
    let claude = require_claude();
    let codex = require_codex();
    Some(AgentBins {
        claude: claude?,
        codex: codex?,
    })
}

fn require(cli: AgentCli) -> Option<PathBuf> {
    let found = find_agent(cli);
    if found.is_none() {
        missing(cli);
    }
    found
}

/// `claude -p` answering `prompt` as JSON, its tools allowed without asking, with only the MCP
/// servers of `mcp_config` (claude's `--mcp-config` JSON). The caller adds the directory and env.
pub fn claude_print_with_mcp(claude: &Path, mcp_config: &str, prompt: &str) -> Command {
    let mut cmd = Command::new(claude);
    cmd.args([
        "-p",
        "--output-format",
        "json",
        "--dangerously-skip-permissions",
        "--strict-mcp-config",
        "--mcp-config",
        mcp_config,
    ])
    // --mcp-config takes several values: end the options before the prompt.
    .args(["--", prompt]);
    cmd
}

/// A child process that is killed and waited for when dropped, so that no test leaves a running
/// process or a zombie behind, also when it panics.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
}

impl ChildGuard {
    pub fn new(child: Child) -> Self {
        Self { child: Some(child) }
    }

    /// The guarded child (its stdin/stdout handles, its id).
    pub fn child_mut(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("child is present until drop or wait")
    }

    /// Waits for the child to exit on its own, up to `timeout`; on timeout it is killed and
    /// `None` is returned.
    pub fn wait_timeout(&mut self, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        let child = self.child_mut();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                child.wait()?;
                return Ok(None);
            }
            // No portable "wait with timeout" on std::process::Child: poll its exit.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Takes the child out; the caller is then responsible for waiting for it.
    pub fn into_inner(mut self) -> Child {
        self.child
            .take()
            .expect("child is present until drop or wait")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn skip_message_names_the_cli_and_the_install_script() {
        assert_eq!(
            skip_message(AgentCli::Claude),
            "skipped: claude not installed; run scripts/install-agents.sh"
        );
        assert_eq!(
            skip_message(AgentCli::Codex),
            "skipped: codex not installed; run scripts/install-agents.sh"
        );
    }

    #[test]
    fn the_folder_override_is_used_and_never_falls_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("node_modules/.bin");
        std::fs::create_dir_all(&bin).unwrap();
        let claude = bin.join("claude");
        std::fs::write(&claude, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
        let folder = Some(dir.path().as_os_str().to_owned());
        assert_eq!(
            find_agent_in(AgentCli::Claude, None, folder.clone()),
            Some(claude.clone())
        );
        // codex is not in that folder: missing, not found elsewhere.
        assert_eq!(find_agent_in(AgentCli::Codex, None, folder.clone()), None);
        // The CLI's own override wins over the folder.
        assert_eq!(
            find_agent_in(AgentCli::Claude, Some("/bin/sh".into()), folder),
            Some(PathBuf::from("/bin/sh"))
        );
    }

    #[test]
    fn executables_are_told_from_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        assert!(!is_executable(&plain));
        assert!(!is_executable(dir.path()));
        assert!(!is_executable(&dir.path().join("missing")));
        assert!(is_executable(Path::new("/bin/sh")));
    }

    #[test]
    fn dropping_the_guard_kills_and_reaps_the_child() {
        let child = Command::new("sleep").arg("300").spawn().unwrap();
        let pid = child.id();
        drop(ChildGuard::new(child));
        // Reaped: the pid no longer exists (not even as a zombie) in /proc.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} still present"
        );
    }

    #[test]
    fn wait_timeout_returns_the_status_of_a_finished_child() {
        let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let mut guard = ChildGuard::new(child);
        let status = guard
            .wait_timeout(Duration::from_secs(10))
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(3));
    }

    #[test]
    fn wait_timeout_kills_a_child_that_overstays() {
        let child = Command::new("sleep").arg("300").spawn().unwrap();
        let mut guard = ChildGuard::new(child);
        assert!(
            guard
                .wait_timeout(Duration::from_millis(100))
                .unwrap()
                .is_none()
        );
    }
}
