//! Proof with the real codex CLI against the scripted fake Responses server: duet's app-server
//! client starts a thread on a unix socket, delivers with `turn/start` (idle) and `turn/steer`
//! (mid-turn) exactly once each, re-attaches with `thread/resume` after the app-server is
//! killed, and measures `turn/start` → model request latency over 20 messages.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use duet_agents::codex_app_server::activity::{Delivery, ThreadActivity};
use duet_agents::codex_app_server::protocol::{
    ApprovalDecision, ApprovalPolicy, Notification, SandboxMode, ServerRequest, ThreadResumeParams,
    ThreadStartParams, ThreadStatus, TurnStatus,
};
use duet_agents::codex_app_server::{
    AppServer, AppServerClient, AppServerCommand, AppServerErrorKind, Event, Listen, PolicyAnswer,
};
use duet_testkit::agent_env::CodexEnv;
use duet_testkit::agents::require_codex;
use duet_testkit::hermetic::{GIT_ENV, git_repo};
use duet_testkit::{FakeModelServer, Script};

const TIMEOUT: Duration = Duration::from_secs(60);
const LATENCY_MESSAGES: usize = 20;
const FIRST: &str = "FIRST-MSG deliver me once";
const STEER: &str = "STEER-MSG added mid-turn";
const RESUMED: &str = "RESUMED-MSG after the restart";

fn script() -> Script {
    let mut toml = String::from(
        r#"
title = "app-server proof"

[[step]]
name = "slow first turn"
match.user_contains = "FIRST-MSG"
reply.text = "first done"
reply.delay_ms = 2500

[[step]]
name = "steered"
match.user_contains = "STEER-MSG"
reply.text = "steer done"
"#,
    );
    for i in 0..LATENCY_MESSAGES {
        toml.push_str(&format!(
            "\n[[step]]\nname = \"lat {i}\"\nmatch.user_contains = \"LAT-{i:02}\"\nreply.text = \"ok {i}\"\n"
        ));
    }
    toml.push_str(
        "\n[[step]]\nname = \"resumed\"\nmatch.user_contains = \"RESUMED-MSG\"\nreply.text = \"resumed done\"\n",
    );
    Script::from_toml_str(&toml).unwrap()
}

/// Accepts every approval (the sandbox is off in this proof; none is expected) and refuses
/// anything else with an RPC error.
fn policy() -> duet_agents::codex_app_server::ApprovalPolicy {
    std::sync::Arc::new(|request: &ServerRequest| match request {
        ServerRequest::CommandApproval { .. } | ServerRequest::FileChangeApproval { .. } => {
            PolicyAnswer::Reply(Ok(ApprovalDecision::Accept.to_result()))
        }
        ServerRequest::Other { method, .. } => {
            PolicyAnswer::Reply(Err(duet_agents::codex_app_server::protocol::RpcError {
                code: -32601,
                message: format!("duet does not answer {method}"),
                data: None,
            }))
        }
    })
}

fn start(
    codex: &Path,
    env: &CodexEnv,
    repo: &Path,
    socket: &Path,
    log: &Path,
) -> (AppServer, AppServerClient, Receiver<Event>) {
    let command = AppServerCommand {
        program: codex.to_owned(),
        args: env.config_args(),
        env: env
            .envs()
            .into_iter()
            .chain(GIT_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect(),
        cwd: repo.to_owned(),
        listen: Listen::Unix(socket.to_owned()),
        stderr_log: Some(log.to_owned()),
        timeout: TIMEOUT,
    };
    AppServer::start(&command, policy()).unwrap_or_else(|e| {
        panic!(
            "{e}: {:?}\nstderr: {}",
            std::error::Error::source(&e),
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
}

/// Events of `thread` until `wanted` holds for one; returns all of them, the match last.
fn until(
    events: &Receiver<Event>,
    thread: &str,
    mut wanted: impl FnMut(&Notification) -> bool,
) -> Vec<Notification> {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Notification(n)) if n.thread_id() == Some(thread) => {
                let done = wanted(&n);
                seen.push(n);
                if done {
                    return seen;
                }
            }
            Ok(Event::Closed) => panic!("the app-server closed the connection; seen: {seen:#?}"),
            Ok(_) => {}
            Err(_) => panic!("no awaited notification within {TIMEOUT:?}; seen: {seen:#?}"),
        }
    }
}

fn completed(turn_id: &str) -> impl FnMut(&Notification) -> bool + '_ {
    move |n| matches!(n, Notification::TurnCompleted { turn, .. } if turn.id == turn_id)
}

