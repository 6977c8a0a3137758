//! The OpenAI Responses side of the fake model server, driven with plain HTTP: the full
//! event sequence, exec_command / apply_patch / MCP namespace calls, tool results, titles,
//! errors and dropped streams.

mod fake_server_support;

use duet_testkit::wire::SseEvent;
use duet_testkit::{FakeModelServer, Outcome, Script};
use fake_server_support::*;
use serde_json::{Value, json};

fn server(toml: &str) -> FakeModelServer {
    FakeModelServer::start(Script::from_toml_str(toml).unwrap()).unwrap()
}

fn responses_url(server: &FakeModelServer) -> String {
    format!("{}/responses", server.openai_base_url())
}

/// The items of `response.output_item.done` events, in order.
fn done_items(events: &[SseEvent]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.name == "response.output_item.done")
        .map(|e| e.data["item"].clone())
        .collect()
}

#[tokio::test]
async fn text_reply_streams_the_full_event_sequence_ending_in_completed() {
    let server = server(
        r#"
        [[step]]
        match.api = "openai"
        match.user_contains = "review"
        reply.text = "Looks good to me, nothing to add here at all."
        "#,
    );
    let answer = post(
        &responses_url(&server),
        &codex_request("You are Codex.", json!([codex_user("please review")])),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "text/event-stream");
    let events = answer.events();
    let names = names(&events);
    assert_eq!(
        names[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        names[names.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert!(
        names[4..names.len() - 4]
            .iter()
            .all(|n| *n == "response.output_text.delta")
    );
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.data["type"], event.name);
        assert_eq!(event.data["sequence_number"], i, "{}", event.name);
    }
    let text: String = events
        .iter()
        .filter(|e| e.name == "response.output_text.delta")
        .map(|e| e.data["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Looks good to me, nothing to add here at all.");
    let completed = &events.last().unwrap().data["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["id"], events[0].data["response"]["id"]);
    assert_eq!(completed["output"], Value::Array(done_items(&events)));
    assert_eq!(completed["output"][0]["role"], "assistant");
    assert_eq!(completed["output"][0]["content"][0]["text"], text);
    let usage = &completed["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn tool_calls_become_function_custom_and_namespaced_calls() {
    let server = server(
        r#"
        [[step]]
        reply.tool_calls = [
            { name = "exec_command", input = { cmd = "cargo test" } },
            { name = "apply_patch", input = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n" },
            { name = "mcp__duet__submit_review", input = { verdict = "changes_requested", findings = [] } },
        ]

        [[step]]
        match.tool_result = { name = "mcp__duet__submit_review", contains = "recorded" }
        reply.text = "Review sent."
        "#,
    );
    let first_input = json!([codex_user("review the branch")]);
    let events = post(
        &responses_url(&server),
        &codex_request("You are Codex.", first_input.clone()),
        &[],
    )
    .await
    .events();
    let items = done_items(&events);
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["type"], "function_call");
    assert_eq!(items[0]["name"], "exec_command");
    assert_eq!(
        serde_json::from_str::<Value>(items[0]["arguments"].as_str().unwrap()).unwrap(),
        json!({"cmd": "cargo test"})
    );
    assert_eq!(items[1]["type"], "custom_tool_call");
    assert_eq!(items[1]["name"], "apply_patch");
    assert!(
        items[1]["input"]
            .as_str()
            .unwrap()
            .starts_with("*** Begin Patch")
    );
    assert_eq!(items[2]["type"], "function_call");
    assert_eq!(items[2]["namespace"], "mcp__duet");
    assert_eq!(items[2]["name"], "submit_review");
    let call_ids: Vec<&str> = items
        .iter()
        .map(|i| i["call_id"].as_str().unwrap())
        .collect();
    assert!(call_ids[0] != call_ids[1] && call_ids[1] != call_ids[2]);
    // Argument / input deltas reassemble to the final values.
    let args: String = events
        .iter()
        .filter(|e| {
            e.name == "response.function_call_arguments.delta" && e.data["output_index"] == 0
        })
        .map(|e| e.data["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(args, items[0]["arguments"].as_str().unwrap());
    let patch: String = events
        .iter()
        .filter(|e| e.name == "response.custom_tool_call_input.delta")
        .map(|e| e.data["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(patch, items[1]["input"].as_str().unwrap());
    assert_eq!(events.last().unwrap().name, "response.completed");

    // Codex sends the calls back with their outputs.
    let mut input = first_input.as_array().unwrap().clone();
    input.extend(items.iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": call_ids[0], "output": "test result: ok"}));
    input.push(json!({"type": "custom_tool_call_output", "call_id": call_ids[1], "output": "Success. Updated: A a.txt"}));
    input.push(json!({"type": "function_call_output", "call_id": call_ids[2], "output": [{"type": "input_text", "text": "verdict recorded"}]}));
    let answer = post(
        &responses_url(&server),
        &codex_request("You are Codex.", Value::Array(input)),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let entry = server.log().pop().unwrap();
    assert_eq!(
        entry.outcome,
        Outcome::Step {
            index: 1,
            name: None
        }
    );
    let results: Vec<(Option<&str>, &str)> = entry
        .tool_results
        .iter()
        .map(|r| (r.name.as_deref(), r.content.as_str()))
        .collect();
    assert_eq!(
        results,
        [
            (Some("exec_command"), "test result: ok"),
            (Some("apply_patch"), "Success. Updated: A a.txt"),
            (Some("mcp__duet__submit_review"), "verdict recorded"),
        ]
    );
    assert_eq!(
        entry.tools,
        [
            "exec_command",
            "apply_patch",
            "mcp__duet__request_review",
            "mcp__duet__submit_review"
        ]
    );
    assert_eq!(entry.system, "You are Codex.");
}

#[tokio::test]
async fn title_turns_are_recognised_by_the_turn_metadata_header() {
    let server = server(
        r#"
        title = "Review the branch"
        [[step]]
        reply.text = "only step"
        "#,
    );
    let request = codex_request(
        "Generate a title.",
        json!([codex_user("review the branch")]),
    );
    let answer = post(
        &responses_url(&server),
        &request,
        &[(
            "x-codex-turn-metadata",
            r#"{"turn_id":"t1","thread_source":"thread_title"}"#,
        )],
    )
    .await;
    let items = done_items(&answer.events());
    let text = items[0]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"title": "Review the branch"})
    );
    assert_eq!(server.steps_consumed(), 0);
    // Other metadata is an ordinary turn.
    let answer = post(
        &responses_url(&server),
        &request,
        &[("x-codex-turn-metadata", r#"{"turn_id":"t2"}"#)],
    )
    .await;
    assert_eq!(
        done_items(&answer.events())[0]["content"][0]["text"],
        "only step"
    );
    assert_eq!(server.steps_consumed(), 1);
}

#[tokio::test]
async fn errors_and_drops_on_the_responses_api() {
    let server = server(
        r#"
        [[step]]
        reply.error = { status = 429, message = "Rate limit reached" }
        [[step]]
        reply.error = { status = 500 }
        [[step]]
        reply.text = "cut short"
        reply.drop_after_events = 2
        "#,
    );
    let request = codex_request("You are Codex.", json!([codex_user("go")]));
    let rate = post(&responses_url(&server), &request, &[]).await;
    assert_eq!(rate.status, 429);
    assert_eq!(rate.json()["error"]["code"], "rate_limit_exceeded");
    assert_eq!(rate.json()["error"]["message"], "Rate limit reached");
    let server_error = post(&responses_url(&server), &request, &[]).await;
    assert_eq!(server_error.status, 500);
    assert_eq!(server_error.json()["error"]["type"], "server_error");
    let dropped = post(&responses_url(&server), &request, &[]).await;
    assert!(dropped.cut.is_some());
    assert_eq!(
        names(&dropped.events()),
        ["response.created", "response.in_progress"]
    );
    let unmatched = post(&responses_url(&server), &request, &[]).await;
    assert_eq!(unmatched.status, 400);
    let message = unmatched.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("duet fake model: no script step matches"),
        "{message}"
    );
    assert!(message.contains("no steps left (3 used)"), "{message}");
}

#[tokio::test]
async fn non_streaming_request_gets_a_completed_response() {
    let server = server(
        r#"
        [[step]]
        reply.text = "plain"
        "#,
    );
    let mut request = codex_request("x", json!("just a string input"));
    request["stream"] = json!(false);
    let answer = post(&responses_url(&server), &request, &[]).await;
    assert_eq!(answer.status, 200);
    let response = answer.json();
    assert_eq!(response["object"], "response");
    assert_eq!(response["status"], "completed");
    assert_eq!(response["output"][0]["content"][0]["text"], "plain");
    assert_eq!(server.log()[0].user_text, "just a string input");
}
