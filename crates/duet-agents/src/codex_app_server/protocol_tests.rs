//! Decoding tests over lines shaped as codex-cli 0.171.0's app-server sends them.

use super::*;

fn notification(line: &str) -> Notification {
    match decode(line).unwrap() {
        Incoming::Notification(n) => n,
        other => panic!("not a notification: {other:?}"),
    }
}

#[test]
fn turn_started_and_completed_carry_thread_turn_and_status() {
    let started = notification(
        r#"{"method":"turn/started","params":{"threadId":"th-1","turn":{"id":"tu-1","items":[],"status":"inProgress","error":null,"startedAt":1764640000}}}"#,
    );
    assert_eq!(
        started,
        Notification::TurnStarted {
            thread_id: "th-1".into(),
            turn: Turn {
                id: "tu-1".into(),
                status: TurnStatus::InProgress,
                error: None
            },
        }
    );
    let completed = notification(
        r#"{"method":"turn/completed","params":{"threadId":"th-1","turn":{"id":"tu-1","items":[],"status":"interrupted","error":{"message":"stopped","codexErrorInfo":null}}}}"#,
    );
    let Notification::TurnCompleted { turn, .. } = completed else {
        panic!()
    };
    assert_eq!(turn.status, TurnStatus::Interrupted);
    assert_eq!(turn.error.unwrap().message, "stopped");
    let unknown = notification(
        r#"{"method":"turn/completed","params":{"threadId":"t","turn":{"id":"u","items":[],"status":"paused"}}}"#,
    );
    let Notification::TurnCompleted { turn, .. } = unknown else {
        panic!()
    };
    assert_eq!(turn.status, TurnStatus::Unknown);
}

#[test]
fn thread_status_is_typed() {
    let active = notification(
        r#"{"method":"thread/status/changed","params":{"threadId":"th-1","status":{"type":"active","activeFlags":["waitingOnApproval"]}}}"#,
    );
    assert_eq!(
        active,
        Notification::ThreadStatusChanged {
            thread_id: "th-1".into(),
            status: ThreadStatus::Active {
                active_flags: vec!["waitingOnApproval".into()]
            },
        }
    );
    let idle = notification(
        r#"{"method":"thread/status/changed","params":{"threadId":"th-1","status":{"type":"idle"}}}"#,
    );
    assert_eq!(idle.thread_id(), Some("th-1"));
    assert!(matches!(
        idle,
        Notification::ThreadStatusChanged {
            status: ThreadStatus::Idle,
            ..
        }
    ));
}

#[test]
fn items_keep_kind_id_and_text() {
    let agent = notification(
        r#"{"method":"item/completed","params":{"threadId":"th","turnId":"tu","completedAtMs":1,"item":{"type":"agentMessage","id":"it-2","text":"done","phase":null}}}"#,
    );
    assert_eq!(
        agent,
        Notification::ItemCompleted {
            thread_id: "th".into(),
            turn_id: "tu".into(),
            item: ThreadItem {
                kind: "agentMessage".into(),
                id: "it-2".into(),
                text: Some("done".into())
            },
        }
    );
    let user = notification(
        r#"{"method":"item/started","params":{"threadId":"th","turnId":"tu","startedAtMs":1,"item":{"type":"userMessage","id":"it-1","content":[{"type":"text","text":"a","text_elements":[]},{"type":"image","url":"x"},{"type":"text","text":"b"}]}}}"#,
    );
    let Notification::ItemStarted { item, .. } = user else {
        panic!()
    };
    assert_eq!(item.text.as_deref(), Some("a\nb"));
}

