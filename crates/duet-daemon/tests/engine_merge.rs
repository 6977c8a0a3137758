//! The merge queue in the engine, with the in-memory agent runtime and real git: a done task
//! lands on main and is cleaned up; `merge.auto = false` waits for `duet merge`; a dependent
//! starts from a main that holds its dependency; a conflict goes back to its pair and lands
//! once resolved there; a candidate's CI cut off by a stopped engine runs again in the next, and
//! cancelling a task whose candidate is under test kills its CI.

mod engine_support;

use duet_core::lifecycle::StateKind;
use duet_proto::{ErrorKind, RequestBody, Response, ResponseBody};
use duet_store::{Event, Store};
use engine_support::*;

fn landed_with_trailer(world: &World, task: &str) -> usize {
    let log = world.git(&world.root, &["log", "--format=%B%x00", "main"]);
    log.split('\0')
        .filter(|message| {
            message
                .lines()
                .any(|line| line.trim() == format!("Duet-Task: {task}"))
        })
        .count()
}

/// Waits until the pair's own CI passed on `task`'s HEAD (`mark_done` waits for it).
fn wait_ci_passed(world: &World, task: &str) {
    world.wait("CI passed at HEAD", || {
        world
            .events()
            .iter()
            .any(|r| {
                r.task_id.as_deref() == Some(task)
                    && matches!(&r.event, Event::CiRunFinished { status, .. } if status == "passed")
            })
            .then_some(())
    });
}

fn branch_exists(world: &World, task: &str) -> bool {
    !world
        .git(&world.root, &["branch", "--list", &format!("duet/{task}")])
        .is_empty()
}

fn merge_status(world: &World, task: &str) -> Option<String> {
    match world.human(RequestBody::Status {
        task: Some(task.into()),
    }) {
        Response::Ok {
            body: ResponseBody::Status { status },
        } => status
            .tasks
            .first()?
            .merge
            .as_ref()
            .map(|m| m.state.clone()),
        other => panic!("status: {other:?}"),
    }
}

