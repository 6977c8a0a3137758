//! `duet validate` on real files and a real repository: exit codes, where output goes, branch checks.

mod common;

use common::TestEnvironment;

fn init_repo(env: &TestEnvironment) -> std::path::PathBuf {
    let repo = env.repo_with_commit("repo");
    let out = env.duet(&repo, &["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    repo
}

#[test]
fn valid_files_exit_0_with_a_summary_on_stdout() {
    let env = TestEnvironment::default();
    let repo = init_repo(&env);
    let out = env.duet(&repo, &["validate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    assert!(out.stdout.contains("2 files"), "{}", out.stdout);
}

#[test]
fn every_problem_is_reported_with_file_line_col_and_exit_2() {
    let env = TestEnvironment::default();
    let repo = init_repo(&env);
    std::fs::write(
        repo.join("duet.toml"),
        "base_branch = \"trunk\"\nmax_paralel = 3\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("backlog.toml"),
        "[[task]]\nid = \"a b\"\nprompt = \"x\"\n\n[[task]]\nid = \"c\"\nprompt = \"y\"\ndepends_on = [\"zzz\"]\n",
    )
    .unwrap();
    let out = env.duet(&repo, &["validate"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_eq!(out.stdout, "");
    // The real repository has no branch `trunk`: the git-backed check must catch it.
    for needle in [
        "duet.toml:1:15",
        "trunk",
        "duet.toml:2:1",
        "max_parallel",
        "backlog.toml:2:6",
        "backlog.toml:8:15",
        "zzz",
    ] {
        assert!(
            out.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn json_output_lists_problems() {
    let env = TestEnvironment::default();
    let repo = init_repo(&env);
    std::fs::write(repo.join("backlog.toml"), "[[task]]\nid = \"ok\"\n").unwrap();
    let out = env.duet(&repo, &["validate", "--json"]);
    assert_eq!(out.code, 2);
    let json: serde_json::Value =
        serde_json::from_str(&out.stdout).expect("validate --json prints JSON");
    let text = json.to_string();
    assert!(text.contains("backlog.toml"), "{text}");
    assert!(text.contains("prompt"), "{text}");
}

#[test]
fn named_files_are_checked_outside_a_repository() {
    let env = TestEnvironment::default();
    let dir = env.root().join("loose");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tasks-backlog.toml"),
        "[[task]]\nid = \"-x\"\nprompt = \"p\"\n",
    )
    .unwrap();
    let out = env.duet(&dir, &["validate", "tasks-backlog.toml"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("tasks-backlog.toml:2:6"),
        "{}",
        out.stderr
    );

    let out = env.duet(&dir, &["validate", "missing.toml"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("missing.toml"), "{}", out.stderr);
}

#[test]
fn invalid_utf8_is_reported_at_the_first_bad_byte_by_validate_and_by_commands_that_load() {
    let env = TestEnvironment::default();
    let repo = init_repo(&env);
    // Latin-1 `é` (0xe9) where UTF-8 is expected.
    std::fs::write(
        repo.join("backlog.toml"),
        b"[[task]]\nid = \"caf\xe9\"\nprompt = \"x\"\n",
    )
    .unwrap();
    let out = env.duet(&repo, &["validate"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("error: file is not valid UTF-8: invalid byte 0xe9")
            && out.stderr.contains("--> backlog.toml:2:10"),
        "{}",
        out.stderr
    );
    // A command that loads the backlog prints the same diagnostic and exits 2.
    let out = env.duet(&repo, &["status"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("backlog.toml:2:10"), "{}", out.stderr);

    std::fs::write(repo.join("duet.toml"), b"base_branch = \"m\xffin\"\n").unwrap();
    let out = env.duet(&repo, &["status"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("duet.toml:1:17") && out.stderr.contains("invalid byte 0xff"),
        "{}",
        out.stderr
    );
}
