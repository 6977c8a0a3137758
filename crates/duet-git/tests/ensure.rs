//! Creating task worktrees against real repositories: creation, idempotence, stale
//! registrations, bad bases, empty repositories, linked worktrees and foreign folders.

mod common;

use common::{TestRepo, write_file};
use duet_git::{GitErrorKind, Repo, WorktreeManager};

const ROOT: &str = ".duet/worktrees";

#[test]
fn ensure_creates_branch_and_worktree_that_git_understands() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    let wt = manager.ensure("t1", "main").unwrap();

    assert!(wt.created);
    assert_eq!(wt.path, test.path.join(".duet/worktrees/t1"));
    assert_eq!(wt.branch, "duet/t1");
    assert_eq!(wt.base, "main");
    assert_eq!(
        std::fs::read_to_string(wt.path.join("README.md")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        test.git(&["rev-parse", "duet/t1"]),
        test.git(&["rev-parse", "main"])
    );
    // git sees a proper worktree on the branch, with an index matching the checkout.
    let listing = test.git(&["worktree", "list", "--porcelain"]);
    assert!(
        listing.contains(&format!("worktree {}\n", wt.path.display())),
        "{listing}"
    );
    assert!(listing.contains("branch refs/heads/duet/t1"), "{listing}");
    assert_eq!(test.git_in(&wt.path, &["status", "--porcelain"]), "");
    assert_eq!(
        test.git_in(&wt.path, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "duet/t1"
    );
    // The worktree root is kept out of the main worktree's status.
    assert_eq!(test.git(&["status", "--porcelain"]), "");
    assert!(repo.branch_exists("duet/t1").unwrap());

    let listed = manager.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].task_id, "t1");
    assert_eq!(listed[0].branch.as_deref(), Some("duet/t1"));
    assert_eq!(listed[0].base.as_deref(), Some("main"));
    assert!(!listed[0].stale);
}

#[test]
fn checkout_matches_git_for_nested_files_modes_and_attributes() {
    let test = TestRepo::new();
    test.write("src/deep/a.rs", "fn a() {}\n");
    test.write("run.sh", "#!/bin/sh\necho hi\n");
    test.write(".gitattributes", "*.txt text eol=crlf\n");
    test.write("notes.txt", "one\ntwo\n");
    test.git(&["add", "."]);
    test.git(&["update-index", "--chmod=+x", "run.sh"]);
    test.git(&["commit", "-q", "-m", "more"]);
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    let wt = manager.ensure("t1", "main").unwrap();
    test.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "plain",
        test.sibling("plain").to_str().unwrap(),
        "main",
    ]);

    for file in ["src/deep/a.rs", "run.sh", "notes.txt"] {
        let ours = std::fs::read(wt.path.join(file)).unwrap();
        let gits = std::fs::read(test.sibling("plain").join(file)).unwrap();
        assert_eq!(ours, gits, "{file}");
    }
    // The eol attribute was applied (filters stay on when attributes exist).
    assert_eq!(
        std::fs::read(wt.path.join("notes.txt")).unwrap(),
        b"one\r\ntwo\r\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(wt.path.join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "run.sh should be executable");
    assert_eq!(test.git_in(&wt.path, &["status", "--porcelain"]), "");
}

#[test]
fn ensure_again_returns_the_existing_worktree_untouched() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let first = manager.ensure("t1", "main").unwrap();
    write_file(&first.path.join("work.txt"), "in progress\n");
    test.commit_in(&test.path, "README.md", "main moved on\n");

    let second = manager.ensure("t1", "main").unwrap();

    assert!(!second.created);
    assert_eq!(second.path, first.path);
    assert_eq!(second.branch, first.branch);
    assert_eq!(
        std::fs::read_to_string(first.path.join("work.txt")).unwrap(),
        "in progress\n"
    );
    // The branch was not moved to the new base commit.
    assert_ne!(
        test.git(&["rev-parse", "duet/t1"]),
        test.git(&["rev-parse", "main"])
    );
    assert_eq!(manager.list().unwrap().len(), 1);
}

