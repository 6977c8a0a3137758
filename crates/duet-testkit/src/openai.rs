//! OpenAI Responses API: reading a `/v1/responses` request into a [`RequestView`] and
//! rendering replies as the SSE event sequence (or a JSON response), plus error bodies.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::request_view::{RequestView, ToolResult, content_text};
use crate::script::{Api, ToolCall};
use crate::wire::{SseEvent, Usage, chunk_text, fresh_id, unix_now};

/// The header Codex sends with per-turn metadata; title turns carry
/// `"thread_source": "thread_title"` in it.
pub const TURN_METADATA_HEADER: &str = "x-codex-turn-metadata";

/// Reads a Responses API request body; `turn_metadata` is the [`TURN_METADATA_HEADER`] value.
pub fn parse_request(body: &Value, turn_metadata: Option<&str>) -> Result<RequestView, String> {
    let items: Vec<Value> = match body.get("input") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(text)) => {
            vec![json!({"type": "message", "role": "user", "content": text})]
        }
        _ => return Err("request has no \"input\" array or string".into()),
    };
    let mut system_parts: Vec<String> = body
        .get("instructions")
        .and_then(Value::as_str)
        .map(|s| vec![s.to_owned()])
        .unwrap_or_default();
    let mut call_names: HashMap<String, String> = HashMap::new();
    let mut all_user_text = Vec::new();
    for item in &items {
        match item_type(item) {
            "message" => {
                let text = content_text(item.get("content").unwrap_or(&Value::Null));
                match item.get("role").and_then(Value::as_str).unwrap_or("") {
                    "user" if !text.is_empty() => all_user_text.push(text),
                    "developer" | "system" if !text.is_empty() => system_parts.push(text),
                    _ => {}
                }
            }
            "function_call" | "custom_tool_call" => {
                if let Some(call_id) = item.get("call_id").and_then(Value::as_str) {
                    call_names.insert(call_id.to_owned(), flat_call_name(item));
                }
            }
            _ => {}
        }
    }
    let title_turn = turn_metadata.is_some_and(|raw| {
        serde_json::from_str::<Value>(raw)
            .ok()
            .and_then(|v| v.get("thread_source").cloned())
            .is_some_and(|s| s == "thread_title")
    });
    Ok(RequestView {
        api: Api::Openai,
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        system: system_parts.join("\n"),
        last_user_text: all_user_text.last().cloned().unwrap_or_default(),
        all_user_text,
        tool_results: trailing_tool_results(&items, &call_names),
        tools: offered_tools(body),
        is_title_request: title_turn,
    })
}

/// Items without a `type` but with a `role` are messages.
fn item_type(item: &Value) -> &str {
    item.get("type")
        .and_then(Value::as_str)
        .unwrap_or(if item.get("role").is_some() {
            "message"
        } else {
            ""
        })
}

/// `namespace` + `__` + `name` for namespaced (MCP) calls, else `name`.
fn flat_call_name(item: &Value) -> String {
    let name = item.get("name").and_then(Value::as_str).unwrap_or("");
    match item.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => format!("{ns}__{name}"),
        _ => name.to_owned(),
    }
}

/// The outputs answering the previous reply's calls: walking back from the end, outputs
/// first, then that reply's calls; anything else (or an older output) ends the walk.
fn trailing_tool_results(items: &[Value], call_names: &HashMap<String, String>) -> Vec<ToolResult> {
    let mut results = Vec::new();
    let mut seen_calls = false;
    for item in items.iter().rev() {
        match item_type(item) {
            "function_call_output" | "custom_tool_call_output" if !seen_calls => {
                let call_id = item
                    .get("call_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let output = item.get("output").unwrap_or(&Value::Null);
                let content = match output {
                    Value::Object(o) => content_text(o.get("content").unwrap_or(&Value::Null)),
                    other => content_text(other),
                };
                results.push(ToolResult {
                    name: call_names.get(&call_id).cloned(),
                    call_id,
                    content,
                    is_error: false,
                });
            }
            "function_call" | "custom_tool_call" => seen_calls = true,
            _ => break,
        }
    }
    results.reverse();
    results
}

/// Tool names, with namespace tools flattened to `<namespace>__<tool>`; tools without a
/// name (e.g. `web_search`) are listed by type.
fn offered_tools(body: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for tool in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = tool.get("name").and_then(Value::as_str);
        if tool.get("type").and_then(Value::as_str) == Some("namespace") {
            let ns = name.unwrap_or("");
            for inner in tool
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(inner_name) = inner.get("name").and_then(Value::as_str) {
                    names.push(format!("{ns}__{inner_name}"));
                }
            }
        } else if let Some(name) = name.or_else(|| tool.get("type").and_then(Value::as_str)) {
            names.push(name.to_owned());
        }
    }
    names
}

