//! Removing task worktrees and branches against real repositories: nothing a user did there
//! is lost unless forced, and refusals name what would be lost.

mod common;

use common::{TestRepo, write_file};
use duet_git::{GitErrorKind, Repo, WorktreeManager};

const ROOT: &str = ".duet/worktrees";

#[test]
fn clean_worktree_is_removed_and_its_branch_kept() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let wt = manager.ensure("t1", "main").unwrap();

    manager.remove("t1", false).unwrap();

    assert!(!wt.path.exists());
    assert!(manager.list().unwrap().is_empty());
    let listing = test.git(&["worktree", "list", "--porcelain"]);
    assert!(!listing.contains("duet/t1"), "{listing}");
    assert!(repo.branch_exists("duet/t1").unwrap());
    // Nothing on the branch beyond the base: deleting it needs no force.
    manager.delete_branch("t1", false).unwrap();
    assert!(!repo.branch_exists("duet/t1").unwrap());
    let config = std::fs::read_to_string(test.path.join(".git/config")).unwrap();
    // (libgit2 leaves an empty `[branch "duet/t1"]` header behind; the recorded base is gone.)
    assert!(
        !config.contains("duetbase"),
        "branch config left behind:\n{config}"
    );
}

#[test]
fn uncommitted_changes_refuse_removal_and_are_listed() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let wt = manager.ensure("t1", "main").unwrap();
    write_file(&wt.path.join("README.md"), "edited\n");
    write_file(&wt.path.join("new.txt"), "untracked\n");
    write_file(&wt.path.join("sub/deeper.txt"), "untracked in a folder\n");

    let err = manager.remove("t1", false).unwrap_err();

    match &err.kind {
        GitErrorKind::RemovalRefused {
            path,
            dirty_paths,
            unmerged,
        } => {
            assert_eq!(*path, wt.path);
            assert_eq!(dirty_paths, &["README.md", "new.txt", "sub/deeper.txt"]);
            assert_eq!(*unmerged, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("uncommitted changes (README.md, new.txt, sub/deeper.txt)"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(wt.path.join("new.txt")).unwrap(),
        "untracked\n"
    );
    assert_eq!(manager.list().unwrap().len(), 1);
}

#[test]
fn staged_and_deleted_files_count_as_uncommitted() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let wt = manager.ensure("t1", "main").unwrap();
    write_file(&wt.path.join("staged.txt"), "staged\n");
    test.git_in(&wt.path, &["add", "staged.txt"]);
    std::fs::remove_file(wt.path.join("README.md")).unwrap();

    let err = manager.remove("t1", false).unwrap_err();

    assert!(
        matches!(&err.kind, GitErrorKind::RemovalRefused { dirty_paths, .. }
            if dirty_paths == &["README.md", "staged.txt"]),
        "{err:?}"
    );
}

#[test]
fn ignored_files_do_not_block_removal() {
    let test = TestRepo::new();
    // Ignored through the shared info/exclude, so that the branch itself stays at the base.
    std::fs::write(test.path.join(".git/info/exclude"), "*.log\n").unwrap();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let wt = manager.ensure("t1", "main").unwrap();
    write_file(&wt.path.join("build.log"), "regenerable\n");

    manager.remove("t1", false).unwrap();

    assert!(!wt.path.exists());
}

#[test]
fn commits_not_on_the_base_refuse_removal_until_merged() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let wt = manager.ensure("t1", "main").unwrap();
    let first = test.commit_in(&wt.path, "a.txt", "a\n");
    let second = test.commit_in(&wt.path, "b.txt", "b\n");

    let err = manager.remove("t1", false).unwrap_err();

    match &err.kind {
        GitErrorKind::RemovalRefused {
            dirty_paths,
            unmerged: Some(unmerged),
            ..
        } => {
            assert!(dirty_paths.is_empty());
            assert_eq!(unmerged.base, "main");
            assert_eq!(unmerged.count, 2);
            assert_eq!(unmerged.short_ids, vec![second.clone(), first.clone()]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("2 commits not on `main` ({second}, {first})")),
        "{text}"
    );
    assert!(wt.path.join("b.txt").exists());
    let err = manager.delete_branch("t1", true).unwrap_err();
    assert!(
        matches!(err.kind, GitErrorKind::BranchInUse { .. }),
        "{err:?}"
    );

    // Once the base contains the commits, nothing would be lost.
    test.git(&["merge", "-q", "--ff-only", "duet/t1"]);
    manager.remove("t1", false).unwrap();
    manager.delete_branch("t1", false).unwrap();
    assert!(!repo.branch_exists("duet/t1").unwrap());
}

#[test]
fn commits_on_a_detached_head_are_counted_too() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let wt = manager.ensure("t1", "main").unwrap();
    test.git_in(&wt.path, &["checkout", "-q", "--detach"]);
    let detached = test.commit_in(&wt.path, "lost.txt", "only on a detached HEAD\n");

    let err = manager.remove("t1", false).unwrap_err();

    assert!(
        matches!(&err.kind, GitErrorKind::RemovalRefused { unmerged: Some(u), .. }
            if u.count == 1 && u.short_ids == vec![detached.clone()]),
        "{err:?}"
    );
}

