//! The merge queue's git side against real repositories: candidates (rebase, squash, merge,
//! conflicts), the compare-and-swap base move, the user's checkout, scratch worktrees, and
//! cleanup after landing.

mod common;

use common::{TestRepo, write_file};
use duet_git::land::{
    Advance, Built, Candidate, CandidateSpec, LandStrategy, ScratchWorktree, advance_base,
    build_candidate, changed_files, cleanup_landed, files_between, overlap, sweep,
};
use duet_git::{GitErrorKind, Repo, WorktreeManager};

const ROOT: &str = ".duet/worktrees";

fn spec(strategy: LandStrategy) -> CandidateSpec<'static> {
    CandidateSpec {
        task_id: "t1",
        branch: "duet/t1",
        base: "main",
        strategy,
        title: "Add greeting",
        approval: Some("Reads well; the test covers it."),
    }
}

/// A repository whose task `t1` (in its own worktree) made two commits on `greet.txt` and
/// `b.txt`, while `main` gained a commit on `other.txt`.
struct Setup {
    test: TestRepo,
    worktree: std::path::PathBuf,
}

impl Setup {
    fn new() -> Self {
        let test = TestRepo::new();
        let worktree = {
            let repo = Repo::discover(&test.path).unwrap();
            let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
            manager.ensure("t1", "main").unwrap().path
        };
        test.commit_in(&worktree, "greet.txt", "hello\n");
        test.commit_in(&worktree, "b.txt", "b\n");
        test.commit_in(&test.path, "other.txt", "other\n");
        Self { test, worktree }
    }

    fn repo(&self) -> Repo {
        Repo::discover(&self.test.path).unwrap()
    }

    fn rev(&self, rev: &str) -> String {
        self.test.git(&["rev-parse", rev])
    }

    fn candidate(&self, strategy: LandStrategy) -> Candidate {
        match build_candidate(&self.repo(), &spec(strategy)).unwrap() {
            Built::Candidate(candidate) => candidate,
            Built::Conflict(conflict) => panic!("unexpected conflict: {conflict:?}"),
        }
    }
}

#[test]
fn rebase_replays_each_commit_on_the_newest_base_with_the_trailer_and_touches_no_ref() {
    let s = Setup::new();
    let (main_before, branch_before) = (s.rev("main"), s.rev("duet/t1"));
    let wt_status = s.test.git_in(&s.worktree, &["status", "--porcelain"]);

    let candidate = s.candidate(LandStrategy::Rebase);

    assert_eq!(candidate.base_sha, main_before);
    assert_eq!(candidate.source_sha, branch_before);
    assert_eq!(candidate.commits, 2);
    let range = format!("{main_before}..{}", candidate.sha);
    let log = s.test.git(&["log", "--format=%an|%s", &range]);
    assert_eq!(log, "Test User|change b.txt\nTest User|change greet.txt");
    let trailers = s.test.git(&[
        "log",
        "--format=%(trailers:key=Duet-Task,valueonly,separator=%x2C)",
        &range,
    ]);
    assert_eq!(trailers, "t1\nt1");
    assert_eq!(
        s.test.git(&["rev-parse", &format!("{}~2", candidate.sha)]),
        main_before,
        "the replayed commits sit directly on the base's tip"
    );
    let files = s.test.git(&["ls-tree", "--name-only", &candidate.sha]);
    assert_eq!(files, "README.md\nb.txt\ngreet.txt\nother.txt");
    // Nothing but objects was written: refs, the user's checkout and the agent's worktree
    // are as they were.
    assert_eq!(s.rev("main"), main_before);
    assert_eq!(s.rev("duet/t1"), branch_before);
    assert_eq!(s.test.git(&["status", "--porcelain"]), "");
    assert_eq!(
        s.test.git_in(&s.worktree, &["status", "--porcelain"]),
        wt_status
    );
}

#[test]
fn squash_makes_one_commit_titled_by_the_task_with_the_approval() {
    let s = Setup::new();
    let candidate = s.candidate(LandStrategy::Squash);
    assert_eq!(candidate.commits, 1);
    assert_eq!(
        s.test.git(&["rev-parse", &format!("{}^", candidate.sha)]),
        candidate.base_sha
    );
    assert_eq!(
        s.test.git(&["log", "-1", "--format=%B", &candidate.sha]),
        "Add greeting\n\nApproved in review:\n> Reads well; the test covers it.\n\nDuet-Task: t1"
    );
    assert_eq!(
        s.test
            .git(&["diff", "--name-only", &candidate.base_sha, &candidate.sha]),
        "b.txt\ngreet.txt"
    );
}

