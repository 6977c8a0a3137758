//! Smoke test against the real codex TUI: started from `launch_spec` in a pair session against
//! the fake model server, it takes the role prompt as developer instructions and the initial
//! prompt, reports each turn through `notify`, takes a multi-line message typed with
//! `send_text`, and `codex resume <thread-id>` continues the same thread.

mod support;

use std::time::Duration;

use duet_agents::hook_event::{AgentSignal, HookEvent, parse_codex_notify};
use duet_agents::{LaunchContext, SessionPlan, launch_spec};
use duet_core::config::{AgentKind, AgentProfile};
use duet_core::protocol::Role;
use duet_testkit::agent_env::CodexEnv;
use duet_testkit::agents::require_codex;
use duet_testkit::{FakeModelServer, Script};
use support::{StandInDuet, TestTmux, agent_pane, git_repo, idle_pane, poll};

const TIMEOUT: Duration = Duration::from_secs(90);
const SYSTEM_PROMPT: &str = "You are the REVIEWER-ROLE-MARKER of a duet pair.";
const SECOND_MESSAGE: &str = "review request, line one\nline two: CODEX-SECOND";

fn script() -> Script {
    Script::from_toml_str(
        r#"
title = "Smoke"

[[step]]
name = "first turn"
match.user_contains = "CODEX-START"
match.system_contains = "REVIEWER-ROLE-MARKER"
reply.text = "CODEX-FIRST-DONE"

[[step]]
name = "second turn"
match.user_contains = "CODEX-SECOND"
reply.text = "CODEX-SECOND-DONE"

[[step]]
name = "resumed turn"
match.user_contains = "CODEX-RESUMED"
reply.text = "CODEX-RESUMED-DONE"
"#,
    )
    .unwrap()
}

/// The parsed notify calls of the main thread (the TUI's title turns have other thread ids
/// and no scripted text).
fn turns(duet: &StandInDuet) -> Vec<HookEvent> {
    duet.calls()
        .iter()
        .map(|(_, _, p)| parse_codex_notify(&p.to_string()).unwrap())
        .filter(|event| {
            matches!(&event.signal, AgentSignal::TurnEnded { last_message: Some(m), .. } if m.starts_with("CODEX-"))
        })
        .collect()
}

fn last_message(event: &HookEvent) -> &str {
    match &event.signal {
        AgentSignal::TurnEnded {
            last_message: Some(m),
            ..
        } => m,
        other => panic!("not a turn end: {other:?}"),
    }
}

#[test]
fn codex_launched_from_its_spec_notifies_takes_typed_messages_and_resumes() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo();
    let server = FakeModelServer::start(script()).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let duet = StandInDuet::new();
    let mut args = env.config_args();
    args.push("--dangerously-bypass-approvals-and-sandbox".to_owned());
    let profile = AgentProfile {
        kind: AgentKind::Codex,
        command: codex.to_str().unwrap().to_owned(),
        args,
        env: Default::default(),
        model: None,
        transport: duet_core::config::AgentTransport::Tmux,
    };
    let mut ctx = LaunchContext {
        role: Role::Reviewer,
        task_id: "smoke-2".to_owned(),
        worktree: repo.clone(),
        duet_exe: duet.exe(),
        socket: repo.join(".duet/duet.sock"),
        token: "token-reviewer-smoke".to_owned(),
        system_prompt: SYSTEM_PROMPT.to_owned(),
        initial_prompt: Some("CODEX-START: look around".to_owned()),
        session: SessionPlan::New { session_id: None },
    };
    let pane_command = |ctx: &LaunchContext| {
        let spec = launch_spec(&profile, ctx).unwrap();
        agent_pane(&spec, env.envs())
    };
    let idle = idle_pane();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    let panes = rt
        .create_pair_session("duet-smoke-2", &repo, &idle, &pane_command(&ctx))
        .unwrap();
    let pane = panes.reviewer_pane_id.clone();
    let screen = || rt.capture(&pane).unwrap_or_default();

    let first = poll(TIMEOUT, "notify of the first turn", || {
        (turns(&duet).first().cloned(), screen())
    });
    assert_eq!(last_message(&first), "CODEX-FIRST-DONE");
    let thread = first.session_id.clone().expect("notify names the thread");
    assert!(first.turn_id.is_some(), "{first:?}");
    for (token, role, payload) in duet.calls() {
        assert_eq!(
            (token.as_str(), role.as_str()),
            ("token-reviewer-smoke", "reviewer"),
            "{payload}"
        );
    }

    rt.send_text(&pane, SECOND_MESSAGE, AgentKind::Codex)
        .unwrap();
    let second = poll(TIMEOUT, "notify of the second turn", || {
        (turns(&duet).get(1).cloned(), screen())
    });
    assert_eq!(last_message(&second), "CODEX-SECOND-DONE");
    assert_eq!(second.session_id.as_deref(), Some(thread.as_str()));
    match &second.signal {
        AgentSignal::TurnEnded { input_messages, .. } => {
            // codex lists every user message of the thread so far; this turn's comes last.
            assert_eq!(
                input_messages.last().map(String::as_str),
                Some(SECOND_MESSAGE),
                "{second:?}"
            );
            assert_eq!(input_messages.len(), 2, "{second:?}")
        }
        other => panic!("{other:?}"),
    }

    // A new session resuming the thread continues it.
    rt.kill_session("duet-smoke-2").unwrap();
    assert!(!rt.has_session("duet-smoke-2").unwrap());
    ctx.session = SessionPlan::Resume { id: thread.clone() };
    ctx.initial_prompt = Some("CODEX-RESUMED: go on".to_owned());
    let panes = rt
        .create_pair_session("duet-smoke-2", &repo, &idle, &pane_command(&ctx))
        .unwrap();
    let pane = panes.reviewer_pane_id.clone();
    let resumed = poll(TIMEOUT, "notify of the resumed turn", || {
        (
            turns(&duet).get(2).cloned(),
            rt.capture(&pane).unwrap_or_default(),
        )
    });
    assert_eq!(last_message(&resumed), "CODEX-RESUMED-DONE");
    assert_eq!(resumed.session_id.as_deref(), Some(thread.as_str()));
    server
        .wait_until_steps_consumed(3, Duration::from_secs(1))
        .unwrap();

    if let Some(dir) = support::sample_dir() {
        let lines: Vec<String> = duet.calls().iter().map(|(_, _, p)| p.to_string()).collect();
        std::fs::write(dir.join("codex-notify.jsonl"), lines.join("\n")).unwrap();
    }
}