fn requests_with(server: &FakeModelServer, marker: &str) -> usize {
    server
        .log()
        .iter()
        .filter(|e| e.is_step() && e.user_text.contains(marker))
        .count()
}

#[test]
fn codex_app_server_delivers_once_steers_and_resumes() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo("duet-as-repo-");
    let server = FakeModelServer::start(script()).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    // A short private folder: socket paths are limited to ~100 bytes.
    let private = tempfile::Builder::new()
        .prefix("duet-as-")
        .tempdir()
        .unwrap();
    let socket = private.path().join("codex.sock");
    let log = private.path().join("app-server.log");

    let (mut app, client, events) = start(&codex, &env, &repo, &socket, &log);
    let mode = std::fs::metadata(private.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the socket folder must be private");
    let thread = client
        .thread_start(&ThreadStartParams {
            cwd: repo.display().to_string(),
            approval_policy: ApprovalPolicy::Never,
            sandbox: SandboxMode::DangerFullAccess,
            developer_instructions: None,
        })
        .unwrap();

    // 1. turn/start while idle: turn/started, the model gets the text once, turn/completed.
    let first_turn = client.turn_start(&thread, FIRST).unwrap();
    let seen = until(
        &events,
        &thread,
        |n| matches!(n, Notification::TurnStarted { turn, .. } if turn.id == first_turn),
    );
    let mut activity = ThreadActivity::default();
    seen.iter().for_each(|n| activity.apply(n));
    server
        .wait_for_entry(|e| e.user_text.contains("FIRST-MSG"), TIMEOUT)
        .unwrap();

    // 2. turn/steer while that turn runs (the fake model takes 2.5 s to answer it): the
    // notifications alone say codex is mid-turn, and in which turn.
    let Delivery::Steer { turn_id } = activity.delivery(&thread) else {
        panic!("codex is mid-turn: {activity:?}")
    };
    assert_eq!(turn_id, first_turn);
    let steer_sent = Instant::now();
    let steered = client.turn_steer(&thread, &turn_id, STEER).unwrap();
    assert_eq!(steered, first_turn, "a steer joins the running turn");
    server
        .wait_for_entry(|e| e.user_text.contains("STEER-MSG"), TIMEOUT)
        .unwrap();
    let steer_latency = steer_sent.elapsed();
    let seen = until(&events, &thread, completed(&first_turn));
    seen.iter().for_each(|n| activity.apply(n));
    assert_eq!(
        activity.delivery(&thread),
        Delivery::Start,
        "idle after turn/completed"
    );
    let Some(Notification::TurnCompleted { turn, .. }) = seen.last() else {
        unreachable!()
    };
    assert_eq!(turn.status, TurnStatus::Completed, "{seen:#?}");
    assert_eq!(
        requests_with(&server, "FIRST-MSG"),
        1,
        "{:#?}",
        server.log()
    );
    assert_eq!(
        requests_with(&server, "STEER-MSG"),
        1,
        "{:#?}",
        server.log()
    );
    let agent_texts: Vec<_> = seen
        .iter()
        .filter_map(|n| match n {
            Notification::ItemCompleted { item, .. } if item.kind == "agentMessage" => {
                item.text.clone()
            }
            _ => None,
        })
        .collect();
    // codex keeps a steer until the model request in flight has answered (here 2.5 s), then
    // asks again with it in the same turn; that first answer is not shown as an item (0.171.0).
    // The steered message reaches the model once, and its answer comes once.
    assert_eq!(
        agent_texts.last().map(String::as_str),
        Some("steer done"),
        "{seen:#?}"
    );
    assert_eq!(agent_texts.iter().filter(|t| *t == "steer done").count(), 1);
    // The steered message shows as a user message item of the same turn, once (what confirms
    // its delivery to duet).
    let steered_items = seen
        .iter()
        .filter(|n| {
            matches!(n, Notification::ItemStarted { turn_id, item, .. }
                if *turn_id == first_turn && item.kind == "userMessage"
                    && item.text.as_deref() == Some(STEER))
        })
        .count();
    assert_eq!(steered_items, 1, "{seen:#?}");
    println!(
        "app-server turn/steer -> model request (mid-request): {:.1} ms; answers in the steered turn: {agent_texts:?}",
        steer_latency.as_secs_f64() * 1000.0
    );

    // A steer aimed at a turn that has ended is refused (the caller then starts a turn):
    // a message is never silently lost in a finished turn.
    let late = client.turn_steer(&thread, &first_turn, "LATE-STEER never delivered");
    let err = late.expect_err("a steer of a completed turn must fail");
    assert!(matches!(err.kind, AppServerErrorKind::Rpc { .. }), "{err}");
    println!("turn/steer of a completed turn: {err}");

    // 3. Latency: turn/start sent → the fake model receives the request, idle codex.
    let mut latencies = Vec::new();
    for i in 0..LATENCY_MESSAGES {
        let marker = format!("LAT-{i:02}");
        let sent = Instant::now();
        let turn = client
            .turn_start(&thread, &format!("{marker} ping"))
            .unwrap();
        server
            .wait_for_entry(|e| e.user_text.contains(&marker), TIMEOUT)
            .unwrap();
        latencies.push(sent.elapsed());
        until(&events, &thread, completed(&turn));
        assert_eq!(requests_with(&server, &marker), 1);
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "app-server turn/start -> model request over {LATENCY_MESSAGES} messages: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(latencies[LATENCY_MESSAGES / 2]),
        ms(latencies[0]),
        ms(latencies[LATENCY_MESSAGES - 1]),
    );

    // 4. Kill the app-server; a new one resumes the thread; one more turn, nothing doubled.
    drop(client);
    app.kill();
    let (_app, client, events) = start(&codex, &env, &repo, &socket, &log);
    let resumed = client
        .thread_resume(&ThreadResumeParams {
            thread_id: thread.clone(),
            cwd: None,
            approval_policy: None,
            sandbox: None,
        })
        .unwrap();
    let turns = resumed["thread"]["turns"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        turns.len(),
        1 + LATENCY_MESSAGES,
        "turns after resume: {resumed:#}"
    );
    let turn = client.turn_start(&thread, RESUMED).unwrap();
    let seen = until(&events, &thread, completed(&turn));
    let Some(Notification::TurnCompleted { turn: done, .. }) = seen.last() else {
        unreachable!()
    };
    assert_eq!(done.status, TurnStatus::Completed, "{seen:#?}");
    assert_eq!(requests_with(&server, "RESUMED-MSG"), 1);
    assert_eq!(requests_with(&server, "LATE-STEER"), 0);
    for marker in ["FIRST-MSG", "STEER-MSG", "LAT-00", "LAT-19"] {
        assert_eq!(
            requests_with(&server, marker),
            1,
            "{marker} doubled or lost"
        );
    }
    // Every model request used up exactly its step, in order: nothing sent twice, none lost.
    let steps: Vec<_> = server
        .log()
        .into_iter()
        .filter(|e| e.api.is_some())
        .collect();
    assert_eq!(steps.len(), 3 + LATENCY_MESSAGES, "{steps:#?}");
    assert!(steps.iter().all(|e| e.is_step()), "{steps:#?}");
    assert!(server.unconsumed_steps().is_empty());
}

