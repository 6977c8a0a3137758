//! `duet doctor [--json]` through the real binary, with a PATH holding only git, tmux and
//! stand-in agent CLIs and a throw-away HOME: each check's line in text and in JSON, and the
//! exit code (1 only on an error).

mod common;
mod preflight_support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::TestEnvironment;
use duet_proto::socket_path::SocketPlace;
use preflight_support::{ToolBin, duet};
use serde_json::Value;

fn repo(env: &TestEnvironment) -> PathBuf {
    let repo = std::fs::canonicalize(env.repo_with_commit("repo")).unwrap();
    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    repo
}

/// HOME and git's identity for the doctor; `extra` on top.
fn vars<'a>(home: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = duet_testkit::hermetic::GIT_ENV.to_vec();
    vars.push(("HOME", home));
    vars.extend_from_slice(extra);
    vars
}

/// Where the doctor's socket is for `repo` (no XDG_RUNTIME_DIR in its env).
fn socket_for(repo: &Path) -> PathBuf {
    SocketPlace {
        runtime_dir: None,
        uid: std::fs::metadata(repo).unwrap().uid(),
    }
    .socket_path(&repo.join(".duet"))
}

#[test]
fn doctor_prints_one_line_per_check_and_exits_0_without_errors() {
    let env = TestEnvironment::default();
    let repo = repo(&env);
    let bin = ToolBin::new();
    let claude = bin.agent("claude", "2.1.197 (Claude Code)");
    let codex = bin.agent("codex", "codex-cli 0.169.0");
    let home = env.home();
    let out = duet(&repo, &bin, &vars(home.to_str().unwrap(), &[]), &["doctor"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let socket = socket_for(&repo);
    let expected_exact = [
        "ok      config: duet.toml is valid".to_string(),
        format!("ok      agent claude: claude 2.1.197 ({})", claude.display()),
        format!("ok      agent codex: codex 0.169.0 ({})", codex.display()),
        format!("ok      git: git can commit in {}", repo.display()),
        "warning login claude: claude does not look logged in (no ANTHROPIC_API_KEY, no credentials file): run `claude` and log in, or set ANTHROPIC_API_KEY".to_string(),
        "warning login codex: codex does not look logged in (no OPENAI_API_KEY, no credentials file): run `codex login`, or set OPENAI_API_KEY".to_string(),
        format!(
            "ok      socket: {} ({} bytes; no duet running)",
            socket.display(),
            socket.as_os_str().len()
        ),
        "ok      tested versions: claude 2.1.197 to 2.1.332, codex 0.169.0 to 0.171.0".to_string(),
    ];
    for line in &expected_exact {
        assert!(
            lines.contains(&line.as_str()),
            "missing {line:?} in\n{}",
            out.stdout
        );
    }
    // Machine-dependent values: the line's start only.
    for start in [
        "ok      tmux: tmux 3.",
        "ok      base branch main: main is at ",
        "ok      disk: ",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(start)),
            "no {start:?} in\n{}",
            out.stdout
        );
    }
    assert!(
        lines.iter().any(|l| l.contains(" inotify: ")),
        "{}",
        out.stdout
    );
    assert_eq!(lines.len(), 12, "one line per check:\n{}", out.stdout);
}

#[test]
fn doctor_json_has_every_check_and_exits_1_on_an_error() {
    let env = TestEnvironment::default();
    let repo = repo(&env);
    let bin = ToolBin::new();
    bin.agent("claude", "2.1.100 (Claude Code)");
    let home = env.home();
    let out = duet(
        &repo,
        &bin,
        &vars(
            home.to_str().unwrap(),
            &[("OPENAI_API_KEY", "sk-not-shown")],
        ),
        &["doctor", "--json"],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        !out.stdout.contains("sk-not-shown"),
        "a secret in the output"
    );
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    let find = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
    };
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "config",
            "agent claude",
            "agent codex",
            "tmux",
            "git",
            "base branch main",
            "login claude",
            "login codex",
            "inotify",
            "socket",
            "disk",
            "tested versions"
        ]
    );
    assert_eq!(find("agent claude")["status"], "warning");
    assert_eq!(
        find("agent claude")["message"],
        format!(
            "claude 2.1.100 ({}) is outside the versions this duet is tested with (2.1.197 to 2.1.332): install a tested one with `npm install -g @anthropic-ai/claude-code@2.1.197`",
            bin.path().join("claude").display()
        )
    );
    assert_eq!(find("agent codex")["status"], "error");
    assert_eq!(
        find("agent codex")["message"],
        "codex not found on PATH: install it with `npm install -g @openai/codex`, or set `agents.codex.command`"
    );
    assert_eq!(find("login codex")["status"], "ok");
    assert_eq!(find("login codex")["message"], "OPENAI_API_KEY is set");
    assert_eq!(find("tmux")["status"], "ok");
    assert_eq!(find("git")["status"], "ok");
}

