//! The reviewer guard's git side against real repositories and linked worktrees: every kind of
//! change a reviewer can make is seen, and undone with nothing lost (files in a named stash,
//! commits under a kept ref).

mod common;

use std::path::PathBuf;

use common::{TestRepo, write_file};
use duet_git::reviewer_guard::{Change, Expected, KEPT_REF_PREFIX, changes, read_state, undo};
use duet_git::{Repo, WorktreeManager};

const LABEL: &str = "duet: changes by the reviewer (claude) of task t1, review round 1";

/// A repository with task `t1`'s worktree holding one commit under review.
fn under_review() -> (TestRepo, PathBuf, Expected) {
    let test = TestRepo::new();
    test.write(".gitignore", "target/\n");
    test.git(&["add", ".gitignore"]);
    test.git(&["commit", "-q", "-m", "ignore target"]);
    let repo = Repo::discover(&test.path).unwrap();
    let manager = WorktreeManager::new(&repo, ".duet/worktrees", "duet").unwrap();
    let wt = manager.ensure("t1", "main").unwrap();
    test.commit_in(&wt.path, "greeting.txt", "hello\n");
    let commit = test.git_in(&wt.path, &["rev-parse", "HEAD"]);
    let expected = Expected {
        branch: "duet/t1".into(),
        commit,
    };
    (test, wt.path, expected)
}

#[test]
fn an_untouched_worktree_shows_no_change_and_ignored_files_do_not_count() {
    let (_test, wt, expected) = under_review();
    // Running the tests writes build output; that is not a change of the work.
    write_file(&wt.join("target/debug/out"), "built\n");
    let state = read_state(&wt, &expected.branch).unwrap();
    assert_eq!(state.head.as_deref(), Some(expected.commit.as_str()));
    assert_eq!(state.head_ref.as_deref(), Some("refs/heads/duet/t1"));
    assert_eq!(changes(&expected, &state), Vec::<Change>::new());
}

#[test]
fn changed_staged_and_untracked_files_are_stashed_under_the_reviewers_name() {
    let (test, wt, expected) = under_review();
    write_file(&wt.join("greeting.txt"), "hello, world\n");
    write_file(&wt.join("notes/review.md"), "my fix\n");
    write_file(&wt.join("staged.txt"), "staged\n");
    test.git_in(&wt, &["add", "staged.txt"]);

    let state = read_state(&wt, &expected.branch).unwrap();
    let found = changes(&expected, &state);
    assert_eq!(found.len(), 1, "{found:?}");
    let Change::Files { entries } = &found[0] else {
        panic!("{found:?}")
    };
    assert_eq!(
        entries,
        &[" M greeting.txt", "A  staged.txt", "?? notes/review.md"]
    );
    assert!(found[0].to_string().contains("notes/review.md"));

    let report = undo(&wt, &expected, LABEL).unwrap();
    assert!(report.kept_refs.is_empty());
    let stash = report.stash.clone().expect("a stash");

    // Back to the reviewed commit, nothing left over.
    let after = read_state(&wt, &expected.branch).unwrap();
    assert_eq!(changes(&expected, &after), Vec::<Change>::new());
    assert_eq!(
        std::fs::read_to_string(wt.join("greeting.txt")).unwrap(),
        "hello\n"
    );
    assert!(!wt.join("notes/review.md").exists());
    // Nothing lost: the stash names the reviewer and holds all three.
    let list = test.git(&["stash", "list", "--format=%H %gs"]);
    assert!(list.starts_with(&stash), "{list}");
    assert!(list.contains(LABEL), "{list}");
    let tracked = test.git(&["stash", "show", "--name-only", &stash]);
    assert_eq!(
        tracked.lines().collect::<Vec<_>>(),
        ["greeting.txt", "staged.txt"]
    );
    let untracked = test.git(&["show", "--name-only", "--format=", &format!("{stash}^3")]);
    assert_eq!(untracked, "notes/review.md");
    assert!(
        report.describe().contains(&stash[..7]),
        "{}",
        report.describe()
    );
}

#[test]
fn a_commit_on_the_branch_is_kept_under_a_ref_and_the_branch_moved_back() {
    let (test, wt, expected) = under_review();
    test.commit_in(&wt, "greeting.txt", "the reviewer's version\n");
    let reviewers = test.git_in(&wt, &["rev-parse", "HEAD"]);
    write_file(&wt.join("left-over.txt"), "and more\n");

    let found = changes(&expected, &read_state(&wt, &expected.branch).unwrap());
    assert!(
        found.contains(&Change::BranchMoved {
            to: Some(reviewers.clone())
        }),
        "{found:?}"
    );

    let report = undo(&wt, &expected, LABEL).unwrap();
    assert_eq!(report.kept_refs.len(), 1, "{report:?}");
    let kept = &report.kept_refs[0];
    assert!(kept.starts_with(KEPT_REF_PREFIX), "{kept}");
    assert_eq!(test.git(&["rev-parse", kept]), reviewers);
    assert!(report.stash.is_some(), "the uncommitted file is stashed");

    let after = read_state(&wt, &expected.branch).unwrap();
    assert_eq!(changes(&expected, &after), Vec::<Change>::new());
    assert_eq!(test.git(&["rev-parse", "duet/t1"]), expected.commit);
    assert_eq!(
        std::fs::read_to_string(wt.join("greeting.txt")).unwrap(),
        "hello\n"
    );

    // A second undo of the same kind gets its own ref: nothing is overwritten.
    test.commit_in(&wt, "greeting.txt", "again\n");
    let again = undo(&wt, &expected, LABEL).unwrap();
    assert_ne!(again.kept_refs, report.kept_refs);
    assert_eq!(test.git(&["rev-parse", kept]), reviewers);
}

#[test]
fn head_on_another_branch_or_detached_goes_back_onto_the_task_branch() {
    let (test, wt, expected) = under_review();
    test.git_in(&wt, &["checkout", "-q", "-b", "reviewer-fix"]);
    test.commit_in(&wt, "fix.txt", "fixed\n");
    let fix = test.git_in(&wt, &["rev-parse", "HEAD"]);
    write_file(&wt.join("greeting.txt"), "edited on the other branch\n");

    let found = changes(&expected, &read_state(&wt, &expected.branch).unwrap());
    assert!(
        found.contains(&Change::HeadElsewhere {
            head_ref: Some("refs/heads/reviewer-fix".into())
        }),
        "{found:?}"
    );
    let report = undo(&wt, &expected, LABEL).unwrap();
    assert_eq!(test.git(&["rev-parse", &report.kept_refs[0]]), fix);
    assert!(report.stash.is_some());
    assert_eq!(
        changes(&expected, &read_state(&wt, &expected.branch).unwrap()),
        Vec::<Change>::new()
    );
    // The reviewer's branch is left as it was (never deleted).
    assert_eq!(test.git(&["rev-parse", "reviewer-fix"]), fix);

    // Detached HEAD at the same commit: only HEAD goes back.
    test.git_in(&wt, &["checkout", "-q", "--detach"]);
    let found = changes(&expected, &read_state(&wt, &expected.branch).unwrap());
    assert_eq!(found, vec![Change::HeadElsewhere { head_ref: None }]);
    let report = undo(&wt, &expected, LABEL).unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(
        changes(&expected, &read_state(&wt, &expected.branch).unwrap()),
        Vec::<Change>::new()
    );
}
