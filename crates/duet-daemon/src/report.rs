//! The handoff report of a task: what changed, each review round with its findings and what
//! became of them, CI runs, messages and time taken. Built from the store's events (pure, no IO;
//! `report_io` gathers the inputs and writes `.duet/reports/<task>.md`), rendered as Markdown
//! for the human and the pull request, or as JSON.

use duet_core::accounting::{Pricing, TaskTokens, TokenCounts, UsageByModel, total_counts};
use duet_core::lifecycle::StateKind;
use duet_core::protocol::{Finding, Verdict, short_commit};
use duet_store::{Event, EventRecord, UnixMillis};
use serde::Serialize;

/// One file the branch changes (`git diff --numstat`); binary files have no line counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub added: Option<u64>,
    pub removed: Option<u64>,
}

/// What became of a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum FindingOutcome {
    /// A later commit addressed it and the next round (`round`) did not raise it again:
    /// `commit` is the newest commit since the finding's round that changed the finding's
    /// file, or (no file, or none changed it, or the commits are not known) the commit that
    /// round reviewed.
    Addressed { commit: Option<String>, round: u32 },
    /// The next round reviewed the same commit and did not raise it again: nothing addressed
    /// it. `by` is `human` when the human spoke between the two rounds, else `reviewer`.
    Waived { by: String, round: u32 },
    /// The next round raised it again.
    RaisedAgain { round: u32 },
    /// Given with the approval: a note the worker did not have to act on.
    WithApproval,
    /// No later round: still open.
    Open,
}

/// A finding and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingReport {
    #[serde(flatten)]
    pub finding: Finding,
    pub resolution: FindingOutcome,
}

/// One review round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewRound {
    pub round: u32,
    pub commit: Option<String>,
    pub verdict: Verdict,
    pub at_ms: UnixMillis,
    pub findings: Vec<FindingReport>,
    /// What the reviewer says it checked (commands run, files read).
    pub verified: Vec<String>,
    /// What the reviewer says it did not check.
    pub not_verified: Vec<String>,
}

/// One finished CI check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CiRun {
    pub check: String,
    pub sha: String,
    pub status: String,
    pub duration_ms: u64,
    pub summary: Option<String>,
    /// Where its output went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_path: Option<String>,
    /// The end of its output, for duet's proof gate (read by `report_io::gather`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// One message between the agents (or from duet or the human).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageLine {
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    /// `delivered`, `suppressed` or `accepted` (not handed over yet).
    pub fate: &'static str,
}

/// One seat's (or the task's) tokens and their cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeatTokens {
    /// `worker`, `reviewer` or `total`.
    pub seat: String,
    pub counts: TokenCounts,
    pub usd: f64,
    /// Models without a price (their tokens cost nothing in `usd`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
}

/// Everything the human needs to review a finished task's branch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoffReport {
    pub task: String,
    pub title: String,
    pub state: StateKind,
    pub branch: String,
    pub base: String,
    /// The first move out of `queued`, and the last state change.
    pub started_at_ms: Option<UnixMillis>,
    pub finished_at_ms: Option<UnixMillis>,
    /// `None` when git could not say (the branch is gone and nothing landed).
    pub files: Option<Vec<FileChange>>,
    pub rounds: Vec<ReviewRound>,
    pub ci_runs: Vec<CiRun>,
    pub messages: Vec<MessageLine>,
    pub agent_restarts: usize,
    /// What the merge queue said when it landed the task, or where its pull request is.
    pub landed: Option<String>,
    /// Tokens by seat, then the total (empty when no record was counted).
    pub tokens: Vec<SeatTokens>,
    /// The plan step's rounds (`plan = true` tasks; empty otherwise), from `plan_reviewed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan_rounds: Vec<PlanRound>,
}

/// One plan review round: the plan as sent, and the reviewer's verdict on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanRound {
    pub round: u32,
    pub verdict: Verdict,
    pub at_ms: UnixMillis,
    /// PLAN.md's text as reviewed in this round.
    pub plan: String,
    pub findings: Vec<Finding>,
}

