//! The merge queue end to end with the real CLIs: `duet run` on three tasks, `b` depending on
//! `a`, `a` and `c` writing the same line of `shared.txt`. `a` lands; `b` starts only then, from
//! a main that holds `a`'s file; `c`'s candidate conflicts, so `c` goes back to its pair, whose
//! new worker rebases onto main and resolves it in its worktree, is reviewed again and lands.
//! At the end every task is merged, main never held a conflict, and no worktree, branch or tmux
//! session is left.

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use std::path::Path;

use duet_core::lifecycle::StateKind;
use duet_store::Event;
use support::{RUN_TIMEOUT, RunWorld, backlog, describe, gate_command, scopes, steps_with};

fn commit(task: &str, prepare: &str) -> String {
    format!("{prepare} && git add -A && git commit -q -m 'write {task}' && echo committed-{task}")
}

fn script(gates: &Path) -> String {
    let mut out = String::from("title = \"duet run merge\"\n\n");
    for task in ["a", "b", "c"] {
        out.push_str(&scopes(task));
    }
    out.push_str(&steps_with(
        "a",
        &commit("a", "printf 'from a\\n' > shared.txt"),
    ));
    // b builds on a: without a's file on its branch the command fails and b never goes on.
    out.push_str(&steps_with(
        "b",
        &commit("b", "test -f shared.txt && printf 'b\\n' > b.txt"),
    ));
    // c writes the same line, once a has landed (its gate).
    out.push_str(&steps_with(
        "c",
        &gate_command(
            &gates.join("c"),
            &commit("c", "printf 'from c\\n' > shared.txt"),
        ),
    ));
    // c's second pair: the worker came back from the queue; it rebases and resolves.
    let resolve = "git rebase main || { printf 'from a\\nfrom c\\n' > shared.txt && git add shared.txt \
                   && GIT_EDITOR=true git rebase --continue; }; \
                   grep -q 'from a' shared.txt && grep -q 'from c' shared.txt && git diff --quiet HEAD \
                   && echo resolved-c";
    let resolve = common::toml_string(resolve);
    out.push_str(&format!(
        r#"[[step]]
agent = "c-worker"
name = "c resolve"
match.user_contains = "came back from the merge queue"
reply.tool_calls = [{{ name = "Bash", input = {{ command = {resolve} }} }}]

[[step]]
agent = "c-worker"
name = "c request review again"
match.tool_result = {{ name = "Bash", contains = "resolved-c" }}
reply.tool_calls = [{{ name = "mcp__duet__request_review", input = {{ summary = "rebased onto main, kept both lines" }} }}]

[[step]]
agent = "c-worker"
name = "c wait again"
match.tool_result = {{ name = "mcp__duet__request_review", contains = "round 1" }}
reply.text = "Waiting for the review."

[[step]]
agent = "c-worker"
name = "c done again"
match.user_contains = "The reviewer approved"
reply.tool_calls = [{{ name = "mcp__duet__mark_done", input = {{ summary = "resolved" }} }}]

[[step]]
agent = "c-reviewer"
name = "c ready again"
match.user_contains = "You are the REVIEWER"
reply.text = "Ready."

[[step]]
agent = "c-reviewer"
name = "c approve again"
match.user_contains = "(round 1 of"
reply.tool_calls = [{{ name = "mcp__duet__submit_review", input = {{ verdict = "approve", findings = [], verified = ["git show HEAD: read the whole diff"], not_verified = ["did not run the test suite"] }} }}]

[[step]]
agent = "c-reviewer"
name = "c approved again"
match.tool_result = {{ name = "mcp__duet__submit_review" }}
reply.text = "Approved."

"#
    ));
    // Pairs at work hear that main moved; they note it.
    for task in ["a", "b", "c"] {
        out.push_str(&format!(
            "[[fallback]]\nagent = \"{task}-worker\"\nname = \"{task} hears main moved\"\n\
             match.user_contains = \"landed. It\"\nreply.text = \"Noted.\"\n\n"
        ));
    }
    out
}

