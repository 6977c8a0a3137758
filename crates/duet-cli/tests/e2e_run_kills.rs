//! Issue #13's headline scenario: four tasks under `duet run` with the real claude and codex
//! (`a` and `c` claude works / codex reviews, `b` and `d` the other way round; `c` depends on
//! `a`, `d` on `b`), the daemon killed with SIGKILL three times at moments awaited by events:
//!
//! 1. while `a`'s reviewer's `submit_review` is in flight (written to the stopped daemon's
//!    socket, unread);
//! 2. while `b`'s reviewer's message is queued for its busy worker, whose turn then ends while
//!    no daemon runs (the next daemon finds the message queued for an agent at rest, and the
//!    test prints how soon after its start the worker's model got it);
//! 3. while the merge queue's candidate CI of `c` runs.
//!
//! Every task ends merged, the dependents start after their dependency landed, each message and
//! verdict is handed over once (in the store and in what the fake model received), every
//! scripted step is used once, and no worktree, branch, tmux session or process is left.

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use duet_core::lifecycle::StateKind;
use duet_store::{Event, EventRecord};
use support::{
    RUN_TIMEOUT, RunWorld, STEP_TIMEOUT, adopted, assert_each_message_delivered_once, count,
    describe, gate_command, orphans, processes_naming, queued_connections, scopes_with, signal_pid,
};

use common::toml_string;

/// What `b`'s reviewer tells its busy worker.
const MESSAGE_B: &str = "Please end b.txt with a newline.";
/// How long a queued message may take to reach an adopted agent at rest after the restart:
/// the goal is 2 s (printed); the assertion leaves room for a loaded machine.
const AT_REST_LIMIT: Duration = Duration::from_secs(4);

/// The agent CLIs, for the tools their models call.
#[derive(Clone, Copy)]
enum Cli {
    Claude,
    Codex,
}

impl Cli {
    fn api(self) -> &'static str {
        match self {
            Cli::Claude => "anthropic",
            Cli::Codex => "openai",
        }
    }

    /// A shell tool call running `command`.
    fn shell(self, command: &str) -> String {
        match self {
            Cli::Claude => format!(
                "{{ name = \"Bash\", input = {{ command = {} }} }}",
                toml_string(command)
            ),
            Cli::Codex => format!(
                "{{ name = \"exec_command\", input = {{ cmd = {} }} }}",
                toml_string(command)
            ),
        }
    }

    fn shell_name(self) -> &'static str {
        match self {
            Cli::Claude => "Bash",
            Cli::Codex => "exec_command",
        }
    }
}

/// The roles of each task.
const TASKS: [(&str, Cli, Cli, &[&str]); 4] = [
    ("a", Cli::Claude, Cli::Codex, &[]),
    ("b", Cli::Codex, Cli::Claude, &[]),
    ("c", Cli::Claude, Cli::Codex, &["a"]),
    ("d", Cli::Codex, Cli::Claude, &["b"]),
];

fn backlog() -> String {
    TASKS
        .iter()
        .map(|(id, worker, reviewer, deps)| {
            let name = |cli: &Cli| match cli {
                Cli::Claude => "claude",
                Cli::Codex => "codex",
            };
            let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
            format!(
                "[[task]]\nid = \"{id}\"\ntitle = \"Write {id}.txt\"\nprompt = \"Create {id}.txt.\"\n\
                 depends_on = [{}]\nworker = \"{}\"\nreviewer = \"{}\"\n\n",
                deps.join(", "),
                name(worker),
                name(reviewer)
            )
        })
        .collect()
}

