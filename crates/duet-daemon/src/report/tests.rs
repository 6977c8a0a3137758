//! The report of a task with two review rounds, CI, messages and a landing, built from events.

use duet_core::lifecycle::StateKind as K;
use duet_core::protocol::{Finding, Severity, Verdict};
use duet_store::{Event, EventRecord};

use super::*;

/// duet's default prices (sonnet: $3 in, $15 out per million).
static PRICING: std::sync::LazyLock<Pricing> =
    std::sync::LazyLock::new(|| duet_core::config::Config::default().pricing);

fn at(seq: i64, secs: i64, event: Event) -> EventRecord {
    EventRecord {
        seq,
        at_ms: 1_000_000 + secs * 1000,
        task_id: Some("greet".into()),
        event,
    }
}

fn moved(from: K, to: K) -> Event {
    Event::TaskStateChanged {
        from,
        to,
        reason: None,
    }
}

fn finding(severity: Severity, file: &str, text: &str) -> Finding {
    Finding {
        severity,
        file: Some(file.into()),
        line: Some(3),
        text: text.into(),
    }
}

fn history() -> Vec<EventRecord> {
    vec![
        at(1, 0, Event::TaskQueued { title: None }),
        at(2, 1, moved(K::Queued, K::Preparing)),
        at(3, 2, moved(K::Preparing, K::Working)),
        at(
            4,
            3,
            Event::MessageAccepted {
                id: "greet#1".into(),
                from: "worker".into(),
                to: "reviewer".into(),
                text: "review abc1234 please\nit adds greet()".into(),
            },
        ),
        at(
            5,
            4,
            Event::MessageDelivered {
                id: "greet#1".into(),
            },
        ),
        at(6, 60, moved(K::Working, K::Reviewing)),
        at(
            7,
            90,
            Event::ReviewSubmitted {
                round: 1,
                commit: Some("abc1234def".into()),
                verdict: Verdict::ChangesRequested,
                findings: vec![
                    finding(Severity::Major, "src/lib.rs", "greet() ignores the name"),
                    finding(Severity::Minor, "README.md", "document greet"),
                ],
                verified: vec![],
                not_verified: vec![],
            },
        ),
        at(8, 91, moved(K::Reviewing, K::Working)),
        at(
            9,
            100,
            Event::CiRunFinished {
                sha: "abc1234def".into(),
                check: "ci".into(),
                status: "failed".into(),
                exit_code: Some(1),
                duration_ms: 2500,
                failing_tests: vec!["greets".into()],
                log_path: None,
                summary: Some("failed with exit code 1".into()),
            },
        ),
        at(
            10,
            120,
            Event::Note {
                text: "the worker was restarted, its conversation resumed (restart 1 of 3)".into(),
            },
        ),
        at(
            11,
            200,
            Event::ReviewSubmitted {
                round: 2,
                commit: Some("fed9876abc".into()),
                verdict: Verdict::Approve,
                findings: vec![
                    finding(Severity::Minor, "README.md", "document  greet"),
                    finding(Severity::Nit, "src/lib.rs", "a shorter name would do"),
                ],
                verified: vec!["cargo test: 4 passed".into(), "read\nsrc/lib.rs".into()],
                not_verified: vec!["the README wording".into()],
            },
        ),
        at(12, 230, moved(K::Working, K::Done)),
        at(13, 231, moved(K::Done, K::Merging)),
        at(
            14,
            240,
            Event::Note {
                text: "landed on `main`: 1 commit(s) (1234567)".into(),
            },
        ),
        at(15, 240, moved(K::Merging, K::Merged)),
    ]
}

fn input() -> ReportInput<'static> {
    ReportInput {
        task: "greet",
        title: "Greet by name",
        branch: "duet/greet",
        base: "main",
        pricing: &PRICING,
        files: Some(vec![
            FileChange {
                path: "src/lib.rs".into(),
                added: Some(12),
                removed: Some(2),
            },
            FileChange {
                path: "logo.png".into(),
                added: None,
                removed: None,
            },
        ]),
        commits: Vec::new(),
    }
}

