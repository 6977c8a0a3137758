//! The GitHub poller against a stand-in `gh` on the child's PATH (tests/fixtures/gh/gh) that
//! replays recorded JSON in gh's documented `--json` shapes: checks become results once, only
//! submitted reviews from writers come through, write access is asked once per user, a rate limit
//! backs off, and a missing login or pull request is told apart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use duet_ci::github::{GhConfig, GhError, GithubPoller};
use duet_core::protocol::ci::CiStatus;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// A copy of the fixtures (the stand-in writes its call log there) and a config using it.
fn stand_in() -> (tempfile::TempDir, PathBuf, GhConfig) {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gh");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let fixtures = dir.path().to_owned();
    let mut config = GhConfig::new(dir.path());
    config.env = vec![
        (
            "PATH".into(),
            format!("{}:/usr/bin:/bin", fixtures.display()),
        ),
        ("GH_FIXTURES".into(), fixtures.display().to_string()),
    ];
    config.interval = Duration::from_secs(30);
    (dir, fixtures, config)
}

fn calls(fixtures: &Path) -> Vec<String> {
    std::fs::read_to_string(fixtures.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn checks_and_writers_reviews_come_once_in_two_batched_calls() {
    let (_dir, fixtures, config) = stand_in();
    let mut poller = GithubPoller::new(config);
    let update = poller.poll("duet/t1").await.unwrap();
    assert_eq!(update.pr, Some(42));
    assert_eq!(update.head.as_deref(), Some(SHA));
    let checks: Vec<(&str, &CiStatus)> = update
        .results
        .iter()
        .map(|r| (r.check.as_str(), &r.status))
        .collect();
    assert_eq!(
        checks,
        vec![
            ("github/test", &CiStatus::Failed { exit_code: None }),
            ("github/lint", &CiStatus::Passed),
        ],
        "pending checks wait"
    );
    assert_eq!(update.results[0].summary.as_deref(), Some("2 tests failed"));
    assert_eq!(
        update.results[0].url.as_deref(),
        Some("https://github.com/acme/app/actions/runs/7/job/1")
    );
    assert_eq!(update.results[0].sha, SHA);
    // Only the submitted review of the user with write access.
    assert_eq!(update.reviews.len(), 1, "{:?}", update.reviews);
    assert_eq!(update.reviews[0].author, "maintainer");
    assert_eq!(update.reviews[0].state, "CHANGES_REQUESTED");
    assert_eq!(update.reviews[0].body, "Please handle the empty input.");

    // The second poll: nothing new, and no permission asked again (cached).
    let again = poller.poll("duet/t1").await.unwrap();
    assert!(
        again.results.is_empty() && again.reviews.is_empty(),
        "{again:?}"
    );
    let log = calls(&fixtures);
    let permission_calls = log.iter().filter(|c| c.starts_with("api ")).count();
    assert_eq!(permission_calls, 2, "one per user: {log:?}");
    assert_eq!(
        log.iter().filter(|c| c.starts_with("pr ")).count(),
        4,
        "{log:?}"
    );

    // The pending check finishes: only it comes.
    let checks = std::fs::read_to_string(fixtures.join("pr_checks.json"))
        .unwrap()
        .replace(r#""bucket":"pending""#, r#""bucket":"fail""#);
    std::fs::write(fixtures.join("pr_checks.json"), checks).unwrap();
    let later = poller.poll("duet/t1").await.unwrap();
    let names: Vec<&str> = later.results.iter().map(|r| r.check.as_str()).collect();
    assert_eq!(names, ["github/e2e"]);
}

#[tokio::test]
async fn a_rate_limit_backs_off_and_a_good_poll_restores_the_interval() {
    let (_dir, fixtures, config) = stand_in();
    let mut poller = GithubPoller::new(config);
    std::fs::write(fixtures.join("rate_limited"), "").unwrap();
    match poller.poll("duet/t1").await {
        Err(GhError::RateLimited { next }) => assert_eq!(next, Duration::from_secs(60)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        poller.poll("duet/t1").await,
        Err(GhError::RateLimited { .. })
    ));
    assert_eq!(poller.interval(), Duration::from_secs(120));
    std::fs::remove_file(fixtures.join("rate_limited")).unwrap();
    poller.poll("duet/t1").await.unwrap();
    assert_eq!(poller.interval(), Duration::from_secs(30));
}

#[tokio::test]
async fn not_logged_in_and_no_pull_request_are_told_apart() {
    let (_dir, fixtures, config) = stand_in();
    let mut poller = GithubPoller::new(config);
    assert!(!poller.available().await);
    std::fs::write(fixtures.join("logged_in"), "").unwrap();
    assert!(poller.available().await);
    std::fs::remove_file(fixtures.join("pr_view.json")).unwrap();
    let none = poller.poll("duet/t1").await.unwrap();
    assert_eq!(none.pr, None);
    assert!(none.results.is_empty());
}
