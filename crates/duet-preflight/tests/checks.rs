//! Every preflight and doctor check against real programs (stand-in CLIs as shell scripts, the
//! real git and tmux) in an injected environment, with its exact message.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use duet_core::config::{AgentKind, AgentProfile};
use duet_preflight::host::{check_free, check_inotify, check_login, check_socket};
use duet_preflight::{
    Check, Env, Status, check_agent, check_agent_within, check_base_branch, check_git_identity,
    check_task_agents, check_tmux, verdict,
};
use duet_testkit::hermetic::{GIT_ENV, git_repo};

/// A folder of stand-in programs.
struct Bin(tempfile::TempDir);

impl Bin {
    fn new() -> Self {
        Bin(tempfile::tempdir().unwrap())
    }
    fn path(&self) -> PathBuf {
        std::fs::canonicalize(self.0.path()).unwrap()
    }
    /// Writes an executable shell script `name`.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
    /// An env whose PATH is this folder, then the system's (for `sh`).
    fn env(&self) -> Env {
        Env::from_vars([("PATH", format!("{}:/usr/bin:/bin", self.path().display()))])
    }
}

fn profile(kind: AgentKind, command: &str) -> AgentProfile {
    AgentProfile {
        kind,
        command: command.to_string(),
        args: vec![],
        env: BTreeMap::new(),
        model: None,
        transport: duet_core::config::AgentTransport::Tmux,
    }
}