#[test]
fn errors_and_unknown_notifications_decode() {
    let error = notification(
        r#"{"method":"error","params":{"threadId":"th","turnId":"tu","willRetry":true,"error":{"message":"stream disconnected"}}}"#,
    );
    assert!(matches!(
        error,
        Notification::Error {
            will_retry: true,
            ..
        }
    ));
    let other =
        notification(r#"{"method":"thread/tokenUsage/updated","params":{"threadId":"th"}}"#);
    assert!(
        matches!(&other, Notification::Other { method, .. } if method == "thread/tokenUsage/updated")
    );
    assert_eq!(other.thread_id(), Some("th"));
}

#[test]
fn responses_and_rpc_errors_route_by_id() {
    assert_eq!(
        decode(r#"{"id":3,"result":{"turn":{"id":"tu","items":[],"status":"inProgress"}}}"#)
            .unwrap(),
        Incoming::Response {
            id: RequestId::Number(3),
            result: Ok(json!({"turn":{"id":"tu","items":[],"status":"inProgress"}})),
        }
    );
    let Incoming::Response {
        result: Err(error), ..
    } = decode(r#"{"id":"x","error":{"code":-32600,"message":"no active turn"}}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(error.code, -32600);
    assert_eq!(error.message, "no active turn");
}

#[test]
fn approval_requests_are_typed_and_answered() {
    let line = r#"{"id":0,"method":"item/commandExecution/requestApproval","params":{"threadId":"th","turnId":"tu","itemId":"it","startedAtMs":5,"command":"rm -rf build","cwd":"/repo","reason":null,"commandActions":[]}}"#;
    let Incoming::ServerRequest { id, request } = decode(line).unwrap() else {
        panic!()
    };
    assert_eq!(id, RequestId::Number(0));
    assert_eq!(
        request,
        ServerRequest::CommandApproval {
            thread_id: "th".into(),
            turn_id: "tu".into(),
            item_id: "it".into(),
            command: Some("rm -rf build".into()),
            cwd: Some("/repo".into()),
            reason: None,
        }
    );
    assert_eq!(
        encode_response(&id, Ok(ApprovalDecision::AcceptForSession.to_result())),
        r#"{"id":0,"result":{"decision":"acceptForSession"}}"#
    );
    let file = r#"{"id":1,"method":"item/fileChange/requestApproval","params":{"threadId":"th","turnId":"tu","itemId":"it","startedAtMs":5,"grantRoot":"/repo"}}"#;
    let Incoming::ServerRequest { request, .. } = decode(file).unwrap() else {
        panic!()
    };
    assert!(
        matches!(request, ServerRequest::FileChangeApproval { grant_root: Some(ref r), .. } if r == "/repo")
    );
}

#[test]
fn bad_lines_say_why() {
    let err = decode("not json").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to decode an app-server message"),
        "{err}"
    );
    assert!(
        decode(r#"{"jsonrpc":"2.0"}"#)
            .unwrap_err()
            .reason
            .contains("neither")
    );
    assert!(
        decode(r#"{"method":"turn/started","params":{"threadId":"t"}}"#)
            .unwrap_err()
            .reason
            .contains("bad turn")
    );
}

#[test]
fn requests_use_the_schema_names() {
    let steer = TurnSteerParams {
        thread_id: "th".into(),
        expected_turn_id: "tu".into(),
        input: vec![UserInput::Text { text: "hi".into() }],
    };
    assert_eq!(
        encode_request(
            &RequestId::Number(7),
            "turn/steer",
            &serde_json::to_value(&steer).unwrap()
        ),
        r#"{"id":7,"method":"turn/steer","params":{"expectedTurnId":"tu","input":[{"text":"hi","type":"text"}],"threadId":"th"}}"#
    );
    let start = ThreadStartParams {
        cwd: "/repo".into(),
        approval_policy: ApprovalPolicy::OnRequest,
        sandbox: SandboxMode::WorkspaceWrite,
        developer_instructions: None,
    };
    assert_eq!(
        serde_json::to_value(&start).unwrap(),
        json!({"cwd":"/repo","approvalPolicy":"on-request","sandbox":"workspace-write"})
    );
    assert_eq!(
        encode_notification("initialized"),
        r#"{"method":"initialized"}"#
    );
}