/// The human's view: the codex TUI in tmux runs `codex resume THREAD --remote unix://SOCKET`
/// against the same app-server; it shows duet's earlier turn, a turn duet starts while it
/// watches, and a line the human types reaches duet as notifications.
#[test]
fn codex_tui_on_the_unix_socket_shows_a_turn_duet_started() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo("duet-as-repo-");
    let script = Script::from_toml_str(
        r#"
title = "tui over app-server"

[[step]]
name = "duet's first turn (the brief)"
match.user_contains = "TUI-SEEN-MSG"
reply.text = "TUI-REPLY-MARKER"

[[step]]
name = "duet's turn while the TUI watches"
match.user_contains = "LIVE-MSG"
reply.text = "LIVE-REPLY-MARKER"

[[step]]
name = "the human's turn"
match.user_contains = "HUMAN-TYPED-MSG"
reply.text = "HUMAN-REPLY-MARKER"
"#,
    )
    .unwrap();
    let server = FakeModelServer::start(script).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let private = tempfile::Builder::new()
        .prefix("duet-as-")
        .tempdir()
        .unwrap();
    let socket = private.path().join("codex.sock");
    let log = private.path().join("app-server.log");
    let (_app, client, events) = start(&codex, &env, &repo, &socket, &log);
    let thread = client
        .thread_start(&ThreadStartParams {
            cwd: repo.display().to_string(),
            approval_policy: ApprovalPolicy::Never,
            sandbox: SandboxMode::DangerFullAccess,
            developer_instructions: None,
        })
        .unwrap();
    // `codex resume ID` finds a thread only once it is saved, which is at its first turn
    // ("No saved session found with ID ..." before): duet's brief comes first.
    let turn = client
        .turn_start(&thread, "TUI-SEEN-MSG from duet")
        .unwrap();
    until(&events, &thread, completed(&turn));

    let mut tmux = duet_testkit::tmux::TmuxServer::new();
    // The TUI's stderr goes to a file: a TUI that exits clears its screen.
    let tui_log = private.path().join("tui.log");
    let mut argv = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!("exec \"$0\" \"$@\" 2>>'{}'", tui_log.display()),
        codex.display().to_string(),
        "resume".to_owned(),
        thread.clone(),
        "--remote".to_owned(),
        format!("unix://{}", socket.display()),
    ];
    argv.extend(env.config_args());
    let pane = tmux.new_session("tui", &repo, &argv, &env.envs()).unwrap();
    let wait_pane = |needle: &str| {
        tmux.wait_for_text(&pane, needle, TIMEOUT)
            .unwrap_or_else(|e| {
                panic!(
                    "{e:?}\nTUI stderr: {}\napp-server stderr: {}",
                    std::fs::read_to_string(&tui_log).unwrap_or_default(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
    };
    // The resumed TUI shows the thread so far.
    let screen = wait_pane("TUI-REPLY-MARKER");
    assert!(screen.contains("TUI-SEEN-MSG"), "{screen}");

    // A turn duet starts now shows up live.
    let turn = client.turn_start(&thread, "LIVE-MSG from duet").unwrap();
    until(&events, &thread, completed(&turn));
    let screen = wait_pane("LIVE-REPLY-MARKER");
    assert!(screen.contains("LIVE-MSG"), "{screen}");

    // And the other way: a turn the human types into the TUI reaches duet as notifications.
    tmux.submit_line(
        &pane,
        "HUMAN-TYPED-MSG hello",
        Duration::from_millis(400),
        TIMEOUT,
    )
    .unwrap();
    let seen = until(&events, &thread, |n| {
        matches!(n, Notification::TurnCompleted { .. })
    });
    assert!(
        seen.iter()
            .any(|n| matches!(n, Notification::TurnStarted { .. })),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|n| matches!(n, Notification::ItemCompleted { item, .. }
            if item.text.as_deref() == Some("HUMAN-REPLY-MARKER"))),
        "{seen:#?}"
    );
    wait_pane("HUMAN-REPLY-MARKER");
    for marker in ["TUI-SEEN-MSG", "LIVE-MSG", "HUMAN-TYPED-MSG"] {
        assert_eq!(requests_with(&server, marker), 1, "{:#?}", server.log());
    }
    assert!(server.unconsumed_steps().is_empty());
}

/// An approval request from the real CLI: the policy defers it (a human decides), the thread
/// says it waits on approval, and the answer sent later lets the command run.
#[test]
fn codex_app_server_approval_waits_for_a_deferred_answer() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo("duet-as-repo-");
    let script = Script::from_toml_str(
        r#"
title = "approval"

[[step]]
name = "wants to run a command"
match.user_contains = "RUN-IT"
reply.tool_calls = [{ name = "exec_command", input = { cmd = "touch approved.txt && echo touched-ok" } }]

[[step]]
name = "after the command"
match.tool_result = { name = "exec_command", contains = "touched-ok" }
reply.text = "ran it"
"#,
    )
    .unwrap();
    let server = FakeModelServer::start(script).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let private = tempfile::Builder::new()
        .prefix("duet-as-")
        .tempdir()
        .unwrap();
    let socket = private.path().join("codex.sock");
    let log = private.path().join("app-server.log");
    let command = AppServerCommand {
        program: codex.clone(),
        args: env.config_args(),
        env: env
            .envs()
            .into_iter()
            .chain(GIT_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect(),
        cwd: repo.clone(),
        listen: Listen::Unix(socket),
        stderr_log: Some(log),
        timeout: TIMEOUT,
    };
    let (_app, client, events) =
        AppServer::start(&command, duet_agents::codex_app_server::defer_all()).unwrap();
    let thread = client
        .thread_start(&ThreadStartParams {
            cwd: repo.display().to_string(),
            approval_policy: ApprovalPolicy::Untrusted,
            sandbox: SandboxMode::DangerFullAccess,
            developer_instructions: None,
        })
        .unwrap();
    let turn = client.turn_start(&thread, "RUN-IT please").unwrap();

    // The deferred request arrives as an event, with the command a human would be shown.
    let deadline = Instant::now() + TIMEOUT;
    let mut waiting_flagged = false;
    let (id, request) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left).expect("an approval request") {
            Event::ServerRequest { id, request } => break (id, request),
            Event::Notification(Notification::ThreadStatusChanged {
                status: ThreadStatus::Active { active_flags },
                ..
            }) if active_flags.iter().any(|f| f == "waitingOnApproval") => {
                waiting_flagged = true;
            }
            Event::Closed => panic!("closed"),
            _ => {}
        }
    };
    let ServerRequest::CommandApproval {
        thread_id,
        turn_id,
        command,
        ..
    } = &request
    else {
        panic!("not a command approval: {request:?}")
    };
    assert_eq!((thread_id, turn_id), (&thread, &turn));
    assert!(
        command
            .as_deref()
            .unwrap_or("")
            .contains("touch approved.txt"),
        "{request:?}"
    );
    assert!(!repo.join("approved.txt").exists(), "ran before approval");

    client
        .answer(&id, Ok(ApprovalDecision::Accept.to_result()))
        .unwrap();
    let seen = until(&events, &thread, completed(&turn));
    let waiting_flagged = waiting_flagged
        || seen.iter().any(|n| {
            matches!(n, Notification::ThreadStatusChanged { status: ThreadStatus::Active { active_flags }, .. }
                if active_flags.iter().any(|f| f == "waitingOnApproval"))
        });
    assert!(
        waiting_flagged,
        "thread/status/changed flags waitingOnApproval: {seen:#?}"
    );
    assert!(
        repo.join("approved.txt").exists(),
        "the approved command ran"
    );
    assert!(server.unconsumed_steps().is_empty(), "{:#?}", server.log());
}