#[test]
fn a_missing_agent_is_an_error_that_says_how_to_install_it() {
    let bin = Bin::new();
    let check = check_agent(
        "claude",
        &profile(AgentKind::Claude, "claude"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(
        check,
        Check::error(
            "agent claude",
            "claude not found on PATH: install it with `npm install -g @anthropic-ai/claude-code`, or set `agents.claude.command`"
        )
    );
    let check = check_agent(
        "rev",
        &profile(AgentKind::Codex, "codex"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(
        check.message,
        "codex not found on PATH: install it with `npm install -g @openai/codex`, or set `agents.rev.command`"
    );
}

#[test]
fn a_command_path_that_is_not_executable_is_an_error() {
    let bin = Bin::new();
    std::fs::write(bin.path().join("claude"), "not a program").unwrap();
    let check = check_agent(
        "claude",
        &profile(AgentKind::Claude, "./claude"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(
        check.message,
        format!(
            "{}/./claude is not an executable file: install it with `npm install -g @anthropic-ai/claude-code`, or set `agents.claude.command`",
            bin.path().display()
        )
    );
    assert_eq!(check.status, Status::Error);
}

#[test]
fn a_tested_version_is_ok_and_names_the_program() {
    let bin = Bin::new();
    let claude = bin.script("claude", "echo '2.1.197 (Claude Code)'");
    let check = check_agent(
        "claude",
        &profile(AgentKind::Claude, "claude"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(
        check,
        Check::ok(
            "agent claude",
            format!("claude 2.1.197 ({})", claude.display())
        )
    );
    let codex = bin.script("codex", "echo 'codex-cli 0.171.0'");
    let check = check_agent(
        "codex",
        &profile(AgentKind::Codex, "codex"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(
        check.message,
        format!("codex 0.171.0 ({})", codex.display())
    );
    assert_eq!(check.status, Status::Ok);
}

#[test]
fn a_version_outside_the_tested_range_is_a_warning() {
    let bin = Bin::new();
    let codex = bin.script("codex", "echo 'codex-cli 0.200.1'");
    let check = check_agent(
        "codex",
        &profile(AgentKind::Codex, "codex"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(
        check,
        Check::warning(
            "agent codex",
            format!(
                "codex 0.200.1 ({}) is outside the versions this duet is tested with (0.169.0 to 0.171.0): install a tested one with `npm install -g @openai/codex@0.169.0`",
                codex.display()
            )
        )
    );
}

#[test]
fn a_version_that_cannot_be_read_is_a_warning() {
    let bin = Bin::new();
    let claude = bin.script("claude", "echo 'hello'");
    let check = check_agent(
        "claude",
        &profile(AgentKind::Claude, "claude"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(
        check,
        Check::warning(
            "agent claude",
            format!(
                "`{} --version` printed no version (\"hello\"); this duet is tested with claude 2.1.197 to 2.1.332: check that it is the claude CLI",
                claude.display()
            )
        )
    );
}

#[test]
fn a_failing_version_is_an_error_with_its_first_line() {
    let bin = Bin::new();
    let claude = bin.script("claude", "echo 'Error: Cannot find module' >&2\nexit 3");
    let check = check_agent(
        "claude",
        &profile(AgentKind::Claude, "claude"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(
        check,
        Check::error(
            "agent claude",
            format!(
                "`{} --version` failed (exit code 3): Error: Cannot find module: reinstall it with `npm install -g @anthropic-ai/claude-code`, or set `agents.claude.command`",
                claude.display()
            )
        )
    );
}

#[test]
fn an_agent_that_does_not_answer_in_time_is_an_error() {
    let bin = Bin::new();
    let claude = bin.script("claude", "exec sleep 30");
    let started = std::time::Instant::now();
    let check = check_agent_within(
        "claude",
        &profile(AgentKind::Claude, "claude"),
        &bin.env(),
        &bin.path(),
        Duration::from_millis(300),
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "killed at the deadline"
    );
    assert_eq!(
        check.message,
        format!(
            "`{} --version` did not answer within 300ms: check that it runs, reinstall it with `npm install -g @anthropic-ai/claude-code`, or set `agents.claude.command`",
            claude.display()
        )
    );
}

#[test]
fn the_profile_env_path_is_where_the_agent_is_looked_up() {
    let bin = Bin::new();
    let other = Bin::new();
    other.script("claude", "echo '2.1.200 (Claude Code)'");
    let mut profile = profile(AgentKind::Claude, "claude");
    profile.env.insert(
        "PATH".into(),
        format!("{}:/usr/bin:/bin", other.path().display()),
    );
    let check = check_agent("claude", &profile, &bin.env(), &bin.path());
    assert_eq!(check.status, Status::Ok, "{check:?}");
}

#[test]
fn the_version_check_sees_only_the_injected_env() {
    let bin = Bin::new();
    bin.script(
        "claude",
        "if [ -n \"$HOME\" ]; then echo \"home set: $HOME\"; exit 1; fi\necho '2.1.197 (Claude Code)'",
    );
    let check = check_agent(
        "claude",
        &profile(AgentKind::Claude, "claude"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(check.status, Status::Ok, "{check:?}");
}

#[test]
fn tmux_missing_old_and_present() {
    let empty = Bin::new();
    let env = Env::from_vars([("PATH", empty.path())]);
    assert_eq!(
        check_tmux(&env),
        Check::error(
            "tmux",
            "tmux not found on PATH: install it with your package manager (`apt-get install tmux`, `brew install tmux`)"
        )
    );
    let old = Bin::new();
    old.script("tmux", "echo 'tmux 2.9'");
    assert_eq!(
        check_tmux(&old.env()),
        Check::error(
            "tmux",
            "tmux 2.9 is too old: duet needs tmux 3.0 or newer; upgrade it with your package manager"
        )
    );
    let real = check_tmux(&Env::from_process());
    assert_eq!(real.status, Status::Ok, "{real:?}");
    assert!(real.message.starts_with("tmux 3."), "{real:?}");
}

/// The system PATH with a HOME and git kept away from any user config.
fn git_env(identity: bool) -> Env {
    let home = tempfile::tempdir().unwrap().keep();
    let mut vars = vec![
        ("PATH".to_string(), std::env::var("PATH").unwrap()),
        ("HOME".to_string(), home.display().to_string()),
        ("GIT_CONFIG_GLOBAL".to_string(), "/dev/null".to_string()),
        ("GIT_CONFIG_NOSYSTEM".to_string(), "1".to_string()),
    ];
    if identity {
        vars.extend(
            GIT_ENV[2..]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    Env::from_vars(vars)
}

#[test]
fn git_without_an_identity_is_an_error_naming_the_fix() {
    let (_dir, repo) = git_repo("preflight-ident");
    assert_eq!(
        check_git_identity(&repo, &git_env(false)),
        Check::error(
            "git",
            format!(
                "git cannot commit in {}: user.name / user.email are not set: set them with `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com`",
                repo.display()
            )
        )
    );
    assert_eq!(
        check_git_identity(&repo, &git_env(true)),
        Check::ok("git", format!("git can commit in {}", repo.display()))
    );
}

#[test]
fn git_with_user_name_and_email_in_the_repository_config_is_ok() {
    let (_dir, repo) = git_repo("preflight-ident-config");
    let env = git_env(false);
    for args in [
        ["config", "user.name", "Ann"],
        ["config", "user.email", "ann@example.invalid"],
    ] {
        assert!(
            env.command("git")
                .args(args)
                .current_dir(&repo)
                .status()
                .unwrap()
                .success()
        );
    }
    assert_eq!(check_git_identity(&repo, &env).status, Status::Ok);
}

#[test]
fn git_missing_is_an_error() {
    let empty = Bin::new();
    let env = Env::from_vars([("PATH", empty.path())]);
    assert_eq!(
        check_git_identity(&empty.path(), &env),
        Check::error(
            "git",
            "git not found on PATH: install it with your package manager (`apt-get install git`, `brew install git`)"
        )
    );
}

#[test]
fn base_branches_that_exist_lack_or_have_no_commit() {
    let (_dir, repo) = git_repo("preflight-base");
    let env = git_env(true);
    let ok = check_base_branch(&repo, "main", &env);
    assert_eq!(ok.status, Status::Ok, "{ok:?}");
    assert!(ok.message.starts_with("main is at "), "{ok:?}");
    assert_eq!(
        check_base_branch(&repo, "develop", &env),
        Check::error(
            "base branch develop",
            format!(
                "base branch `develop` does not exist in {}: create it (`git branch develop`), or set `base_branch` in duet.toml (or `base` in the task)",
                repo.display()
            )
        )
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(
        env.command("git")
            .args(["init", "-q", "-b", "main"])
            .current_dir(empty.path())
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(
        check_base_branch(empty.path(), "main", &env),
        Check::error(
            "base branch main",
            "base branch `main` has no commit yet: make a first commit (e.g. `git commit --allow-empty -m init`)"
        )
    );
}

#[test]
fn the_daemon_check_refuses_a_task_whose_agent_is_missing() {
    let bin = Bin::new();
    bin.script("fake-claude", "echo '2.1.197 (Claude Code)'");
    let missing = bin.path().join("no-such-codex");
    let config_src = format!(
        "[agents.claude]\nkind = \"claude\"\ncommand = \"{}\"\n[agents.codex]\nkind = \"codex\"\ncommand = \"{}\"\n",
        bin.path().join("fake-claude").display(),
        missing.display()
    );
    let config =
        duet_core::config::Config::from_toml_str(&config_src, Path::new("duet.toml")).unwrap();
    let backlog = duet_core::backlog::Backlog::from_toml_str(
        "[[task]]\nid = \"t\"\nprompt = \"p\"\n",
        Path::new("backlog.toml"),
        &config,
        Path::new("."),
    )
    .unwrap();
    let err = check_task_agents(&config, backlog.get("t").unwrap()).unwrap_err();
    assert_eq!(
        err,
        format!(
            "{} is not an executable file: install it with `npm install -g @openai/codex`, or set `agents.codex.command`",
            missing.display()
        )
    );
    bin.script("no-such-codex", "echo 'codex-cli 0.169.0'");
    assert_eq!(
        check_task_agents(&config, backlog.get("t").unwrap()),
        Ok(vec![])
    );
}

#[test]
fn verdict_joins_errors_and_keeps_warnings() {
    let checks = [
        Check::ok("a", "fine"),
        Check::warning("b", "hmm"),
        Check::error("c", "broken: fix it"),
        Check::error("d", "also broken: fix that"),
    ];
    assert_eq!(
        verdict(&checks),
        Err("broken: fix it\nalso broken: fix that".to_string())
    );
    assert_eq!(verdict(&checks[..2]), Ok(vec![&checks[1]]));
}

#[test]
fn the_inotify_limit_is_read_and_judged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("max_user_watches");
    std::fs::write(&file, "8192\n").unwrap();
    assert_eq!(
        check_inotify(&file),
        Check::warning(
            "inotify",
            "max_user_watches is 8192, below 65536: raise it with `sudo sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.conf to keep it)"
        )
    );
    std::fs::write(&file, "524288\n").unwrap();
    assert_eq!(
        check_inotify(&file),
        Check::ok("inotify", "max_user_watches is 524288")
    );
    let missing = dir.path().join("none");
    assert_eq!(check_inotify(&missing).status, Status::Ok);
}

#[test]
fn free_disk_space_is_judged() {
    let dir = Path::new("/r/.duet");
    assert_eq!(
        check_free(dir, 5 << 30),
        Check::ok("disk", "5.0 GiB free under /r/.duet")
    );
    assert_eq!(
        check_free(dir, 500 << 20),
        Check::warning(
            "disk",
            "only 500 MiB free under /r/.duet: free some space (worktrees and agent logs need it)"
        )
    );
    assert_eq!(
        check_free(dir, 50 << 20),
        Check::error(
            "disk",
            "only 50 MiB free under /r/.duet: free some space (worktrees and agent logs need it)"
        )
    );
    let real = duet_preflight::host::check_disk(Path::new("/"));
    assert!(real.message.contains(" free under /"), "{real:?}");
}

#[test]
fn logins_are_seen_from_keys_and_credentials_files() {
    let home = tempfile::tempdir().unwrap();
    let env = Env::from_vars([("HOME", home.path())]);
    let claude = profile(AgentKind::Claude, "claude");
    let codex = profile(AgentKind::Codex, "codex");
    assert_eq!(
        check_login("claude", &claude, &env),
        Check::warning(
            "login claude",
            "claude does not look logged in (no ANTHROPIC_API_KEY, no credentials file): run `claude` and log in, or set ANTHROPIC_API_KEY"
        )
    );
    assert_eq!(
        check_login("codex", &codex, &env),
        Check::warning(
            "login codex",
            "codex does not look logged in (no OPENAI_API_KEY, no credentials file): run `codex login`, or set OPENAI_API_KEY"
        )
    );
    let keyed = Env::from_vars([
        ("HOME", home.path().as_os_str()),
        ("ANTHROPIC_API_KEY", std::ffi::OsStr::new("sk-secret")),
    ]);
    let check = check_login("claude", &claude, &keyed);
    assert_eq!(check, Check::ok("login claude", "ANTHROPIC_API_KEY is set"));
    std::fs::write(
        home.path().join(".claude.json"),
        r#"{"oauthAccount":{"x":1}}"#,
    )
    .unwrap();
    assert_eq!(
        check_login("claude", &claude, &env).message,
        format!(
            "credentials in {}",
            home.path().join(".claude.json").display()
        )
    );
    let codex_home = home.path().join("ch");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(codex_home.join("auth.json"), "{}").unwrap();
    let env = Env::from_vars([("HOME", home.path()), ("CODEX_HOME", &codex_home)]);
    assert_eq!(check_login("codex", &codex, &env).status, Status::Ok);
}

#[test]
fn the_socket_check_names_the_path_and_whether_a_duet_listens() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".duet");
    let folder = dir.path().join("sock");
    duet_proto::socket_path::create_private_dir(&folder).unwrap();
    let socket = folder.join("x.sock");
    duet_proto::socket_path::write_locator(&state, &socket).unwrap();
    let len = socket.as_os_str().len();
    assert_eq!(
        check_socket(&state),
        Check::ok(
            "socket",
            format!("{} ({len} bytes; no duet running)", socket.display())
        )
    );
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    assert_eq!(
        check_socket(&state).message,
        format!("{} ({len} bytes; a duet is listening)", socket.display())
    );
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(
        check_socket(&state),
        Check::warning(
            "socket",
            format!(
                "the socket folder {} is mode 755, not private: `chmod 700 {}`",
                folder.display(),
                folder.display()
            )
        )
    );
    let long = PathBuf::from(format!("/{}/duet.sock", "x".repeat(120)));
    duet_proto::socket_path::write_locator(&state, &long).unwrap();
    assert_eq!(
        check_socket(&state),
        Check::error(
            "socket",
            format!(
                "the control socket {} is 131 bytes, too long for a unix socket: remove {} (it names an old place) and start duet again",
                long.display(),
                state.join("socket").display()
            )
        )
    );
}

#[test]
fn an_agent_that_cannot_be_started_is_an_error_with_the_reason() {
    let bin = Bin::new();
    let claude = bin.path().join("claude");
    std::fs::write(&claude, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let check = check_agent(
        "claude",
        &profile(AgentKind::Claude, "claude"),
        &bin.env(),
        &bin.path(),
    );
    assert_eq!(
        check,
        Check::error(
            "agent claude",
            format!(
                "failed to run `{} --version`: No such file or directory (os error 2): reinstall it with `npm install -g @anthropic-ai/claude-code`, or set `agents.claude.command`",
                claude.display()
            )
        )
    );
}

#[test]
fn a_tmux_that_fails_or_prints_no_version_is_reported() {
    let failing = Bin::new();
    let tmux = failing.script("tmux", "exit 2");
    assert_eq!(
        check_tmux(&failing.env()),
        Check::error(
            "tmux",
            format!(
                "`{} -V` failed (exit code 2): reinstall tmux: install it with your package manager (`apt-get install tmux`, `brew install tmux`)",
                tmux.display()
            )
        )
    );
    let odd = Bin::new();
    odd.script("tmux", "echo 'tmux master'");
    assert_eq!(
        check_tmux(&odd.env()),
        Check::warning(
            "tmux",
            "cannot read tmux's version from \"tmux master\": duet needs tmux 3.0 or newer"
        )
    );
}

#[test]
fn an_inotify_limit_that_is_not_a_number_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("max_user_watches");
    std::fs::write(&file, "lots\n").unwrap();
    assert_eq!(
        check_inotify(&file),
        Check::warning(
            "inotify",
            format!("cannot read a number from {}: \"lots\"", file.display())
        )
    );
}

#[test]
fn base_branch_without_git_is_an_error() {
    let empty = Bin::new();
    let env = Env::from_vars([("PATH", empty.path())]);
    assert_eq!(
        check_base_branch(&empty.path(), "main", &env),
        Check::error(
            "base branch main",
            "git not found on PATH: install it with your package manager"
        )
    );
}
