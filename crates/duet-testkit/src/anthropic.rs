//! Anthropic Messages API: reading a `/v1/messages` request into a [`RequestView`] and
//! rendering replies as SSE events or a JSON message, plus error bodies.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::request_view::{RequestView, ToolResult, content_text};
use crate::script::{Api, ToolCall};
use crate::wire::{SseEvent, Usage, chunk_text, fresh_id, rough_tokens};

/// Reads a Messages API request body.
pub fn parse_request(body: &Value) -> Result<RequestView, String> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("request has no \"messages\" array")?;
    let mut tool_names: HashMap<String, String> = HashMap::new();
    let mut all_user_text = Vec::new();
    let mut last_user: Option<&Value> = None;
    for message in messages {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let content = message.get("content").unwrap_or(&Value::Null);
        match role {
            "assistant" => {
                for block in content.as_array().into_iter().flatten() {
                    if block.get("type").and_then(Value::as_str) == Some("tool_use")
                        && let (Some(id), Some(name)) = (
                            block.get("id").and_then(Value::as_str),
                            block.get("name").and_then(Value::as_str),
                        )
                    {
                        tool_names.insert(id.to_owned(), name.to_owned());
                    }
                }
            }
            "user" => {
                last_user = Some(content);
                let text = user_text(content);
                if !text.is_empty() {
                    all_user_text.push(text);
                }
            }
            _ => {}
        }
    }
    let tool_results = last_user
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        .map(|b| {
            let call_id = b
                .get("tool_use_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            ToolResult {
                name: tool_names.get(&call_id).cloned(),
                content: content_text(b.get("content").unwrap_or(&Value::Null)),
                is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
                call_id,
            }
        })
        .collect();
    let tools: Vec<String> = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let asks_for_title = body
        .pointer("/output_config/format/schema/properties/title")
        .is_some();
    Ok(RequestView {
        api: Api::Anthropic,
        model: str_field(body, "model"),
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        system: content_text(body.get("system").unwrap_or(&Value::Null)),
        last_user_text: all_user_text.last().cloned().unwrap_or_default(),
        all_user_text,
        tool_results,
        is_title_request: tools.is_empty() && asks_for_title,
        tools,
    })
}

