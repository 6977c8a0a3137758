//! What agents hand duet: the bridge's tool arguments (each refusal names the tool and what is
//! wrong; unknown or missing fields are refused; what is taken converts faithfully) and hook /
//! notify payloads (refused exactly when not a JSON object with its event name).

use duet_agents::hook_event::HookParseErrorKind;
use duet_agents::{parse_claude_hook, parse_codex_notify};
use duet_bridge::mcp::args::{
    AskHumanArgs, MarkDoneArgs, RequestPlanReviewArgs, RequestReviewArgs, SendMessageArgs,
    SubmitReviewArgs, parse,
};
use duet_core::protocol::{ToolCall, ToolName};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Runner;
use crate::mutate::{Bytes, bytes_for};

/// Each tool with arguments, and the fields it takes (required first).
const TOOLS: &[(ToolName, &[&str], &[&str])] = &[
    (ToolName::SendMessage, &["text"], &[]),
    (ToolName::RequestReview, &["summary"], &[]),
    (ToolName::RequestPlanReview, &["summary"], &[]),
    (
        ToolName::SubmitReview,
        &["verdict"],
        &["findings", "verified", "not_verified"],
    ),
    (ToolName::MarkDone, &["summary"], &[]),
    (ToolName::AskHuman, &["question"], &[]),
];

/// A JSON value from the corpus (mutated), or made of the fields the tools know.
fn arguments() -> impl Strategy<Value = Value> {
    let fields = prop::sample::select(vec![
        "text",
        "summary",
        "verdict",
        "findings",
        "question",
        "severity",
        "file",
        "line",
        "extra",
        "verified",
        "not_verified",
    ]);
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z_ ]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "approve",
            "changes_requested",
            "blocker",
            "major",
            "nit",
            "critical"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    let made = value.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(fields.clone(), inner, 0..5).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    });
    prop_oneof![
        3 => bytes_for("tool_args").prop_map(|b| serde_json::from_slice(&b.0).unwrap_or(Value::Null)),
        2 => made,
    ]
}

pub fn tool_args(runner: &mut Runner) -> Result<(), String> {
    runner.check(arguments(), |value| {
        // The corpus files are `{"tool": ..., "arguments": {...}}`; anything else is arguments.
        let arguments = match value.get("arguments") {
            Some(Value::Object(args)) => args.clone(),
            _ => match value {
                Value::Object(args) => args,
                _ => return Ok(()),
            },
        };
        for (tool, required, optional) in TOOLS {
            let checked = match tool {
                ToolName::SendMessage => one::<SendMessageArgs>(*tool, &arguments),
                ToolName::RequestReview => one::<RequestReviewArgs>(*tool, &arguments),
                ToolName::RequestPlanReview => one::<RequestPlanReviewArgs>(*tool, &arguments),
                ToolName::SubmitReview => one::<SubmitReviewArgs>(*tool, &arguments),
                ToolName::MarkDone => one::<MarkDoneArgs>(*tool, &arguments),
                ToolName::AskHuman => one::<AskHumanArgs>(*tool, &arguments),
                ToolName::TaskStatus => unreachable!("not in TOOLS"),
            };
            let unknown = arguments
                .keys()
                .find(|k| !required.contains(&k.as_str()) && !optional.contains(&k.as_str()));
            let missing = required.iter().find(|k| !arguments.contains_key(**k));
            match checked {
                Ok(call) => {
                    prop_assert!(
                        unknown.is_none() && missing.is_none(),
                        "{tool} took {arguments:?}"
                    );
                    check_faithful(&call, &arguments)?;
                }
                Err(message) => {
                    let prefix = format!("invalid arguments for {tool}: ");
                    prop_assert!(
                        message.starts_with(&prefix) && message.len() > prefix.len(),
                        "{message}"
                    );
                    if let (Some(field), None) = (unknown, missing) {
                        // serde stops at the first problem, so only a lone one is named for sure.
                        let lone = arguments.iter().all(|(k, v)| k == field || plausible(k, v));
                        prop_assert!(
                            !lone || message.contains(&format!("unknown field `{field}`")),
                            "{message}"
                        );
                    }
                    if let (Some(field), None) = (missing, unknown) {
                        let others_fine = arguments.iter().all(|(k, v)| plausible(k, v));
                        prop_assert!(
                            !others_fine || message.contains(&format!("missing field `{field}`")),
                            "{message}"
                        );
                    }
                }
            }
        }
        Ok(())
    })
}