/// The stdio transport (for a codex whose unix listener cannot be used): one turn.
#[test]
fn codex_app_server_runs_a_turn_over_stdio() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo("duet-as-repo-");
    let script = Script::from_toml_str(
        "title = \"stdio\"\n[[step]]\nmatch.user_contains = \"STDIO-MSG\"\nreply.text = \"stdio done\"\n",
    )
    .unwrap();
    let server = FakeModelServer::start(script).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let command = AppServerCommand {
        program: codex.clone(),
        args: env.config_args(),
        env: env
            .envs()
            .into_iter()
            .chain(GIT_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect(),
        cwd: repo.clone(),
        listen: Listen::Stdio,
        stderr_log: None,
        timeout: TIMEOUT,
    };
    let (mut app, client, events) = AppServer::start(&command, policy()).unwrap();
    let thread = client
        .thread_start(&ThreadStartParams {
            cwd: repo.display().to_string(),
            approval_policy: ApprovalPolicy::Never,
            sandbox: SandboxMode::DangerFullAccess,
            developer_instructions: None,
        })
        .unwrap();
    let turn = client.turn_start(&thread, "STDIO-MSG hi").unwrap();
    let seen = until(&events, &thread, completed(&turn));
    assert!(
        seen.iter()
            .any(|n| matches!(n, Notification::ItemCompleted { item, .. }
            if item.text.as_deref() == Some("stdio done"))),
        "{seen:#?}"
    );
    assert_eq!(requests_with(&server, "STDIO-MSG"), 1);
    app.stop(Duration::from_secs(5));
    // The server is gone: the stream says so, and requests fail instead of hanging.
    while !matches!(events.recv_timeout(TIMEOUT), Ok(Event::Closed) | Err(_)) {}
    let err = client.turn_start(&thread, "after the end").unwrap_err();
    assert!(
        matches!(
            err.kind,
            AppServerErrorKind::Io | AppServerErrorKind::Closed
        ),
        "{err}"
    );
}