impl HandoffReport {
    /// The plan the reviewer approved (the last approved round's text), if any.
    pub fn approved_plan(&self) -> Option<&PlanRound> {
        self.plan_rounds
            .iter()
            .rev()
            .find(|round| round.verdict == Verdict::Approve)
    }
}

/// One commit of the task branch and the files it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchCommit {
    pub sha: String,
    pub files: Vec<String>,
}

/// What the report is built from, besides the task's events.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    pub task: &'a str,
    pub title: &'a str,
    pub branch: &'a str,
    pub base: &'a str,
    pub files: Option<Vec<FileChange>>,
    /// The branch's commits, oldest first (empty when git could not say): which one addressed
    /// a finding.
    pub commits: Vec<BranchCommit>,
    /// Prices the tokens (`[pricing]`).
    pub pricing: &'a Pricing,
}

/// Builds the report from the task's events, in log order.
pub fn build(input: ReportInput<'_>, events: &[EventRecord]) -> HandoffReport {
    let pricing = input.pricing;
    let mut tokens = TaskTokens::default();
    let mut report = HandoffReport {
        task: input.task.to_owned(),
        title: input.title.to_owned(),
        state: StateKind::Queued,
        branch: input.branch.to_owned(),
        base: input.base.to_owned(),
        started_at_ms: None,
        finished_at_ms: None,
        files: input.files,
        rounds: Vec::new(),
        ci_runs: Vec::new(),
        messages: Vec::new(),
        agent_restarts: 0,
        landed: None,
        tokens: Vec::new(),
        plan_rounds: Vec::new(),
    };
    let commits = input.commits;
    let mut reviews: Vec<Review> = Vec::new();
    // Whether the human spoke since the last review (a finding dropped then is theirs to waive).
    let mut human_spoke = false;
    for record in events {
        match &record.event {
            Event::TaskStateChanged { from, to, .. } => {
                if *from == StateKind::Queued && report.started_at_ms.is_none() {
                    report.started_at_ms = Some(record.at_ms);
                }
                report.state = *to;
                report.finished_at_ms = Some(record.at_ms);
            }
            Event::ReviewSubmitted {
                round,
                commit,
                verdict,
                findings,
                verified,
                not_verified,
            } => reviews.push(Review {
                round: ReviewRound {
                    round: *round,
                    commit: commit.clone(),
                    verdict: *verdict,
                    at_ms: record.at_ms,
                    findings: Vec::new(),
                    verified: verified.clone(),
                    not_verified: not_verified.clone(),
                },
                findings: findings.clone(),
                human_spoke_before: std::mem::take(&mut human_spoke),
            }),
            Event::PlanReviewed {
                round,
                verdict,
                findings,
                plan,
                ..
            } => report.plan_rounds.push(PlanRound {
                round: *round,
                verdict: *verdict,
                at_ms: record.at_ms,
                plan: plan.clone(),
                findings: findings.clone(),
            }),
            Event::CiRunFinished {
                sha,
                check,
                status,
                duration_ms,
                summary,
                log_path,
                ..
            } => report.ci_runs.push(CiRun {
                check: check.clone(),
                sha: sha.clone(),
                status: status.clone(),
                duration_ms: *duration_ms,
                summary: summary.clone(),
                log_path: log_path.clone(),
                output: None,
            }),
            Event::MessageAccepted { id, from, to, text } => {
                human_spoke |= from == "human";
                report.messages.push(MessageLine {
                    id: id.clone(),
                    from: from.clone(),
                    to: to.clone(),
                    text: text.clone(),
                    fate: "accepted",
                });
            }
            Event::MessageDelivered { id } => set_fate(&mut report.messages, id, "delivered"),
            Event::MessageSuppressed { id, .. } => {
                set_fate(&mut report.messages, id, "suppressed");
            }
            Event::TokensCounted {
                role,
                record,
                usage,
            } => tokens.record(role, record, usage.clone()),
            Event::Note { text } if text.contains(crate::restart_policy::RESTARTED) => {
                report.agent_restarts += 1;
            }
            Event::Note { text } if is_landing_note(text) => {
                report.landed = Some(text.clone());
            }
            _ => {}
        }
    }
    report.rounds = resolve(reviews, &commits);
    report.tokens = seat_tokens(&tokens, pricing);
    report
}

