//! The tools' argument types (their JSON schemas are what the agents see), parsing with errors
//! that name the offending field, and conversion into [`ToolCall`]s.

use duet_core::protocol::{Finding, Severity, ToolCall, ToolName, Verdict};
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Arguments of `send_message`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageArgs {
    /// The message for your partner, self-contained (they do not see your screen).
    pub text: String,
}

/// Arguments of `request_review`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestReviewArgs {
    /// What you changed and why, how you checked it, and anything the reviewer should look at
    /// closely.
    pub summary: String,
}

/// Arguments of `request_plan_review`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPlanReviewArgs {
    /// Your plan in a few lines (the plan itself is PLAN.md in the worktree; duet sends the
    /// reviewer its text).
    pub summary: String,
}

/// Arguments of `submit_review`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitReviewArgs {
    /// `approve`: the commit can be merged as it is. `changes_requested`: something must change
    /// first (give at least one finding).
    pub verdict: VerdictArg,
    /// Your review comments, most important first. May be empty for an approval.
    #[serde(default)]
    pub findings: Vec<FindingArg>,
    /// What you checked yourself, one item each: a command you ran and what it showed (e.g.
    /// `cargo test: 12 passed`), a file you read (e.g. `read src/main.rs`). An approval with
    /// nothing here is refused: verify first.
    #[serde(default)]
    pub verified: Vec<String>,
    /// What you did not check, one item each (e.g. `did not run the benchmarks`), so the human
    /// knows what the approval does not cover.
    #[serde(default)]
    pub not_verified: Vec<String>,
}

/// The reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictArg {
    Approve,
    ChangesRequested,
}

/// One review comment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingArg {
    /// `blocker` (must be fixed; not allowed in an approval), `major`, `minor` or `nit`.
    pub severity: SeverityArg,
    /// The file concerned, relative to the worktree root (e.g. `src/main.rs`).
    #[serde(default)]
    pub file: Option<String>,
    /// The line in `file`, counting from 1 (needs `file`).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub line: Option<u32>,
    /// What is wrong and what to do instead.
    pub text: String,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeverityArg {
    Blocker,
    Major,
    Minor,
    Nit,
}

/// Arguments of `mark_done`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkDoneArgs {
    /// What was done, for the human who merges the branch.
    pub summary: String,
}

/// Arguments of `ask_human`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AskHumanArgs {
    /// The question, self-contained: the human may not have followed the session.
    pub question: String,
}

impl From<VerdictArg> for Verdict {
    fn from(verdict: VerdictArg) -> Self {
        match verdict {
            VerdictArg::Approve => Verdict::Approve,
            VerdictArg::ChangesRequested => Verdict::ChangesRequested,
        }
    }
}

impl From<SeverityArg> for Severity {
    fn from(severity: SeverityArg) -> Self {
        match severity {
            SeverityArg::Blocker => Severity::Blocker,
            SeverityArg::Major => Severity::Major,
            SeverityArg::Minor => Severity::Minor,
            SeverityArg::Nit => Severity::Nit,
        }
    }
}

impl From<FindingArg> for Finding {
    fn from(finding: FindingArg) -> Self {
        Finding {
            severity: finding.severity.into(),
            file: finding.file,
            line: finding.line,
            text: finding.text,
        }
    }
}

impl From<SendMessageArgs> for ToolCall {
    fn from(args: SendMessageArgs) -> Self {
        ToolCall::SendMessage { text: args.text }
    }
}

impl From<RequestReviewArgs> for ToolCall {
    fn from(args: RequestReviewArgs) -> Self {
        ToolCall::RequestReview {
            summary: args.summary,
        }
    }
}

impl From<RequestPlanReviewArgs> for ToolCall {
    fn from(args: RequestPlanReviewArgs) -> Self {
        // duet fills `plan` from PLAN.md before the protocol sees the call.
        ToolCall::RequestPlanReview {
            summary: args.summary,
            plan: String::new(),
        }
    }
}

