//! CI rules of one task, pure: which run to start or cancel when the head moves, which result
//! becomes a message to the worker (once per (sha, check), only for the current head), when the
//! same failure across commits or no new commit is a loop for the human, and the gate `mark_done`
//! asks ([`ci_gate`]). [`handle`]`(&mut CiState, CiEvent, &CiRules) -> Vec<CiEffect>`; no IO, no clock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Timestamp, short_commit};

/// The name of duet's own check (the run of `ci.command`).
pub const OWN_CHECK: &str = "ci";

/// At most this many failing test names are listed in a message.
pub const MAX_LISTED_TESTS: usize = 20;

/// How a CI run ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum CiStatus {
    Passed,
    /// The command exited non-zero (`None`: killed by a signal, or an outside check's failure).
    Failed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
    },
    TimedOut {
        #[serde(with = "humantime_serde_compat")]
        after: Duration,
    },
    /// The command could not run at all (not found, checkout failed, ...).
    CouldNotStart {
        reason: String,
    },
    /// A newer commit (or the end of the task) stopped it: says nothing about the code.
    Cancelled,
}

impl CiStatus {
    pub fn passed(&self) -> bool {
        matches!(self, CiStatus::Passed)
    }

    /// A result that counts against the commit (everything but passed and cancelled).
    pub fn failed(&self) -> bool {
        !matches!(self, CiStatus::Passed | CiStatus::Cancelled)
    }

    /// One short phrase: "passed", "failed with exit code 101", "timed out after 30m", ...
    pub fn describe(&self) -> String {
        match self {
            CiStatus::Passed => "passed".into(),
            CiStatus::Failed {
                exit_code: Some(code),
            } => format!("failed with exit code {code}"),
            CiStatus::Failed { exit_code: None } => "failed".into(),
            CiStatus::TimedOut { after } => {
                format!("timed out after {}", humantime::format_duration(*after))
            }
            CiStatus::CouldNotStart { reason } => format!("could not start: {reason}"),
            CiStatus::Cancelled => "cancelled".into(),
        }
    }
}

/// Durations as milliseconds in JSON (core has no humantime-serde).
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// One finished check on one commit: duet's own run, an inbox file, or a GitHub check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiResult {
    pub sha: String,
    /// [`OWN_CHECK`] for `ci.command`; the outside system's name otherwise.
    pub check: String,
    #[serde(flatten)]
    pub status: CiStatus,
    /// What ran (`ci.command`), for the message; `None` for outside checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub failing_tests: Vec<String>,
    /// A bounded excerpt around the first error (never the whole log).
    #[serde(default)]
    pub excerpt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_path: Option<String>,
    /// A one-line summary from an outside system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl CiResult {
    /// A result with only the essentials set.
    pub fn new(sha: impl Into<String>, check: impl Into<String>, status: CiStatus) -> Self {
        CiResult {
            sha: sha.into(),
            check: check.into(),
            status,
            command: None,
            duration_ms: 0,
            failing_tests: Vec::new(),
            excerpt: String::new(),
            log_path: None,
            summary: None,
            url: None,
        }
    }

    /// What makes two failures "the same failure": the failing tests, else how it failed.
    fn failure_signature(&self) -> String {
        if self.failing_tests.is_empty() {
            self.status.describe()
        } else {
            let mut tests = self.failing_tests.clone();
            tests.sort();
            tests.dedup();
            tests.join("\n")
        }
    }
}

/// The settings the rules need (from `[ci]` and `[stall]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CiRules {
    /// `ci.command` is set: every head gets a run and `mark_done` waits for it.
    pub has_command: bool,
    pub repeat_limit: u32,
    #[serde(with = "humantime_serde_compat")]
    pub no_progress: Duration,
}

impl Default for CiRules {
    /// No `ci.command`: nothing is run, outside results still count.
    fn default() -> Self {
        CiRules {
            has_command: false,
            repeat_limit: 3,
            no_progress: Duration::ZERO,
        }
    }
}

/// What duet knows about one check on one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CheckState {
    Running,
    Done { result: Box<CiResult> },
}

/// Why the task needs the human, as far as CI is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CiHumanReason {
    /// The same failure on this many commits in a row.
    SameFailure {
        check: String,
        failing_tests: Vec<String>,
        commits: Vec<String>,
    },
    /// No new commit for this long.
    NoProgress {
        #[serde(with = "humantime_serde_compat")]
        since: Duration,
    },
}