#[test]
fn three_tasks_land_on_main_the_dependent_builds_on_its_dependency_and_a_conflict_is_resolved_by_its_pair()
 {
    let tasks: &[(&str, &[&str])] = &[("a", &[]), ("b", &["a"]), ("c", &[])];
    let Some(world) = RunWorld::start("merge", &backlog(tasks), 2, script) else {
        return;
    };
    let daemon = world.spawn_run(&["--exit-when-done"]);
    world.wait_for_events("a merged", RUN_TIMEOUT, |events| {
        events.iter().any(|r| {
            r.task_id.as_deref() == Some("a")
                && matches!(
                    r.event,
                    Event::TaskStateChanged {
                        to: StateKind::Merged,
                        ..
                    }
                )
        })
    });
    world.open_gate("c");
    let finished = daemon.wait(RUN_TIMEOUT);
    let events = world.events();
    assert_eq!(
        finished.code,
        Some(0),
        "{finished:?}\nevents:\n{}\nunmatched: {}",
        describe(&events),
        world.unmatched_requests()
    );
    assert!(
        finished.stdout.contains("3 of 3 tasks done, 3 merged"),
        "{}",
        finished.stdout
    );

    // Every task landed once, rebased onto main, and main holds both lines of the conflict.
    assert_eq!(world.landed("a"), ["write a"]);
    assert_eq!(world.landed("b"), ["write b"]);
    assert_eq!(world.landed("c"), ["write c"]);
    assert_eq!(
        std::fs::read_to_string(world.repo.join("shared.txt")).unwrap(),
        "from a\nfrom c\n"
    );
    // c went back to its pair once, with the conflict.
    let sent_back = events
        .iter()
        .filter(|r| {
            r.task_id.as_deref() == Some("c")
                && matches!(
                    &r.event,
                    Event::TaskStateChanged {
                        from: StateKind::Merging,
                        to: StateKind::Queued,
                        ..
                    }
                )
        })
        .count();
    assert_eq!(sent_back, 1, "{}", describe(&events));
    // b was prepared only after a had landed.
    let position = |task: &str, state: StateKind| {
        events
            .iter()
            .position(|r| {
                r.task_id.as_deref() == Some(task)
                    && matches!(r.event, Event::TaskStateChanged { to, .. } if to == state)
            })
            .unwrap_or_else(|| panic!("{task} never {state}"))
    };
    assert!(position("a", StateKind::Merged) < position("b", StateKind::Preparing));

    // Main never held a conflict: every commit it moved to is clean.
    let tips = common::landed_tips(&events);
    assert_eq!(tips.len(), 3, "{tips:?}");
    for tip in &tips {
        let shared = world
            .env
            .git(&world.repo, &["show", &format!("{tip}:shared.txt")]);
        assert!(!shared.contains("<<<<<<<"), "a conflict at {tip}: {shared}");
    }
    // Nothing is left: no task worktree, no task branch, no tmux session.
    let worktrees = world
        .env
        .git(&world.repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(
        worktrees
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count(),
        1,
        "{worktrees}"
    );
    assert_eq!(
        world
            .env
            .git(&world.repo, &["branch", "--format=%(refname:short)"])
            .trim(),
        "main"
    );
    assert!(
        world.tmux_sessions().is_empty(),
        "{:?}",
        world.tmux_sessions()
    );
}

/// `duet run` killed (SIGKILL) while the merge queue tests a candidate: the next `duet run`
/// takes the step up again, the task lands exactly once, and no scratch checkout is left.
#[test]
fn killed_mid_merge_the_next_daemon_tests_the_candidate_again_and_lands_it_once() {
    let Some(world) = RunWorld::start("merge-kill", &backlog(&[("a", &[])]), 1, |_| {
        let mut out = String::from("title = \"duet run merge kill\"\n\n");
        out.push_str(&scopes("a"));
        out.push_str(&steps_with("a", &commit("a", "printf 'a\\n' > a.txt")));
        out
    }) else {
        return;
    };
    // The pair's own CI passes at once; the candidate's (DUET_MERGE_CANDIDATE) waits for the gate.
    let gate = world.gate("candidate");
    world.write_config(&format!(
        "base_branch = \"main\"\nmax_parallel = 1\n[roles]\nworker = \"claude\"\nreviewer = \"codex\"\n\
         [ci]\ncommand = '[ -z \"$DUET_MERGE_CANDIDATE\" ] || while [ ! -e {} ]; do sleep 0.1; done'\n",
        gate.display()
    ));
    let daemon = world.spawn_run(&["--exit-when-done"]);
    world.wait_for_events("a in the merge queue", RUN_TIMEOUT, |events| {
        events.iter().any(|r| {
            matches!(
                r.event,
                Event::TaskStateChanged {
                    to: StateKind::Merging,
                    ..
                }
            )
        })
    });
    // Wait until the candidate's CI runs (the queue's saved step), then kill the daemon.
    let deadline = std::time::Instant::now() + RUN_TIMEOUT;
    loop {
        let store = duet_store::Store::open_read_only(world.repo.join(".duet/state.db")).unwrap();
        if store
            .engine_state("merge-queue")
            .unwrap()
            .is_some_and(|queue| queue.contains("\"testing\""))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the candidate never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let killed = daemon.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    let main_log = world.env.git(&world.repo, &["log", "--format=%B", "main"]);
    assert!(
        !main_log.contains("Duet-Task: a"),
        "landed before its candidate passed"
    );

    let daemon = world.spawn_run(&["--exit-when-done"]);
    world.open_gate("candidate");
    let finished = daemon.wait(RUN_TIMEOUT);
    let events = world.events();
    assert_eq!(
        finished.code,
        Some(0),
        "{finished:?}\nevents:\n{}\nunmatched: {}",
        describe(&events),
        world.unmatched_requests()
    );
    assert_eq!(world.landed("a"), ["write a"]);
    let merged = events
        .iter()
        .filter(|r| {
            matches!(
                r.event,
                Event::TaskStateChanged {
                    to: StateKind::Merged,
                    ..
                }
            )
        })
        .count();
    assert_eq!(merged, 1, "{}", describe(&events));
    let scratch = std::fs::read_dir(world.repo.join(".duet/queue/ci/work"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    assert_eq!(scratch, 0, "a scratch checkout is left");
}
