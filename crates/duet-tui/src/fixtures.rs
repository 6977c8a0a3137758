//! Fixture data for the dashboard's snapshot tests and its render benchmark (not for use
//! elsewhere): tasks in each state, with fixed times.

use duet_core::config::AgentKind;
use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::scheduler::Blocker;
use duet_proto::status::{
    AgentState, AgentStatus, CiStatus, DiffStat, MergeStatus, NeedsHuman, StatusSnapshot,
    TaskStatus,
};

/// "Now" in the fixtures: every time below is a little before it.
pub const NOW_MS: i64 = 1_800_000_000_000;

fn agent(profile: &str, kind: AgentKind, state: AgentState) -> AgentStatus {
    AgentStatus {
        profile: profile.into(),
        kind: Some(kind),
        state,
    }
}

/// A task in `state`, with its pair as a running duet would show it.
pub fn task(id: &str, title: &str, state: StateKind) -> TaskStatus {
    let running = matches!(
        state,
        StateKind::Working | StateKind::Reviewing | StateKind::NeedsHuman | StateKind::Paused
    );
    let (worker, reviewer) = match state {
        StateKind::Working => (AgentState::Working, AgentState::AtRest),
        StateKind::Reviewing => (AgentState::AtRest, AgentState::Working),
        StateKind::NeedsHuman => (AgentState::AtRest, AgentState::WaitingPermission),
        StateKind::Paused => (AgentState::AtRest, AgentState::AtRest),
        _ => (AgentState::Unknown, AgentState::Unknown),
    };
    TaskStatus {
        id: id.into(),
        title: title.into(),
        state,
        reason: None,
        since_ms: None,
        priority: 0,
        depends_on: Vec::new(),
        round: if running { 2 } else { 0 },
        max_rounds: 5,
        worker: agent("claude", AgentKind::Claude, worker),
        reviewer: agent("codex", AgentKind::Codex, reviewer),
        branch: format!("duet/{id}"),
        head: running.then(|| "0123456789abcdef".to_string()),
        last_activity_ms: running.then_some(NOW_MS - 95_000),
        waiting: Vec::new(),
        running,
        activity: None,
        session: running.then(|| format!("duet-repo-{id}")),
        tmux_server: running.then(|| "duet".to_string()),
        diffstat: running.then_some(DiffStat {
            files: 3,
            insertions: 120,
            deletions: 14,
        }),
        in_backlog: true,
        needs_human: None,
        ci: None,
        merge: None,
        tokens: None,
    }
}

/// Three pairs at work and one queued behind a dependency.
pub fn running() -> StatusSnapshot {
    let mut queued = task("printer", "Pretty printer", StateKind::Queued);
    queued.waiting = vec![Blocker::Dependency {
        id: "parser".into(),
        state: StateKind::Working,
    }];
    let mut reviewing = task("lexer", "Tokenise the input", StateKind::Reviewing);
    reviewing.ci = Some(CiStatus {
        sha: "0123456789abcdef".into(),
        state: "passed".into(),
        excerpt: None,
    });
    StatusSnapshot::new(
        42,
        true,
        vec![
            task("parser", "Write the parser", StateKind::Working),
            reviewing,
            task("docs", "Document the CLI", StateKind::Working),
            queued,
        ],
    )
}

/// `running()` with the lexer stuck on the same findings: it needs the human.
pub fn needs_human() -> StatusSnapshot {
    let mut status = running();
    let lexer = &mut status.tasks[1];
    lexer.state = StateKind::NeedsHuman;
    lexer.reason = Some("the same findings 3 rounds in a row".into());
    lexer.since_ms = Some(NOW_MS - 300_000);
    lexer.needs_human = Some(NeedsHuman {
        reason: "the same findings 3 rounds in a row".into(),
        since_ms: Some(NOW_MS - 300_000),
        evidence: vec![
            "finding: src/lexer.rs:12: numbers with a leading dot are rejected".into(),
            "the reviewer waits for a permission answer".into(),
        ],
    });
    // Its agents' tokens, as the engine counts and prices them.
    lexer.tokens = Some(duet_proto::status::TokenUsage {
        total: duet_core::accounting::TokenCounts {
            input: 30_000,
            output: 3_000,
            cache_read: 100_000,
            cache_write: 4_000,
        },
        worker: duet_core::accounting::TokenCounts {
            input: 10_000,
            output: 2_000,
            cache_read: 100_000,
            cache_write: 4_000,
        },
        usd: 0.14,
        unpriced: Vec::new(),
    });
    status
}

