//! Plays the example script tests/scripts/review_round.toml with two small HTTP clients that
//! behave like Claude Code (Messages API) and Codex (Responses API): each sends the tool
//! results back until the model ends its turn. Then asserts on the request log.

mod fake_server_support;

use std::path::PathBuf;

use duet_testkit::wire::SseEvent;
use duet_testkit::{Api, FakeModelServer, Outcome, Script};
use fake_server_support::*;
use serde_json::{Value, json};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scripts")
        .join(name)
}

/// What the simulated agents' tools answer.
fn run_tool(name: &str, input: &Value) -> String {
    match name {
        "Write" => format!(
            "File created successfully at: {}",
            input["file_path"].as_str().unwrap()
        ),
        "Edit" => "The file hello.txt has been updated.".into(),
        "Bash" => format!("ran: {}", input["command"].as_str().unwrap()),
        "exec_command" => " hello.txt | 1 +\n 1 file changed".into(),
        "mcp__duet__request_review" => "review requested".into(),
        "mcp__duet__submit_review" => {
            format!("verdict {} recorded", input["verdict"].as_str().unwrap())
        }
        other => panic!("the script called an unexpected tool {other}"),
    }
}

/// A Claude-Code-like client: keeps the message history, runs tools, returns the final text
/// and the tool calls made during the turn.
struct ClaudeLike {
    url: String,
    messages: Vec<Value>,
}

impl ClaudeLike {
    async fn turn(&mut self, prompt: &str) -> (String, Vec<(String, Value)>) {
        self.messages.push(user(prompt));
        let mut calls = Vec::new();
        loop {
            let request = claude_request(
                Value::Array(self.messages.clone()),
                &[
                    "Bash",
                    "Write",
                    "Edit",
                    "mcp__duet__request_review",
                    "mcp__duet__mark_done",
                ],
                true,
            );
            let answer = post(&self.url, &request, &[]).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            let blocks = assemble_anthropic(&answer.events());
            self.messages
                .push(json!({"role": "assistant", "content": blocks}));
            let uses: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "tool_use").collect();
            if uses.is_empty() {
                let text = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
                return (text, calls);
            }
            let results: Vec<Value> = uses
                .iter()
                .map(|u| {
                    let name = u["name"].as_str().unwrap();
                    calls.push((name.to_owned(), u["input"].clone()));
                    json!({"type": "tool_result", "tool_use_id": u["id"], "content": run_tool(name, &u["input"])})
                })
                .collect();
            self.messages
                .push(json!({"role": "user", "content": results}));
        }
    }
}

/// Rebuilds the content blocks of a streamed Messages reply.
fn assemble_anthropic(events: &[SseEvent]) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial_json: Vec<String> = Vec::new();
    for event in events {
        let index = event.data["index"].as_u64().unwrap_or(0) as usize;
        match event.name.as_str() {
            "content_block_start" => {
                assert_eq!(index, blocks.len(), "content block indexes must count up");
                blocks.push(event.data["content_block"].clone());
                partial_json.push(String::new());
            }
            "content_block_delta" => {
                let delta = &event.data["delta"];
                if delta["type"] == "text_delta" {
                    let text = format!(
                        "{}{}",
                        blocks[index]["text"].as_str().unwrap(),
                        delta["text"].as_str().unwrap()
                    );
                    blocks[index]["text"] = json!(text);
                } else {
                    partial_json[index].push_str(delta["partial_json"].as_str().unwrap());
                }
            }
            "content_block_stop" if blocks[index]["type"] == "tool_use" => {
                blocks[index]["input"] = serde_json::from_str(&partial_json[index]).unwrap();
            }
            _ => {}
        }
    }
    blocks
}

/// A Codex-like client over the Responses API.
struct CodexLike {
    url: String,
    input: Vec<Value>,
}