#[test]
fn each_finding_says_what_became_of_it() {
    let report = build(input(), &history());
    assert_eq!(report.state, K::Merged);
    assert_eq!(report.rounds.len(), 2);
    let outcomes: Vec<(u32, &FindingOutcome)> = report
        .rounds
        .iter()
        .flat_map(|r| r.findings.iter().map(move |f| (r.round, &f.resolution)))
        .collect();
    assert_eq!(
        outcomes,
        [
            // Not raised again by round 2, which reviewed fed9876.
            (
                1,
                &FindingOutcome::Addressed {
                    commit: Some("fed9876abc".into()),
                    round: 2
                }
            ),
            // The same finding (text normalised) came again in round 2.
            (1, &FindingOutcome::RaisedAgain { round: 2 }),
            (2, &FindingOutcome::WithApproval),
            (2, &FindingOutcome::WithApproval),
        ]
    );
}

#[test]
fn time_ci_messages_restarts_and_landing_are_counted_from_the_log() {
    let report = build(input(), &history());
    // From leaving the queue (t = 1 s) to the last state change (t = 240 s).
    assert_eq!(
        report.finished_at_ms.unwrap() - report.started_at_ms.unwrap(),
        239_000
    );
    assert_eq!(report.ci_runs.len(), 1);
    assert_eq!(report.ci_runs[0].status, "failed");
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].fate, "delivered");
    assert_eq!(report.agent_restarts, 1);
    assert_eq!(
        report.landed.as_deref(),
        Some("landed on `main`: 1 commit(s) (1234567)")
    );
}

#[test]
fn the_markdown_reads_top_down() {
    let text = render_markdown(&build(input(), &history()));
    let expected = "\
# greet: Greet by name

**merged** · 2 review rounds · took 3 min 59 s · 1 agent restart(s)

Branch `duet/greet` on `main`.
Landed on `main`: 1 commit(s) (1234567).

## What changed

2 files, +12 −2

| file | + | − |
| --- | ---: | ---: |
| `src/lib.rs` | 12 | 2 |
| `logo.png` | binary | binary |

## Review

### Round 1 on `abc1234`: changes requested

- [major] src/lib.rs:3: greet() ignores the name — *addressed in `fed9876` (round 2)*
- [minor] README.md:3: document greet — *raised again in round 2*

### Round 2 on `fed9876`: approved

Verified: cargo test: 4 passed; read src/lib.rs.

Not verified: the README wording.

- [minor] README.md:3: document  greet — *a note with the approval*
- [nit] src/lib.rs:3: a shorter name would do — *a note with the approval*

## CI

- failed `ci` at `abc1234` (2 s): failed with exit code 1

## Messages (1)

- worker → reviewer: review abc1234 please…
";
    assert_eq!(text, expected);
}

#[test]
fn a_task_without_reviews_or_a_diff_says_so() {
    let events = vec![
        at(1, 0, Event::TaskQueued { title: None }),
        at(2, 1, moved(K::Queued, K::Cancelled)),
    ];
    let report = build(
        ReportInput {
            files: None,
            ..input()
        },
        &events,
    );
    let text = render_markdown(&report);
    assert!(text.contains("**cancelled** · 0 review rounds"), "{text}");
    assert!(text.contains("Not known: git could not compare"), "{text}");
    assert!(text.contains("No review was submitted."), "{text}");
    assert!(text.contains("No CI run."), "{text}");
}

#[test]
fn the_json_form_names_each_outcome() {
    let report = build(input(), &history());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["state"], "merged");
    assert_eq!(
        json["rounds"][0]["findings"][0]["resolution"],
        serde_json::json!({"outcome": "addressed", "commit": "fed9876abc", "round": 2})
    );
    assert_eq!(json["rounds"][0]["findings"][0]["severity"], "major");
    assert_eq!(json["files"][1]["added"], serde_json::Value::Null);
    assert_eq!(
        json["rounds"][1]["verified"],
        serde_json::json!(["cargo test: 4 passed", "read\nsrc/lib.rs"])
    );
    assert_eq!(
        json["rounds"][1]["not_verified"],
        serde_json::json!(["the README wording"])
    );
}