impl fmt::Display for CiHumanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CiHumanReason::SameFailure {
                check,
                failing_tests,
                commits,
            } => {
                let shorts: Vec<&str> = commits.iter().map(|c| short_commit(c)).collect();
                write!(
                    f,
                    "CI check `{check}` failed the same way on {} commits in a row ({})",
                    commits.len(),
                    shorts.join(", ")
                )?;
                if !failing_tests.is_empty() {
                    write!(f, "; failing tests: {}", failing_tests.join(", "))?;
                }
                Ok(())
            }
            CiHumanReason::NoProgress { since } => write!(
                f,
                "no new commit for {}",
                humantime::format_duration(*since)
            ),
        }
    }
}

/// CI state of one task: the current head, every check per commit, what was said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiState {
    pub task: String,
    /// The commit the task branch started from: never run.
    #[serde(default)]
    pub base: Option<String>,
    pub head: Option<String>,
    /// When the head last moved (or the task started): for `stall.no_progress`.
    pub last_commit_at: Option<Timestamp>,
    /// sha -> check -> state.
    pub runs: BTreeMap<String, BTreeMap<String, CheckState>>,
    /// (sha, check) pairs already told to the worker.
    pub sent: BTreeSet<(String, String)>,
    /// Per check: whether the last result told to the worker was a failure.
    pub last_said_failed: BTreeMap<String, bool>,
    /// Per check: the current run of identical failures (commits, oldest first) and signature.
    pub streaks: BTreeMap<String, Streak>,
    /// Raised once per loop; cleared by a pass or a new commit (no progress).
    pub raised_same_failure: bool,
    pub raised_no_progress: bool,
    /// Outside reviews (GitHub) already told to the worker, by id: never twice, also after a
    /// restart (the state is in the pair's snapshot).
    #[serde(default)]
    pub reviews_sent: BTreeSet<String>,
    /// The scope guard: the last diff measured, and whether its budget was flagged.
    #[serde(default)]
    pub scope: super::gates::ScopeState,
}

/// At most this much of an outside review's text goes into the message.
pub const MAX_REVIEW_BYTES: usize = 4096;

/// A review submitted on the task's pull request by someone with write access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideReview {
    /// Unique per review (GitHub's node id).
    pub id: String,
    /// Where it was written ("GitHub").
    pub source: String,
    pub author: String,
    /// `APPROVED`, `CHANGES_REQUESTED` or `COMMENTED`.
    pub state: String,
    pub body: String,
    /// The commit it reviewed, when known.
    pub commit: Option<String>,
    pub url: Option<String>,
}