/// A steer while codex runs a command waits for the command, then goes out with its result in
/// the same turn's next model request.
#[test]
fn codex_app_server_steer_during_a_command_rides_with_its_result() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo("duet-as-repo-");
    let script = Script::from_toml_str(
        r#"
title = "steer during a tool"

[[step]]
name = "runs a slow command"
match.user_contains = "TOOL-FIRST"
reply.tool_calls = [{ name = "exec_command", input = { cmd = "sleep 2 && echo slept-ok" } }]

# The request after the command carries its output and then the steered message (so it does
# not *end* with a tool result, which is what `match.tool_result` looks at).
[[step]]
name = "the result and the steer together"
match.user_contains = "TOOL-STEER"
reply.text = "both seen"
"#,
    )
    .unwrap();
    let server = FakeModelServer::start(script).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let private = tempfile::Builder::new()
        .prefix("duet-as-")
        .tempdir()
        .unwrap();
    let socket = private.path().join("codex.sock");
    let log = private.path().join("app-server.log");
    let (_app, client, events) = start(&codex, &env, &repo, &socket, &log);
    let thread = client
        .thread_start(&ThreadStartParams {
            cwd: repo.display().to_string(),
            approval_policy: ApprovalPolicy::Never,
            sandbox: SandboxMode::DangerFullAccess,
            developer_instructions: None,
        })
        .unwrap();
    let turn = client.turn_start(&thread, "TOOL-FIRST go").unwrap();
    // Steer once the command runs (its item has started).
    until(
        &events,
        &thread,
        |n| matches!(n, Notification::ItemStarted { item, .. } if item.kind == "commandExecution"),
    );
    let sent = Instant::now();
    assert_eq!(
        client.turn_steer(&thread, &turn, "TOOL-STEER too").unwrap(),
        turn
    );
    let seen = until(&events, &thread, completed(&turn));
    println!(
        "turn/steer during a 2 s command -> turn completed: {:.0} ms",
        sent.elapsed().as_secs_f64() * 1000.0
    );
    assert!(
        seen.iter()
            .any(|n| matches!(n, Notification::ItemCompleted { item, .. }
            if item.text.as_deref() == Some("both seen"))),
        "{seen:#?}"
    );
    // Two model requests in all: the steer did not cut the command short or add a request.
    let requests: Vec<_> = server
        .log()
        .into_iter()
        .filter(|e| e.api.is_some())
        .collect();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(server.unconsumed_steps().is_empty(), "{:#?}", server.log());
    let command_done = seen
        .iter()
        .position(|n| matches!(n, Notification::ItemCompleted { item, .. } if item.kind == "commandExecution"))
        .expect("the command completed");
    let steer_item = seen
        .iter()
        .position(|n| {
            matches!(n, Notification::ItemStarted { item, .. }
            if item.kind == "userMessage" && item.text.as_deref() == Some("TOOL-STEER too"))
        })
        .expect("the steered message as an item");
    assert!(
        command_done < steer_item,
        "taken in after the command: {seen:#?}"
    );
}