/// One task's round: the worker commits `<task>.txt` (after gate `<task>` when `gated`), asks
/// for review (for `b`: after a turn that ends, and the reviewer's message), the reviewer
/// approves, the worker marks it done.
fn task_steps(gates: &Path, task: &str, worker: Cli, reviewer: Cli, gated: bool) -> String {
    let commit = format!(
        "echo {task} > {task}.txt && git add {task}.txt && git commit -q -m 'write {task}' && echo committed-{task}"
    );
    let gate = gates.join(task);
    let commit = match (gated, worker) {
        (false, _) => commit,
        (true, Cli::Claude) => gate_command(&gate, &commit),
        // codex answers a command still running after 10 s with "Process running": the
        // worker polls the gate in short commands instead (see the fallback below).
        (true, Cli::Codex) => format!(
            "i=0; while [ ! -e '{g}' ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; \
             if [ -e '{g}' ]; then {commit}; else echo still-waiting-{task}; fi",
            g = gate.display()
        ),
    };
    let (w, r) = (format!("{task}-worker"), format!("{task}-reviewer"));
    let shell = worker.shell_name();
    let mut out = format!(
        r#"[[step]]
agent = "{w}"
name = "{task} write"
match.user_contains = "You are the WORKER"
reply.tool_calls = [{call}]

"#,
        call = worker.shell(&commit)
    );
    let review = r#"reply.tool_calls = [{ name = "mcp__duet__request_review", input = { summary = "wrote the file" } }]"#;
    if task == "b" {
        // The worker's turn ends after the commit; the reviewer's message comes after it.
        out.push_str(&format!(
            r#"[[step]]
agent = "{w}"
name = "b written"
match.tool_result = {{ name = "{shell}", contains = "committed-b" }}
reply.text = "Committed b.txt."

[[step]]
agent = "{w}"
name = "b noted"
match.user_contains = "{MESSAGE_B}"
{review}

"#
        ));
    } else {
        out.push_str(&format!(
            r#"[[step]]
agent = "{w}"
name = "{task} request review"
match.tool_result = {{ name = "{shell}", contains = "committed-{task}" }}
{review}

"#
        ));
    }
    out.push_str(&format!(
        r#"[[step]]
agent = "{w}"
name = "{task} wait"
match.tool_result = {{ name = "mcp__duet__request_review", contains = "round 1" }}
reply.text = "Waiting for the review."

[[step]]
agent = "{w}"
name = "{task} done"
match.user_contains = "The reviewer approved"
reply.tool_calls = [{{ name = "mcp__duet__mark_done", input = {{ summary = "{task}.txt written" }} }}]

[[fallback]]
agent = "{w}"
name = "{task} keeps waiting"
match.tool_result = {{ name = "{shell}", contains = "still-waiting-{task}" }}
reply.tool_calls = [{call}]

[[fallback]]
agent = "{w}"
name = "{task} hears main moved"
match.user_contains = "landed. It"
reply.text = "Noted."

# The turn's last request, after mark_done's answer, may come before or after duet stops the
# pair (codex's does when duet is slower to stop it).
[[fallback]]
agent = "{w}"
name = "{task} finished"
match.tool_result = {{ name = "mcp__duet__mark_done", contains = "is done" }}
reply.text = "Finished."

"#,
        call = worker.shell(&commit)
    ));
    // The reviewer's first turn: `b`'s sends its busy worker a message; claude's waits until
    // it is offered the duet tools (its first turn may run before its MCP servers connect).
    let (ready, ready_reply) = if task == "b" {
        (
            "match.tool_offered = \"mcp__duet__send_message\"\n",
            format!(
                "reply.tool_calls = [{{ name = \"mcp__duet__send_message\", input = {{ text = \"{MESSAGE_B}\" }} }}]"
            ),
        )
    } else if matches!(reviewer, Cli::Claude) {
        (
            "match.tool_offered = \"mcp__duet__submit_review\"\n",
            "reply.text = \"Ready.\"".to_owned(),
        )
    } else {
        ("", "reply.text = \"Ready.\"".to_owned())
    };
    // `a`'s verdict is held back 8 s: time for the test to stop the daemon before it arrives.
    let delay = if task == "a" {
        "reply.delay_ms = 8000\n"
    } else {
        ""
    };
    out.push_str(&format!(
        r#"[[step]]
agent = "{r}"
name = "{task} ready"
match.user_contains = "You are the REVIEWER"
{ready}{ready_reply}

"#
    ));
    if task == "b" {
        out.push_str(&format!(
            r#"[[step]]
agent = "{r}"
name = "b sent"
match.tool_result = {{ name = "mcp__duet__send_message", contains = "accepted" }}
reply.text = "Sent."

"#
        ));
    }
    out.push_str(&format!(
        r#"[[step]]
agent = "{r}"
name = "{task} approve"
match.user_contains = "(round 1 of"
{delay}reply.tool_calls = [{{ name = "mcp__duet__submit_review", input = {{ verdict = "approve", findings = [], verified = ["git show HEAD: read the whole diff"], not_verified = ["did not run the test suite"] }} }}]

[[fallback]]
agent = "{r}"
name = "{task} hears main moved"
match.user_contains = "landed. It"
reply.text = "Noted."

"#
    ));
    match reviewer {
        // codex reads the verdict's answer before the worker can end the pair: a step, and
        // the answer must be duet's (not "duet did not answer").
        Cli::Codex => out.push_str(&format!(
            r#"[[step]]
agent = "{r}"
name = "{task} approved"
match.tool_result = {{ name = "mcp__duet__submit_review", contains = "recorded and sent to the worker", is_error = false }}
reply.text = "Approved."

"#
        )),
        // claude's next request may come after the pair ended: a fallback.
        Cli::Claude => out.push_str(&format!(
            r#"[[fallback]]
agent = "{r}"
name = "{task} approved"
match.tool_result = {{ name = "mcp__duet__submit_review", contains = "recorded and sent to the worker", is_error = false }}
reply.text = "Approved."

[[fallback]]
agent = "{r}"
name = "{task} waits for the duet tools"
match.user_contains = "You are the REVIEWER"
reply.tool_calls = [{{ name = "Bash", input = {{ command = "sleep 0.5; echo waiting for the duet tools" }} }}]

"#
        )),
    }
    out
}

