//! `duet init`: files written, `.duet/` excluded, refusal without --force, outside a repository.

mod common;

use common::TestEnvironment;

#[test]
fn init_writes_config_backlog_and_exclude() {
    let env = TestEnvironment::default();
    let repo = env.repo_with_commit("repo");
    let out = env.duet(&repo, &["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(env.normalize(&out.stdout), @r"
    wrote $TEST/repo/duet.toml
    wrote $TEST/repo/backlog.toml
    added /.duet/ to $TEST/repo/.git/info/exclude
    next: edit backlog.toml, then run `duet validate` and `duet status`
    ");
    assert_eq!(
        std::fs::read_to_string(repo.join("duet.toml")).unwrap(),
        duet_core::config::DEFAULT_CONFIG_TOML
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("backlog.toml")).unwrap(),
        duet_core::backlog::EXAMPLE_BACKLOG_TOML
    );
    let exclude = std::fs::read_to_string(repo.join(".git/info/exclude")).unwrap();
    assert_eq!(exclude.lines().filter(|l| *l == "/.duet/").count(), 1);

    // .duet/ is now invisible to git.
    std::fs::create_dir_all(repo.join(".duet/worktrees")).unwrap();
    std::fs::write(repo.join(".duet/state.db"), "x").unwrap();
    let status = env.git(&repo, &["status", "--porcelain", "--untracked-files=all"]);
    assert!(!status.contains(".duet"), "git still sees .duet: {status}");

    // The files init wrote validate cleanly.
    let out = env.duet(&repo, &["validate"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn init_refuses_to_overwrite_and_changes_nothing() {
    let env = TestEnvironment::default();
    let repo = env.repo_with_commit("repo");
    std::fs::write(repo.join("duet.toml"), "max_parallel = 7\n").unwrap();
    let out = env.duet(&repo, &["init"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(env.normalize(&out.stderr), @r"
    error: $TEST/repo/duet.toml already exist(s); nothing was changed
    hint: pass --force to overwrite them
    ");
    assert_eq!(
        std::fs::read_to_string(repo.join("duet.toml")).unwrap(),
        "max_parallel = 7\n"
    );
    assert!(
        !repo.join("backlog.toml").exists(),
        "init wrote backlog.toml despite refusing"
    );
    let exclude = std::fs::read_to_string(repo.join(".git/info/exclude")).unwrap_or_default();
    assert!(
        !exclude.contains("/.duet/"),
        "init touched the exclude file despite refusing"
    );

    let out = env.duet(&repo, &["init", "--force"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(repo.join("duet.toml")).unwrap(),
        duet_core::config::DEFAULT_CONFIG_TOML
    );

    // Running it again with --force does not add the exclude line twice.
    let out = env.duet(&repo, &["init", "--force"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let exclude = std::fs::read_to_string(repo.join(".git/info/exclude")).unwrap();
    assert_eq!(exclude.lines().filter(|l| *l == "/.duet/").count(), 1);
}

#[test]
fn init_outside_a_repository_fails_and_writes_nothing() {
    let env = TestEnvironment::default();
    let dir = env.root().join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    let out = env.duet(&dir, &["init"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(env.normalize(&out.stderr), @r"
    error: $TEST/plain is not inside a git repository
    hint: run `git init` first, or pass -C DIR to point duet at a repository
    ");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn init_in_a_linked_worktree_writes_to_the_main_working_directory() {
    let env = TestEnvironment::default();
    let repo = env.repo_with_commit("repo");
    let linked = env.root().join("linked");
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "side",
            linked.to_str().unwrap(),
        ],
    );
    let out = env.duet(&linked, &["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(repo.join("duet.toml").is_file());
    assert!(!linked.join("duet.toml").exists());
    let exclude = std::fs::read_to_string(repo.join(".git/info/exclude")).unwrap();
    assert!(exclude.contains("/.duet/"));
}

#[test]
fn dash_c_runs_as_if_in_that_directory() {
    let env = TestEnvironment::default();
    let repo = env.repo_with_commit("repo");
    let out = env.duet(env.root(), &["-C", repo.to_str().unwrap(), "init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(repo.join("duet.toml").is_file());

    let out = env.duet(env.root(), &["-C", "does-not-exist", "status"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("error: cannot change to directory does-not-exist:"),
        "{}",
        out.stderr
    );
}
