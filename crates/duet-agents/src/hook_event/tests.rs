//! Parsing tables over real payloads (recorded from claude-code 2.1.197 and codex 0.169 by the
//! smoke tests, `tests/samples/`) and hand-written edge cases.

use super::*;

const CLAUDE_SAMPLES: &str = include_str!("../../tests/samples/claude-hooks.jsonl");
const CODEX_SAMPLES: &str = include_str!("../../tests/samples/codex-notify.jsonl");
const SESSION: &str = "6f1c2a4e-8b7d-4c3a-9e21-5d0f7a9b3c11";

fn claude_sample(event: &str, nth: usize) -> &'static str {
    CLAUDE_SAMPLES
        .lines()
        .filter(|line| line.contains(&format!("\"hook_event_name\":\"{event}\"")))
        .nth(nth)
        .unwrap_or_else(|| panic!("no sample {nth} of {event}"))
}

#[test]
fn real_claude_payloads_map_to_signals() {
    let table: Vec<(&str, usize, AgentSignal)> = vec![
        (
            "SessionStart",
            0,
            AgentSignal::SessionId(SESSION.to_owned()),
        ),
        (
            "UserPromptSubmit",
            0,
            AgentSignal::TurnStarted {
                prompt: "-- MAGIC-START: begin the task".to_owned(),
            },
        ),
        (
            "UserPromptSubmit",
            1,
            AgentSignal::TurnStarted {
                prompt: "first line of the message;\nsecond line of the message".to_owned(),
            },
        ),
        (
            "PreToolUse",
            0,
            AgentSignal::Activity {
                tool: Some("Bash".to_owned()),
            },
        ),
        (
            "PostToolUse",
            0,
            AgentSignal::Activity {
                tool: Some("Bash".to_owned()),
            },
        ),
        (
            "Stop",
            0,
            AgentSignal::StopHook {
                stop_hook_active: false,
                last_message: Some("FIRST-TURN-DONE".to_owned()),
            },
        ),
        (
            "SessionEnd",
            0,
            AgentSignal::SessionEnded {
                reason: Some("prompt_input_exit".to_owned()),
            },
        ),
    ];
    for (event, nth, expected) in table {
        let parsed = parse_claude_hook(claude_sample(event, nth)).unwrap();
        assert_eq!(parsed.signal, expected, "{event} #{nth}");
        assert_eq!(parsed.session_id.as_deref(), Some(SESSION), "{event}");
        assert_eq!(parsed.turn_id, None);
    }
    // Every recorded line parses.
    assert_eq!(CLAUDE_SAMPLES.lines().count(), 8);
    for line in CLAUDE_SAMPLES.lines() {
        parse_claude_hook(line).unwrap();
    }
}

#[test]
fn a_real_permission_request_names_the_tool() {
    let sample = include_str!("../../tests/samples/claude-permission.json");
    let event = parse_claude_hook(sample).unwrap();
    assert_eq!(
        event.signal,
        AgentSignal::PermissionRequested {
            tool: Some("Bash".to_owned())
        }
    );
    assert_eq!(
        event.session_id.as_deref(),
        Some("5e78c5a1-95ab-49d2-b6bf-277cce5504a6")
    );
}

