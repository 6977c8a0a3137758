//! A hermetic environment for running the `duet` binary in tests: own HOME, no user git config,
//! a fixed environment per spawned command (never the test process's own).

#![allow(dead_code)]

pub mod world;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use duet_testkit::agent_env::{ClaudeEnv, CodexEnv};
use duet_testkit::hermetic::GIT_ENV;

/// A temporary world with a home folder and a place for repositories.
pub struct TestEnvironment {
    root: tempfile::TempDir,
}

/// What a command printed and how it exited.
#[derive(Debug)]
pub struct RunOutput {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl RunOutput {
    fn from(out: Output) -> Self {
        RunOutput {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }
}

impl Default for TestEnvironment {
    fn default() -> Self {
        let root = tempfile::tempdir().expect("failed to create temp dir");
        std::fs::create_dir_all(root.path().join("home")).unwrap();
        TestEnvironment { root }
    }
}

impl TestEnvironment {
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// Applies the isolated environment to a command.
    fn isolate(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("LANG", "C.UTF-8")
            .env("NO_COLOR", "1")
            .env("TERM", "dumb")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    }

    /// The `duet` binary with only PATH, HOME and the hermetic git env, for the long runs of the
    /// end-to-end tests (their agents draw in tmux, so no TERM=dumb or NO_COLOR here).
    pub fn duet_command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_duet"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .envs(GIT_ENV);
        cmd
    }

    /// Runs `duet ARGS` in `dir`.
    pub fn duet(&self, dir: &Path, args: &[&str]) -> RunOutput {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_duet"));
        self.isolate(&mut cmd);
        cmd.current_dir(dir).args(args);
        RunOutput::from(cmd.output().expect("failed to run duet"))
    }

    /// Runs `git ARGS` in `dir` and panics if it fails.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        self.isolate(&mut cmd);
        let out = RunOutput::from(
            cmd.current_dir(dir)
                .args(args)
                .output()
                .expect("failed to run git"),
        );
        assert_eq!(out.code, 0, "git {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// The subjects of the commits the merge queue landed on `main` for `task` (they carry its
    /// `Duet-Task` trailer), newest first; and that its branch is gone.
    pub fn landed(&self, repo: &Path, task: &str) -> Vec<String> {
        let log = self.git(repo, &["log", "--format=%s%x1f%B%x1e", "main"]);
        let trailer = format!("Duet-Task: {task}");
        let subjects = log
            .split('\x1e')
            .filter_map(|commit| {
                let (subject, body) = commit.trim_start().split_once('\x1f')?;
                body.lines()
                    .any(|line| line.trim() == trailer)
                    .then(|| subject.to_string())
            })
            .collect();
        let branch = self.git(repo, &["branch", "--list", &format!("duet/{task}")]);
        assert_eq!(
            branch.trim(),
            "",
            "task {task}'s branch is left after landing"
        );
        subjects
    }

    /// A new repository named `name` with one commit on `main`.
    pub fn repo_with_commit(&self, name: &str) -> PathBuf {
        let dir = self.empty_repo(name);
        std::fs::write(dir.join("README.md"), "# sample\n").unwrap();
        self.git(&dir, &["add", "README.md"]);
        self.git(&dir, &["commit", "-q", "-m", "first"]);
        dir
    }

    /// A repository `repo` with one commit, `duet init` run in it and `backlog` as its
    /// `backlog.toml`.
    pub fn initialised_repo(&self, backlog: &str) -> PathBuf {
        let repo = self.repo_with_commit("repo");
        assert_eq!(self.duet(&repo, &["init"]).code, 0);
        std::fs::write(repo.join("backlog.toml"), backlog).unwrap();
        repo
    }

    /// A new repository named `name` with no commits.
    pub fn empty_repo(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        self.git(&dir, &["init", "-q", "-b", "main"]);
        dir
    }

    /// Replaces the temp-dir path in output so snapshots are stable.
    pub fn normalize(&self, text: &str) -> String {
        let root = self.root.path().to_string_lossy().into_owned();
        let canonical = std::fs::canonicalize(self.root.path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| root.clone());
        text.replace(&canonical, "$TEST").replace(&root, "$TEST")
    }
}

/// Kills the test's private tmux server when the test ends, also on failure.
pub struct TmuxServerGuard(pub String);

impl Drop for TmuxServerGuard {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

/// A TOML basic string.
pub fn toml_string(text: &str) -> String {
    toml_edit::Value::from(text).to_string().trim().to_string()
}

/// A TOML inline table of env vars.
pub fn env_table(vars: &[(String, String)]) -> String {
    let items: Vec<String> = vars
        .iter()
        .map(|(k, v)| format!("{k} = {}", toml_string(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// A TOML array of strings.
pub fn toml_array(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| toml_string(i)).collect();
    format!("[{}]", items.join(", "))
}

/// The variable that sets the codex profile's `transport` in [`agent_profiles`] (unset: the
/// default, `"app-server"`).
pub const CODEX_TRANSPORT_VAR: &str = "DUET_E2E_CODEX_TRANSPORT";

/// The codex profile's `transport` for this test process, if a test sets it.
pub static CODEX_TRANSPORT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The `[agents.claude]` and `[agents.codex]` sections of a duet.toml that run both CLIs
/// against the fake model server their envs point at, without permission prompts.
pub fn agent_profiles(
    claude: &Path,
    claude_env: &ClaudeEnv,
    codex: &Path,
    codex_env: &CodexEnv,
) -> String {
    let mut codex_args = codex_env.config_args();
    codex_args.push("--dangerously-bypass-approvals-and-sandbox".into());
    // Codex runs on its app-server by default; `DUET_E2E_CODEX_TRANSPORT=tmux` runs every
    // codex seat of the e2e tests on the typing path instead (the profile's `transport`).
    // A test may set it for itself instead (`CODEX_TRANSPORT`).
    let transport = CODEX_TRANSPORT
        .get()
        .cloned()
        .or_else(|| std::env::var(CODEX_TRANSPORT_VAR).ok())
        .map(|t| format!("transport = {}\n", toml_string(&t)))
        .unwrap_or_default();
    format!(
        "[agents.claude]\nkind = \"claude\"\ncommand = {claude}\nargs = [\"--dangerously-skip-permissions\"]\nenv = {claude_env}\n\
         [agents.codex]\nkind = \"codex\"\ncommand = {codex}\nargs = {codex_args}\nenv = {codex_env}\n{transport}",
        claude = toml_string(&claude.to_string_lossy()),
        claude_env = env_table(&claude_env.envs()),
        codex = toml_string(&codex.to_string_lossy()),
        codex_args = toml_array(&codex_args),
        codex_env = env_table(&codex_env.envs()),
    )
}

/// Where main moved: the newest commit of each landing, from the store's "landed on `main`:
/// n commits (newest, ...)" notes, in landing order.
pub fn landed_tips(events: &[duet_store::EventRecord]) -> Vec<String> {
    events
        .iter()
        .filter_map(|r| match &r.event {
            duet_store::Event::Note { text } => text
                .strip_prefix("landed on `main`: ")
                .and_then(|rest| rest.split_once('(')?.1.split([',', ')']).next())
                .map(str::to_string),
            _ => None,
        })
        .collect()
}