#[test]
fn an_approval_that_stated_nothing_verified_says_so() {
    // An approval from before the confidence gate, or with `require_verification = false`.
    let events = vec![at(
        1,
        0,
        Event::ReviewSubmitted {
            round: 1,
            commit: Some("abc1234def".into()),
            verdict: Verdict::Approve,
            findings: vec![],
            verified: vec![],
            not_verified: vec![],
        },
    )];
    let text = render_markdown(&build(input(), &events));
    assert!(
        text.contains(
            "### Round 1 on `abc1234`: approved\n\nVerified: nothing stated.\n\nNo findings."
        ),
        "{text}"
    );
}

#[test]
fn an_open_pull_request_is_where_the_work_went() {
    for text in [
        "draft pull request opened: https://example/pull/1",
        "its pull request was already open: https://example/pull/1",
    ] {
        let events = vec![at(1, 0, Event::Note { text: text.into() })];
        assert_eq!(build(input(), &events).landed.as_deref(), Some(text));
    }
    let failed = vec![at(
        1,
        0,
        Event::Note {
            text: "no pull request: gh failed (`duet merge greet` tries again)".into(),
        },
    )];
    assert_eq!(build(input(), &failed).landed, None);
}

fn review(round: u32, commit: &str, verdict: Verdict, findings: Vec<Finding>) -> Event {
    Event::ReviewSubmitted {
        round,
        commit: Some(commit.into()),
        verdict,
        findings,
        verified: vec!["read the diff".into()],
        not_verified: vec![],
    }
}

fn commit(sha: &str, files: &[&str]) -> BranchCommit {
    BranchCommit {
        sha: sha.into(),
        files: files.iter().map(|f| (*f).to_owned()).collect(),
    }
}

#[test]
fn a_finding_is_addressed_by_the_commit_that_changed_its_file_or_waived_when_nothing_changed() {
    let lib = finding(Severity::Major, "src/lib.rs", "greet() ignores the name");
    let readme = finding(Severity::Minor, "README.md", "document greet");
    let prose = Finding {
        file: None,
        ..finding(Severity::Minor, "x", "too clever")
    };
    let changes = Verdict::ChangesRequested;
    let events = vec![
        at(
            1,
            0,
            review(1, "c1", changes, vec![lib.clone(), prose.clone()]),
        ),
        // Two commits before round 2: the first changes src/lib.rs, the second the README.
        at(2, 10, review(2, "c3", changes, vec![readme.clone()])),
        // Round 3 reviews c3 again (the worker argued, committed nothing): the reviewer dropped
        // the README finding.
        at(3, 20, review(3, "c3", changes, vec![lib.clone()])),
        at(
            4,
            30,
            Event::MessageAccepted {
                id: "greet#9".into(),
                from: "human".into(),
                to: "worker".into(),
                text: "leave it as it is".into(),
            },
        ),
        at(5, 40, review(4, "c3", Verdict::Approve, vec![])),
    ];
    let report = build(
        ReportInput {
            commits: vec![
                commit("c1", &["src/lib.rs"]),
                commit("c2", &["src/lib.rs", "tests/t.rs"]),
                commit("c3", &["README.md"]),
            ],
            ..input()
        },
        &events,
    );
    let outcomes: Vec<Vec<&FindingOutcome>> = report
        .rounds
        .iter()
        .map(|r| r.findings.iter().map(|f| &f.resolution).collect())
        .collect();
    let addressed = |commit: &str, round| FindingOutcome::Addressed {
        commit: Some(commit.into()),
        round,
    };
    let waived = |by: &str, round| FindingOutcome::Waived {
        by: by.into(),
        round,
    };
    assert_eq!(
        outcomes,
        [
            // c2 changed src/lib.rs (not c3, which round 2 reviewed); no file: the reviewed one.
            vec![&addressed("c2", 2), &addressed("c3", 2)],
            vec![&waived("reviewer", 3)],
            // Dropped after the human's message, on the same commit.
            vec![&waived("human", 4)],
            vec![],
        ]
    );
    let text = render_markdown(&report);
    assert!(
        text.contains(
            "document greet — *waived by the reviewer (round 3 reviewed the same commit)*"
        ),
        "{text}"
    );
    assert!(
        text.contains("greet() ignores the name — *addressed in `c2` (round 2)*"),
        "{text}"
    );
}

