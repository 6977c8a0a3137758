//! The Anthropic side of the fake model server, driven with plain HTTP: SSE shape, tool
//! calls, tool results, title requests, errors, dropped streams, delays, probes.

mod fake_server_support;

use std::time::{Duration, Instant};

use duet_testkit::{FakeModelServer, Outcome, Script};
use fake_server_support::*;
use serde_json::{Value, json};

fn server(toml: &str) -> FakeModelServer {
    FakeModelServer::start(Script::from_toml_str(toml).unwrap()).unwrap()
}

fn messages_url(server: &FakeModelServer) -> String {
    format!("{}/v1/messages?beta=true", server.anthropic_base_url())
}

#[tokio::test]
async fn text_reply_streams_the_full_event_sequence() {
    let server = server(
        r#"
        [[step]]
        match.user_contains = "hello"
        reply.text = "Hi there, this text is long enough to need several deltas."
        "#,
    );
    let answer = post(
        &messages_url(&server),
        &claude_request(json!([user("hello")]), &["Bash"], true),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "text/event-stream");
    let events = answer.events();
    let names = names(&events);
    assert_eq!(names[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert!(
        names[3..names.len() - 3]
            .iter()
            .all(|n| *n == "content_block_delta"),
        "{names:?}"
    );
    assert!(names.len() > 7, "text should be split into several deltas");
    let start = &events[0].data["message"];
    assert_eq!(start["role"], "assistant");
    assert_eq!(start["model"], "claude-fake");
    assert!(start["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(start["id"].as_str().unwrap().starts_with("msg_"));
    let text: String = events
        .iter()
        .filter(|e| e.name == "content_block_delta")
        .map(|e| {
            assert_eq!(e.data["index"], 0);
            assert_eq!(e.data["delta"]["type"], "text_delta");
            e.data["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        text,
        "Hi there, this text is long enough to need several deltas."
    );
    let delta = &events[events.len() - 2].data;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(server.steps_consumed(), 1);
}

#[tokio::test]
async fn tool_calls_stream_as_tool_use_blocks_and_results_match_by_tool_name() {
    let server = server(
        r#"
        [[step]]
        name = "commit and ask"
        match.user_contains = "implement"
        reply.text = "Committing."
        reply.tool_calls = [
            { name = "Bash", input = { command = "git commit -am 'add feature'" } },
            { name = "mcp__duet__request_review", input = { summary = "please review" } },
        ]

        [[step]]
        name = "after review request"
        match.tool_result = { name = "mcp__duet__request_review", contains = "queued" }
        reply.text = "Waiting for the review."
        "#,
    );
    let first = claude_request(
        json!([user("implement the feature")]),
        &["Bash", "mcp__duet__request_review"],
        true,
    );
    let events = post(&messages_url(&server), &first, &[]).await.events();
    let starts: Vec<&Value> = events
        .iter()
        .filter(|e| e.name == "content_block_start")
        .map(|e| &e.data)
        .collect();
    assert_eq!(starts.len(), 3);
    for (i, start) in starts.iter().enumerate() {
        assert_eq!(start["index"], i);
    }
    assert_eq!(starts[1]["content_block"]["type"], "tool_use");
    assert_eq!(starts[1]["content_block"]["name"], "Bash");
    assert_eq!(
        starts[2]["content_block"]["name"],
        "mcp__duet__request_review"
    );
    let ids: Vec<&str> = starts[1..]
        .iter()
        .map(|s| s["content_block"]["id"].as_str().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    let input_of = |index: usize| -> Value {
        let json: String = events
            .iter()
            .filter(|e| e.name == "content_block_delta" && e.data["index"] == index)
            .map(|e| e.data["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        serde_json::from_str(&json).unwrap()
    };
    assert_eq!(
        input_of(1),
        json!({"command": "git commit -am 'add feature'"})
    );
    assert_eq!(input_of(2), json!({"summary": "please review"}));
    assert_eq!(
        events[events.len() - 2].data["delta"]["stop_reason"],
        "tool_use"
    );

    // The client runs the tools and sends the results back, as Claude Code does.
    let second = claude_request(
        json!([
            user("implement the feature"),
            {"role": "assistant", "content": [
                {"type": "text", "text": "Committing."},
                {"type": "tool_use", "id": ids[0], "name": "Bash", "input": {}},
                {"type": "tool_use", "id": ids[1], "name": "mcp__duet__request_review", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": ids[0], "content": "[main 1a2b3c] add feature"},
                {"type": "tool_result", "tool_use_id": ids[1], "content": [{"type": "text", "text": "review queued"}]}
            ]}
        ]),
        &["Bash", "mcp__duet__request_review"],
        true,
    );
    let answer = post(&messages_url(&server), &second, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let log = server.log();
    let entry = log.last().unwrap();
    assert_eq!(
        entry.outcome,
        Outcome::Step {
            index: 1,
            name: Some("after review request".into())
        }
    );
    assert_eq!(
        entry.tool_result("Bash").unwrap().content,
        "[main 1a2b3c] add feature"
    );
    assert_eq!(
        entry
            .tool_result("mcp__duet__request_review")
            .unwrap()
            .content,
        "review queued"
    );
    assert!(entry.offered("mcp__duet__request_review"));
    assert_eq!(entry.user_text, "implement the feature");
}

#[tokio::test]
async fn non_streaming_reply_is_one_message() {
    let server = server(
        r#"
        [[step]]
        reply.text = "plain"
        reply.tool_calls = [{ name = "Write", input = { file_path = "a.txt", content = "x" } }]
        "#,
    );
    let answer = post(
        &messages_url(&server),
        &claude_request(json!([user("go")]), &["Write"], false),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200);
    let message = answer.json();
    assert_eq!(message["type"], "message");
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["content"][0],
        json!({"type": "text", "text": "plain"})
    );
    assert_eq!(message["content"][1]["name"], "Write");
    assert_eq!(message["content"][1]["input"]["file_path"], "a.txt");
    assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn title_requests_are_answered_without_using_a_step() {
    let server = server(
        r#"
        title = "Add the feature"

        [[step]]
        match.user_contains = "work"
        reply.text = "working"
        "#,
    );
    let title_request = json!({
        "model": "claude-haiku", "stream": true, "tools": [],
        "messages": [user("work on it")],
        "output_config": {"format": {"type": "json_schema", "schema": {
            "type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}}}
    });
    let events = post(&messages_url(&server), &title_request, &[])
        .await
        .events();
    let text: String = events
        .iter()
        .filter(|e| e.name == "content_block_delta")
        .map(|e| e.data["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"title": "Add the feature"})
    );
    assert_eq!(server.steps_consumed(), 0);
    let answer = post(
        &messages_url(&server),
        &claude_request(json!([user("work on it")]), &[], true),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200);
    let outcomes: Vec<Outcome> = server.log().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Title,
            Outcome::Step {
                index: 0,
                name: None
            }
        ]
    );
}

#[tokio::test]
async fn scripted_errors_use_the_anthropic_error_shape() {
    let server = server(
        r#"
        [[step]]
        reply.error = { status = 429, message = "slow down" }
        [[step]]
        reply.error = { status = 529 }
        [[step]]
        reply.error = { status = 400, body = '{"custom":true}' }
        "#,
    );
    let request = claude_request(json!([user("x")]), &[], true);
    let rate = post(&messages_url(&server), &request, &[]).await;
    assert_eq!(rate.status, 429);
    assert_eq!(
        rate.json(),
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );
    let overloaded = post(&messages_url(&server), &request, &[]).await;
    assert_eq!(overloaded.status, 529);
    assert_eq!(overloaded.json()["error"]["type"], "overloaded_error");
    let custom = post(&messages_url(&server), &request, &[]).await;
    assert_eq!(custom.status, 400);
    assert_eq!(custom.json(), json!({"custom": true}));
    assert_eq!(server.steps_consumed(), 3);
}

#[tokio::test]
async fn a_dropped_stream_delivers_only_the_first_events() {
    let server = server(
        r#"
        [[step]]
        reply.text = "this never fully arrives"
        reply.drop_after_events = 3
        "#,
    );
    let answer = post(
        &messages_url(&server),
        &claude_request(json!([user("x")]), &[], true),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(answer.cut.is_some(), "the body should end with an error");
    assert_eq!(
        names(&answer.events()),
        ["message_start", "ping", "content_block_start"]
    );
}

#[tokio::test]
async fn unmatched_requests_get_a_clear_error_and_do_not_advance() {
    let server = server(
        r#"
        [[step]]
        name = "greeting"
        match.user_contains = "hello"
        reply.text = "hi"
        "#,
    );
    let wrong = post(
        &messages_url(&server),
        &claude_request(json!([user("goodbye")]), &[], true),
        &[],
    )
    .await;
    assert_eq!(wrong.status, 400);
    let message = wrong.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("duet fake model: no script step matches"),
        "{message}"
    );
    assert!(message.contains("steps[0] (greeting)"), "{message}");
    assert!(message.contains("\"goodbye\""), "{message}");
    let entry = server.log().pop().unwrap();
    assert_eq!(entry.outcome, Outcome::Unmatched);
    assert_eq!(entry.detail.as_deref(), Some(message.as_str()));
    let right = post(
        &messages_url(&server),
        &claude_request(json!([user("hello")]), &[], true),
        &[],
    )
    .await;
    assert_eq!(right.status, 200);
    assert_eq!(server.steps_consumed(), 1);
}

#[tokio::test]
async fn a_delay_holds_the_answer_but_the_request_is_logged_at_once() {
    let server = server(
        r#"
        [[step]]
        reply.text = "late"
        reply.delay_ms = 400
        "#,
    );
    let url = messages_url(&server);
    let started = Instant::now();
    let pending = tokio::spawn(async move {
        post(&url, &claude_request(json!([user("x")]), &[], true), &[]).await
    });
    let server = std::sync::Arc::new(server);
    let logged = tokio::task::spawn_blocking({
        let server = server.clone();
        move || {
            let entry = server.wait_for_entry(|e| e.is_step(), WAIT);
            (entry, Instant::now())
        }
    })
    .await
    .unwrap();
    let answer = pending.await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(logged.0.unwrap().reply, "text \"late\"");
    assert!(logged.1.duration_since(started) < Duration::from_millis(400));
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn probes_and_token_counts_are_answered_and_logged() {
    let server = server("");
    let head = client()
        .head(server.anthropic_base_url())
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let count = post(
        &format!("{}/v1/messages/count_tokens", server.anthropic_base_url()),
        &claude_request(
            json!([user("count me please, I am a long enough text")]),
            &[],
            false,
        ),
        &[],
    )
    .await;
    assert_eq!(count.status, 200);
    assert!(count.json()["input_tokens"].as_u64().unwrap() > 0);
    let missing = post(&format!("{}/v1/other", server.base_url()), &json!({}), &[]).await;
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .body
            .contains("duet fake model: no route for POST /v1/other")
    );
    let bad = client()
        .post(messages_url(&server))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let outcomes: Vec<Outcome> = server.log().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Probe,
            Outcome::CountTokens,
            Outcome::NoRoute,
            Outcome::BadRequest
        ]
    );
}