/// The text blocks of a user message (tool result contents excluded).
fn user_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn str_field(body: &Value, key: &str) -> String {
    body.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// An assistant reply with its content blocks laid out, ready to render either way.
#[derive(Debug, Clone)]
pub struct Message {
    id: String,
    model: String,
    blocks: Vec<Value>,
    usage: Usage,
}

impl Message {
    /// Lays out `text` then `tool_calls` as content blocks. Tool inputs must be objects.
    pub fn new(
        model: &str,
        text: Option<&str>,
        tool_calls: &[ToolCall],
        request_bytes: usize,
        scripted: Option<&Usage>,
    ) -> Result<Self, String> {
        let mut blocks = Vec::new();
        if let Some(text) = text {
            blocks.push(json!({"type": "text", "text": text}));
        }
        for call in tool_calls {
            if !call.input.is_object() {
                return Err(format!(
                    "tool call {:?} has a non-object input, which the Anthropic API cannot carry",
                    call.name
                ));
            }
            blocks.push(json!({
                "type": "tool_use",
                "id": fresh_id("toolu"),
                "name": call.name,
                "input": call.input,
            }));
        }
        let output_bytes: usize = blocks.iter().map(|b| b.to_string().len()).sum();
        Ok(Message {
            id: fresh_id("msg"),
            model: model.to_owned(),
            blocks,
            usage: Usage::scripted_or_rough(scripted, request_bytes, output_bytes),
        })
    }

    /// The usage this message reports.
    pub fn usage_served(&self) -> Usage {
        self.usage
    }

    fn stop_reason(&self) -> &'static str {
        if self.blocks.iter().any(|b| b["type"] == "tool_use") {
            "tool_use"
        } else {
            "end_turn"
        }
    }

    /// The non-streaming answer body.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks,
            "stop_reason": self.stop_reason(),
            "stop_sequence": null,
            "usage": self.usage(self.usage.output),
        })
    }

    fn usage(&self, output_tokens: u64) -> Value {
        json!({
            "input_tokens": self.usage.input,
            "cache_creation_input_tokens": self.usage.cache_creation,
            "cache_read_input_tokens": self.usage.cache_read,
            "output_tokens": output_tokens,
        })
    }

    /// The streaming answer: `message_start`, `ping`, per block start / deltas / stop,
    /// `message_delta`, `message_stop`.
    pub fn to_events(&self) -> Vec<SseEvent> {
        let mut events = vec![
            SseEvent::typed(
                "message_start",
                json!({"message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": self.usage(1),
                }}),
            ),
            SseEvent::typed("ping", json!({})),
        ];
        for (index, block) in self.blocks.iter().enumerate() {
            let (start, deltas) = if block["type"] == "tool_use" {
                let start = json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}});
                let deltas = chunk_text(&block["input"].to_string(), 40)
                    .into_iter()
                    .map(|part| json!({"type": "input_json_delta", "partial_json": part}))
                    .collect::<Vec<_>>();
                (start, deltas)
            } else {
                let text = block["text"].as_str().unwrap_or("");
                let deltas = chunk_text(text, 24)
                    .into_iter()
                    .map(|part| json!({"type": "text_delta", "text": part}))
                    .collect::<Vec<_>>();
                (json!({"type": "text", "text": ""}), deltas)
            };
            events.push(SseEvent::typed(
                "content_block_start",
                json!({"index": index, "content_block": start}),
            ));
            for delta in deltas {
                events.push(SseEvent::typed(
                    "content_block_delta",
                    json!({"index": index, "delta": delta}),
                ));
            }
            events.push(SseEvent::typed(
                "content_block_stop",
                json!({"index": index}),
            ));
        }
        events.push(SseEvent::typed(
            "message_delta",
            json!({
                "delta": {"stop_reason": self.stop_reason(), "stop_sequence": null},
                // As the API does today: the final usage, input and cache counts included.
                "usage": self.usage(self.usage.output),
            }),
        ));
        events.push(SseEvent::typed("message_stop", json!({})));
        events
    }
}

/// The Messages API error body for `status`.
pub fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// The `count_tokens` answer: a rough count from the body size.
pub fn count_tokens_body(request_bytes: usize) -> Value {
    json!({"input_tokens": rough_tokens(request_bytes)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_tool_result_names_from_earlier_tool_use() {
        let body = json!({
            "model": "m",
            "system": [{"type": "text", "text": "You are Claude."}],
            "tools": [{"name": "Bash"}, {"name": "mcp__duet__request_review"}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"}, {"type": "text", "text": "do it"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "ok 1"}]}]},
                {"role": "system", "content": "later note"}
            ]
        });
        let view = parse_request(&body).unwrap();
        assert_eq!(view.system, "You are Claude.");
        assert_eq!(
            view.last_user_text,
            "<system-reminder>x</system-reminder>\ndo it"
        );
        assert_eq!(view.tool_results.len(), 1);
        assert_eq!(view.tool_results[0].name.as_deref(), Some("Bash"));
        assert_eq!(view.tool_results[0].content, "ok 1");
        assert_eq!(view.tools, ["Bash", "mcp__duet__request_review"]);
        assert!(!view.is_title_request);
    }

    #[test]
    fn recognises_title_requests() {
        let body = json!({
            "model": "m", "tools": [],
            "messages": [{"role": "user", "content": "hello"}],
            "output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"title": {"type": "string"}}}}}
        });
        assert!(parse_request(&body).unwrap().is_title_request);
    }

    #[test]
    fn tool_use_stream_reassembles_to_the_input() {
        let call = ToolCall {
            name: "Bash".into(),
            input: json!({"command": "git commit -am 'a long enough message to be split'"}),
        };
        let message = Message::new(
            "m",
            Some("Running."),
            std::slice::from_ref(&call),
            100,
            None,
        )
        .unwrap();
        let events = message.to_events();
        let partial: String = events
            .iter()
            .filter(|e| e.data["index"] == 1 && e.name == "content_block_delta")
            .map(|e| e.data["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&partial).unwrap(), call.input);
        assert_eq!(
            events[events.len() - 2].data["delta"]["stop_reason"],
            "tool_use"
        );
    }
}
