//! Shared helpers for the fake model server tests: plain HTTP calls and request bodies.
#![allow(dead_code)]

use std::time::Duration;

use duet_testkit::wire::{SseEvent, parse_sse};
use serde_json::{Value, json};

/// A finished HTTP exchange.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// Set when the body ended with a transport error (a dropped stream).
    pub cut: Option<String>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    pub fn events(&self) -> Vec<SseEvent> {
        parse_sse(&self.body).unwrap_or_else(|e| panic!("bad SSE ({e}):\n{}", self.body))
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// POSTs `body` and reads the whole answer, keeping what arrived before a transport error.
pub async fn post(url: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let mut request = client().post(url).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send().await.expect("request failed to send");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut bytes = Vec::new();
    let mut cut = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                cut = Some(e.to_string());
                break;
            }
        }
    }
    Answer {
        status,
        content_type,
        body: String::from_utf8(bytes).expect("body is not UTF-8"),
        cut,
    }
}

/// A Claude Code style Messages request.
pub fn claude_request(messages: Value, tools: &[&str], stream: bool) -> Value {
    json!({
        "model": "claude-fake",
        "max_tokens": 1024,
        "stream": stream,
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "tools": tools.iter().map(|t| json!({"name": t, "input_schema": {"type": "object"}})).collect::<Vec<_>>(),
        "messages": messages,
    })
}

pub fn user(text: &str) -> Value {
    json!({"role": "user", "content": [{"type": "text", "text": text}]})
}

/// A Codex style Responses request.
pub fn codex_request(instructions: &str, input: Value) -> Value {
    json!({
        "model": "fake-model",
        "instructions": instructions,
        "stream": true,
        "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "custom", "name": "apply_patch"},
            {"type": "namespace", "name": "mcp__duet", "tools": [
                {"type": "function", "name": "request_review"},
                {"type": "function", "name": "submit_review"}
            ]}
        ],
        "input": input,
    })
}

pub fn codex_user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// The names of `events`, in order.
pub fn names(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

pub const WAIT: Duration = Duration::from_secs(10);