fn one<T: DeserializeOwned + Into<ToolCall>>(
    tool: ToolName,
    arguments: &Map<String, Value>,
) -> Result<ToolCall, String> {
    parse::<T>(tool, arguments.clone()).map(Into::into)
}

/// A field whose value is of the kind its tool wants (so it is not the first problem).
fn plausible(key: &str, value: &Value) -> bool {
    match key {
        "text" | "summary" | "question" => value.is_string(),
        "verdict" => matches!(value.as_str(), Some("approve" | "changes_requested")),
        "findings" => value.as_array().is_some_and(Vec::is_empty),
        "verified" | "not_verified" => value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string)),
        _ => false,
    }
}

/// What was taken is what was sent.
fn check_faithful(call: &ToolCall, arguments: &Map<String, Value>) -> Result<(), TestCaseError> {
    let field = |k: &str| arguments.get(k).and_then(Value::as_str).unwrap_or_default();
    match call {
        ToolCall::SendMessage { text } => prop_assert_eq!(text.as_str(), field("text")),
        ToolCall::RequestReview { summary }
        | ToolCall::RequestPlanReview { summary, .. }
        | ToolCall::MarkDone { summary } => {
            prop_assert_eq!(summary.as_str(), field("summary"));
        }
        ToolCall::AskHuman { question } => prop_assert_eq!(question.as_str(), field("question")),
        ToolCall::SubmitReview {
            verdict,
            findings,
            verified,
            not_verified,
        } => {
            prop_assert_eq!(verdict.to_string(), field("verdict"));
            let sent = |k: &str| {
                arguments
                    .get(k)
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            };
            prop_assert_eq!(findings.len(), sent("findings"));
            prop_assert_eq!(verified.len(), sent("verified"));
            prop_assert_eq!(not_verified.len(), sent("not_verified"));
        }
        ToolCall::TaskStatus => {}
    }
    Ok(())
}

pub fn hook(runner: &mut Runner) -> Result<(), String> {
    let input = prop_oneof![
        4 => bytes_for("hook"),
        1 => "\\PC{0,64}".prop_map(|s| Bytes(s.into_bytes())),
    ];
    runner.check(input, |Bytes(bytes)| {
        // `duet hook` refuses bytes that are not JSON before anything parses them; what reaches
        // the parsers is text.
        let text = String::from_utf8_lossy(&bytes);
        let value: Option<Value> = serde_json::from_str(&text).ok();
        for (parsed, event_field) in [
            (parse_claude_hook(&text), "hook_event_name"),
            (parse_codex_notify(&text), "type"),
        ] {
            let expected = match &value {
                None => Some(HookParseErrorKind::InvalidJson),
                Some(Value::Object(map))
                    if map.get(event_field).and_then(Value::as_str).is_some() =>
                {
                    None
                }
                Some(Value::Object(_)) => Some(HookParseErrorKind::MissingEventName),
                Some(_) => Some(HookParseErrorKind::NotAnObject),
            };
            match parsed {
                Ok(event) => {
                    prop_assert_eq!(expected, None, "accepted {}", text);
                    let map = value
                        .as_ref()
                        .and_then(Value::as_object)
                        .expect("an object");
                    let session = if event_field == "type" {
                        "thread-id"
                    } else {
                        "session_id"
                    };
                    prop_assert_eq!(
                        event.session_id.as_deref(),
                        map.get(session).and_then(Value::as_str)
                    );
                }
                Err(err) => {
                    prop_assert_eq!(Some(err.kind), expected, "{}", text);
                    let message = err.to_string();
                    prop_assert!(
                        message.starts_with("failed to parse the ") && message.len() > 40,
                        "{message}"
                    );
                }
            }
        }
        Ok(())
    })
}