#[test]
fn doctor_reports_an_invalid_config_and_a_missing_tmux_and_git_identity() {
    let env = TestEnvironment::default();
    let repo = repo(&env);
    std::fs::write(repo.join("duet.toml"), "max_paralel = 4\n").unwrap();
    let bin = ToolBin::new();
    std::fs::remove_file(bin.path().join("tmux")).unwrap();
    bin.agent("claude", "2.1.197 (Claude Code)");
    bin.agent("codex", "codex-cli 0.169.0");
    let home = env.home();
    let out = duet(
        &repo,
        &bin,
        &[
            ("HOME", home.to_str().unwrap()),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("GIT_CONFIG_NOSYSTEM", "1"),
        ],
        &["doctor"],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    for line in [
        "error   config: duet.toml is invalid: run `duet validate` to see every problem (checking with the defaults)".to_string(),
        "error   tmux: tmux not found on PATH: install it with your package manager (`apt-get install tmux`, `brew install tmux`)".to_string(),
        format!(
            "error   git: git cannot commit in {}: user.name / user.email are not set: set them with `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com`",
            repo.display()
        ),
    ] {
        assert!(lines.contains(&line.as_str()), "missing {line:?} in\n{}", out.stdout);
    }
}

#[test]
fn doctor_sees_a_claude_login_file_and_a_codex_auth_file() {
    let env = TestEnvironment::default();
    let repo = repo(&env);
    let bin = ToolBin::new();
    bin.agent("claude", "2.1.197 (Claude Code)");
    bin.agent("codex", "codex-cli 0.169.0");
    let home = env.home();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(home.join(".claude/.credentials.json"), "{}").unwrap();
    let codex_home = env.root().join("codex-home");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(codex_home.join("auth.json"), "{}").unwrap();
    let out = duet(
        &repo,
        &bin,
        &vars(
            home.to_str().unwrap(),
            &[("CODEX_HOME", codex_home.to_str().unwrap())],
        ),
        &["doctor"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    for line in [
        format!(
            "ok      login claude: credentials in {}",
            home.join(".claude/.credentials.json").display()
        ),
        format!(
            "ok      login codex: credentials in {}",
            codex_home.join("auth.json").display()
        ),
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            out.stdout
        );
    }
}

#[test]
fn doctor_without_duet_init_checks_the_defaults_and_an_invalid_backlog_is_an_error() {
    let env = TestEnvironment::default();
    let repo = std::fs::canonicalize(env.repo_with_commit("repo")).unwrap();
    let bin = ToolBin::new();
    bin.agent("claude", "2.1.197 (Claude Code)");
    bin.agent("codex", "codex-cli 0.169.0");
    let home = env.home();
    let vars = vars(home.to_str().unwrap(), &[]);
    let out = duet(&repo, &bin, &vars, &["doctor"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    for line in [
        format!("warning config: no duet.toml in {}: run `duet init` (checking with the defaults)", repo.display()),
        "warning backlog: no backlog at backlog.toml: run `duet init`, or set `backlog` in duet.toml".to_string(),
    ] {
        assert!(lines.contains(&line.as_str()), "missing {line:?} in\n{}", out.stdout);
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ok      agent claude: ")),
        "{}",
        out.stdout
    );

    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    std::fs::write(repo.join("backlog.toml"), "[[task]]\nid = \"x\"\n").unwrap();
    let out = duet(&repo, &bin, &vars, &["doctor"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l == "error   backlog: backlog.toml is invalid: run `duet validate` to see every problem"),
        "{}",
        out.stdout
    );
}
