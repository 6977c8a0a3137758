//! duet's own gates, pure: which of the proof and TDD checks a task needs and when they start
//! (once the reviewer approved HEAD: the final HEAD candidate), what `mark_done` is refused while
//! they wait or fail, the TDD verdict from the base and HEAD runs, and the scope guard's decision
//! (a diff over its budget, flagged once per task). Results are ordinary [`CiResult`]s under the
//! checks [`PROOF_CHECK`] and [`TDD_CHECK`] in the task's `CiState`, so a failure reaches the
//! worker like a CI failure and a result applies once (also after a restart).

use serde::{Deserialize, Serialize};

use super::ci::{CheckState, CiResult, CiState, CiStatus};
use super::short_commit;

/// The check name of the proof gate (`proof = { command = ... }`).
pub const PROOF_CHECK: &str = "proof";
/// The check name of the TDD gate.
pub const TDD_CHECK: &str = "tdd";

/// Whether `check` is one of duet's gates (not CI): `ci_gate` leaves them to [`gate_refusal`].
pub fn is_gate_check(check: &str) -> bool {
    check == PROOF_CHECK || check == TDD_CHECK
}

/// The gates of one task (from its backlog entry and the config; saved in the pair's snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GateRules {
    /// The task's proof is a command duet runs.
    pub proof: bool,
    /// The TDD gate applies.
    pub tdd: bool,
    /// Files changed at most (`None`: no limit).
    pub max_files: Option<u32>,
    /// Lines added plus removed at most (`None`: no limit).
    pub max_lines: Option<u32>,
}

impl GateRules {
    /// The gate checks the task needs passed on HEAD before it may finish.
    pub fn required(&self) -> Vec<&'static str> {
        let mut checks = Vec::new();
        if self.proof {
            checks.push(PROOF_CHECK);
        }
        if self.tdd {
            checks.push(TDD_CHECK);
        }
        checks
    }
}

/// The gate checks to start on `head` now: required, `head` approved by the reviewer, and not
/// already running or done there (a cancelled one, or one lost with a killed engine, runs again).
pub fn gates_to_start(
    ci: &CiState,
    rules: &GateRules,
    head: &str,
    approved: bool,
) -> Vec<&'static str> {
    if !approved || head.is_empty() {
        return Vec::new();
    }
    let checks = ci.runs.get(head);
    rules
        .required()
        .into_iter()
        .filter(|check| match checks.and_then(|c| c.get(*check)) {
            None => true,
            Some(CheckState::Running) => false,
            Some(CheckState::Done { result }) => matches!(result.status, CiStatus::Cancelled),
        })
        .collect()
}

/// A gate run started on `sha`: `mark_done` waits for it (a result that came first stays).
pub fn gate_started(ci: &mut CiState, sha: &str, check: &str) {
    ci.runs
        .entry(sha.to_owned())
        .or_default()
        .entry(check.to_owned())
        .or_insert(CheckState::Running);
}

/// Why `mark_done` is refused at `head` as far as the gates go (`None`: they passed).
pub fn gate_refusal(ci: &CiState, rules: &GateRules, head: &str) -> Option<String> {
    let short = short_commit(head);
    let checks = ci.runs.get(head);
    let mut waiting = Vec::new();
    for check in rules.required() {
        match checks.and_then(|c| c.get(check)) {
            Some(CheckState::Done { result }) if result.status.passed() => {}
            Some(CheckState::Done { result }) if result.status.failed() => {
                return Some(format!(
                    "duet's `{check}` gate failed on {short} ({}); fix it, commit and ask for a review",
                    result
                        .summary
                        .clone()
                        .unwrap_or_else(|| result.status.describe())
                ));
            }
            _ => waiting.push(check),
        }
    }
    if waiting.is_empty() {
        return None;
    }
    Some(format!(
        "duet runs its {} gate{} on {short} once the reviewer approved it; wait for the result",
        waiting
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" and "),
        if waiting.len() == 1 { "" } else { "s" }
    ))
}

/// The message to the worker when a gate passed on HEAD (a gate's pass is always told: the
/// worker waits for it to call `mark_done`).
pub fn pass_text(result: &CiResult) -> String {
    format!(
        "duet's `{}` gate passed on {}; you can call mark_done now.",
        result.check,
        short_commit(&result.sha)
    )
}

/// How one run of the test command ended (for the TDD verdict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    pub status: CiStatus,
    pub excerpt: String,
}