/// A reply laid out as Responses API output items, ready to render either way.
#[derive(Debug, Clone)]
pub struct Response {
    id: String,
    model: String,
    created_at: u64,
    items: Vec<Value>,
    usage: Usage,
}

impl Response {
    /// Lays out `text` as a message item, then one item per tool call.
    pub fn new(
        model: &str,
        text: Option<&str>,
        tool_calls: &[ToolCall],
        request_bytes: usize,
        scripted: Option<&Usage>,
    ) -> Self {
        let mut items = Vec::new();
        if let Some(text) = text {
            items.push(json!({
                "id": fresh_id("msg"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }));
        }
        for call in tool_calls {
            items.push(call_item(call));
        }
        let output_bytes: usize = items.iter().map(|i| i.to_string().len()).sum();
        Response {
            id: fresh_id("resp"),
            model: model.to_owned(),
            created_at: unix_now(),
            items,
            usage: Usage::scripted_or_rough(scripted, request_bytes, output_bytes),
        }
    }

    fn envelope(&self, status: &str, output: Vec<Value>, usage: Value) -> Value {
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": false,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        })
    }

    /// The usage this response reports.
    pub fn usage_served(&self) -> Usage {
        self.usage
    }

    fn usage(&self) -> Value {
        // The Responses API counts cached tokens inside `input_tokens`.
        let input = self.usage.input + self.usage.cache_read;
        json!({
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": self.usage.cache_read},
            "output_tokens": self.usage.output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input + self.usage.output,
        })
    }

    /// The non-streaming answer body.
    pub fn to_json(&self) -> Value {
        self.envelope("completed", self.items.clone(), self.usage())
    }

    /// The streaming answer: `response.created`, `response.in_progress`, per item
    /// `output_item.added` / deltas / `output_item.done`, then `response.completed`.
    pub fn to_events(&self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut push = |name: &str, fields: Value| {
            let mut event = SseEvent::typed(name, fields);
            event.data["sequence_number"] = json!(events.len());
            events.push(event);
        };
        let in_progress = self.envelope("in_progress", vec![], Value::Null);
        push("response.created", json!({"response": in_progress}));
        push("response.in_progress", json!({"response": in_progress}));
        for (output_index, item) in self.items.iter().enumerate() {
            let id = item["id"].clone();
            let mut added = item.clone();
            added["status"] = json!("in_progress");
            match item["type"].as_str().unwrap_or("") {
                "message" => {
                    let text = item["content"][0]["text"].as_str().unwrap_or("");
                    added["content"] = json!([]);
                    push(
                        "response.output_item.added",
                        json!({"output_index": output_index, "item": added}),
                    );
                    let part =
                        |t: &str| json!({"type": "output_text", "text": t, "annotations": []});
                    let at =
                        json!({"item_id": id, "output_index": output_index, "content_index": 0});
                    push(
                        "response.content_part.added",
                        merged(&at, json!({"part": part("")})),
                    );
                    for delta in chunk_text(text, 24) {
                        push(
                            "response.output_text.delta",
                            merged(&at, json!({"delta": delta})),
                        );
                    }
                    push(
                        "response.output_text.done",
                        merged(&at, json!({"text": text})),
                    );
                    push(
                        "response.content_part.done",
                        merged(&at, json!({"part": part(text)})),
                    );
                }
                "function_call" => {
                    let arguments = item["arguments"].as_str().unwrap_or("");
                    added["arguments"] = json!("");
                    push(
                        "response.output_item.added",
                        json!({"output_index": output_index, "item": added}),
                    );
                    let at = json!({"item_id": id, "output_index": output_index});
                    for delta in chunk_text(arguments, 40) {
                        push(
                            "response.function_call_arguments.delta",
                            merged(&at, json!({"delta": delta})),
                        );
                    }
                    push(
                        "response.function_call_arguments.done",
                        merged(&at, json!({"arguments": arguments})),
                    );
                }
                _ => {
                    let input = item["input"].as_str().unwrap_or("");
                    added["input"] = json!("");
                    push(
                        "response.output_item.added",
                        json!({"output_index": output_index, "item": added}),
                    );
                    let at = json!({"item_id": id, "output_index": output_index});
                    for delta in chunk_text(input, 40) {
                        push(
                            "response.custom_tool_call_input.delta",
                            merged(&at, json!({"delta": delta})),
                        );
                    }
                    push(
                        "response.custom_tool_call_input.done",
                        merged(&at, json!({"input": input})),
                    );
                }
            }
            push(
                "response.output_item.done",
                json!({"output_index": output_index, "item": item}),
            );
        }
        push("response.completed", json!({"response": self.to_json()}));
        events
    }
}

fn merged(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Value::Object(out), Value::Object(extra)) = (&mut out, extra) {
        out.extend(extra);
    }
    out
}