#[test]
fn a_done_task_lands_on_main_by_fast_forward_and_its_worktree_and_branch_go() {
    let world = World::new(&["t"]);
    let before = world.git(&world.root, &["rev-parse", "main"]);
    let engine = world.start(true, None);
    work_to_done(&world, "t", "a.txt", || {});
    let summary = engine.join();
    assert_eq!(summary.tasks[0].state, "merged");
    assert_eq!(summary.tasks[0].commits.len(), 1, "{summary:?}");

    // main moved forward (its old tip is an ancestor) to the rebased commit with the trailer.
    let status = std::process::Command::new("git")
        .args(["merge-base", "--is-ancestor", &before, "main"])
        .current_dir(&world.root)
        .envs(duet_testkit::hermetic::GIT_ENV)
        .status()
        .unwrap();
    assert!(status.success(), "main was not fast-forwarded");
    assert_eq!(landed_with_trailer(&world, "t"), 1);
    // The user's clean checkout of main was updated with it.
    assert_eq!(
        std::fs::read_to_string(world.root.join("a.txt")).unwrap(),
        "content\n"
    );
    assert!(!world.worktree("t").exists(), "the worktree is left");
    let landed = world.events().iter().any(|r| {
        matches!(&r.event, Event::Note { text } if text.starts_with("landed on `main`: 1 commit ("))
    });
    assert!(landed, "no note of what landed (for duet log)");
    assert!(!branch_exists(&world, "t"), "the branch is left");
    // The handoff report, written when the task finished and again when it landed: what landed
    // is found by its trailer, the branch being gone.
    let report = world.wait("t's report, as merged", || {
        std::fs::read_to_string(world.root.join(".duet/reports/t.md"))
            .ok()
            .filter(|text| text.contains("**merged**"))
    });
    assert!(report.contains("| `a.txt` | 1 | 0 |"), "{report}");
    assert!(report.contains("Landed on `main`: 1 commit ("), "{report}");
    let states: Vec<StateKind> = world
        .events()
        .iter()
        .filter_map(|r| match r.event {
            Event::TaskStateChanged { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert!(
        states.ends_with(&[StateKind::Done, StateKind::Merging, StateKind::Merged]),
        "{states:?}"
    );
}

#[test]
fn with_merge_auto_off_a_done_task_waits_ready_until_duet_merge() {
    let world = World::with_config(&["t"], "[merge]\nauto = false\n");
    let engine = world.start(false, None);
    work_to_done(&world, "t", "a.txt", || {});
    world.wait_state("t", StateKind::Ready);
    assert_eq!(
        merge_status(&world, "t").as_deref(),
        Some("ready: `duet merge t` lands it")
    );
    assert!(world.worktree("t").exists());

    let unknown = world.human(RequestBody::Merge {
        task: Some("nope".into()),
    });
    assert!(
        refused_with(&unknown, ErrorKind::UnknownTask),
        "{unknown:?}"
    );
    let answer = world.human(RequestBody::Merge {
        task: Some("t".into()),
    });
    assert!(accepted(&answer), "{answer:?}");
    world.wait_state("t", StateKind::Merged);
    assert_eq!(landed_with_trailer(&world, "t"), 1);

    let again = world.human(RequestBody::Merge {
        task: Some("t".into()),
    });
    match &again {
        Response::Error { error } => {
            assert_eq!(error.kind, ErrorKind::WrongState);
            assert!(error.message.contains("already merged"), "{again:?}");
        }
        other => panic!("a second merge was taken: {other:?}"),
    }
    let all = world.human(RequestBody::Merge { task: None });
    assert!(refused_with(&all, ErrorKind::WrongState), "{all:?}");
    engine.stop();
}

#[test]
fn a_dependent_starts_only_once_its_dependency_landed_and_from_a_main_that_holds_it() {
    let backlog = "[[task]]\nid = \"a\"\ntitle = \"A\"\nprompt = \"Do a.\"\n\n\
                   [[task]]\nid = \"b\"\ntitle = \"B\"\nprompt = \"Do b.\"\ndepends_on = [\"a\"]\n";
    let world = World::with_backlog(backlog, "");
    let engine = world.start(true, None);
    work_to_done(&world, "a", "a.txt", || {});
    world.wait_state("a", StateKind::Merged);
    // b's branch starts from main with a's change in it.
    // (Its pair starts once the worktree is ready: a folder alone may still be filling.)
    world.pair("b");
    assert!(world.worktree("b").join("a.txt").exists());
    work_to_done(&world, "b", "b.txt", || {});
    let summary = engine.join();
    assert_eq!(
        summary
            .tasks
            .iter()
            .map(|t| t.state.as_str())
            .collect::<Vec<_>>(),
        ["merged", "merged"]
    );
    // b was prepared only after a had landed.
    let events = world.events();
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
}

/// With a CI command the candidate's CI runs in the background and its pass lands the task
/// with nothing else going on in the engine: the dependent starts then all the same.
#[test]
fn a_dependent_starts_when_its_dependency_lands_after_the_candidates_ci() {
    let backlog = "[[task]]\nid = \"a\"\ntitle = \"A\"\nprompt = \"Do a.\"\n\n\
                   [[task]]\nid = \"b\"\ntitle = \"B\"\nprompt = \"Do b.\"\ndepends_on = [\"a\"]\n";
    let world = World::with_backlog(backlog, "[ci]\ncommand = \"true\"\n");
    let engine = world.start(true, None);
    work_to_done(&world, "a", "a.txt", || wait_ci_passed(&world, "a"));
    world.wait_state("a", StateKind::Merged);
    world.pair("b");
    work_to_done(&world, "b", "b.txt", || wait_ci_passed(&world, "b"));
    let summary = engine.join();
    assert_eq!(
        summary
            .tasks
            .iter()
            .map(|t| t.state.as_str())
            .collect::<Vec<_>>(),
        ["merged", "merged"]
    );
}

#[test]
fn a_conflict_goes_back_to_its_pair_and_lands_once_resolved_there() {
    let world = World::new(&["a", "b"]);
    let engine = world.start(true, None);
    // Both pairs run at once (max_parallel = 2) and write the same file differently.
    world.pair("a");
    world.pair("b");
    work_change_to_done(
        &world,
        "a",
        || world.commit_text("a", "shared.txt", "from a\n"),
        || {},
    );
    world.wait_state("a", StateKind::Merged);
    let started = world.runtime.pairs_started();
    work_change_to_done(
        &world,
        "b",
        || world.commit_text("b", "shared.txt", "from b\n"),
        || {},
    );
    // The candidate conflicts: b goes back to a new pair, whose worker is told what to do.
    world.wait("b's pair started again", || {
        (world.runtime.pairs_started() > started).then_some(())
    });
    let (worker, reviewer) = world.pair("b");
    let brief = settle(&world, &token(&worker));
    settle(&world, &token(&reviewer));
    assert!(brief.contains("merge queue"), "{brief}");
    assert!(brief.contains("shared.txt"), "{brief}");
    assert_eq!(landed_with_trailer(&world, "b"), 0);

    // The worker resolves it in its worktree: rebased onto main, both lines kept.
    let dir = world.worktree("b");
    let rebase = std::process::Command::new("git")
        .args(["rebase", "main"])
        .current_dir(&dir)
        .envs(duet_testkit::hermetic::GIT_ENV)
        .output()
        .unwrap();
    assert!(!rebase.status.success(), "the rebase did not conflict");
    work_settled(
        &world,
        "b",
        || {
            std::fs::write(dir.join("shared.txt"), "from a\nfrom b\n").unwrap();
            world.git(&dir, &["add", "shared.txt"]);
            world.git(&dir, &["-c", "core.editor=true", "rebase", "--continue"]);
        },
        || {},
    );
    let summary = engine.join();
    assert_eq!(summary.tasks[1].state, "merged", "{summary:?}");
    assert_eq!(
        std::fs::read_to_string(world.root.join("shared.txt")).unwrap(),
        "from a\nfrom b\n"
    );
    assert_eq!(landed_with_trailer(&world, "b"), 1);
}

#[test]
fn a_candidate_ci_cut_off_by_a_stopped_engine_runs_again_and_lands_once() {
    let go = tempfile::tempdir().unwrap();
    let gate = go.path().join("go");
    // The pair's own CI passes at once; the candidate's waits for the gate.
    let ci = format!(
        "[ci]\ncommand = '[ -z \"$DUET_MERGE_CANDIDATE\" ] || while [ ! -e {} ]; do sleep 0.05; done'\n",
        gate.display()
    );
    let world = World::with_config(&["t"], &ci);
    let engine = world.start(false, None);
    work_to_done(&world, "t", "a.txt", || wait_ci_passed(&world, "t"));
    world.wait("the candidate under test", || {
        let store = Store::open_read_only(world.root.join(".duet/state.db")).ok()?;
        let queue = store.engine_state("merge-queue").ok()??;
        queue.contains("\"testing\"").then_some(())
    });
    engine.stop();
    assert_eq!(world.state("t"), Some(StateKind::Merging));
    assert_eq!(landed_with_trailer(&world, "t"), 0);

    let engine = world.start(false, None);
    std::fs::write(&gate, "").unwrap();
    world.wait_state("t", StateKind::Merged);
    let summary = engine.stop();
    assert_eq!(summary.tasks[0].state, "merged", "{summary:?}");
    assert_eq!(landed_with_trailer(&world, "t"), 1);
    // The cut-off run's checkout was swept by the next engine; the new run removed its own.
    world.wait("no scratch checkout left", || {
        std::fs::read_dir(world.root.join(".duet/queue/ci/work"))
            .map(|dir| dir.count() == 0)
            .unwrap_or(true)
            .then_some(())
    });
}

/// Whether a process is gone (reaped, or a zombie no one will run again).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn cancelling_a_task_whose_candidate_is_under_test_kills_its_ci_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The candidate's CI records its pid and its background child's, then waits for ever.
    let ci = format!(
        "[ci]\ncommand = '[ -z \"$DUET_MERGE_CANDIDATE\" ] || {{ sleep 600 & echo $$ $! > {}; wait; }}'\n",
        pids.display()
    );
    let world = World::with_config(&["t"], &ci);
    let engine = world.start(false, None);
    work_to_done(&world, "t", "a.txt", || wait_ci_passed(&world, "t"));
    let recorded = world.wait("the candidate's CI running", || {
        let text = std::fs::read_to_string(&pids).ok()?;
        let pids: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        (pids.len() == 2).then_some(pids)
    });
    assert!(recorded.iter().all(|pid| !gone(pid)), "{recorded:?}");
    assert_eq!(world.state("t"), Some(StateKind::Merging));

    let answer = world.human(RequestBody::Cancel { task: "t".into() });
    assert!(accepted(&answer), "{answer:?}");
    world.wait_state("t", StateKind::Cancelled);
    world.wait("the CI command and its child killed", || {
        recorded.iter().all(|pid| gone(pid)).then_some(())
    });
    assert_eq!(merge_status(&world, "t"), None, "still in the queue");
    assert_eq!(landed_with_trailer(&world, "t"), 0);
    world.wait("its checkout removed", || {
        std::fs::read_dir(world.root.join(".duet/queue/ci/work"))
            .map(|dir| dir.count() == 0)
            .unwrap_or(true)
            .then_some(())
    });
    engine.stop();
}

#[test]
fn a_dirty_checkout_of_main_is_never_touched_the_queue_holds_until_it_is_clean() {
    let world = World::new(&["t"]);
    // The user's own uncommitted file in main's checkout, at the path the task will land.
    std::fs::write(world.root.join("a.txt"), "mine, not committed\n").unwrap();
    let engine = world.start(false, None);
    work_to_done(&world, "t", "a.txt", || {});
    world.wait("the queue held", || {
        merge_status(&world, "t").filter(|what| what.starts_with("held:"))
    });
    let held = merge_status(&world, "t").unwrap();
    assert!(held.contains("a.txt"), "{held}");
    assert_eq!(world.state("t"), Some(StateKind::Merging));
    assert_eq!(
        std::fs::read_to_string(world.root.join("a.txt")).unwrap(),
        "mine, not committed\n"
    );
    assert_eq!(
        landed_with_trailer(&world, "t"),
        0,
        "main moved under a dirty checkout"
    );

    // The user moves their file away: the queue goes on by itself.
    std::fs::remove_file(world.root.join("a.txt")).unwrap();
    world.wait_state("t", StateKind::Merged);
    engine.stop();
    assert_eq!(
        std::fs::read_to_string(world.root.join("a.txt")).unwrap(),
        "content\n"
    );
}

#[test]
fn a_ready_task_cancelled_leaves_the_queue_and_is_never_merged() {
    let world = World::with_config(&["t"], "[merge]\nauto = false\n");
    let engine = world.start(false, None);
    work_to_done(&world, "t", "a.txt", || {});
    world.wait_state("t", StateKind::Ready);
    let answer = world.human(RequestBody::Cancel { task: "t".into() });
    assert!(accepted(&answer), "{answer:?}");
    world.wait_state("t", StateKind::Cancelled);
    assert_eq!(merge_status(&world, "t"), None, "still in the queue");
    let merge = world.human(RequestBody::Merge {
        task: Some("t".into()),
    });
    assert!(refused_with(&merge, ErrorKind::WrongState), "{merge:?}");
    assert_eq!(landed_with_trailer(&world, "t"), 0);
    // Cancelled is not merged: the worktree with the task's work stays.
    assert!(world.worktree("t").exists());
    engine.stop();
}

#[test]
fn with_merge_mode_pr_a_done_task_is_pushed_and_opened_as_a_draft_and_main_stays() {
    let bin = tempfile::tempdir().unwrap();
    let gh = bin.path().join("gh");
    // A stand-in `gh` (GitHub is not reachable here): records its arguments and the body.
    std::fs::write(
        &gh,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{0}/args'\ncat > '{0}/body.md'\n\
             echo 'https://github.example/o/r/pull/12'\n",
            bin.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&gh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let world = World::with_config(
        &["t"],
        &format!(
            "[merge]\nmode = \"pr\"\n[github]\nenabled = false\ncommand = \"{}\"\n",
            gh.display()
        ),
    );
    let remote = bin.path().join("remote.git");
    world.git(
        bin.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    world.git(
        &world.root,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    let before = world.git(&world.root, &["rev-parse", "main"]);

    let engine = world.start(true, None);
    work_to_done(&world, "t", "a.txt", || {});
    let summary = engine.join();
    assert_eq!(summary.tasks[0].state, "done", "{summary:?}");
    let opened = world.events().iter().any(|r| {
        matches!(&r.event, Event::Note { text } if text == "draft pull request opened: https://github.example/o/r/pull/12")
    });
    assert!(opened, "no pull request noted");
    // The branch was pushed; gh was asked for a draft with the task's description.
    assert_eq!(
        world.git(&remote, &["rev-parse", "duet/t"]),
        world.git(&world.root, &["rev-parse", "duet/t"])
    );
    let args = std::fs::read_to_string(bin.path().join("args")).unwrap();
    assert!(
        args.starts_with("pr\ncreate\n--draft\n--base\nmain\n--head\nduet/t\n"),
        "{args}"
    );
    let body = std::fs::read_to_string(bin.path().join("body.md")).unwrap();
    assert!(body.contains("Task `t`: Task t"), "{body}");
    assert!(
        body.contains("Approved by the reviewer in review round 1."),
        "{body}"
    );
    // Nothing landed here.
    assert_eq!(world.git(&world.root, &["rev-parse", "main"]), before);
    assert_eq!(landed_with_trailer(&world, "t"), 0);
}