/// Each seat's counts and cost, then the total; nothing when no record was counted.
fn seat_tokens(tokens: &TaskTokens, pricing: &Pricing) -> Vec<SeatTokens> {
    let all = tokens.usage(None);
    if all.is_empty() {
        return Vec::new();
    }
    let seat = |name: &str, usage: UsageByModel| {
        let cost = pricing.cost(&usage);
        SeatTokens {
            seat: name.to_owned(),
            counts: total_counts(&usage),
            usd: cost.usd,
            unpriced: cost.unpriced,
        }
    };
    let mut out: Vec<SeatTokens> = ["worker", "reviewer"]
        .into_iter()
        .map(|role| seat(role, tokens.usage(Some(role))))
        .filter(|s| s.counts.total() > 0)
        .collect();
    out.push(seat("total", all));
    out
}

/// One submitted review, as the log has it.
struct Review {
    round: ReviewRound,
    findings: Vec<Finding>,
    /// The human sent a message between the previous review and this one.
    human_spoke_before: bool,
}

/// The start of the note the merge queue writes when a task landed (`landed on `main`: ...`).
pub const LANDED: &str = "landed on ";
/// The starts of the notes PR mode writes when a task's pull request is open.
pub const PULL_REQUEST_OPEN: [&str; 2] = [
    "draft pull request opened: ",
    "its pull request was already open: ",
];

/// A note saying where the task's work went: landed on the base, or an open pull request.
fn is_landing_note(text: &str) -> bool {
    text.starts_with(LANDED) || PULL_REQUEST_OPEN.iter().any(|p| text.starts_with(p))
}

fn set_fate(messages: &mut [MessageLine], id: &str, fate: &'static str) {
    if let Some(message) = messages.iter_mut().find(|m| m.id == id) {
        message.fate = fate;
    }
}

/// Each round's findings with what the next round made of them.
fn resolve(reviews: Vec<Review>, commits: &[BranchCommit]) -> Vec<ReviewRound> {
    let mut rounds = Vec::with_capacity(reviews.len());
    for (i, review) in reviews.iter().enumerate() {
        let next = reviews.get(i + 1);
        let mut round = review.round.clone();
        round.findings = review
            .findings
            .iter()
            .map(|finding| {
                let resolution = match next {
                    Some(later)
                        if later
                            .findings
                            .iter()
                            .any(|f| f.fingerprint() == finding.fingerprint()) =>
                    {
                        FindingOutcome::RaisedAgain {
                            round: later.round.round,
                        }
                    }
                    Some(later)
                        if later.round.commit.is_some() && later.round.commit == round.commit =>
                    {
                        FindingOutcome::Waived {
                            by: if later.human_spoke_before {
                                "human"
                            } else {
                                "reviewer"
                            }
                            .to_owned(),
                            round: later.round.round,
                        }
                    }
                    Some(later) => FindingOutcome::Addressed {
                        commit: addressed_by(
                            finding,
                            round.commit.as_deref(),
                            later.round.commit.as_deref(),
                            commits,
                        )
                        .or_else(|| later.round.commit.clone()),
                        round: later.round.round,
                    },
                    None if round.verdict == Verdict::Approve => FindingOutcome::WithApproval,
                    None => FindingOutcome::Open,
                };
                FindingReport {
                    finding: finding.clone(),
                    resolution,
                }
            })
            .collect();
        rounds.push(round);
    }
    rounds
}

