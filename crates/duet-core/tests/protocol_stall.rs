//! Stall and loop detection: each rule at, below and above its threshold, and combined.

use std::time::Duration;

use duet_core::protocol::{
    Role, StallReason, StallSignals, StallThresholds, StallVerdict, Timestamp, assess,
};

const MIN: u64 = 60_000;

fn thresholds() -> StallThresholds {
    StallThresholds {
        idle_after: Duration::from_secs(20 * 60),
        permission_wait_after: Duration::from_secs(5 * 60),
        same_findings_rounds: 3,
        ping_pongs: 3,
        same_check_failures: 2,
    }
}

/// Healthy signals at minute 100: progress just now, nothing repeated.
fn calm() -> StallSignals {
    StallSignals {
        now: Timestamp(100 * MIN),
        last_progress: Timestamp(100 * MIN),
        permission_waits: vec![],
        same_findings_rounds: 0,
        ping_pongs: 0,
        failing_check: None,
    }
}

fn minutes(count: u64) -> Duration {
    Duration::from_secs(count * 60)
}

#[test]
fn stall_rules_table() {
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, Box<dyn Fn(&mut StallSignals)>, Vec<StallReason>)> = vec![
        ("calm", Box::new(|_| {}), vec![]),
        (
            "idle just under",
            Box::new(|s| s.last_progress = Timestamp(80 * MIN + 1)),
            vec![],
        ),
        (
            "idle at the threshold",
            Box::new(|s| s.last_progress = Timestamp(80 * MIN)),
            vec![StallReason::Idle {
                idle_for: minutes(20),
            }],
        ),
        (
            "progress in the future (clock skew) is not idle",
            Box::new(|s| s.last_progress = Timestamp(200 * MIN)),
            vec![],
        ),
        (
            "permission wait under",
            Box::new(|s| s.permission_waits = vec![(Role::Worker, Timestamp(96 * MIN))]),
            vec![],
        ),
        (
            "permission wait over",
            Box::new(|s| {
                s.permission_waits = vec![
                    (Role::Worker, Timestamp(96 * MIN)),
                    (Role::Reviewer, Timestamp(90 * MIN)),
                ]
            }),
            vec![StallReason::PermissionWait {
                role: Role::Reviewer,
                waiting_for: minutes(10),
            }],
        ),
        (
            "same findings twice",
            Box::new(|s| s.same_findings_rounds = 2),
            vec![],
        ),
        (
            "same findings three rounds",
            Box::new(|s| s.same_findings_rounds = 3),
            vec![StallReason::RepeatedFindings { rounds: 3 }],
        ),
        ("two ping-pongs", Box::new(|s| s.ping_pongs = 2), vec![]),
        (
            "three ping-pongs",
            Box::new(|s| s.ping_pongs = 4),
            vec![StallReason::PingPong { count: 4 }],
        ),
        (
            "check failed once",
            Box::new(|s| s.failing_check = Some(("cargo test".into(), 1))),
            vec![],
        ),
        (
            "check failed twice",
            Box::new(|s| s.failing_check = Some(("cargo test".into(), 2))),
            vec![StallReason::RepeatedCheckFailure {
                check: "cargo test".into(),
                times: 2,
            }],
        ),
        (
            "everything at once, most specific first",
            Box::new(|s| {
                s.last_progress = Timestamp(0);
                s.permission_waits = vec![(Role::Worker, Timestamp(0))];
                s.same_findings_rounds = 5;
                s.ping_pongs = 3;
                s.failing_check = Some(("lint".into(), 9));
            }),
            vec![
                StallReason::PermissionWait {
                    role: Role::Worker,
                    waiting_for: minutes(100),
                },
                StallReason::RepeatedFindings { rounds: 5 },
                StallReason::PingPong { count: 3 },
                StallReason::RepeatedCheckFailure {
                    check: "lint".into(),
                    times: 9,
                },
                StallReason::Idle {
                    idle_for: minutes(100),
                },
            ],
        ),
    ];
    for (name, change, expected) in cases {
        let mut signals = calm();
        change(&mut signals);
        let verdict = assess(&signals, &thresholds());
        let expected = if expected.is_empty() {
            StallVerdict::Healthy
        } else {
            StallVerdict::Stuck { reasons: expected }
        };
        assert_eq!(verdict, expected, "{name}");
    }
}

#[test]
fn a_zero_count_threshold_disables_its_rule() {
    let off = StallThresholds {
        same_findings_rounds: 0,
        ping_pongs: 0,
        same_check_failures: 0,
        ..thresholds()
    };
    let signals = StallSignals {
        same_findings_rounds: 9,
        ping_pongs: 9,
        failing_check: Some(("x".into(), 9)),
        ..calm()
    };
    assert!(assess(&signals, &off).is_healthy());
}

#[test]
fn the_summary_reads_as_a_reason_for_the_human() {
    let verdict = StallVerdict::Stuck {
        reasons: vec![
            StallReason::PermissionWait {
                role: Role::Reviewer,
                waiting_for: Duration::from_secs(330),
            },
            StallReason::RepeatedFindings { rounds: 3 },
            StallReason::PingPong { count: 4 },
            StallReason::RepeatedCheckFailure {
                check: "cargo test".into(),
                times: 2,
            },
            StallReason::Idle {
                idle_for: Duration::from_secs(45),
            },
        ],
    };
    assert_eq!(
        verdict.summary().unwrap(),
        "the reviewer has waited for a permission answer for 5m30s; \
         the same findings came back 3 rounds in a row; \
         the agents echoed each other's messages 4 times; \
         check `cargo test` failed 2 times in a row; \
         no progress for 45s"
    );
    assert_eq!(StallVerdict::Healthy.summary(), None);
}
