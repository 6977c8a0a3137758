//! Smoke test against the real claude TUI: started from `launch_spec` in a pair session of the
//! tmux runtime, against the fake model server, it takes the initial prompt, runs the hook
//! command from `--settings` for every event duet listens to, takes a multi-line message typed
//! with `send_text`, and its pane is seen dead after `/exit`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use duet_agents::hook_event::{AgentSignal, parse_claude_hook};
use duet_agents::tmux::{PaneState, pane_title};
use duet_agents::{LaunchContext, SessionPlan, launch_spec};
use duet_core::config::{AgentKind, AgentProfile};
use duet_core::protocol::Role;
use duet_testkit::agent_env::ClaudeEnv;
use duet_testkit::agents::require_claude;
use duet_testkit::{FakeModelServer, Script};
use support::{StandInDuet, TestTmux, agent_pane, git_repo, idle_pane, poll};

const TIMEOUT: Duration = Duration::from_secs(90);
const SESSION_ID: &str = "6f1c2a4e-8b7d-4c3a-9e21-5d0f7a9b3c11";
const SYSTEM_PROMPT: &str = "You are the WORKER-ROLE-MARKER of a duet pair.";
const INITIAL_PROMPT: &str = "-- MAGIC-START: begin the task";
const SECOND_MESSAGE: &str = "first line of the message;\nsecond line of the message";

fn script() -> Script {
    Script::from_toml_str(
        r#"
title = "Smoke"

[[step]]
name = "tool call"
match.user_contains = "MAGIC-START"
match.system_contains = "WORKER-ROLE-MARKER"
reply.tool_calls = [{ name = "Bash", input = { command = "echo tool-ran" } }]

[[step]]
name = "first turn ends"
match.tool_result = { name = "Bash", contains = "tool-ran" }
reply.text = "FIRST-TURN-DONE"

[[step]]
name = "second turn"
match.user_contains = "second line of the message"
reply.text = "SECOND-TURN-DONE"
"#,
    )
    .unwrap()
}

