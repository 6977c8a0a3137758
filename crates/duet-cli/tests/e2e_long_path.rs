//! A repository whose path is 200 characters long (far beyond a unix socket's ~108 bytes):
//! the whole `duet pair` scenario and a `duet run` daemon working two tasks, both with the real
//! agent CLIs, and a `duet run --detach` daemon that answers `duet status` and `duet stop`;
//! the control socket lives at a short path.

mod common;
#[path = "common/e2e.rs"]
mod e2e;
#[path = "e2e_run_support/mod.rs"]
mod e2e_run_support;
mod preflight_support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{TestEnvironment, TmuxServerGuard};
use duet_testkit::agents::{ChildGuard, require_agents};
use e2e::{Roles, run_two_round_pair_in};
use preflight_support::{ToolBin, duet};

/// The repository path's length.
const REPO_PATH_LEN: usize = 200;

/// A relative path under `root` that makes `root/<it>` exactly [`REPO_PATH_LEN`] long, in
/// folders of at most 60 characters.
fn deep_name(root: &Path) -> String {
    let want = REPO_PATH_LEN - root.as_os_str().len() - 1;
    let mut name = String::new();
    while name.len() < want {
        if !name.is_empty() {
            name.push('/');
        }
        let left = want - name.len();
        name.push_str(&"d".repeat(left.min(60)));
    }
    assert_eq!(root.join(&name).as_os_str().len(), REPO_PATH_LEN);
    name
}

#[test]
fn a_pair_finishes_its_task_in_a_200_character_repository_path() {
    let Some((world, _log)) = run_two_round_pair_in(
        "long-path",
        "pair_claude_worker_codex_reviewer.toml",
        Roles::ClaudeWorksCodexReviews,
        &deep_name,
    ) else {
        return;
    };
    assert_eq!(world.repo.as_os_str().len(), REPO_PATH_LEN);
    let socket = duet_proto::socket_path::read_locator(&world.repo.join(".duet")).unwrap();
    assert!(socket.as_os_str().len() < 108, "{}", socket.display());
}

#[test]
fn a_detached_daemon_in_a_200_character_path_answers_and_stops() {
    let env = TestEnvironment::default();
    let root = std::fs::canonicalize(env.root()).unwrap();
    let repo = env.repo_with_commit(&deep_name(&root));
    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    let bin = ToolBin::new();
    bin.agent("claude", "2.1.197 (Claude Code)");
    bin.agent("codex", "codex-cli 0.169.0");
    // No task to start: the daemon only listens.
    std::fs::write(repo.join("backlog.toml"), "").unwrap();
    let tmux = format!("duet-long-path-{}", std::process::id());
    let _tmux = common::TmuxServerGuard(tmux.clone());
    let vars = duet_testkit::hermetic::GIT_ENV;
    let home = env.home();
    let mut vars = vars.to_vec();
    vars.push(("HOME", home.to_str().unwrap()));

    let out = duet(
        &repo,
        &bin,
        &vars,
        &["run", "--detach", "--tmux-socket", &tmux],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("duet is running in the background (pid "),
        "{out:?}"
    );
    let socket = duet_proto::socket_path::read_locator(&repo.join(".duet")).unwrap();
    assert!(socket.as_os_str().len() < 108, "{}", socket.display());
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&socket), 0o600, "the socket is private");
    assert_eq!(
        mode(socket.parent().unwrap()),
        0o700,
        "its folder is private"
    );
    let status = duet(&repo, &bin, &vars, &["status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["live"], true, "answered by the daemon: {status:#}");
    let stop = duet(&repo, &bin, &vars, &["stop"]);
    assert_eq!(stop.code, 0, "{stop:?}");
}

#[test]
fn the_daemon_works_two_tasks_in_a_200_character_repository_path() {
    use e2e_run_support::{backlog, plain_steps, scopes};
    if require_agents().is_none() {
        return;
    }
    let env = TestEnvironment::default();
    let root = std::fs::canonicalize(env.root()).unwrap();
    let repo = env.repo_with_commit(&deep_name(&root));
    assert_eq!(repo.as_os_str().len(), REPO_PATH_LEN);
    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    let tasks: &[(&str, &[&str])] = &[("a", &[]), ("b", &["a"])];
    std::fs::write(repo.join("backlog.toml"), backlog(tasks)).unwrap();
    let mut script = String::from("title = \"long path run\"\n\n");
    for (id, _) in tasks {
        script.push_str(&scopes(id));
    }
    for (id, _) in tasks {
        script.push_str(&plain_steps(id, None));
    }
    let script_path = env.root().join("script.toml");
    std::fs::write(&script_path, script).unwrap();
    let tmux = format!("duet-long-path-run-{}", std::process::id());
    let _guard = TmuxServerGuard(tmux.clone());

    let out_path = env.root().join("run.out");
    let err_path = env.root().join("run.err");
    let mut cmd = env.duet_command();
    cmd.current_dir(&repo)
        .args(["run", "--exit-when-done", "--simulate"])
        .arg(&script_path)
        .args(["--tmux-socket", &tmux])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = ChildGuard::new(cmd.spawn().unwrap());
    let status = child.wait_timeout(Duration::from_secs(300)).unwrap();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("duet run did not finish\n{stdout}\n{stderr}"));
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("2 of 2 tasks done"), "{stdout}");
    for (id, _) in tasks {
        assert_eq!(env.landed(&repo, id), [format!("write {id}")]);
    }
    let socket = duet_proto::socket_path::read_locator(&repo.join(".duet")).unwrap();
    assert!(socket.as_os_str().len() < 108, "{}", socket.display());
}