#[test]
fn stale_registration_is_pruned_and_the_worktree_recreated() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let first = manager.ensure("t1", "main").unwrap();
    let committed = test.commit_in(&first.path, "feature.txt", "kept on the branch\n");
    std::fs::remove_dir_all(&first.path).unwrap();
    assert!(manager.list().unwrap()[0].stale);

    let again = manager.ensure("t1", "main").unwrap();

    assert!(again.created);
    // The existing branch is reused, so the committed work is checked out again.
    assert_eq!(
        test.git_in(&again.path, &["rev-parse", "--short", "HEAD"]),
        committed
    );
    assert!(again.path.join("feature.txt").exists());
    let listing = test.git(&["worktree", "list", "--porcelain"]);
    assert!(!listing.contains("prunable"), "{listing}");
    assert_eq!(listing.matches("worktree ").count(), 2, "{listing}");
}

#[test]
fn prune_drops_only_registrations_whose_folder_is_gone() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let kept = manager.ensure("t1", "main").unwrap();
    let gone = manager.ensure("t2", "main").unwrap();
    // A user's own worktree elsewhere whose folder is gone is not duet's to prune.
    let outside = test.sibling("outside");
    test.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "mine",
        outside.to_str().unwrap(),
        "main",
    ]);
    std::fs::remove_dir_all(&outside).unwrap();
    std::fs::remove_dir_all(&gone.path).unwrap();

    let pruned = manager.prune().unwrap();

    assert_eq!(pruned.len(), 1);
    assert!(pruned[0].ends_with("t2"), "{pruned:?}");
    let listed = manager.list().unwrap();
    assert_eq!(
        listed.iter().map(|w| w.path.clone()).collect::<Vec<_>>(),
        vec![kept.path]
    );
    assert!(
        test.git(&["worktree", "list", "--porcelain"])
            .contains("outside")
    );
    assert!(manager.prune().unwrap().is_empty());
}

#[test]
fn missing_base_is_named_and_nothing_is_created() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    let err = manager.ensure("t1", "no-such-base").unwrap_err();

    assert_eq!(
        err.kind,
        GitErrorKind::BaseNotFound {
            base: "no-such-base".into()
        }
    );
    assert!(err.to_string().contains("`no-such-base`"), "{err}");
    assert!(!repo.branch_exists("duet/t1").unwrap());
    assert!(!test.path.join(".duet/worktrees/t1").exists());
}

#[test]
fn base_may_be_a_tag_or_commit() {
    let test = TestRepo::new();
    let first = test.git(&["rev-parse", "HEAD"]);
    test.git(&["tag", "v1"]);
    test.commit_in(&test.path, "README.md", "second\n");
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    manager.ensure("from-tag", "v1").unwrap();
    manager.ensure("from-sha", &first[..10]).unwrap();

    assert_eq!(test.git(&["rev-parse", "duet/from-tag"]), first);
    assert_eq!(test.git(&["rev-parse", "duet/from-sha"]), first);
}

#[test]
fn repository_without_commits_gets_a_clear_error() {
    let test = TestRepo::empty();
    let repo = Repo::discover(&test.path).unwrap();
    assert!(!repo.has_commits().unwrap());
    assert_eq!(repo.head_branch().unwrap().as_deref(), Some("main"));
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    let err = manager.ensure("t1", "main").unwrap_err();

    assert_eq!(err.kind, GitErrorKind::NoCommits);
    assert_eq!(
        err.to_string(),
        "repository has no commits yet; make a first commit before running duet"
    );
    assert!(!test.path.join(".duet").exists());
}

#[test]
fn works_from_inside_a_linked_worktree() {
    let test = TestRepo::new();
    let linked = test.sibling("linked");
    test.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "side",
        linked.to_str().unwrap(),
        "main",
    ]);

    let repo = Repo::discover(linked.join(".")).unwrap();

    assert!(repo.is_linked_worktree());
    assert_eq!(repo.main_workdir(), test.path);
    assert_eq!(repo.common_dir(), test.path.join(".git"));
    assert_eq!(repo.head_branch().unwrap().as_deref(), Some("side"));
    assert!(repo.has_commits().unwrap());
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let wt = manager.ensure("t1", "side").unwrap();
    assert_eq!(wt.path, test.path.join(".duet/worktrees/t1"));
    assert!(
        test.git(&["worktree", "list", "--porcelain"])
            .contains("branch refs/heads/duet/t1")
    );
    assert_eq!(manager.list().unwrap().len(), 1);
}

