//! The reviewer guard through the engine (memory runtime, real git and socket): a file the
//! "reviewer" writes while a review is pending is seen at its verdict, undone into a stash
//! named after it, noted in the task's log and handed to the reviewer by duet; the worker is
//! handed the verdict only after the check.

mod engine_support;

use duet_core::protocol::{Finding, Severity, ToolCall, Verdict};
use duet_proto::{Response, ResponseBody};
use duet_store::Event;
use engine_support::*;
use serde_json::json;

fn review_requested(world: &World) -> (String, String) {
    // The stash is a commit: the repository needs an identity (set in its own config).
    world.git(&world.root, &["config", "user.name", "Duet Test"]);
    world.git(
        &world.root,
        &["config", "user.email", "duet@example.invalid"],
    );
    let (worker, reviewer) = world.pair("t");
    let (w, r) = (token(&worker), token(&reviewer));
    settle(world, &w);
    settle(world, &r);
    world.commit("t", "a.txt");
    let answer = tool(
        world,
        &w,
        ToolCall::RequestReview {
            summary: "a".into(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    let request = typed(world, "t", true, "(round 1 of");
    world.agent(&r, hook("UserPromptSubmit", json!({ "prompt": request })));
    (w, r)
}

fn guard_notes(world: &World) -> Vec<String> {
    world
        .events()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Note { text } if text.contains("changed the worktree") => Some(text),
            _ => None,
        })
        .collect()
}

fn changes_requested() -> ToolCall {
    ToolCall::SubmitReview {
        verdict: Verdict::ChangesRequested,
        findings: vec![Finding {
            severity: Severity::Major,
            file: None,
            line: None,
            text: "rename it".into(),
        }],
        verified: vec!["read the diff".into()],
        not_verified: vec![],
    }
}

#[test]
fn a_file_the_reviewer_wrote_is_undone_kept_noted_and_told() {
    let world = World::new(&["t"]);
    let _engine = world.start(false, None);
    let (_w, r) = review_requested(&world);
    let wt = world.worktree("t");
    std::fs::write(wt.join("a.txt"), "the reviewer's version\n").unwrap();
    std::fs::write(wt.join("mine.txt"), "a fix of my own\n").unwrap();

    let answer = tool(&world, &r, changes_requested());
    assert!(accepted(&answer), "{answer:?}");
    // The worker gets the verdict only once the check is done (else its next commit could be
    // taken for the reviewer's change): by then the note is stored and the worktree clean.
    typed(&world, "t", false, "rename it");
    assert_eq!(
        guard_notes(&world).len(),
        1,
        "the worker was handed the verdict first"
    );
    assert_eq!(world.git(&wt, &["status", "--porcelain"]), "");
    let note = world.wait("the guard's note", || {
        guard_notes(&world).into_iter().next()
    });
    assert!(
        note.starts_with(
            "the reviewer (r) changed the worktree during review round 1 (seen at the reviewer's verdict)"
        ),
        "{note}"
    );
    assert!(
        note.contains("mine.txt") && note.contains("git stash"),
        "{note}"
    );

    // Back at the reviewed commit, the change kept in a stash named after the reviewer.
    assert_eq!(world.git(&wt, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(wt.join("a.txt")).unwrap(),
        "content\n"
    );
    let stashes = world.git(&world.root, &["stash", "list", "--format=%gs"]);
    assert!(
        stashes.contains("duet: changes by the reviewer (r) of task t, review round 1"),
        "{stashes}"
    );
    assert_eq!(
        world.git(&world.root, &["show", "stash@{0}^3:mine.txt"]),
        "a fix of my own"
    );

    // The reviewer, still in its turn, gets duet's message at its Stop hook.
    let answer = world.agent(&r, hook("Stop", json!({"stop_hook_active": false})));
    let Response::Ok {
        body: ResponseBody::HookReply {
            stdout: Some(stdout),
        },
    } = answer
    else {
        panic!("duet's message handed over: {answer:?}");
    };
    assert!(stdout.contains("duet undid your changes"), "{stdout}");
    assert!(stdout.contains("from duet]"), "{stdout}");
    assert_eq!(guard_notes(&world).len(), 1);
}