#[test]
fn the_report_counts_each_seats_tokens_once_per_record_and_prices_them() {
    let counted = |role: &str, record: &str, model: &str, input, output| Event::TokensCounted {
        role: role.into(),
        record: record.into(),
        usage: [(
            model.to_owned(),
            TokenCounts {
                input,
                output,
                cache_read: 0,
                cache_write: 0,
            },
        )]
        .into_iter()
        .collect(),
    };
    let events = [
        at(1, 0, Event::TaskQueued { title: None }),
        at(
            2,
            1,
            counted("worker", "/w", "claude-sonnet-4-5", 1_000, 100),
        ),
        // The same record read again later: its newer counts replace the older.
        at(
            3,
            2,
            counted("worker", "/w", "claude-sonnet-4-5", 100_000, 10_000),
        ),
        at(4, 3, counted("reviewer", "/r", "mystery-model", 5_000, 0)),
    ];
    let report = build(input(), &events);
    let seats: Vec<(&str, u64)> = report
        .tokens
        .iter()
        .map(|s| (s.seat.as_str(), s.counts.total()))
        .collect();
    assert_eq!(
        seats,
        [("worker", 110_000), ("reviewer", 5_000), ("total", 115_000)]
    );
    // 100k × $3 + 10k × $15 per million.
    assert!((report.tokens[2].usd - 0.45).abs() < 1e-9);
    assert_eq!(report.tokens[2].unpriced, ["mystery-model"]);
    let text = render_markdown(&report);
    assert!(text.contains("115000 tokens, $0.45 + unpriced"), "{text}");
    assert!(
        text.contains("| worker | 100000 | 10000 | 0 | 0 | $0.45 |\n"),
        "{text}"
    );
    assert!(
        text.contains("| reviewer | 5000 | 0 | 0 | 0 | $0.00 + unpriced |\n"),
        "{text}"
    );
    assert!(text.contains("No price for mystery-model"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["tokens"][2]["counts"]["input"], 105_000);
    // No counts: no section, and the facts line says nothing of tokens.
    let plain = render_markdown(&build(input(), &events[..1]));
    assert!(
        !plain.contains("## Tokens") && !plain.contains("tokens,"),
        "{plain}"
    );
}

#[test]
fn a_plan_task_reports_its_plan_rounds_and_the_approved_plan() {
    let plan_round = |round, verdict, plan: &str, findings| Event::PlanReviewed {
        round,
        verdict,
        findings,
        verified: vec!["read PLAN.md".into()],
        not_verified: vec![],
        plan: plan.into(),
    };
    let events = vec![
        at(
            1,
            0,
            plan_round(
                1,
                Verdict::ChangesRequested,
                "1. add the flag",
                vec![finding(Severity::Major, "PLAN.md", "no test in the plan")],
            ),
        ),
        at(
            2,
            5,
            plan_round(2, Verdict::Approve, "1. add the flag\n2. test it", vec![]),
        ),
    ];
    let report = build(input(), &events);
    assert_eq!(report.approved_plan().unwrap().round, 2);
    let text = render_markdown(&report);
    assert!(
        text.contains(
            "## Plan\n\n2 plan review rounds.\n\n- Plan round 1: changes requested\n  - [major] \
             PLAN.md:3: no test in the plan\n- Plan round 2: approved\n\nThe approved plan \
             (round 2):\n\n> 1. add the flag\n> 2. test it\n"
        ),
        "{text}"
    );
    assert!(text.find("## Plan") < text.find("## Review"));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["plan_rounds"][1]["plan"],
        "1. add the flag\n2. test it"
    );
    assert_eq!(json["plan_rounds"][0]["verdict"], "changes_requested");
    // A task without the plan step has no section and no key.
    let plain = build(input(), &[]);
    assert!(!render_markdown(&plain).contains("## Plan"));
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("plan_rounds")
            .is_none()
    );
}