/// The newest commit after `from` up to `to` that changed the finding's file (`None`: the
/// finding names no file, the commits are not known, or none of them changed it).
fn addressed_by(
    finding: &Finding,
    from: Option<&str>,
    to: Option<&str>,
    commits: &[BranchCommit],
) -> Option<String> {
    let file = finding.file.as_deref()?.trim_start_matches("./");
    let to = commits.iter().position(|c| Some(c.sha.as_str()) == to)?;
    let start = match from {
        Some(from) => commits.iter().position(|c| c.sha == from)? + 1,
        None => 0,
    };
    commits
        .get(start..=to)?
        .iter()
        .rev()
        .find(|c| c.files.iter().any(|f| f == file))
        .map(|c| c.sha.clone())
}

/// The "## Plan" section (plan tasks only): the approved plan and each plan round's verdict.
fn render_plan(report: &HandoffReport, out: &mut String) {
    if report.plan_rounds.is_empty() {
        return;
    }
    let n = report.plan_rounds.len();
    out.push_str(&format!(
        "\n## Plan\n\n{n} plan review round{}.\n\n",
        if n == 1 { "" } else { "s" }
    ));
    for round in &report.plan_rounds {
        let verdict = match round.verdict {
            Verdict::Approve => "approved",
            Verdict::ChangesRequested => "changes requested",
        };
        out.push_str(&format!("- Plan round {}: {verdict}\n", round.round));
        for finding in &round.findings {
            out.push_str(&format!("  - {finding}\n"));
        }
    }
    match report.approved_plan() {
        Some(round) => out.push_str(&format!(
            "\nThe approved plan (round {}):\n\n{}\n",
            round.round,
            quote_block(&round.plan)
        )),
        None => out.push_str("\nNo plan was approved.\n"),
    }
}

