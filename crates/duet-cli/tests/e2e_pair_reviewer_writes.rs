//! The reviewer cannot write, end to end with the real CLIs and scripted reviewers that try:
//! claude as the reviewer has no editing tools (a call to Write is refused by claude itself),
//! and what it writes through Bash is seen by duet's guard at its verdict, undone and kept in a
//! stash named after it, the reviewer told, the human shown it in `duet log`; codex as the
//! reviewer runs in its read-only sandbox, which refuses a shell write and a patch.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_store::Event;
use e2e::{PairWorld, Roles, TASK, script};

const DENIED: [&str; 3] = ["Edit", "Write", "NotebookEdit"];

#[test]
fn a_claude_reviewer_cannot_edit_and_its_bash_writes_are_undone_and_kept() {
    let Some(world) = PairWorld::start(
        "ro-claude",
        script("pair_reviewer_writes_claude.toml"),
        Roles::CodexWorksClaudeReviews,
        5,
    ) else {
        return;
    };
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert_eq!(world.branch_log(), vec!["greet the world", "add greeting"]);

    let log = world.server.log();
    let reviewer: Vec<_> = log
        .iter()
        .filter(|e| e.scope.as_deref() == Some("reviewer") && e.api.is_some())
        .collect();
    assert!(!reviewer.is_empty());
    for entry in &reviewer {
        for tool in DENIED {
            assert!(
                !entry.offered(tool),
                "reviewer request #{} offers {tool}: {:?}",
                entry.seq,
                entry.tools
            );
        }
    }
    // What claude answered the model's Write call.
    let refused = log
        .iter()
        .find_map(|e| e.tool_result("Write"))
        .expect("the Write call was answered");
    assert!(refused.is_error, "{refused:?}");
    assert!(
        refused.content.contains("No such tool available"),
        "{}",
        refused.content
    );

    // The guard: the change is out of the worktree and out of the branch, and kept.
    let worktree = world.repo.join(".duet/worktrees").join(TASK);
    assert!(!worktree.join("stray.txt").exists());
    let tree = world
        .env
        .git(&world.repo, &["ls-tree", "--name-only", "duet/greet"]);
    assert!(!tree.contains("stray.txt"), "{tree}");
    let stashes = world
        .env
        .git(&world.repo, &["stash", "list", "--format=%H %gs"]);
    let label = "duet: changes by the reviewer (claude) of task greet, review round 1";
    let stash = stashes
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no stash named after the reviewer: {stashes:?}"))
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let kept = world
        .env
        .git(&world.repo, &["show", &format!("{stash}^3:stray.txt")]);
    assert_eq!(kept.trim(), "my fix");
    let kept = world
        .env
        .git(&world.repo, &["show", &format!("{stash}:greeting.txt")]);
    assert_eq!(kept.trim(), "hello, world");

    // The human sees it: a note in the store and in `duet log`.
    let notes: Vec<String> = world
        .events()
        .iter()
        .filter_map(|r| match &r.event {
            Event::Note { text } if text.contains("changed the worktree") => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with(
            "the reviewer (claude) changed the worktree during review round 1 (seen at the reviewer's verdict)"
        ),
        "{}",
        notes[0]
    );
    assert!(notes[0].contains("stray.txt"), "{}", notes[0]);
    let shown = world.env.duet(&world.repo, &["log", TASK]);
    assert!(
        shown
            .stdout
            .contains("changed the worktree during review round 1"),
        "{}",
        shown.stdout
    );

    // The reviewer was told, by duet, in a turn of its own.
    let told = reviewer
        .iter()
        .find(|e| e.user_text.contains("duet undid your changes"))
        .expect("the reviewer's model got duet's message");
    assert!(told.user_text.contains("from duet]"), "{}", told.user_text);
}

#[test]
fn a_codex_reviewer_runs_in_the_read_only_sandbox() {
    let Some(world) = PairWorld::start(
        "ro-codex",
        script("pair_reviewer_writes_codex.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert_eq!(world.branch_log(), vec!["greet the world", "add greeting"]);

    let log = world.server.log();
    let shell = log
        .iter()
        .find_map(|e| e.tool_result("exec_command"))
        .expect("the shell write was answered");
    assert!(
        shell.content.contains("Read-only file system"),
        "{}",
        shell.content
    );
    assert!(!shell.content.contains("write-exit=0"), "{}", shell.content);
    let patch = log
        .iter()
        .find_map(|e| e.tool_result("apply_patch"))
        .expect("the patch was answered");
    // codex 0.171.0: "patch rejected: writing is blocked by read-only sandbox; rejected by user
    // approval settings".
    assert!(
        patch.content.contains("read-only sandbox"),
        "{}",
        patch.content
    );

    let worktree = world.repo.join(".duet/worktrees").join(TASK);
    for file in ["stray.txt", "patched.txt"] {
        assert!(!worktree.join(file).exists(), "{file} was written");
    }
    // Nothing got past the sandbox, so the guard had nothing to undo.
    let stashes = world.env.git(&world.repo, &["stash", "list"]);
    assert_eq!(stashes.trim(), "", "{stashes}");
    assert!(!world.events().iter().any(
        |r| matches!(&r.event, Event::Note { text } if text.contains("changed the worktree"))
    ));
}