impl CodexLike {
    async fn turn(&mut self, prompt: &str) -> (String, Vec<(String, Value)>) {
        self.input.push(codex_user(prompt));
        let mut calls = Vec::new();
        loop {
            let request = codex_request("You are the reviewer.", Value::Array(self.input.clone()));
            let answer = post(&self.url, &request, &[]).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            let events = answer.events();
            assert_eq!(events.last().unwrap().name, "response.completed");
            let items: Vec<Value> = events
                .iter()
                .filter(|e| e.name == "response.output_item.done")
                .map(|e| e.data["item"].clone())
                .collect();
            self.input.extend(items.iter().cloned());
            let mut called = false;
            for item in &items {
                let name = match item["namespace"].as_str() {
                    Some(ns) => format!("{ns}__{}", item["name"].as_str().unwrap()),
                    None => item["name"].as_str().unwrap_or("").to_owned(),
                };
                let (kind, input) = match item["type"].as_str().unwrap() {
                    "function_call" => (
                        "function_call_output",
                        serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap(),
                    ),
                    "custom_tool_call" => ("custom_tool_call_output", item["input"].clone()),
                    _ => continue,
                };
                called = true;
                let output = run_tool(&name, &input);
                calls.push((name, input));
                self.input
                    .push(json!({"type": kind, "call_id": item["call_id"], "output": output}));
            }
            if !called {
                let text = items
                    .iter()
                    .filter_map(|i| i["content"][0]["text"].as_str())
                    .collect();
                return (text, calls);
            }
        }
    }
}

#[tokio::test]
async fn review_round_example_plays_through_both_apis() {
    let script = Script::load(example("review_round.toml")).unwrap();
    let step_count = script.steps.len();
    let server = FakeModelServer::start(script).unwrap();
    let mut worker = ClaudeLike {
        url: format!("{}/v1/messages", server.anthropic_base_url()),
        messages: Vec::new(),
    };
    let mut reviewer = CodexLike {
        url: format!("{}/responses", server.openai_base_url()),
        input: Vec::new(),
    };

    let (text, calls) = worker.turn("Add a greeting file hello.txt").await;
    assert_eq!(text, "Review requested; waiting.");
    let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Write", "Bash", "mcp__duet__request_review"]);

    let (text, calls) = reviewer
        .turn("Please review the branch duet/greeting.")
        .await;
    assert_eq!(text, "Changes requested.");
    let (name, verdict) = calls.last().unwrap();
    assert_eq!(name, "mcp__duet__submit_review");
    assert_eq!(verdict["verdict"], "changes_requested");
    let finding = verdict["findings"][0]["text"].as_str().unwrap();

    // The finding travels to the worker as its next prompt, as duet would hand it over.
    let (text, _) = worker.turn(&format!("Review findings: {finding}")).await;
    assert_eq!(text, "Fixed and review requested.");
    let (text, calls) = reviewer
        .turn("Please review again: the finding is addressed.")
        .await;
    assert_eq!(text, "Approved.");
    assert_eq!(calls[0].1["verdict"], "approve");

    assert_eq!(server.steps_consumed(), step_count);
    assert!(server.unconsumed_steps().is_empty());
    let log = server.log();
    assert!(log.iter().all(|e| e.is_step()), "{log:#?}");
    for entry in &log {
        let expected = match entry.api {
            Some(Api::Anthropic) => "worker",
            Some(Api::Openai) => "reviewer",
            None => panic!("a model request without an API: {entry:?}"),
        };
        assert_eq!(entry.scope.as_deref(), Some(expected));
    }
    // What the reviewer was offered and what it was given back.
    let request_changes = log
        .iter()
        .find(
            |e| matches!(&e.outcome, Outcome::Step { name: Some(n), .. } if n == "request changes"),
        )
        .unwrap();
    assert!(request_changes.offered("mcp__duet__submit_review"));
    assert_eq!(
        request_changes.tool_result("exec_command").unwrap().content,
        " hello.txt | 1 +\n 1 file changed"
    );
    // What text the worker was given in round two.
    let fix = log
        .iter()
        .find(|e| matches!(&e.outcome, Outcome::Step { name: Some(n), .. } if n == "fix"))
        .unwrap();
    assert_eq!(fix.user_text, "Review findings: Capitalise Hello");
    // The file log holds the same entries.
    assert_eq!(duet_testkit::read_log_file(server.log_path()).unwrap(), log);
}

#[tokio::test]
async fn json_example_uses_fallback_after_the_steps() {
    let server = FakeModelServer::start(Script::load(example("hello.json")).unwrap()).unwrap();
    let mut agent = ClaudeLike {
        url: format!("{}/v1/messages", server.anthropic_base_url()),
        messages: Vec::new(),
    };
    assert_eq!(
        agent.turn("hello").await.0,
        "Hello from the duet fake model."
    );
    assert_eq!(
        agent.turn("hello again").await.0,
        "The script has nothing more to say."
    );
    let outcomes: Vec<Outcome> = server.log().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Step {
                index: 0,
                name: Some("greet".into())
            },
            Outcome::Fallback {
                index: 0,
                name: Some("anything else".into())
            },
        ]
    );
}