#[test]
fn dirty_and_unmerged_are_reported_together_and_force_removes_anyway() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let wt = manager.ensure("t1", "main").unwrap();
    let commit = test.commit_in(&wt.path, "a.txt", "a\n");
    write_file(&wt.path.join("scratch.txt"), "x\n");

    let err = manager.remove("t1", false).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("uncommitted changes (scratch.txt) and it has 1 commit not on `main`"),
        "{text}"
    );
    assert!(text.contains(&commit), "{text}");

    manager.remove("t1", true).unwrap();

    assert!(!wt.path.exists());
    assert!(manager.list().unwrap().is_empty());
    // The branch, and so the commit, survives the forced removal.
    assert_eq!(test.git(&["rev-parse", "--short", "duet/t1"]), commit);
    let err = manager.delete_branch("t1", false).unwrap_err();
    match &err.kind {
        GitErrorKind::BranchUnmerged { branch, unmerged } => {
            assert_eq!(branch, "duet/t1");
            assert_eq!(unmerged.short_ids, vec![commit.clone()]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(repo.branch_exists("duet/t1").unwrap());
    manager.delete_branch("t1", true).unwrap();
    assert!(!repo.branch_exists("duet/t1").unwrap());
}

#[test]
fn locked_worktree_needs_force() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let wt = manager.ensure("t1", "main").unwrap();
    test.git(&[
        "worktree",
        "lock",
        "--reason",
        "on a usb stick",
        wt.path.to_str().unwrap(),
    ]);

    let err = manager.remove("t1", false).unwrap_err();
    assert_eq!(
        err.kind,
        GitErrorKind::Locked {
            path: wt.path.clone(),
            reason: "on a usb stick".into()
        }
    );
    assert!(wt.path.exists());

    manager.remove("t1", true).unwrap();
    assert!(!wt.path.exists());
    assert!(!test.git(&["worktree", "list"]).contains("t1"));
}

#[test]
fn removing_a_missing_or_stale_worktree() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    let err = manager.remove("never", false).unwrap_err();
    assert!(
        matches!(err.kind, GitErrorKind::WorktreeNotFound { .. }),
        "{err:?}"
    );

    let wt = manager.ensure("t1", "main").unwrap();
    std::fs::remove_dir_all(&wt.path).unwrap();
    manager.remove("t1", false).unwrap();
    assert!(manager.list().unwrap().is_empty());
}

#[test]
fn deleting_a_missing_branch_names_it() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    let err = manager.delete_branch("t9", true).unwrap_err();

    assert_eq!(
        err.kind,
        GitErrorKind::BranchNotFound {
            branch: "duet/t9".into()
        }
    );
    assert_eq!(err.to_string(), "failed to find branch `duet/t9`");
}

#[test]
fn branch_without_a_recorded_base_needs_force() {
    let test = TestRepo::new();
    test.git(&["branch", "duet/t1"]);
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();

    let err = manager.delete_branch("t1", false).unwrap_err();

    assert_eq!(
        err.kind,
        GitErrorKind::BaseUnknown {
            branch: "duet/t1".into()
        }
    );
    manager.delete_branch("t1", true).unwrap();
}