#[test]
fn discover_from_a_subfolder_and_outside_any_repository() {
    let test = TestRepo::new();
    std::fs::create_dir_all(test.path.join("a/b")).unwrap();
    let repo = Repo::discover(test.path.join("a/b")).unwrap();
    assert_eq!(repo.main_workdir(), test.path);
    assert!(!repo.is_linked_worktree());
    assert!(repo.branch_exists("main").unwrap());
    assert!(!repo.branch_exists("nope").unwrap());

    let outside = tempfile::tempdir().unwrap();
    let err = Repo::discover(outside.path()).unwrap_err();
    assert!(matches!(err.kind, GitErrorKind::Discover { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("failed to open a git repository at"),
        "{err}"
    );
}

#[test]
fn foreign_folder_is_refused_and_left_alone() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let folder = test.path.join(".duet/worktrees/t1");
    write_file(&folder.join("precious.txt"), "mine\n");

    let err = manager.ensure("t1", "main").unwrap_err();
    assert!(
        matches!(&err.kind, GitErrorKind::ForeignFolder { path, .. } if *path == folder),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("not a registered worktree"),
        "{err}"
    );

    let err = manager.remove("t1", true).unwrap_err();
    assert!(
        matches!(err.kind, GitErrorKind::ForeignFolder { .. }),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("precious.txt")).unwrap(),
        "mine\n"
    );
    assert!(!repo.branch_exists("duet/t1").unwrap());
}

#[test]
fn worktree_of_another_branch_at_the_path_is_refused() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let folder = test.path.join(".duet/worktrees/t2");
    std::fs::create_dir_all(folder.parent().unwrap()).unwrap();
    test.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "other",
        folder.to_str().unwrap(),
        "main",
    ]);

    let err = manager.ensure("t2", "main").unwrap_err();

    assert!(
        matches!(err.kind, GitErrorKind::ForeignFolder { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("refs/heads/other"), "{err}");
    assert!(folder.join("README.md").exists());
}

#[test]
fn branch_checked_out_elsewhere_is_refused() {
    let test = TestRepo::new();
    test.git(&["checkout", "-q", "-b", "duet/t3"]);
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    let err = manager.ensure("t3", "main").unwrap_err();

    assert_eq!(
        err.kind,
        GitErrorKind::BranchCheckedOut {
            branch: "duet/t3".into(),
            path: test.path.clone()
        }
    );
    assert!(!test.path.join(".duet/worktrees/t3").exists());
}

#[test]
fn bad_task_ids_and_prefixes_are_rejected() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let err = WorktreeManager::new(&repo, ROOT, "bad prefix").unwrap_err();
    assert!(
        matches!(err.kind, GitErrorKind::InvalidBranchPrefix { .. }),
        "{err:?}"
    );
    let manager = WorktreeManager::new(&repo, ROOT, "team/duet").unwrap();
    let err = manager.ensure("../escape", "main").unwrap_err();
    assert!(
        matches!(err.kind, GitErrorKind::InvalidTaskId { .. }),
        "{err:?}"
    );
    assert!(!test.path.join(".duet").exists());

    let wt = manager.ensure("ok", "main").unwrap();
    assert_eq!(wt.branch, "team/duet/ok");
}

#[test]
fn absolute_root_outside_the_repository() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let root = test.sibling("trees");
    let manager = WorktreeManager::new(&repo, &root, "duet").unwrap();

    let wt = manager.ensure("t1", "main").unwrap();

    assert_eq!(wt.path, root.join("t1"));
    assert_eq!(manager.list().unwrap()[0].task_id, "t1");
    let exclude = std::fs::read_to_string(test.path.join(".git/info/exclude")).unwrap_or_default();
    assert!(!exclude.contains("trees"), "{exclude}");
}

#[test]
fn failed_checkout_leaves_nothing_behind() {
    let test = TestRepo::new();
    // A commit whose tree names a blob the object database does not have: checkout fails.
    let missing = "1234567890123456789012345678901234567890";
    let tree = test.git_with_input(
        &["mktree", "--missing"],
        &format!("100644 blob {missing}\tghost.txt\n"),
    );
    let commit = test.git(&["commit-tree", &tree, "-p", "HEAD", "-m", "broken"]);
    test.git(&["branch", "broken", &commit]);
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    let err = manager.ensure("t1", "broken").unwrap_err();

    assert!(matches!(err.kind, GitErrorKind::Git { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("failed to create worktree "),
        "{err}"
    );
    assert!(!test.path.join(".duet/worktrees/t1").exists());
    assert!(!test.path.join(".git/worktrees/t1").exists());
    assert!(!repo.branch_exists("duet/t1").unwrap());
    assert!(manager.list().unwrap().is_empty());
    let listing = test.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(listing.matches("worktree ").count(), 1, "{listing}");
}