#[test]
fn merge_makes_a_merge_commit_of_base_and_branch() {
    let s = Setup::new();
    let candidate = s.candidate(LandStrategy::Merge);
    let parents = s.test.git(&["log", "-1", "--format=%P", &candidate.sha]);
    assert_eq!(
        parents,
        format!("{} {}", candidate.base_sha, candidate.source_sha)
    );
    let message = s.test.git(&["log", "-1", "--format=%B", &candidate.sha]);
    assert_eq!(message, "Merge task t1: Add greeting\n\nDuet-Task: t1");
}

#[test]
fn a_conflict_names_the_files_and_the_commit_and_changes_nothing() {
    let s = Setup::new();
    // main and the branch both change greet.txt's only line.
    s.test
        .commit_in(&s.test.path, "greet.txt", "good morning\n");
    let main_before = s.rev("main");
    for strategy in [
        LandStrategy::Rebase,
        LandStrategy::Squash,
        LandStrategy::Merge,
    ] {
        let Built::Conflict(conflict) = build_candidate(&s.repo(), &spec(strategy)).unwrap() else {
            panic!("{strategy:?}: expected a conflict");
        };
        assert_eq!(conflict.files, ["greet.txt"], "{strategy:?}");
        assert_eq!(conflict.base_sha, main_before);
        if strategy == LandStrategy::Rebase {
            let (_, summary) = conflict.commit.expect("the commit that did not apply");
            assert_eq!(summary, "change greet.txt");
        }
    }
    assert_eq!(s.rev("main"), main_before);
    assert_eq!(s.test.git(&["status", "--porcelain"]), "");
}

#[test]
fn rebase_skips_commits_the_base_already_has() {
    let s = Setup::new();
    // The same change as the branch's first commit, landed on main by hand.
    s.test.commit_in(&s.test.path, "greet.txt", "hello\n");
    let candidate = s.candidate(LandStrategy::Rebase);
    assert_eq!(candidate.commits, 1);
    assert_eq!(
        s.test
            .git(&["log", "--format=%s", &format!("main..{}", candidate.sha)]),
        "change b.txt"
    );
}

#[test]
fn advancing_is_a_compare_and_swap_fast_forward() {
    let s = Setup::new();
    let repo = s.repo();
    let candidate = s.candidate(LandStrategy::Rebase);
    // A human commits on main after the candidate was built.
    s.test.commit_in(&s.test.path, "human.txt", "mine\n");
    let human = s.rev("main");

    let outcome = advance_base(&repo, "main", &candidate.base_sha, &candidate.sha, "land").unwrap();

    assert_eq!(outcome, Advance::Moved { now: human.clone() });
    assert_eq!(
        s.rev("main"),
        human,
        "the human's commit is never overwritten"
    );
    assert!(s.test.path.join("human.txt").exists());

    // Built again on the new tip, it lands.
    let candidate = s.candidate(LandStrategy::Rebase);
    assert_eq!(candidate.base_sha, human);
    let outcome = advance_base(&repo, "main", &human, &candidate.sha, "land t1").unwrap();
    assert_eq!(
        outcome,
        Advance::Advanced {
            checkouts_updated: vec![s.test.path.clone()]
        }
    );
    assert_eq!(s.rev("main"), candidate.sha);
    let reflog = s.test.git(&["reflog", "-1", "--format=%gs", "main"]);
    assert_eq!(reflog, "land t1");
}

#[test]
fn advancing_refuses_anything_but_a_fast_forward() {
    let s = Setup::new();
    let repo = s.repo();
    let main = s.rev("main");
    let branch = s.rev("duet/t1");
    let err = advance_base(&repo, "main", &main, &branch, "land").unwrap_err();
    assert!(
        matches!(err.kind, GitErrorKind::NotFastForward { .. }),
        "{err}"
    );
    assert_eq!(s.rev("main"), main);
}