impl From<SubmitReviewArgs> for ToolCall {
    fn from(args: SubmitReviewArgs) -> Self {
        ToolCall::SubmitReview {
            verdict: args.verdict.into(),
            findings: args.findings.into_iter().map(Finding::from).collect(),
            verified: args.verified,
            not_verified: args.not_verified,
        }
    }
}

impl From<MarkDoneArgs> for ToolCall {
    fn from(args: MarkDoneArgs) -> Self {
        ToolCall::MarkDone {
            summary: args.summary,
        }
    }
}

impl From<AskHumanArgs> for ToolCall {
    fn from(args: AskHumanArgs) -> Self {
        ToolCall::AskHuman {
            question: args.question,
        }
    }
}

/// Parses a tool's arguments into `T`, or says which field is wrong and how, in words the agent
/// can act on.
pub fn parse<T: DeserializeOwned>(tool: ToolName, arguments: JsonObject) -> Result<T, String> {
    let value = serde_json::Value::Object(arguments);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            format!("invalid arguments for {tool}: {inner}")
        } else {
            format!("invalid arguments for {tool}: {path}: {inner}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: serde_json::Value) -> JsonObject {
        match value {
            serde_json::Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn a_plan_review_request_converts_to_the_tool_call_and_takes_only_a_summary() {
        let args: RequestPlanReviewArgs = parse(
            ToolName::RequestPlanReview,
            object(json!({"summary": "plan: add a flag"})),
        )
        .unwrap();
        assert_eq!(
            ToolCall::from(args),
            ToolCall::RequestPlanReview {
                summary: "plan: add a flag".into(),
                plan: String::new(),
            }
        );
        let err = parse::<RequestPlanReviewArgs>(
            ToolName::RequestPlanReview,
            object(json!({"summary": "s", "plan": "x"})),
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "invalid arguments for request_plan_review: plan: unknown field `plan`"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_review_converts_to_the_tool_call() {
        let args: SubmitReviewArgs = parse(
            ToolName::SubmitReview,
            object(json!({
                "verdict": "changes_requested",
                "findings": [{"severity": "major", "file": "src/a.rs", "line": 3, "text": "x"}],
                "verified": ["cargo test: 3 passed"],
                "not_verified": ["the docs"]
            })),
        )
        .unwrap();
        assert_eq!(
            ToolCall::from(args),
            ToolCall::SubmitReview {
                verdict: Verdict::ChangesRequested,
                findings: vec![Finding {
                    severity: Severity::Major,
                    file: Some("src/a.rs".into()),
                    line: Some(3),
                    text: "x".into(),
                }],
                verified: vec!["cargo test: 3 passed".into()],
                not_verified: vec!["the docs".into()],
            }
        );
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let err = parse::<SubmitReviewArgs>(
            ToolName::SubmitReview,
            object(
                json!({"verdict": "approve", "findings": [{"severity": "critical", "text": "x"}]}),
            ),
        )
        .unwrap_err();
        assert!(
            err.starts_with("invalid arguments for submit_review: findings[0].severity: unknown variant `critical`"),
            "{err}"
        );
        assert!(err.contains("`blocker`, `major`, `minor`, `nit`"), "{err}");

        let err =
            parse::<RequestReviewArgs>(ToolName::RequestReview, JsonObject::new()).unwrap_err();
        assert_eq!(
            err,
            "invalid arguments for request_review: missing field `summary`"
        );

        let err = parse::<SendMessageArgs>(ToolName::SendMessage, object(json!({"text": 5})))
            .unwrap_err();
        assert!(err.starts_with("invalid arguments for send_message: text: invalid type: integer `5`, expected a string"), "{err}");

        let err = parse::<AskHumanArgs>(
            ToolName::AskHuman,
            object(json!({"question": "q", "urgent": true})),
        )
        .unwrap_err();
        assert!(
            err.contains("unknown field `urgent`, expected `question`"),
            "{err}"
        );
    }
}