#[test]
fn claude_payloads_per_documented_shape() {
    let table: Vec<(&str, AgentSignal)> = vec![
        (
            r#"{"hook_event_name":"Stop","session_id":"s","stop_hook_active":true,"last_assistant_message":"done"}"#,
            AgentSignal::StopHook {
                stop_hook_active: true,
                last_message: Some("done".to_owned()),
            },
        ),
        (
            r#"{"hook_event_name":"Stop","session_id":"s"}"#,
            AgentSignal::StopHook {
                stop_hook_active: false,
                last_message: None,
            },
        ),
        (
            r#"{"hook_event_name":"StopFailure","session_id":"s","error":"rate_limit"}"#,
            AgentSignal::TurnEnded {
                last_message: None,
                input_messages: vec![],
            },
        ),
        (
            r#"{"hook_event_name":"PermissionRequest","session_id":"s","tool_name":"Bash","tool_input":{"command":"rm -rf x"}}"#,
            AgentSignal::PermissionRequested {
                tool: Some("Bash".to_owned()),
            },
        ),
        (
            r#"{"hook_event_name":"Notification","session_id":"s","message":"Claude needs your permission to use Bash","notification_type":"permission_prompt"}"#,
            AgentSignal::PermissionRequested { tool: None },
        ),
        (
            r#"{"hook_event_name":"Notification","session_id":"s","message":"Claude is waiting for your input","notification_type":"idle_prompt"}"#,
            AgentSignal::Idle,
        ),
        (
            r#"{"hook_event_name":"Notification","session_id":"s","notification_type":"auth_success"}"#,
            AgentSignal::Unrecognized {
                event: "Notification:auth_success".to_owned(),
            },
        ),
        (
            r#"{"hook_event_name":"PreCompact","session_id":"s"}"#,
            AgentSignal::Unrecognized {
                event: "PreCompact".to_owned(),
            },
        ),
        (
            r#"{"hook_event_name":"UserPromptSubmit","session_id":"s"}"#,
            AgentSignal::TurnStarted {
                prompt: String::new(),
            },
        ),
        (
            r#"{"hook_event_name":"SessionEnd","session_id":"s"}"#,
            AgentSignal::SessionEnded { reason: None },
        ),
    ];
    for (json, expected) in table {
        assert_eq!(parse_claude_hook(json).unwrap().signal, expected, "{json}");
    }
}

#[test]
fn real_codex_notify_payloads_map_to_turn_ends() {
    let events: Vec<HookEvent> = CODEX_SAMPLES
        .lines()
        .map(|line| parse_codex_notify(line).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    let thread = events[0].session_id.clone().unwrap();
    assert_eq!(thread, "01a1fde6-ca33-7013-8cd0-e8b9193f892f");
    assert_eq!(
        events[0].turn_id.as_deref(),
        Some("01a1fde6-caa3-7061-8338-f2fc76d947bc")
    );
    assert_eq!(
        events[1].signal,
        AgentSignal::TurnEnded {
            last_message: Some("CODEX-SECOND-DONE".to_owned()),
            input_messages: vec![
                "CODEX-START: look around".to_owned(),
                "review request, line one\nline two: CODEX-SECOND".to_owned(),
            ],
        }
    );
    assert!(
        events
            .iter()
            .all(|e| e.session_id.as_deref() == Some(thread.as_str()))
    );
}

#[test]
fn codex_payloads_per_documented_shape() {
    let other = parse_codex_notify(r#"{"type":"approval-requested","thread-id":"t"}"#).unwrap();
    assert_eq!(
        other.signal,
        AgentSignal::Unrecognized {
            event: "approval-requested".to_owned()
        }
    );
    assert_eq!(other.session_id.as_deref(), Some("t"));
    let bare = parse_codex_notify(r#"{"type":"agent-turn-complete"}"#).unwrap();
    assert_eq!(
        bare.signal,
        AgentSignal::TurnEnded {
            last_message: None,
            input_messages: vec![]
        }
    );
    assert_eq!((bare.session_id, bare.turn_id), (None, None));
}

#[test]
fn bad_payloads_are_refused_with_the_reason() {
    let table: Vec<(&str, HookParseErrorKind, &str)> = vec![
        ("not json", HookParseErrorKind::InvalidJson, "not JSON"),
        ("", HookParseErrorKind::InvalidJson, "not JSON"),
        ("[1,2]", HookParseErrorKind::NotAnObject, "found an array"),
        (
            "\"Stop\"",
            HookParseErrorKind::NotAnObject,
            "found a string",
        ),
        (
            r#"{"session_id":"s"}"#,
            HookParseErrorKind::MissingEventName,
            "hook_event_name",
        ),
        (
            r#"{"hook_event_name":7}"#,
            HookParseErrorKind::MissingEventName,
            "hook_event_name",
        ),
    ];
    for (json, kind, says) in table {
        let err = parse_claude_hook(json).unwrap_err();
        assert_eq!(err.kind, kind, "{json}");
        let message = err.to_string();
        assert!(
            message.starts_with("failed to parse the claude hook payload"),
            "{message}"
        );
        assert!(message.contains(says), "{message}");
    }
    let err = parse_codex_notify(r#"{"thread-id":"t"}"#).unwrap_err();
    assert_eq!(err.kind, HookParseErrorKind::MissingEventName);
    assert!(
        err.to_string().contains("codex notify") && err.to_string().contains("`type`"),
        "{err}"
    );
}
