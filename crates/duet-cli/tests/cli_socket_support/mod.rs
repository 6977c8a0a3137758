//! Helpers shared by the socket command tests: a live duet with stand-in agents, and running
//! `duet` as an unprivileged user.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use duet_testkit::agents::ChildGuard;
use serde_json::Value;

use crate::common::{RunOutput, TestEnvironment, TmuxServerGuard};

const DEADLINE: Duration = Duration::from_secs(60);

/// Asserts that a socket command in `repo` finds no duet to talk to (exit 1, and why).
pub fn assert_no_duet_running(env: &TestEnvironment, repo: &Path) {
    let out = env.duet(repo, &["pause", "greet"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("error: no duet is running in this repository"),
        "{}",
        out.stderr
    );
}

/// The unprivileged user the permission tests switch to.
const NOBODY: u32 = 65534;

fn as_nobody(env: &TestEnvironment, program: &str) -> Command {
    // A home nobody can read, whose git config trusts repositories owned by root.
    let home = env.root().join("nobody-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join(".gitconfig"), "[safe]\n\tdirectory = *\n").unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .env("GIT_CONFIG_GLOBAL", home.join(".gitconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .uid(NOBODY)
        .gid(NOBODY);
    cmd
}

/// Runs `duet ARGS` in `dir` as user `nobody`; `None` (after printing why) when this process
/// cannot switch users, e.g. when the tests do not run as root.
pub fn duet_as_nobody(env: &TestEnvironment, dir: &Path, args: &[&str]) -> Option<RunOutput> {
    let probe = as_nobody(env, "id").arg("-u").output();
    match probe {
        Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == NOBODY.to_string() => {}
        other => {
            println!("skipped: cannot run a command as user nobody (uid {NOBODY}): {other:?}");
            return None;
        }
    }
    let out = as_nobody(env, env!("CARGO_BIN_EXE_duet"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("failed to run duet as nobody");
    Some(RunOutput {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    })
}

/// Answers duet's preflight `--version` as claude does; otherwise records the agent's token
/// where the test finds it, then waits until its pane is killed.
const FAKE_AGENT: &str = r#"#!/bin/sh
[ "$1" = --version ] && { echo '2.1.197 (Claude Code)'; exit 0; }
printf '%s\n' "$DUET_TOKEN" > "$FAKE_AGENT_DIR/$DUET_ROLE.token.tmp"
mv "$FAKE_AGENT_DIR/$DUET_ROLE.token.tmp" "$FAKE_AGENT_DIR/$DUET_ROLE.token"
exec sleep 600
"#;

/// A running `duet pair` or `duet run` with stand-in agents, in its own repository.
pub struct LiveDuet {
    child: ChildGuard,
    pub repo: PathBuf,
    agents_dir: PathBuf,
    out_path: PathBuf,
    err_path: PathBuf,
    _tmux: TmuxServerGuard,
}

impl LiveDuet {
    /// Starts `duet ARGS --tmux-socket ...` on `backlog` (whose first task must be `greet`);
    /// returns once `greet`'s agents run and it is working. `config` is appended to duet.toml.
    pub fn start(
        env: &TestEnvironment,
        name: &str,
        backlog: &str,
        config: &str,
        args: &[&str],
    ) -> Self {
        let repo = std::fs::canonicalize(env.repo_with_commit("repo")).unwrap();
        assert_eq!(env.duet(&repo, &["init"]).code, 0);
        std::fs::write(repo.join("backlog.toml"), backlog).unwrap();
        let agents_dir = env.root().join("agents");
        std::fs::create_dir_all(&agents_dir).unwrap();
        let script = env.root().join("fake-agent.sh");
        std::fs::write(&script, FAKE_AGENT).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            repo.join("duet.toml"),
            format!(
                "base_branch = \"main\"\n{config}\n\
                 [roles]\nworker = \"fake\"\nreviewer = \"stand-in\"\n\
                 [agents.fake]\nkind = \"claude\"\ncommand = \"{script}\"\nenv = {{ FAKE_AGENT_DIR = \"{dir}\" }}\n\
                 [agents.stand-in]\nkind = \"claude\"\ncommand = \"{script}\"\nenv = {{ FAKE_AGENT_DIR = \"{dir}\" }}\n",
                script = script.display(),
                dir = agents_dir.display()
            ),
        )
        .unwrap();

        let tmux = format!("duet-sock-{name}-{}", std::process::id());
        let out_path = env.root().join("pair.out");
        let err_path = env.root().join("pair.err");
        let mut cmd = env.duet_command();
        cmd.current_dir(&repo)
            .args(args)
            .args(["--tmux-socket", &tmux])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap());
        let mut pair = LiveDuet {
            child: ChildGuard::new(cmd.spawn().unwrap()),
            repo,
            agents_dir,
            out_path,
            err_path,
            _tmux: TmuxServerGuard(tmux),
        };
        let agents_dir = pair.agents_dir.clone();
        pair.wait_for(env, "both agents to start", |_| {
            ["worker", "reviewer"]
                .iter()
                .all(|role| agents_dir.join(format!("{role}.token")).exists())
        });
        pair.wait_for(env, "the pair to work", |status| {
            status["live"] == true
                && status["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["id"] == "greet" && t["state"] == "working")
        });
        pair
    }

    pub fn socket(&self) -> PathBuf {
        duet_proto::find_socket(&self.repo.join(".duet"))
    }

    pub fn token(&self, role: &str) -> String {
        std::fs::read_to_string(self.agents_dir.join(format!("{role}.token")))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            std::fs::read_to_string(&self.out_path).unwrap_or_default(),
            std::fs::read_to_string(&self.err_path).unwrap_or_default()
        )
    }

    /// Polls `duet status --json` until `ready` holds (there is no event to wait on from
    /// outside the pair's process).
    pub fn wait_for(&mut self, env: &TestEnvironment, what: &str, ready: impl Fn(&Value) -> bool) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.child_mut().try_wait() {
                panic!(
                    "duet pair exited ({status}) before {what}\n{}",
                    self.output()
                );
            }
            let out = env.duet(&self.repo, &["status", "--json"]);
            let status: Value = serde_json::from_str(&out.stdout).unwrap_or_default();
            if ready(&status) {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; last status: {}\n{}",
                out.stdout,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for `duet pair` to exit; its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let status = self.child.wait_timeout(DEADLINE).unwrap();
        let status = status.unwrap_or_else(|| panic!("duet pair did not exit\n{}", self.output()));
        status.code().unwrap_or(-1)
    }
}