/// `text` as a Markdown block quote.
fn quote_block(text: &str) -> String {
    text.trim()
        .lines()
        .map(|line| format!("> {line}").trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The report as Markdown: short enough to read in minutes, the details one level down.
pub fn render_markdown(report: &HandoffReport) -> String {
    let mut out = format!("# {}: {}\n\n", report.task, report.title);
    let rounds = report.rounds.len();
    let mut facts = vec![
        format!("**{}**", report.state),
        format!(
            "{rounds} review round{}",
            if rounds == 1 { "" } else { "s" }
        ),
    ];
    if let (Some(start), Some(end)) = (report.started_at_ms, report.finished_at_ms) {
        facts.push(format!("took {}", duration_text(end.saturating_sub(start))));
    }
    if report.agent_restarts > 0 {
        facts.push(format!("{} agent restart(s)", report.agent_restarts));
    }
    if let Some(total) = report.tokens.last() {
        facts.push(format!(
            "{} tokens, {}",
            total.counts.total(),
            usd_text(total)
        ));
    }
    out.push_str(&facts.join(" · "));
    out.push_str(&format!(
        "\n\nBranch `{}` on `{}`.\n",
        report.branch, report.base
    ));
    if let Some(landed) = &report.landed {
        out.push_str(&format!("{}.\n", upper_first(landed)));
    }
    out.push_str("\n## What changed\n\n");
    match &report.files {
        None => out.push_str("Not known: git could not compare the branch with its base.\n"),
        Some(files) if files.is_empty() => out.push_str("No file changes.\n"),
        Some(files) => {
            let added: u64 = files.iter().filter_map(|f| f.added).sum();
            let removed: u64 = files.iter().filter_map(|f| f.removed).sum();
            out.push_str(&format!(
                "{} file{}, +{added} −{removed}\n\n| file | + | − |\n| --- | ---: | ---: |\n",
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            ));
            for file in files {
                let count = |n: Option<u64>| n.map_or("binary".to_owned(), |n| n.to_string());
                out.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    file.path,
                    count(file.added),
                    count(file.removed)
                ));
            }
        }
    }
    render_plan(report, &mut out);
    out.push_str("\n## Review\n\n");
    if report.rounds.is_empty() {
        out.push_str("No review was submitted.\n");
    }
    for round in &report.rounds {
        let on = round
            .commit
            .as_deref()
            .map(|c| format!(" on `{}`", short_commit(c)))
            .unwrap_or_default();
        let verdict = match round.verdict {
            Verdict::Approve => "approved",
            Verdict::ChangesRequested => "changes requested",
        };
        out.push_str(&format!("### Round {}{on}: {verdict}\n\n", round.round));
        for (label, items) in [
            ("Verified", &round.verified),
            ("Not verified", &round.not_verified),
        ] {
            if !items.is_empty() {
                let items: Vec<String> = items.iter().map(|item| one_line(item)).collect();
                out.push_str(&format!("{label}: {}.\n\n", items.join("; ")));
            }
        }
        if round.verdict == Verdict::Approve && round.verified.is_empty() {
            out.push_str("Verified: nothing stated.\n\n");
        }
        if round.findings.is_empty() {
            out.push_str("No findings.\n\n");
            continue;
        }
        for item in &round.findings {
            let outcome = outcome_text(&item.resolution);
            out.push_str(&format!("- {} — *{outcome}*\n", item.finding));
        }
        out.push('\n');
    }
    out.push_str("## CI\n\n");
    if report.ci_runs.is_empty() {
        out.push_str("No CI run.\n");
    }
    for run in &report.ci_runs {
        let summary = run
            .summary
            .as_deref()
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "- {} `{}` at `{}` ({}){summary}\n",
            run.status,
            run.check,
            short_commit(&run.sha),
            duration_text(i64::try_from(run.duration_ms).unwrap_or(i64::MAX))
        ));
    }
    // The proof gate's output: what duet saw the task's proof command print.
    for run in report.ci_runs.iter().filter(|r| r.output.is_some()) {
        out.push_str(&format!(
            "\n### Proof output at `{}` ({})\n\n```\n{}\n```\n",
            short_commit(&run.sha),
            run.status,
            run.output.as_deref().unwrap_or_default().trim_end()
        ));
    }
    if !report.tokens.is_empty() {
        out.push_str(
            "\n## Tokens\n\n| seat | input | output | cache read | cache write | cost |\n\
             | --- | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for seat in &report.tokens {
            let c = &seat.counts;
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                seat.seat,
                c.input,
                c.output,
                c.cache_read,
                c.cache_write,
                usd_text(seat)
            ));
        }
        if let Some(total) = report.tokens.last()
            && !total.unpriced.is_empty()
        {
            out.push_str(&format!(
                "\nNo price for {}: their tokens are not in the cost.\n",
                total.unpriced.join(", ")
            ));
        }
    }
    out.push_str(&format!("\n## Messages ({})\n\n", report.messages.len()));
    for message in &report.messages {
        let first_line = message.text.lines().next().unwrap_or_default();
        let gist: String = first_line.chars().take(100).collect();
        let more = if gist.len() < message.text.trim_end().len() {
            "…"
        } else {
            ""
        };
        let fate = if message.fate == "delivered" {
            String::new()
        } else {
            format!(" ({})", message.fate)
        };
        out.push_str(&format!(
            "- {} → {}{fate}: {gist}{more}\n",
            message.from, message.to
        ));
    }
    out
}

/// `$0.14`, `$0.14 + unpriced`.
fn usd_text(seat: &SeatTokens) -> String {
    if seat.unpriced.is_empty() {
        format!("${:.2}", seat.usd)
    } else {
        format!("${:.2} + unpriced", seat.usd)
    }
}

/// What became of a finding, in words.
pub fn outcome_text(outcome: &FindingOutcome) -> String {
    match outcome {
        FindingOutcome::Addressed {
            commit: Some(commit),
            round,
        } => format!("addressed in `{}` (round {round})", short_commit(commit)),
        FindingOutcome::Addressed {
            commit: None,
            round,
        } => format!("not raised again in round {round}"),
        FindingOutcome::Waived { by, round } => {
            format!("waived by the {by} (round {round} reviewed the same commit)")
        }
        FindingOutcome::RaisedAgain { round } => format!("raised again in round {round}"),
        FindingOutcome::WithApproval => "a note with the approval".to_owned(),
        FindingOutcome::Open => "open".to_owned(),
    }
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `42 s`, `3 min 5 s`, `2 h 4 min`.
fn duration_text(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests;

/// `text` on one line (its lines joined with spaces), for a list item.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
