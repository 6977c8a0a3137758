//! Shared helpers of the proof tests: hermetic git repositories, bounded process runs, awaiting
//! files written by hooks, and the MCP probe wiring for both CLIs.

#![allow(dead_code)] // each proof test uses a different subset

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use duet_testkit::agents::ChildGuard;
use duet_testkit::mcp_probe::{PROBE_RECORD_FILE_ENV, PROBE_SERVER_NAME};

/// Generous bound for one agent run against the fake server.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Env that keeps git away from the user's and the system's config.
pub fn hermetic_git_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_AUTHOR_NAME", "Duet Test"),
        ("GIT_AUTHOR_EMAIL", "duet-test@example.invalid"),
        ("GIT_COMMITTER_NAME", "Duet Test"),
        ("GIT_COMMITTER_EMAIL", "duet-test@example.invalid"),
    ]
}

/// A temporary git repository with one commit (a README), its path canonical.
pub fn git_repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("duet-proof-repo-")
        .tempdir()
        .unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(root.join("README.md"), "# proof repo\n").unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "README.md"],
        &["commit", "-q", "-m", "init"],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(&root)
            .envs(hermetic_git_env())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?} failed");
    }
    (dir, root)
}

/// Runs `cmd` with stdin closed, collecting its output; kills it (and fails) after `timeout`.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::new(cmd.spawn().expect("failed to spawn agent"));
    let mut stdout = guard.child_mut().stdout.take().unwrap();
    let mut stderr = guard.child_mut().stderr.take().unwrap();
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = guard.wait_timeout(timeout).unwrap();
    let stdout = out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    let Some(status) = status else {
        panic!(
            "{cmd:?} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Panics with the output when the run failed.
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} exited with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls `path` until `done(content)` holds (hooks write files; there is no event to await
/// from outside their process). Returns the content.
pub fn wait_for_file(path: &Path, timeout: Duration, mut done: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let content = std::fs::read_to_string(path).unwrap_or_default();
        if done(&content) {
            return content;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not reach the awaited state within {timeout:?}; content:\n{content}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A shell command that appends its stdin plus a newline to `file` (a hook receiver).
pub fn append_stdin_command(file: &Path) -> String {
    format!("cat >> '{}'; echo >> '{}'", file.display(), file.display())
}

/// The JSON objects in a file of hook payloads (one or more per line).
pub fn json_lines(content: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(content)
        .into_iter::<serde_json::Value>()
        .map(|value| value.expect("hook payload is JSON"))
        .collect()
}

/// The probe MCP server binary built with these tests.
pub fn probe_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_duet-mcp-probe"))
}

/// `--mcp-config` JSON for claude giving it the probe server recording into `record_file`.
pub fn claude_probe_mcp_config(record_file: &Path) -> String {
    serde_json::json!({
        "mcpServers": {
            PROBE_SERVER_NAME: {
                "command": probe_bin(),
                "args": [],
                "env": { PROBE_RECORD_FILE_ENV: record_file },
            }
        }
    })
    .to_string()
}

/// `-c` overrides for codex giving it the probe server recording into `record_file`, its tools
/// approved without asking.
pub fn codex_probe_args(record_file: &Path) -> Vec<String> {
    use duet_testkit::agent_env::toml_str;
    let prefix = format!("mcp_servers.{PROBE_SERVER_NAME}");
    let settings = [
        (
            format!("{prefix}.command"),
            toml_str(&probe_bin().to_string_lossy()),
        ),
        (format!("{prefix}.args"), "[]".to_owned()),
        (
            format!("{prefix}.env"),
            format!(
                "{{{PROBE_RECORD_FILE_ENV}={}}}",
                toml_str(&record_file.to_string_lossy())
            ),
        ),
        (
            format!("{prefix}.default_tools_approval_mode"),
            toml_str("approve"),
        ),
    ];
    settings
        .into_iter()
        .flat_map(|(key, value)| ["-c".to_owned(), format!("{key}={value}")])
        .collect()
}
