//! Every kill point: `duet run` (built with the `failpoints` feature) aborts at each failpoint
//! of the engine in turn (`DUET_FAILPOINTS=<name>=abort`: no cleanup, as SIGKILL) and is started
//! again; the task still lands once, every message and verdict is handed over exactly once, and
//! no worktree, branch, tmux session or process is left behind. Prints the table of kill points
//! and outcomes.
//!
//! The real claude (worker) and codex (reviewer) play one plain round against a fake model
//! server in the test process, so the model outlives each killed daemon as a real API would.
//! Run with `cargo nextest run -p duet-cli --features failpoints -E 'binary(e2e_killpoints)'`
//! (or `scripts/killpoints.sh`).

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use duet_core::lifecycle::StateKind;
use duet_store::{Event, EventRecord};
use support::{
    RUN_TIMEOUT, RunWorld, backlog, count, describe, is_in, orphans, plain_steps, scopes,
};

/// How long a killed daemon's first run may take to reach its failpoint (or finish).
const FIRST_RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Later hits of the points whose first hit comes early in the run (at the pair's start):
/// the review request's hand-over to the reviewer, the verdict's to the worker, the answers to
/// the tool calls.
const LATER_HITS: &[&str] = &[
    "decision-made@5",
    "decision-made@10",
    "answer-sent@6",
    "answer-sent@12",
    "delivery-typed@2",
    "delivery-typed@3",
    "delivery-confirmed@2",
    "delivery-confirmed@3",
    "ci-run-event@2",
];

/// `DUET_KILLPOINTS` value for the first hit of every point, without [`LATER_HITS`].
const FIRST_HITS: &str = "first-hits";

/// One kill point's outcome, a row of the table.
struct Row {
    point: String,
    /// The first daemon aborted at the point (not every point is reached in every run).
    killed: bool,
    restarted_ok: bool,
    final_state: String,
    /// Every message delivered and handed over once, one verdict, one `mark_done`.
    once: Result<(), String>,
    /// What was left behind: worktrees, branches, tmux sessions, processes.
    orphans: Vec<String>,
    seconds: f64,
}

impl Row {
    fn ok(&self) -> bool {
        self.killed
            && self.restarted_ok
            && self.final_state == "merged"
            && self.once.is_ok()
            && self.orphans.is_empty()
    }
}

fn script(_gates: &std::path::Path) -> String {
    let mut out = String::from("title = \"kill points\"\n\n");
    out.push_str(&scopes("a"));
    out.push_str(&plain_steps("a", None));
    out
}

/// Each accepted message delivered once and handed over once; one verdict stored; the task
/// marked done once.
fn exactly_once(events: &[EventRecord]) -> Result<(), String> {
    let mut problems = Vec::new();
    for record in events {
        let Event::MessageAccepted { id, .. } = &record.event else {
            continue;
        };
        let delivered = events
            .iter()
            .filter(|r| matches!(&r.event, Event::MessageDelivered { id: d } if d == id))
            .count();
        let prefix = format!("message {id} handed over");
        let handed = events
            .iter()
            .filter(|r| matches!(&r.event, Event::Note { text } if text.starts_with(&prefix)))
            .count();
        // A hand-over the killed engine stored but never typed is handed over again, and says so.
        let again = format!("message {id} was handed over to the");
        let resent = events
            .iter()
            .filter(|r| matches!(&r.event, Event::Note { text } if text.starts_with(&again)))
            .count();
        if (delivered, handed) != (1, 1 + resent) {
            problems.push(format!(
                "{id}: delivered {delivered}, handed over {handed} ({resent} again)"
            ));
        }
    }
    let verdicts = count(events, "a", |e| matches!(e, Event::ReviewSubmitted { .. }));
    if verdicts != 1 {
        problems.push(format!("{verdicts} verdicts stored"));
    }
    let done = count(events, "a", |e| {
        matches!(
            e,
            Event::TaskStateChanged {
                to: StateKind::Done,
                ..
            }
        )
    });
    if done != 1 {
        problems.push(format!("marked done {done} times"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Aborts `duet run` at `point`, starts it again and reports what it came to.
fn kill_at(point: &str) -> Option<Row> {
    let started = Instant::now();
    let world = RunWorld::start(&format!("kp-{point}"), &backlog(&[("a", &[])]), 1, script)?;
    // A CI command (passing at once) so the pair's CI and the merge queue's CI steps run.
    world.write_config(
        "base_branch = \"main\"\nmax_parallel = 1\n[roles]\nworker = \"claude\"\nreviewer = \"codex\"\n\
         [ci]\ncommand = \"true\"\n",
    );
    let run = ["--exit-when-done"];
    let (name, nth) = point.split_once('@').unwrap_or((point, "1"));
    let spec = format!("{name}=abort@{nth}");
    let first = world
        .spawn_run_with_env(&run, &[("DUET_FAILPOINTS", &spec)])
        .wait(FIRST_RUN_TIMEOUT);
    let killed =
        first.signal == Some(6) && first.stderr.contains(&format!("failpoint {name} reached"));
    if !killed {
        eprintln!("{point}: not reached; the first run ended with {first:?}");
    }
    let second = world.spawn_run(&run).wait(RUN_TIMEOUT);
    let events = world.events();
    let restarted_ok = second.code == Some(0) && second.stdout.contains("1 of 1 tasks done");
    if !restarted_ok {
        eprintln!(
            "{point}: the restarted run ended with {second:?}\nevents:\n{}\nunmatched: {}\nlog:\n{}",
            describe(&events),
            world.unmatched_requests(),
            world.log()
        );
    }
    let final_state = if is_in(&events, "a", StateKind::Merged) {
        "merged".to_owned()
    } else {
        events
            .iter()
            .rev()
            .find_map(|r| match &r.event {
                Event::TaskStateChanged { to, .. } if r.task_id.as_deref() == Some("a") => {
                    Some(to.to_string())
                }
                _ => None,
            })
            .unwrap_or_else(|| "none".to_owned())
    };
    let mut once = exactly_once(&events);
    // The model saw each step once: a turn typed twice would ask it again (unmatched).
    let unconsumed = world.server.unconsumed_steps();
    if !unconsumed.is_empty() || world.unmatched_requests() != "[]" {
        let extra = format!(
            "model steps left {unconsumed:?}, unmatched requests {}",
            world.unmatched_requests()
        );
        once = Err(match once {
            Ok(()) => extra,
            Err(e) => format!("{e}; {extra}"),
        });
    }
    if once.is_err() {
        eprintln!("{point}: events:\n{}", describe(&events));
    }
    let landed = world.landed("a");
    if landed != vec!["write a".to_owned()] {
        once = Err(format!("landed {landed:?}"));
    }
    let orphans = orphans(&world, &[]);
    Some(Row {
        point: point.to_owned(),
        killed,
        restarted_ok,
        final_state,
        once,
        orphans,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<24} {:<7} {:<12} {:<8} {:<24} {:<30} {:>6}\n",
        "failpoint", "killed", "restarted ok", "final", "delivered once", "orphans", "secs"
    );
    for row in rows {
        let yes = |b: bool| if b { "yes" } else { "NO" };
        let once = match &row.once {
            Ok(()) => "yes".to_owned(),
            Err(why) => format!("NO: {why}"),
        };
        let orphans = if row.orphans.is_empty() {
            "none".to_owned()
        } else {
            row.orphans.join(", ")
        };
        out.push_str(&format!(
            "{:<24} {:<7} {:<12} {:<8} {:<24} {:<30} {:>6.1}\n",
            row.point,
            yes(row.killed),
            yes(row.restarted_ok),
            row.final_state,
            once,
            orphans,
            row.seconds
        ));
    }
    out
}

#[test]
fn every_kill_point_is_survived() {
    // One point, or a few, by name: DUET_KILLPOINTS=answer-sent,delivery-typed; the first hit
    // of every point only (what CI runs, see scripts/test.sh): DUET_KILLPOINTS=first-hits.
    let only = std::env::var("DUET_KILLPOINTS").ok();
    let first_hits = only.as_deref() == Some(FIRST_HITS);
    let points: Vec<&str> = duet_pair::failpoint::NAMES
        .iter()
        .copied()
        .chain(LATER_HITS.iter().copied().filter(|_| !first_hits))
        .filter(|p| {
            first_hits
                || only
                    .as_deref()
                    .is_none_or(|o| o.split(',').any(|x| x == *p))
        })
        .collect();
    let mut rows = Vec::new();
    for point in points {
        // A run that hangs or panics is a row that failed, not the end of the table.
        let row = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kill_at(point))) {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(_) => Row {
                point: point.to_owned(),
                killed: false,
                restarted_ok: false,
                final_state: "panicked".to_owned(),
                once: Err("the run panicked (see above)".to_owned()),
                orphans: Vec::new(),
                seconds: 0.0,
            },
        };
        eprintln!(
            "{}",
            table(std::slice::from_ref(&row))
                .lines()
                .nth(1)
                .unwrap_or("")
        );
        rows.push(row);
    }
    let table = table(&rows);
    println!("kill points:\n{table}");
    assert!(
        rows.iter().all(Row::ok),
        "kill points not survived:\n{table}"
    );
}

/// Nothing waits after a restart: the daemon dies right after storing the reviewer's verdict
/// (the approval queued for the worker, which is at rest, and never typed); the new daemon
/// adopts the pair and the approval reaches the worker's model within 2 s of its start.
#[test]
fn a_message_queued_for_an_agent_at_rest_reaches_its_model_within_2s_of_the_restart() {
    let Some(world) = RunWorld::start("kp-latency", &backlog(&[("a", &[])]), 1, script) else {
        return;
    };
    let run = ["--exit-when-done"];
    let first = world
        .spawn_run_with_env(&run, &[("DUET_FAILPOINTS", "verdict-committed=abort")])
        .wait(FIRST_RUN_TIMEOUT);
    assert_eq!(first.signal, Some(6), "{first:?}");
    let mut second = world.spawn_run(&run);
    let pid = second.pid();
    world
        .server
        .wait_for_entry(
            |e| {
                e.is_step()
                    && e.scope.as_deref() == Some("a-worker")
                    && e.user_text.contains("The reviewer approved")
            },
            support::STEP_TIMEOUT,
        )
        .unwrap_or_else(|e| {
            panic!(
                "the approval never reached the worker: {e}\n{}",
                world.log()
            )
        });
    let reached = support::now_seconds_of_day();
    let started = support::daemon_started_at(&world, pid);
    let log = world.log();
    let latency = (reached - started).rem_euclid(86_400.0);
    println!(
        "the queued approval reached the worker's model {latency:.2} s after the new daemon started"
    );
    assert!(
        latency <= 2.0,
        "the queued approval reached the worker {latency:.2} s after the restart\n{log}"
    );
    let finished = second.wait(RUN_TIMEOUT);
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert_eq!(exactly_once(&world.events()), Ok(()));
}