/// Finished tasks: one merged, one landing in the merge queue, one ready for the human's
/// merge, one failed.
pub fn merged() -> StatusSnapshot {
    let mut done = task("parser", "Write the parser", StateKind::Merged);
    done.round = 3;
    done.last_activity_ms = Some(NOW_MS - 7_200_000);
    let mut landing = task("lexer", "Tokenise the input", StateKind::Merging);
    landing.round = 1;
    landing.last_activity_ms = Some(NOW_MS - 60_000);
    landing.merge = Some(MergeStatus {
        state: "CI on candidate 0123abcd".into(),
        position: Some(1),
    });
    let mut ready = task("docs", "Document the CLI", StateKind::Ready);
    ready.round = 2;
    ready.last_activity_ms = Some(NOW_MS - 30_000);
    ready.merge = Some(MergeStatus {
        state: "ready: `duet merge docs` lands it".into(),
        position: None,
    });
    let mut failed = task("printer", "Pretty printer", StateKind::Failed);
    failed.reason = Some("the worktree could not be created".into());
    StatusSnapshot::new(90, true, vec![done, landing, ready, failed])
}

/// `n` pairs in mixed states, for the render benchmark.
pub fn many(n: usize) -> StatusSnapshot {
    let states = [
        StateKind::Working,
        StateKind::Reviewing,
        StateKind::NeedsHuman,
        StateKind::Queued,
        StateKind::Done,
    ];
    let tasks = (0..n)
        .map(|i| {
            let mut t = task(
                &format!("task-{i:02}"),
                &format!("Task number {i} with a longer title to fill the column"),
                states[i % states.len()],
            );
            if t.state == StateKind::NeedsHuman {
                t.needs_human = Some(NeedsHuman {
                    reason: "asked a question".into(),
                    since_ms: Some(NOW_MS - 1000),
                    evidence: vec!["which database?".into()],
                });
            }
            t
        })
        .collect();
    StatusSnapshot::new(7, true, tasks)
}

/// A merged task's handoff report, as the engine's `report` answer carries it (the form of
/// `duet report parser`), long enough to scroll at 80×24.
pub fn report_markdown() -> String {
    let mut text = String::from(
        "# parser: Write the parser\n\n\
         **merged** · 2 review rounds · took 14 min 3 s · 48210 tokens, $0.31\n\n\
         Branch `duet/parser` on `main`.\n\
         Landed on `main` as `4f2a9c1e`.\n\n\
         ## What changed\n\n\
         2 files, +120 −8\n\n\
         | file | + | − |\n| --- | ---: | ---: |\n\
         | `src/parser.rs` | 112 | 8 |\n| `tests/parser.rs` | 8 | 0 |\n\n\
         ## Review\n\n\
         ### Round 1 on `0123abcd`: changes requested\n\n\
         - [major] src/parser.rs:42 the empty input panics instead of answering an error — \
         *addressed in `89ab01cd` (round 2)*\n\n\
         ### Round 2 on `89ab01cd`: approved\n\n\
         Verified: ran cargo test; read src/parser.rs.\n\n\
         No findings.\n\n\
         ## CI\n\n\
         - failed `test` at `0123abcd` (41 s): 1 failing test\n\
         - passed `test` at `89ab01cd` (39 s)\n\n\
         ## Messages (12)\n\n",
    );
    for n in 1..=12 {
        let (from, to) = if n % 2 == 1 {
            ("worker", "reviewer")
        } else {
            ("reviewer", "worker")
        };
        text.push_str(&format!("- {from} → {to}: message {n}\n"));
    }
    text
}