#[test]
fn a_clean_user_checkout_is_updated_like_a_fast_forward() {
    let s = Setup::new();
    let candidate = s.candidate(LandStrategy::Rebase);
    advance_base(
        &s.repo(),
        "main",
        &candidate.base_sha,
        &candidate.sha,
        "land",
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(s.test.path.join("greet.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(s.test.git(&["status", "--porcelain"]), "");
    assert_eq!(s.rev("HEAD"), candidate.sha);
}

#[test]
fn local_changes_to_other_files_are_kept_when_the_checkout_moves() {
    let s = Setup::new();
    let candidate = s.candidate(LandStrategy::Rebase);
    s.test.write("README.md", "my edit\n");
    s.test.write("notes.txt", "scratch\n");
    s.test.git(&["add", "notes.txt"]);

    let outcome = advance_base(
        &s.repo(),
        "main",
        &candidate.base_sha,
        &candidate.sha,
        "land",
    )
    .unwrap();

    assert!(matches!(outcome, Advance::Advanced { .. }), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(s.test.path.join("README.md")).unwrap(),
        "my edit\n"
    );
    assert!(s.test.path.join("greet.txt").exists());
    assert_eq!(
        s.test.git(&["status", "--porcelain"]),
        " M README.md\nA  notes.txt"
    );
}

#[test]
fn a_dirty_user_checkout_is_never_touched_and_the_base_does_not_move() {
    let s = Setup::new();
    let candidate = s.candidate(LandStrategy::Rebase);
    // An untracked file where the candidate adds one.
    s.test.write("greet.txt", "the user's own greeting\n");
    let outcome = advance_base(
        &s.repo(),
        "main",
        &candidate.base_sha,
        &candidate.sha,
        "land",
    )
    .unwrap();

    assert_eq!(
        outcome,
        Advance::CheckoutDirty {
            path: s.test.path.clone(),
            files: vec!["greet.txt".into()]
        }
    );
    assert_eq!(s.rev("main"), candidate.base_sha, "the base did not move");
    assert_eq!(
        std::fs::read_to_string(s.test.path.join("greet.txt")).unwrap(),
        "the user's own greeting\n"
    );
}

#[test]
fn a_modified_tracked_file_in_the_checkout_holds_the_move() {
    let test = TestRepo::new();
    let repo = Repo::discover(&test.path).unwrap();
    let wt = WorktreeManager::new(&repo, ROOT, "duet")
        .unwrap()
        .ensure("t1", "main")
        .unwrap()
        .path;
    test.commit_in(&wt, "README.md", "task's readme\n");
    test.write("README.md", "user's uncommitted readme\n");
    let Built::Candidate(candidate) = build_candidate(&repo, &spec(LandStrategy::Rebase)).unwrap()
    else {
        panic!("expected a candidate");
    };
    let outcome = advance_base(&repo, "main", &candidate.base_sha, &candidate.sha, "land").unwrap();
    assert_eq!(
        outcome,
        Advance::CheckoutDirty {
            path: test.path.clone(),
            files: vec!["README.md".into()]
        }
    );
    assert_eq!(
        std::fs::read_to_string(test.path.join("README.md")).unwrap(),
        "user's uncommitted readme\n"
    );
    // Once the user puts the change away, the same candidate lands.
    test.git(&["stash"]);
    let outcome = advance_base(&repo, "main", &candidate.base_sha, &candidate.sha, "land").unwrap();
    assert!(matches!(outcome, Advance::Advanced { .. }));
    assert_eq!(
        std::fs::read_to_string(test.path.join("README.md")).unwrap(),
        "task's readme\n"
    );
}

#[test]
fn a_base_not_checked_out_anywhere_moves_without_touching_files() {
    let s = Setup::new();
    s.test.git(&["switch", "-q", "-c", "elsewhere"]);
    s.test.write("README.md", "dirty on another branch\n");
    let candidate = s.candidate(LandStrategy::Rebase);
    let outcome = advance_base(
        &s.repo(),
        "main",
        &candidate.base_sha,
        &candidate.sha,
        "land",
    )
    .unwrap();
    assert_eq!(
        outcome,
        Advance::Advanced {
            checkouts_updated: vec![]
        }
    );
    assert_eq!(s.rev("main"), candidate.sha);
    assert!(!s.test.path.join("greet.txt").exists());
}

#[test]
fn a_scratch_worktree_holds_the_candidate_and_is_removed_on_drop() {
    let s = Setup::new();
    let repo = s.repo();
    let candidate = s.candidate(LandStrategy::Rebase);
    let scratch = ScratchWorktree::create(&repo, "t1", &candidate.sha).unwrap();
    let path = scratch.path().to_owned();
    assert!(path.starts_with(s.test.path.join(".duet/merge")));
    assert_eq!(
        std::fs::read_to_string(path.join("greet.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(s.test.git_in(&path, &["rev-parse", "HEAD"]), candidate.sha);
    assert_eq!(s.test.git_in(&path, &["status", "--porcelain"]), "");
    // The user's status does not show duet's scratch folder.
    assert_eq!(s.test.git(&["status", "--porcelain"]), "");

    drop(scratch);

    assert!(!path.exists());
    let listing = s.test.git(&["worktree", "list", "--porcelain"]);
    assert!(!listing.contains(".duet/merge"), "{listing}");
}

#[test]
fn sweep_removes_scratch_worktrees_left_by_a_crash_and_nothing_else() {
    let s = Setup::new();
    let repo = s.repo();
    let candidate = s.candidate(LandStrategy::Rebase);
    let scratch = ScratchWorktree::create(&repo, "t1", &candidate.sha).unwrap();
    let path = scratch.path().to_owned();
    std::mem::forget(scratch); // as if the process died
    write_file(&s.test.path.join(".duet/merge/half-made/x"), "junk");

    let removed = sweep(&repo).unwrap();

    assert_eq!(
        removed,
        [s.test.path.join(".duet/merge/half-made"), path.clone()]
    );
    assert!(!path.exists());
    let listing = s.test.git(&["worktree", "list", "--porcelain"]);
    assert!(!listing.contains(".duet/merge"), "{listing}");
    assert!(listing.contains(".duet/worktrees/t1"), "{listing}");
    assert!(s.worktree.join("greet.txt").exists());
    assert!(sweep(&repo).unwrap().is_empty());
}

#[test]
fn changed_files_and_their_overlap_with_a_base_move() {
    let s = Setup::new();
    let repo = s.repo();
    assert_eq!(
        changed_files(&repo, "main", "duet/t1").unwrap(),
        ["b.txt", "greet.txt"]
    );
    let before = s.rev("main");
    s.test.commit_in(&s.test.path, "b.txt", "main's b\n");
    let landed = files_between(&repo, &before, &s.rev("main")).unwrap();
    assert_eq!(landed, ["b.txt"]);
    let ours = changed_files(&repo, "main", "duet/t1").unwrap();
    assert_eq!(overlap(&landed, &ours), ["b.txt"]);
}

#[test]
fn after_landing_the_worktree_and_branch_go_unless_something_would_be_lost() {
    let s = Setup::new();
    let repo = s.repo();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let candidate = s.candidate(LandStrategy::Rebase);
    advance_base(&repo, "main", &candidate.base_sha, &candidate.sha, "land").unwrap();

    // Uncommitted work in the worktree: refused, nothing removed.
    write_file(&s.worktree.join("wip.txt"), "wip\n");
    let err = cleanup_landed(&manager, "t1", &candidate.source_sha, true).unwrap_err();
    assert!(
        matches!(&err.kind, GitErrorKind::RemovalRefused { dirty_paths, .. } if dirty_paths == &["wip.txt"]),
        "{err}"
    );
    assert!(s.worktree.join("wip.txt").exists());

    // A commit made after the candidate was built: refused, the commit kept.
    let newer = s.test.commit_in(&s.worktree, "wip.txt", "wip\n");
    let err = cleanup_landed(&manager, "t1", &candidate.source_sha, true).unwrap_err();
    assert!(
        matches!(err.kind, GitErrorKind::LandedTipMoved { .. }),
        "{err}"
    );
    assert!(repo.branch_exists("duet/t1").unwrap());
    s.test
        .git_in(&s.worktree, &["reset", "-q", "--hard", "HEAD~1"]);
    assert!(!newer.is_empty());

    // At the landed tip and clean: both go.
    let cleaned = cleanup_landed(&manager, "t1", &candidate.source_sha, true).unwrap();
    assert!(cleaned.worktree_removed && cleaned.branch_deleted);
    assert!(!s.worktree.exists());
    assert!(!repo.branch_exists("duet/t1").unwrap());
}

#[test]
fn delete_branch_false_keeps_the_branch() {
    let s = Setup::new();
    let repo = s.repo();
    let manager = WorktreeManager::new(&repo, ROOT, "duet").unwrap();
    let candidate = s.candidate(LandStrategy::Squash);
    let cleaned = cleanup_landed(&manager, "t1", &candidate.source_sha, false).unwrap();
    assert!(cleaned.worktree_removed && !cleaned.branch_deleted);
    assert!(repo.branch_exists("duet/t1").unwrap());
}