/// The output item for one scripted tool call (see [`ToolCall`] for the mapping).
fn call_item(call: &ToolCall) -> Value {
    let call_id = fresh_id("call");
    if let Value::String(input) = &call.input {
        return json!({
            "id": fresh_id("ctc"),
            "type": "custom_tool_call",
            "status": "completed",
            "call_id": call_id,
            "name": call.name,
            "input": input,
        });
    }
    let mut item = json!({
        "id": fresh_id("fc"),
        "type": "function_call",
        "status": "completed",
        "call_id": call_id,
        "name": call.name,
        "arguments": call.input.to_string(),
    });
    if let Some((namespace, tool)) = split_mcp_name(&call.name) {
        item["namespace"] = json!(namespace);
        item["name"] = json!(tool);
    }
    item
}

/// `mcp__srv__tool` → (`mcp__srv`, `tool`).
fn split_mcp_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("mcp__")?;
    let (server, tool) = rest.split_once("__")?;
    (!server.is_empty() && !tool.is_empty()).then(|| (&name[..5 + server.len()], tool))
}

/// The Responses API error body for `status`.
pub fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        429 => ("requests", json!("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_names_split_into_namespace_and_tool() {
        assert_eq!(
            split_mcp_name("mcp__duet__request_review"),
            Some(("mcp__duet", "request_review"))
        );
        assert_eq!(split_mcp_name("exec_command"), None);
        assert_eq!(split_mcp_name("mcp__duet"), None);
    }

    #[test]
    fn only_the_last_replys_outputs_count_as_tool_results() {
        let body = json!({
            "model": "fake", "instructions": "base",
            "tools": [
                {"type": "function", "name": "exec_command"},
                {"type": "custom", "name": "apply_patch"},
                {"type": "namespace", "name": "mcp__duet", "tools": [{"type": "function", "name": "request_review"}]},
                {"type": "web_search"}
            ],
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be careful"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
                {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "old"},
                {"type": "function_call", "call_id": "c2", "namespace": "mcp__duet", "name": "request_review", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "queued"}]}
            ]
        });
        let view = parse_request(&body, None).unwrap();
        assert_eq!(view.system, "base\nbe careful");
        assert_eq!(view.last_user_text, "fix it");
        assert_eq!(
            view.tools,
            [
                "exec_command",
                "apply_patch",
                "mcp__duet__request_review",
                "web_search"
            ]
        );
        assert_eq!(view.tool_results.len(), 1);
        assert_eq!(
            view.tool_results[0].name.as_deref(),
            Some("mcp__duet__request_review")
        );
        assert_eq!(view.tool_results[0].content, "queued");
        assert!(!view.is_title_request);
        let title = parse_request(&body, Some(r#"{"thread_source":"thread_title"}"#)).unwrap();
        assert!(title.is_title_request);
    }
}
