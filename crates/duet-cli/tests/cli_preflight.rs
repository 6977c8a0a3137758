//! Preflight through the real binary: with an agent CLI missing (or git unable to commit),
//! `duet pair` and `duet run` exit 1 with the fix and create nothing; a background daemon that
//! cannot start makes `duet run --detach` fail with its reason.

mod common;
mod preflight_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestEnvironment;
use preflight_support::{ToolBin, duet};

const GIT_IDENTITY: [(&str, &str); 6] = duet_testkit::hermetic::GIT_ENV;

const MISSING_BOTH: &str = "error: claude not found on PATH: install it with `npm install -g @anthropic-ai/claude-code`, or set `agents.claude.command`\n\
error: codex not found on PATH: install it with `npm install -g @openai/codex`, or set `agents.codex.command`\n";

/// A repository after `duet init` (its backlog has the task `add-greeting`).
fn repo(env: &TestEnvironment) -> PathBuf {
    let repo = std::fs::canonicalize(env.repo_with_commit("repo")).unwrap();
    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    repo
}

/// Nothing was made: no task branch, no `.duet/` (worktrees, socket, logs), no tmux server.
fn assert_nothing_created(env: &TestEnvironment, repo: &Path, tmux: &str) {
    assert_eq!(env.git(repo, &["branch", "--list", "duet/*"]), "");
    assert!(
        !repo.join(".duet").exists(),
        "{:?}",
        std::fs::read_dir(repo.join(".duet")).map(|d| d.count())
    );
    let sessions = Command::new("tmux")
        .args(["-L", tmux, "ls"])
        .output()
        .unwrap();
    assert!(!sessions.status.success(), "a tmux server runs on {tmux}");
}

#[test]
fn pair_with_the_agent_clis_missing_exits_1_naming_the_install_and_creates_nothing() {
    let env = TestEnvironment::default();
    let repo = repo(&env);
    let bin = ToolBin::new();
    let tmux = format!("duet-preflight-pair-{}", std::process::id());
    let out = duet(
        &repo,
        &bin,
        &GIT_IDENTITY,
        &["pair", "add-greeting", "--tmux-socket", &tmux],
    );
    assert_eq!(
        (out.code, out.stderr.as_str(), out.stdout.as_str()),
        (1, MISSING_BOTH, "")
    );
    assert_nothing_created(&env, &repo, &tmux);
}

#[test]
fn run_and_run_detach_with_an_agent_cli_missing_exit_1_and_create_nothing() {
    let env = TestEnvironment::default();
    let repo = repo(&env);
    let bin = ToolBin::new();
    bin.agent("claude", "2.1.197 (Claude Code)");
    let tmux = format!("duet-preflight-run-{}", std::process::id());
    let expected = "error: codex not found on PATH: install it with `npm install -g @openai/codex`, or set `agents.codex.command`\n";
    for args in [&["run"][..], &["run", "--detach"]] {
        let mut args = args.to_vec();
        args.extend(["--tmux-socket", &tmux]);
        let out = duet(&repo, &bin, &GIT_IDENTITY, &args);
        assert_eq!((out.code, out.stderr.as_str()), (1, expected), "{args:?}");
        assert_nothing_created(&env, &repo, &tmux);
    }
}

#[test]
fn pair_when_git_cannot_commit_says_how_to_set_the_identity() {
    let env = TestEnvironment::default();
    let repo = repo(&env);
    let bin = ToolBin::new();
    bin.agent("claude", "2.1.197 (Claude Code)");
    bin.agent("codex", "codex-cli 0.300.0");
    let home = env.home();
    let vars = [
        ("HOME", home.to_str().unwrap()),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
    ];
    let tmux = format!("duet-preflight-git-{}", std::process::id());
    let out = duet(
        &repo,
        &bin,
        &vars,
        &["pair", "add-greeting", "--tmux-socket", &tmux],
    );
    let codex = bin.path().join("codex");
    assert_eq!(
        (out.code, out.stderr),
        (
            1,
            format!(
                "warning: codex 0.300.0 ({}) is outside the versions this duet is tested with (0.169.0 to 0.171.0): install a tested one with `npm install -g @openai/codex@0.169.0`\n\
                 error: git cannot commit in {}: user.name / user.email are not set: set them with `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com`\n",
                codex.display(),
                repo.display()
            )
        )
    );
    assert_nothing_created(&env, &repo, &tmux);
}

