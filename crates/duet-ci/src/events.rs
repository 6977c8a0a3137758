//! CI runs as store events: a result becomes `ci_run_finished` (and back, for rebuilding the
//! state after a restart), a started run becomes `ci_run_started`.

use std::path::Path;

use duet_core::protocol::ci::{CiResult, CiStatus};
use duet_store::Event;

/// The stored name of a status.
pub fn status_name(status: &CiStatus) -> &'static str {
    match status {
        CiStatus::Passed => "passed",
        CiStatus::Failed { .. } => "failed",
        CiStatus::TimedOut { .. } => "timed-out",
        CiStatus::CouldNotStart { .. } => "could-not-start",
        CiStatus::Cancelled => "cancelled",
    }
}

/// `ci_run_started` for duet's own check.
pub fn run_started(sha: &str, log_path: &Path) -> Event {
    Event::CiRunStarted {
        sha: sha.to_owned(),
        check: duet_core::protocol::ci::OWN_CHECK.to_owned(),
        log_path: Some(log_path.display().to_string()),
    }
}

/// `ci_run_finished` for any result (own run, inbox, GitHub).
pub fn run_finished(result: &CiResult) -> Event {
    let exit_code = match result.status {
        CiStatus::Passed => Some(0),
        CiStatus::Failed { exit_code } => exit_code,
        _ => None,
    };
    Event::CiRunFinished {
        sha: result.sha.clone(),
        check: result.check.clone(),
        status: status_name(&result.status).to_owned(),
        exit_code,
        duration_ms: result.duration_ms,
        failing_tests: result.failing_tests.clone(),
        log_path: result.log_path.clone(),
        summary: Some(
            result
                .summary
                .clone()
                .unwrap_or_else(|| duet_core::protocol::ci::result_summary(result)),
        ),
    }
}

/// The result a `ci_run_finished` event records (without the excerpt, which is not stored; the
/// log is). `None` for other events or an unknown status.
pub fn result_of(event: &Event) -> Option<CiResult> {
    let Event::CiRunFinished {
        sha,
        check,
        status,
        exit_code,
        duration_ms,
        failing_tests,
        log_path,
        summary,
    } = event
    else {
        return None;
    };
    let status = match status.as_str() {
        "passed" => CiStatus::Passed,
        "failed" => CiStatus::Failed {
            exit_code: *exit_code,
        },
        // The stored summary says "timed out after 30m"; the duration itself is not kept.
        "timed-out" => CiStatus::TimedOut {
            after: std::time::Duration::from_millis(*duration_ms),
        },
        "could-not-start" => CiStatus::CouldNotStart {
            reason: summary.clone().unwrap_or_default(),
        },
        "cancelled" => CiStatus::Cancelled,
        _ => return None,
    };
    let mut result = CiResult::new(sha, check, status);
    result.duration_ms = *duration_ms;
    result.failing_tests = failing_tests.clone();
    result.log_path = log_path.clone();
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_results_round_trip_through_the_event() {
        let mut r = CiResult::new(
            "abc",
            "ci",
            CiStatus::Failed {
                exit_code: Some(101),
            },
        );
        r.failing_tests = vec!["tests::adds".into()];
        r.duration_ms = 1200;
        r.log_path = Some(".duet/ci/t1/abc.log".into());
        let event = run_finished(&r);
        match &event {
            Event::CiRunFinished {
                status,
                exit_code,
                summary,
                ..
            } => {
                assert_eq!(status, "failed");
                assert_eq!(*exit_code, Some(101));
                assert_eq!(
                    summary.as_deref(),
                    Some("failed with exit code 101, 1 failing test")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(result_of(&event), Some(r));
        let passed = run_finished(&CiResult::new("abc", "ci", CiStatus::Passed));
        assert!(matches!(
            passed,
            Event::CiRunFinished {
                exit_code: Some(0),
                ..
            }
        ));
        assert_eq!(result_of(&Event::Note { text: "x".into() }), None);
    }
}