/// The TDD gate's verdict on `head`: the task's test files (`tests`, changed since the base)
/// must fail on the base with them applied (`on_base`) and pass on HEAD (`on_head`).
pub fn tdd_verdict(
    head: &str,
    command: &str,
    tests: &[String],
    on_base: Option<&TestRun>,
    on_head: Option<&TestRun>,
) -> CiResult {
    let mut result = CiResult::new(head, TDD_CHECK, CiStatus::Passed);
    result.command = Some(command.to_owned());
    let listed = tests.join(", ");
    let fail = |result: &mut CiResult, summary: String, excerpt: &str| {
        result.status = CiStatus::Failed { exit_code: None };
        result.summary = Some(summary);
        result.excerpt = excerpt.to_owned();
    };
    match (on_base, on_head) {
        _ if tests.is_empty() => fail(
            &mut result,
            "the task adds or changes no test files (see `review.test_files`): the TDD gate \
             needs a test that fails without the change"
                .into(),
            "",
        ),
        (Some(base), _) if base.status.passed() => fail(
            &mut result,
            format!(
                "the tests added or changed by this task ({listed}) pass on the base too: they \
                 assert nothing new; make them fail without the change"
            ),
            &base.excerpt,
        ),
        (Some(base), _) if !matches!(base.status, CiStatus::Failed { .. }) => {
            // Timed out or could not start on the base: says nothing about the tests.
            result.status = base.status.clone();
            result.summary = Some(format!(
                "the test command {} on the base",
                base.status.describe()
            ));
            result.excerpt = base.excerpt.clone();
        }
        (_, Some(head_run)) if !head_run.status.passed() => {
            result.status = head_run.status.clone();
            result.summary = Some(format!(
                "the tests ({listed}) {} on HEAD",
                head_run.status.describe()
            ));
            result.excerpt = head_run.excerpt.clone();
        }
        (Some(_), Some(_)) => {
            result.summary = Some(format!(
                "the tests ({listed}) fail on the base and pass on HEAD"
            ));
        }
        _ => result.status = CiStatus::Cancelled,
    }
    result
}

/// A branch's diff against its base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSize {
    pub files: u32,
    pub added: u32,
    pub removed: u32,
}

impl DiffSize {
    pub fn lines(&self) -> u32 {
        self.added.saturating_add(self.removed)
    }

    /// "3 files, +40 -2 lines".
    pub fn describe(&self) -> String {
        format!(
            "{} file{}, +{} -{} lines",
            self.files,
            if self.files == 1 { "" } else { "s" },
            self.added,
            self.removed
        )
    }
}

/// The scope guard's state of one task (in its `CiState`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScopeState {
    /// The diff at the last head measured: (head, size).
    pub last: Option<(String, DiffSize)>,
    /// The budget was exceeded and said (once per task).
    pub flagged: bool,
}

/// What the scope guard says about a new diff size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeExceeded {
    /// For the pair.
    pub to_pair: String,
    /// For the human (note, status, notify).
    pub to_human: String,
}

/// Records the diff of `head` and says, once per task, when it outgrew the budget.
pub fn scope_check(
    state: &mut ScopeState,
    rules: &GateRules,
    head: &str,
    size: DiffSize,
) -> Option<ScopeExceeded> {
    state.last = Some((head.to_owned(), size));
    let mut over = Vec::new();
    if let Some(max) = rules.max_files
        && size.files > max
    {
        over.push(format!("{} files changed (budget {max})", size.files));
    }
    if let Some(max) = rules.max_lines
        && size.lines() > max
    {
        over.push(format!("{} lines changed (budget {max})", size.lines()));
    }
    if over.is_empty() || state.flagged {
        return None;
    }
    state.flagged = true;
    let what = over.join(", ");
    Some(ScopeExceeded {
        to_pair: format!(
            "duet's scope guard: the branch's diff at {} has outgrown the task's budget: {what}. \
             Split it (finish a smaller part first) or ask the human (ask_human) before going on.",
            short_commit(head)
        ),
        to_human: format!(
            "scope guard: the branch at {} is over its budget ({what}; {})",
            short_commit(head),
            size.describe()
        ),
    })
}

/// The diff-size line for the reviewer's review request, when it was measured at `commit`.
pub fn diff_line(state: &ScopeState, rules: &GateRules, commit: &str) -> Option<String> {
    let (head, size) = state.last.as_ref()?;
    if head != commit {
        return None;
    }
    let mut line = format!("Diff against the base: {}", size.describe());
    let budget: Vec<String> = [
        rules.max_files.map(|m| format!("{m} files")),
        rules.max_lines.map(|m| format!("{m} lines")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !budget.is_empty() {
        line.push_str(&format!(" (budget: {})", budget.join(", ")));
    }
    line.push('.');
    Some(line)
}

#[cfg(test)]
#[path = "gates_tests.rs"]
mod tests;