#[test]
fn run_detach_fails_with_the_reason_of_a_daemon_that_cannot_start() {
    let env = TestEnvironment::default();
    let repo = repo(&env);
    let bin = ToolBin::new();
    bin.agent("claude", "2.1.197 (Claude Code)");
    bin.agent("codex", "codex-cli 0.169.0");
    // The socket folder cannot be made: a file is where it goes.
    let runtime = env.root().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::write(runtime.join("duet"), "in the way").unwrap();
    let mut vars = GIT_IDENTITY.to_vec();
    vars.push(("XDG_RUNTIME_DIR", runtime.to_str().unwrap()));
    let tmux = format!("duet-preflight-detach-{}", std::process::id());
    let out = duet(
        &repo,
        &bin,
        &vars,
        &["run", "--detach", "--tmux-socket", &tmux],
    );
    assert_eq!(
        (out.code, out.stderr, out.stdout),
        (
            1,
            format!(
                "error: the background duet exited before it started (exit code 1): failed to create the socket folder {}/duet: File exists (os error 17)\n\
                 hint: its log is {}/.duet/logs/daemon.out\n",
                runtime.display(),
                repo.display()
            ),
            String::new()
        )
    );
}

#[test]
fn the_daemon_puts_a_task_whose_agent_cannot_start_in_needs_human_without_making_anything() {
    let env = TestEnvironment::default();
    let repo = repo(&env);
    let bin = ToolBin::new();
    bin.agent("claude", "2.1.197 (Claude Code)");
    bin.agent("codex", "codex-cli 0.169.0");
    let broken = env.root().join("not-installed/codex");
    let mut config = std::fs::read_to_string(repo.join("duet.toml")).unwrap();
    config.push_str(&format!(
        "\n[agents.broken]\nkind = \"codex\"\ncommand = \"{}\"\n",
        broken.display()
    ));
    std::fs::write(repo.join("duet.toml"), config).unwrap();
    // No task at the start, so `duet run`'s own preflight passes.
    std::fs::write(repo.join("backlog.toml"), "").unwrap();
    let tmux = format!("duet-preflight-daemon-{}", std::process::id());
    let _tmux = common::TmuxServerGuard(tmux.clone());
    let home = env.home();
    let mut vars = GIT_IDENTITY.to_vec();
    vars.push(("HOME", home.to_str().unwrap()));
    let out = duet(
        &repo,
        &bin,
        &vars,
        &["run", "--detach", "--tmux-socket", &tmux],
    );
    assert_eq!(out.code, 0, "{out:?}");

    // A task whose reviewer cannot start arrives (written whole, then renamed into place).
    let tmp = repo.join("backlog.toml.tmp");
    std::fs::write(
        &tmp,
        "[[task]]\nid = \"t\"\nprompt = \"p\"\nreviewer = \"broken\"\n",
    )
    .unwrap();
    std::fs::rename(&tmp, repo.join("backlog.toml")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let task = loop {
        let status = duet(&repo, &bin, &vars, &["status", "t", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap_or_default();
        let task = json["tasks"].as_array().and_then(|t| t.first()).cloned();
        if let Some(task) = task.filter(|t| t["state"] == "needs-human") {
            break task;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not needs-human: {status:?}"
        );
        // The daemon reacts to a file event; its answer is read over the socket.
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let text = task.to_string();
    let reason = format!(
        "{} is not an executable file: install it with `npm install -g @openai/codex`, or set `agents.broken.command`",
        broken.display()
    );
    assert!(
        text.contains(&serde_json::Value::from(reason.as_str()).to_string()),
        "{task:#}"
    );
    assert_eq!(env.git(&repo, &["branch", "--list", "duet/*"]), "");
    assert!(!repo.join(".duet/worktrees/t").exists());

    // Once the CLI is there, an answer queues the task again and its pair starts.
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    std::fs::copy(bin.path().join("codex"), &broken).unwrap();
    let answer = duet(&repo, &bin, &vars, &["answer", "t", "installed"]);
    assert_eq!(answer.code, 0, "{answer:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = duet(&repo, &bin, &vars, &["status", "t", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap_or_default();
        if json["tasks"][0]["state"] == "working" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not working: {status:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(repo.join(".duet/worktrees/t").is_dir());
    assert_eq!(duet(&repo, &bin, &vars, &["stop"]).code, 0);
}