fn script(gates: &Path) -> String {
    let mut out = String::from("title = \"duet run killed three times\"\n\n");
    for (task, worker, reviewer, _) in TASKS {
        out.push_str(&scopes_with(task, worker.api(), reviewer.api()));
    }
    for (task, worker, reviewer, _) in TASKS {
        let gated = matches!(task, "b" | "c");
        out.push_str(&task_steps(gates, task, worker, reviewer, gated));
    }
    out
}

/// Waits until `done()` holds (a fact outside the store: a log line, a process), polling.
fn wait_until(what: &str, world: &RunWorld, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\nevents:\n{}\nlog:\n{}\nmodel requests:\n{}\npanes:\n{}",
            describe(&world.events()),
            world.log(),
            requests(world),
            world.panes()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The tasks whose pair is at work (agents launched, not done yet).
fn alive(events: &[EventRecord]) -> Vec<&'static str> {
    TASKS
        .iter()
        .map(|(task, ..)| *task)
        .filter(|task| {
            count(events, task, |e| matches!(e, Event::AgentLaunched { .. })) > 0
                && !support::reached(events, task, StateKind::Done)
        })
        .collect()
}

/// One line per model request (scope, outcome, last user text), for failure messages.
fn requests(world: &RunWorld) -> String {
    world
        .server
        .log()
        .iter()
        .filter(|e| e.api.is_some())
        .map(|e| {
            let text: String = e.user_text.chars().take(100).collect();
            format!("  #{} {:?} {:?} {text:?}", e.seq, e.scope, e.outcome)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn position(events: &[EventRecord], task: &str, state: StateKind) -> usize {
    events
        .iter()
        .position(|r| {
            r.task_id.as_deref() == Some(task)
                && matches!(r.event, Event::TaskStateChanged { to, .. } if to == state)
        })
        .unwrap_or_else(|| panic!("{task} never {state}\n{}", describe(events)))
}

#[test]
fn four_tasks_survive_three_sigkills_and_every_message_is_handed_over_once() {
    // Kill 2 is the typing path's: a message waits for codex's turn to end, and that turn's
    // `notify` hook waits for the next daemon. On its app-server codex takes the message into
    // the running turn at once and has no notify (`e2e_pair_restart`, `e2e_pair_app_server_seat`
    // cover the engine and the app-server killed there), so this test stays on tmux.
    let _ = common::CODEX_TRANSPORT.set("tmux".to_owned());
    let Some(world) = RunWorld::start("kills", &backlog(), 2, script) else {
        return;
    };
    // The pairs' own CI passes at once; a merge candidate holding c.txt runs
    // candidate-ci.sh, which waits for gate `candidate` (and fails if it never opens).
    let candidate = world.gate("candidate");
    let candidate_ci = world.gate("candidate-ci.sh");
    std::fs::write(
        &candidate_ci,
        format!(
            "i=0; while [ ! -e '{g}' ] && [ $i -lt 1000 ]; do sleep 0.1; i=$((i+1)); done; [ -e '{g}' ]\n",
            g = candidate.display()
        ),
    )
    .unwrap();
    world.write_config(&format!(
        "base_branch = \"main\"\nmax_parallel = 2\n[roles]\nworker = \"claude\"\nreviewer = \"codex\"\n\
         [ci]\ncommand = {}\n",
        toml_string(&format!(
            "[ -z \"$DUET_MERGE_CANDIDATE\" ] || [ ! -e c.txt ] || sh '{}'",
            candidate_ci.display()
        ))
    ));
    let run = ["--exit-when-done"];
    let socket = duet_proto::find_socket(&world.repo.join(".duet"));
    let mut daemon = world.spawn_run(&run);

    // 1. a's submit_review in flight. Everything else is quiet first: b's reviewer has sent
    //    its message and ended its turn, b's worker runs its gated command, a's worker ended
    //    its turn; a's reviewer's verdict is held back by its model.
    world.wait_for_step("b sent");
    world.wait_for_step("b write");
    world.wait_for_step("a approve");
    wait_until("a's worker's and b's reviewer's turn ends", &world, || {
        let log = world.log();
        ["a", "b"]
            .iter()
            .all(|t| log.contains(&format!("task {t}: agent request hook Claude Stop")))
    });
    signal_pid(daemon.pid(), "STOP");
    wait_until(
        "a's submit_review at the stopped daemon's socket",
        &world,
        || queued_connections(&socket) > 0,
    );
    let killed = daemon.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    let mut alive_at_kills = alive(&world.events());
    let events = world.events();
    assert_eq!(
        count(&events, "a", |e| matches!(e, Event::ReviewSubmitted { .. })),
        0,
        "the killed daemon never read the verdict\n{}",
        describe(&events)
    );
    let message_b = events
        .iter()
        .find_map(|r| match &r.event {
            Event::MessageAccepted { id, text, .. } if text == MESSAGE_B => Some(id.clone()),
            _ => None,
        })
        .expect("b's reviewer's message was accepted");

    // 2. The next daemon applies the verdict; a lands and c (depending on it) starts. Then,
    //    with b's message still queued for its busy worker, it is killed.
    let daemon = world.spawn_run(&run);
    world.wait_for_events("a merged and c's pair started", RUN_TIMEOUT, |events| {
        support::reached(events, "a", StateKind::Merged)
            && count(events, "c", |e| matches!(e, Event::AgentLaunched { .. })) == 2
            && count(events, "b", adopted) == 1
    });
    world.wait_for_step("c ready");
    world.wait_for_step("c write");
    let events = world.events();
    assert_eq!(
        count(
            &events,
            "b",
            |e| matches!(e, Event::MessageDelivered { id } if *id == message_b)
        ),
        0,
        "the message waits for the busy worker\n{}",
        describe(&events)
    );
    let killed = daemon.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    alive_at_kills.extend(alive(&world.events()));
    // With no daemon, b's worker's turn ends: its turn-end hook waits for the next daemon.
    world.open_gate("b");
    world.wait_for_step("b written");
    wait_until("b's worker's turn-end hook waiting", &world, || {
        // (codex's notify names the turn's last answer)
        !processes_naming(&["Committed b.txt."]).is_empty()
    });
    let mut daemon = world.spawn_run(&run);
    let pid = daemon.pid();
    world
        .server
        .wait_for_entry(
            |e| {
                e.is_step()
                    && e.scope.as_deref() == Some("b-worker")
                    && e.user_text.contains(MESSAGE_B)
            },
            STEP_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("the message never reached b's worker: {e}\n{}", world.log()));
    let reached = support::now_seconds_of_day();
    let latency = (reached - support::daemon_started_at(&world, pid)).rem_euclid(86_400.0);
    println!(
        "the message queued for b's worker at rest reached its model {latency:.2} s after the new daemon started"
    );
    assert!(
        latency <= AT_REST_LIMIT.as_secs_f64(),
        "the queued message reached the worker {latency:.2} s after the restart\n{}",
        world.log()
    );

    // 3. c's merge candidate's CI runs: killed.
    world.open_gate("c");
    let gate_dir = world.gates.path().display().to_string();
    let running = format!("sh {}", candidate_ci.display());
    wait_until("c's candidate CI running", &world, || {
        !processes_naming(&[&running]).is_empty()
    });
    let killed = daemon.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    alive_at_kills.extend(alive(&world.events()));
    let main_log = world.env.git(&world.repo, &["log", "--format=%B", "main"]);
    assert!(
        !main_log.contains("Duet-Task: c"),
        "c landed before its candidate passed"
    );

    // The last daemon finishes the backlog.
    let daemon = world.spawn_run(&run);
    world.open_gate("candidate");
    let finished = daemon.wait(RUN_TIMEOUT * 2);
    let events = world.events();
    assert_eq!(
        finished.code,
        Some(0),
        "{finished:?}\nevents:\n{}\nunmatched: {}",
        describe(&events),
        world.unmatched_requests()
    );
    assert!(
        finished.stdout.contains("4 of 4 tasks done, 4 merged"),
        "{}",
        finished.stdout
    );

    for (task, ..) in TASKS {
        assert!(
            support::is_in(&events, task, StateKind::Merged),
            "{task}\n{}",
            describe(&events)
        );
        assert_eq!(world.landed(task), vec![format!("write {task}")], "{task}");
        let once = |is: fn(&Event) -> bool| count(&events, task, is);
        assert_eq!(
            once(|e| matches!(e, Event::ReviewSubmitted { .. })),
            1,
            "{task}: one verdict\n{}",
            describe(&events)
        );
        assert_eq!(
            once(|e| matches!(
                e,
                Event::TaskStateChanged {
                    to: StateKind::Done,
                    ..
                }
            )),
            1,
            "{task}: marked done once\n{}",
            describe(&events)
        );
        assert_eq!(
            once(|e| matches!(
                e,
                Event::TaskStateChanged {
                    to: StateKind::Merged,
                    ..
                }
            )),
            1,
            "{task}: merged once"
        );
        // No agent died and none was relaunched.
        assert_eq!(
            once(|e| matches!(e, Event::AgentLaunched { .. })),
            2,
            "{task}\n{}",
            describe(&events)
        );
    }
    // Each pair alive at a kill was adopted by the next daemon (which pairs are still at work at
    // the third kill depends on the machine's speed: b and d may have ended by then), and only
    // then.
    for (task, ..) in TASKS {
        let expected = alive_at_kills.iter().filter(|t| **t == task).count();
        assert_eq!(
            count(&events, task, adopted),
            expected,
            "{task}: alive at {expected} kills\n{}",
            describe(&events)
        );
    }
    // a was at work at the first kill only, c at the second only (at the third it is merging:
    // its pair ended when it was done), b at the first two at least.
    for (task, expected) in [("a", 1), ("c", 1)] {
        assert_eq!(
            alive_at_kills.iter().filter(|t| **t == task).count(),
            expected,
            "{task} alive at the kills: {alive_at_kills:?}"
        );
    }
    assert!(
        alive_at_kills.iter().filter(|t| **t == "b").count() >= 2,
        "b alive at the kills: {alive_at_kills:?}"
    );
    // The dependents started only once their dependency had landed.
    assert!(
        position(&events, "a", StateKind::Merged) < position(&events, "c", StateKind::Preparing)
    );
    assert!(
        position(&events, "b", StateKind::Merged) < position(&events, "d", StateKind::Preparing)
    );

    assert_each_message_delivered_once(&events);
    // What the models received: every step used once, nothing unmatched, and each message in
    // exactly one new turn of its target (a request ending in a tool result repeats the last
    // user text legitimately, so it does not count).
    let log = world.server.log();
    assert_eq!(
        world.server.unconsumed_steps(),
        Vec::<usize>::new(),
        "every step was used"
    );
    assert_eq!(world.unmatched_requests(), "[]");
    for record in &events {
        let (Some(task), Event::MessageAccepted { id, to, text, .. }) =
            (&record.task_id, &record.event)
        else {
            continue;
        };
        let handed_over = events.iter().any(|e| {
            matches!(&e.event, Event::Note { text } if text.starts_with(&format!("message {id} handed over")))
        });
        if !handed_over {
            // A moot notice (see `assert_each_message_delivered_once`): it must reach no model.
            assert!(
                log.iter().all(|e| !e.user_text.contains(text.as_str())),
                "message {id} ({text:?}) was never handed over, yet a model received it"
            );
            continue;
        }
        let scope = format!("{task}-{to}");
        let turns: Vec<u64> = log
            .iter()
            .filter(|e| {
                matches!(
                    e.outcome,
                    duet_testkit::request_log::Outcome::Step { .. }
                        | duet_testkit::request_log::Outcome::Fallback { .. }
                ) && e.scope.as_deref() == Some(scope.as_str())
                    && e.tool_results.is_empty()
                    && e.user_text.contains(text.as_str())
            })
            .map(|e| e.seq)
            .collect();
        assert_eq!(
            turns.len(),
            1,
            "message {id} ({text:?}) reached {scope}'s model in requests {turns:?}"
        );
    }
    let left = orphans(&world, &[&gate_dir]);
    assert!(left.is_empty(), "left behind: {left:?}");
}