/// Identical failures on consecutive commits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streak {
    pub signature: String,
    pub commits: Vec<String>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiEvent {
    /// The task started (or was adopted): the clock for `no_progress` starts. `base`: the
    /// commit the task branch started from (CI does not run on it: nothing of the task is there).
    Started { at: Timestamp, base: Option<String> },
    /// The task's HEAD is now `sha` (commit, rebase, reset: whoever did it).
    HeadMoved { sha: String, at: Timestamp },
    /// The runner started duet's own check on `sha`.
    RunStarted { sha: String },
    /// A check finished (own run, inbox, GitHub).
    Finished(CiResult),
    /// Time passes (for `no_progress`).
    Tick { now: Timestamp },
    /// A review from outside (GitHub) was submitted: told to the worker once.
    Review(OutsideReview),
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiEffect {
    /// Run `ci.command` on `sha` (the runner cancels the older run of the task itself).
    StartRun { sha: String },
    /// Stop the run on `sha` (a newer head replaced it).
    CancelRun { sha: String },
    /// Store this result (every finished result is stored, sent or not).
    Record(CiResult),
    /// Tell the worker (through the pair's mailbox: delivered when idle, kept while down).
    MessageWorker {
        sha: String,
        check: String,
        text: String,
    },
    /// The task needs the human.
    NeedsHuman(CiHumanReason),
}

/// What `mark_done` sees of CI at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiGate {
    Ok,
    Waiting(Waiting),
    Failed { check: String, summary: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A check is running on the commit.
    Running,
    /// `ci.command` is set and has not started on the commit yet.
    Pending,
}

impl CiGate {
    /// Why `mark_done` is refused, or `None` when CI does not stand in the way.
    pub fn refusal(&self, head: &str) -> Option<String> {
        let short = short_commit(head);
        match self {
            CiGate::Ok => None,
            CiGate::Waiting(Waiting::Running) => Some(format!(
                "done needs CI: CI is still running on {short}; wait for its result"
            )),
            CiGate::Waiting(Waiting::Pending) => Some(format!(
                "done needs CI: CI has not run on {short} yet; wait for its result"
            )),
            CiGate::Failed { check, summary } => Some(format!(
                "done needs CI: check `{check}` failed on {short} ({summary}); fix it and commit"
            )),
        }
    }
}

/// Applies one event to the task's CI state.
pub fn handle(state: &mut CiState, event: CiEvent, rules: &CiRules) -> Vec<CiEffect> {
    match event {
        CiEvent::Started { at, base } => {
            if state.last_commit_at.is_none() {
                state.last_commit_at = Some(at);
            }
            if base.is_some() {
                state.base = base;
            }
            // Adopted after a restart: runs that were under way died with the old engine.
            for checks in state.runs.values_mut() {
                checks.retain(|_, c| !matches!(c, CheckState::Running));
            }
            match state.head.clone() {
                Some(head)
                    if rules.has_command
                        && state.base.as_deref() != Some(head.as_str())
                        && !state
                            .runs
                            .get(&head)
                            .is_some_and(|c| c.contains_key(OWN_CHECK)) =>
                {
                    vec![CiEffect::StartRun { sha: head }]
                }
                _ => Vec::new(),
            }
        }
        CiEvent::HeadMoved { sha, at } => head_moved(state, sha, at, rules),
        CiEvent::RunStarted { sha } => {
            let checks = state.runs.entry(sha).or_default();
            // A result that came in first (a fast run, a replay) is not undone.
            checks
                .entry(OWN_CHECK.to_owned())
                .or_insert(CheckState::Running);
            Vec::new()
        }
        CiEvent::Finished(result) => finished(state, result, rules),
        CiEvent::Tick { now } => tick(state, now, rules),
        CiEvent::Review(review) => outside_review(state, review),
    }
}

fn outside_review(state: &mut CiState, review: OutsideReview) -> Vec<CiEffect> {
    if !state.reviews_sent.insert(review.id.clone()) {
        return Vec::new();
    }
    let verdict = match review.state.as_str() {
        "APPROVED" => "approved".to_owned(),
        "CHANGES_REQUESTED" => "requested changes".to_owned(),
        "COMMENTED" => "commented".to_owned(),
        other => other.to_lowercase().replace('_', " "),
    };
    let sha = review
        .commit
        .clone()
        .or_else(|| state.head.clone())
        .unwrap_or_default();
    let on = if sha.is_empty() {
        String::new()
    } else {
        format!(" on {}", short_commit(&sha))
    };
    let mut text = format!(
        "{} review: @{} {verdict}{on} (on the task's pull request).",
        review.source, review.author
    );
    let body = review.body.trim();
    if !body.is_empty() {
        let mut cut = body.len().min(MAX_REVIEW_BYTES);
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        text.push_str(&format!("\n--- review ---\n{}", &body[..cut]));
        if cut < body.len() {
            text.push_str("\n[... cut]");
        }
        text.push_str("\n---");
    }
    if let Some(url) = &review.url {
        text.push_str(&format!("\nDetails: {url}"));
    }
    vec![CiEffect::MessageWorker {
        sha,
        check: format!("{}/review", review.source.to_lowercase()),
        text,
    }]
}

fn head_moved(state: &mut CiState, sha: String, at: Timestamp, rules: &CiRules) -> Vec<CiEffect> {
    if state.head.as_deref() == Some(sha.as_str()) {
        return Vec::new();
    }
    let mut effects = Vec::new();
    if let Some(old) = state.head.take()
        && own_check_running(state, &old)
    {
        effects.push(CiEffect::CancelRun { sha: old });
    }
    state.head = Some(sha.clone());
    state.last_commit_at = Some(at);
    state.raised_no_progress = false;
    // A head that already has duet's result (a reset back to a tested commit) is not run again.
    let known = state
        .runs
        .get(&sha)
        .is_some_and(|checks| checks.contains_key(OWN_CHECK));
    let is_base = state.base.as_deref() == Some(sha.as_str());
    if rules.has_command && !known && !is_base {
        effects.push(CiEffect::StartRun { sha: sha.clone() });
    }
    // Results that arrived before the head moved here (outside systems can be fast) are sent now.
    let waiting: Vec<CiResult> = state
        .runs
        .get(&sha)
        .map(|checks| {
            checks
                .values()
                .filter_map(|c| match c {
                    CheckState::Done { result } => Some((**result).clone()),
                    CheckState::Running => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for result in waiting {
        effects.extend(maybe_message(state, &result));
    }
    effects
}

fn own_check_running(state: &CiState, sha: &str) -> bool {
    matches!(
        state.runs.get(sha).and_then(|c| c.get(OWN_CHECK)),
        Some(CheckState::Running)
    )
}

fn finished(state: &mut CiState, result: CiResult, rules: &CiRules) -> Vec<CiEffect> {
    let mut effects = vec![CiEffect::Record(result.clone())];
    let checks = state.runs.entry(result.sha.clone()).or_default();
    let already_done = matches!(
        checks.get(&result.check),
        Some(CheckState::Done { result: r }) if !matches!(r.status, CiStatus::Cancelled)
    );
    if already_done && matches!(result.status, CiStatus::Cancelled) {
        // A late cancel never overwrites a real result.
        return effects;
    }
    checks.insert(
        result.check.clone(),
        CheckState::Done {
            result: Box::new(result.clone()),
        },
    );
    if matches!(result.status, CiStatus::Cancelled) {
        return effects;
    }
    if !already_done {
        effects.extend(track_streak(state, &result, rules));
    }
    effects.extend(maybe_message(state, &result));
    effects
}

/// Counts identical failures across distinct commits; a pass or another failure resets.
fn track_streak(state: &mut CiState, result: &CiResult, rules: &CiRules) -> Vec<CiEffect> {
    let streak = state.streaks.entry(result.check.clone()).or_default();
    if !result.status.failed() {
        *streak = Streak::default();
        state.raised_same_failure = false;
        return Vec::new();
    }
    let signature = result.failure_signature();
    if streak.signature != signature {
        *streak = Streak {
            signature,
            commits: Vec::new(),
        };
        state.raised_same_failure = false;
    }
    if !streak.commits.contains(&result.sha) {
        streak.commits.push(result.sha.clone());
    }
    if !state.raised_same_failure && streak.commits.len() >= rules.repeat_limit.max(1) as usize {
        state.raised_same_failure = true;
        return vec![CiEffect::NeedsHuman(CiHumanReason::SameFailure {
            check: result.check.clone(),
            failing_tests: result.failing_tests.clone(),
            commits: streak.commits.clone(),
        })];
    }
    Vec::new()
}

/// The message for the worker, if this result is for the head and not told yet.
fn maybe_message(state: &mut CiState, result: &CiResult) -> Option<CiEffect> {
    if state.head.as_deref() != Some(result.sha.as_str())
        || matches!(result.status, CiStatus::Cancelled)
    {
        return None;
    }
    let key = (result.sha.clone(), result.check.clone());
    if state.sent.contains(&key) {
        return None;
    }
    let failed_before = state
        .last_said_failed
        .get(&result.check)
        .copied()
        .unwrap_or(false);
    let text = if result.status.failed() {
        failure_text(&state.task, result)
    } else if super::gates::is_gate_check(&result.check) {
        super::gates::pass_text(result)
    } else if failed_before {
        pass_text(result)
    } else {
        // A first pass is recorded and shown in status, not typed into the worker's pane.
        state.sent.insert(key);
        return None;
    };
    state.sent.insert(key);
    state
        .last_said_failed
        .insert(result.check.clone(), result.status.failed());
    Some(CiEffect::MessageWorker {
        sha: result.sha.clone(),
        check: result.check.clone(),
        text,
    })
}

fn failure_text(task: &str, r: &CiResult) -> String {
    let short = short_commit(&r.sha);
    let mut text = match &r.command {
        Some(command) => format!(
            "CI check `{}` {} on {short}: `{command}`",
            r.check,
            r.status.describe()
        ),
        None => format!("CI check `{}` {} on {short}", r.check, r.status.describe()),
    };
    if r.duration_ms > 0 {
        text.push_str(&format!(" ({:.1}s)", r.duration_ms as f64 / 1000.0));
    }
    text.push('.');
    if let Some(summary) = &r.summary {
        text.push_str(&format!("\n{summary}"));
    }
    if !r.failing_tests.is_empty() {
        let listed: Vec<&str> = r
            .failing_tests
            .iter()
            .take(MAX_LISTED_TESTS)
            .map(String::as_str)
            .collect();
        text.push_str(&format!(
            "\nFailing tests ({}): {}",
            r.failing_tests.len(),
            listed.join(", ")
        ));
        if r.failing_tests.len() > MAX_LISTED_TESTS {
            text.push_str(", ...");
        }
    }
    if !r.excerpt.trim().is_empty() {
        text.push_str(&format!("\n--- excerpt ---\n{}\n---", r.excerpt.trim_end()));
    }
    if let Some(url) = &r.url {
        text.push_str(&format!("\nDetails: {url}"));
    }
    text.push_str(&format!("\nSee all of it with `duet log {task} --ci`."));
    text
}

fn pass_text(r: &CiResult) -> String {
    format!(
        "CI check `{}` passed on {} (it failed before).",
        r.check,
        short_commit(&r.sha)
    )
}

fn tick(state: &mut CiState, now: Timestamp, rules: &CiRules) -> Vec<CiEffect> {
    let Some(since) = state.last_commit_at else {
        return Vec::new();
    };
    let idle = now.since(since);
    if state.raised_no_progress || rules.no_progress.is_zero() || idle < rules.no_progress {
        return Vec::new();
    }
    state.raised_no_progress = true;
    vec![CiEffect::NeedsHuman(CiHumanReason::NoProgress {
        since: idle,
    })]
}

/// May the task be done at `head`, as far as CI goes?
///
/// Every check known on `head` must have passed; with `ci.command` set, duet's own check must
/// be among them. A failure wins over waiting (the worker has something to fix right now).
/// duet's gates (proof, TDD) are not CI: `gates::gate_refusal` asks about them.
pub fn ci_gate(state: &CiState, head: &str, rules: &CiRules) -> CiGate {
    let checks = state.runs.get(head);
    let mut waiting = None;
    if let Some(checks) = checks {
        for (check, st) in checks {
            if super::gates::is_gate_check(check) {
                continue;
            }
            match st {
                CheckState::Running => waiting = Some(Waiting::Running),
                CheckState::Done { result } if result.status.failed() => {
                    return CiGate::Failed {
                        check: check.clone(),
                        summary: result_summary(result),
                    };
                }
                // A cancelled own run on the head means it has to run again.
                CheckState::Done { result } if matches!(result.status, CiStatus::Cancelled) => {
                    waiting.get_or_insert(Waiting::Pending);
                }
                CheckState::Done { .. } => {}
            }
        }
    }
    if let Some(w) = waiting {
        return CiGate::Waiting(w);
    }
    let own_known = checks.is_some_and(|c| c.contains_key(OWN_CHECK));
    if rules.has_command && !own_known {
        return CiGate::Waiting(Waiting::Pending);
    }
    CiGate::Ok
}

/// "passed", "failed with exit code 1, 2 failing tests", ... for status lines.
pub fn result_summary(r: &CiResult) -> String {
    let mut s = r.status.describe();
    if !r.failing_tests.is_empty() {
        let n = r.failing_tests.len();
        s.push_str(&format!(
            ", {n} failing test{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    s
}

/// The CI state of `head` in one line, for the reviewer's review request and `duet status`.
pub fn describe_head(state: &CiState, head: &str, rules: &CiRules) -> String {
    let short = short_commit(head);
    match ci_gate(state, head, rules) {
        CiGate::Ok if state.runs.get(head).is_none_or(|c| c.is_empty()) => {
            format!("CI at {short}: none configured")
        }
        CiGate::Ok => format!("CI at {short}: passed"),
        CiGate::Waiting(Waiting::Running) => format!("CI at {short}: running"),
        CiGate::Waiting(Waiting::Pending) => format!("CI at {short}: pending"),
        CiGate::Failed { check, summary } => format!("CI at {short}: `{check}` {summary}"),
    }
}