fn events(duet: &StandInDuet) -> Vec<String> {
    duet.calls()
        .iter()
        .filter_map(|(_, _, p)| p["hook_event_name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn claude_launched_from_its_spec_runs_hooks_and_takes_typed_messages() {
    let Some(claude) = require_claude() else {
        return;
    };
    let (_repo_dir, repo) = git_repo();
    let server = FakeModelServer::start(script()).unwrap();
    let env = ClaudeEnv::prepare(
        &server.anthropic_base_url(),
        "sk-duet-agents-smoke-01",
        &[&repo],
    )
    .unwrap();
    let duet = StandInDuet::new();
    let profile = AgentProfile {
        kind: AgentKind::Claude,
        command: claude.to_str().unwrap().to_owned(),
        // Without bypass the Bash call would wait for a permission answer.
        args: vec!["--dangerously-skip-permissions".to_owned()],
        env: BTreeMap::from([("DUET_SMOKE_PROFILE_VAR".to_owned(), "yes".to_owned())]),
        model: None,
        transport: duet_core::config::AgentTransport::Tmux,
    };
    let ctx = LaunchContext {
        role: Role::Worker,
        task_id: "smoke-1".to_owned(),
        worktree: repo.clone(),
        duet_exe: duet.exe(),
        socket: repo.join(".duet/duet.sock"),
        token: "token-worker-smoke".to_owned(),
        system_prompt: SYSTEM_PROMPT.to_owned(),
        initial_prompt: Some(INITIAL_PROMPT.to_owned()),
        session: SessionPlan::New {
            session_id: Some(SESSION_ID.to_owned()),
        },
    };
    let spec = launch_spec(&profile, &ctx).unwrap();
    let worker = agent_pane(&spec, env.envs());
    let reviewer = idle_pane();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    let panes = rt
        .create_pair_session("duet-smoke-1", &spec.cwd, &worker, &reviewer)
        .unwrap();
    let title = pane_title("smoke-1", Role::Worker, AgentKind::Claude, "starting");
    rt.set_pane_title(&panes.worker_pane_id, &title).unwrap();

    // The initial prompt (passed after `--`, though it starts with `--`) runs a whole turn.
    poll(TIMEOUT, "the first Stop hook", || {
        let seen = events(&duet);
        (
            seen.iter().any(|e| e == "Stop").then_some(()),
            format!(
                "{seen:?}\n{}",
                rt.capture(&panes.worker_pane_id).unwrap_or_default()
            ),
        )
    });
    let calls = duet.calls();
    for (token, role, payload) in &calls {
        assert_eq!(token, "token-worker-smoke", "{payload}");
        assert_eq!(role, "worker", "{payload}");
        assert_eq!(payload["session_id"], SESSION_ID, "{payload}");
    }
    let signals: Vec<AgentSignal> = calls
        .iter()
        .map(|(_, _, p)| parse_claude_hook(&p.to_string()).unwrap().signal)
        .collect();
    assert_eq!(
        signals[0],
        AgentSignal::SessionId(SESSION_ID.to_owned()),
        "{signals:#?}"
    );
    assert!(
        signals.contains(&AgentSignal::TurnStarted {
            prompt: INITIAL_PROMPT.to_owned()
        }),
        "{signals:#?}"
    );
    for tool_event in ["PreToolUse", "PostToolUse"] {
        assert!(
            events(&duet).iter().any(|e| e == tool_event),
            "{signals:#?}"
        );
    }
    assert!(
        signals.contains(&AgentSignal::Activity {
            tool: Some("Bash".to_owned())
        }),
        "{signals:#?}"
    );
    assert_eq!(
        signals.last(),
        Some(&AgentSignal::StopHook {
            stop_hook_active: false,
            last_message: Some("FIRST-TURN-DONE".to_owned())
        }),
        "{signals:#?}"
    );
    let first = server
        .log()
        .into_iter()
        .find(|e| e.is_step())
        .expect("a scripted request");
    assert!(first.offered("Bash"), "{first:#?}");

    // A multi-line message typed into the idle TUI arrives as one prompt, newlines kept.
    rt.send_text(&panes.worker_pane_id, SECOND_MESSAGE, AgentKind::Claude)
        .unwrap();
    let prompt = poll(TIMEOUT, "the second UserPromptSubmit", || {
        let prompts: Vec<String> = duet
            .calls()
            .iter()
            .filter(|(_, _, p)| p["hook_event_name"] == "UserPromptSubmit")
            .filter_map(|(_, _, p)| p["prompt"].as_str().map(str::to_owned))
            .collect();
        (
            prompts.get(1).cloned(),
            format!(
                "{prompts:?}\n{}",
                rt.capture(&panes.worker_pane_id).unwrap_or_default()
            ),
        )
    });
    assert_eq!(prompt, SECOND_MESSAGE);
    poll(TIMEOUT, "the second Stop hook", || {
        let stops = events(&duet).iter().filter(|e| *e == "Stop").count();
        ((stops >= 2).then_some(()), format!("{:?}", events(&duet)))
    });
    server.wait_until_steps_consumed(3, TIMEOUT).unwrap();
    // The Stop hook fires a moment before the TUI has drawn the answer: wait for the screen.
    poll(TIMEOUT, "the second answer on screen", || {
        let screen = rt.capture(&panes.worker_pane_id).unwrap_or_default();
        (screen.contains("SECOND-TURN-DONE").then_some(()), screen)
    });
    assert_eq!(rt.pane_title(&panes.worker_pane_id).unwrap(), title);

    // /exit ends the session: SessionEnd, then the pane is dead but still there.
    rt.send_text(&panes.worker_pane_id, "/exit", AgentKind::Claude)
        .unwrap();
    poll(TIMEOUT, "the worker pane to die", || {
        let state = rt.pane_state(&panes.worker_pane_id).unwrap();
        (
            matches!(state, PaneState::Dead { .. }).then_some(()),
            format!("{state:?}"),
        )
    });
    poll(Duration::from_secs(10), "SessionEnd", || {
        let seen = events(&duet);
        (
            seen.iter().any(|e| e == "SessionEnd").then_some(()),
            format!("{seen:?}"),
        )
    });
    assert!(matches!(
        rt.pane_state(&panes.reviewer_pane_id).unwrap(),
        PaneState::Running { .. }
    ));
    if let Some(dir) = support::sample_dir() {
        let lines: Vec<String> = duet.calls().iter().map(|(_, _, p)| p.to_string()).collect();
        std::fs::write(dir.join("claude-hooks.jsonl"), lines.join("\n")).unwrap();
    }
}
