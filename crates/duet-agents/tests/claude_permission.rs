//! Smoke test against the real claude TUI without bypass: a tool call that needs permission
//! reaches duet's hook as PermissionRequest (the `*` matcher in `--settings` takes every tool).

mod support;

use std::time::Duration;

use duet_agents::hook_event::{AgentSignal, parse_claude_hook};
use duet_agents::{LaunchContext, SessionPlan, launch_spec};
use duet_core::config::{AgentKind, AgentProfile};
use duet_core::protocol::Role;
use duet_testkit::agent_env::ClaudeEnv;
use duet_testkit::agents::require_claude;
use duet_testkit::{FakeModelServer, Script};
use support::{StandInDuet, TestTmux, agent_pane, git_repo, idle_pane, poll};

const TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn a_tool_call_waiting_for_permission_is_reported_by_the_hook() {
    let Some(claude) = require_claude() else {
        return;
    };
    let (_repo_dir, repo) = git_repo();
    let script = Script::from_toml_str(
        r#"
[[step]]
name = "needs permission"
match.user_contains = "PERM-START"
reply.tool_calls = [{ name = "Bash", input = { command = "touch needs-permission.txt" } }]
"#,
    )
    .unwrap();
    let server = FakeModelServer::start(script).unwrap();
    let env = ClaudeEnv::prepare(
        &server.anthropic_base_url(),
        "sk-duet-agents-perm-02",
        &[&repo],
    )
    .unwrap();
    let duet = StandInDuet::new();
    let profile = AgentProfile {
        kind: AgentKind::Claude,
        command: claude.to_str().unwrap().to_owned(),
        // claude 2.1.332 starts in "auto" permission mode (it decides itself, no prompt): ask as
        // claude 2.1.197 did by default, which is what a user who answers prompts runs.
        args: vec!["--permission-mode".to_owned(), "default".to_owned()],
        env: Default::default(),
        model: None,
        transport: duet_core::config::AgentTransport::Tmux,
    };
    let ctx = LaunchContext {
        role: Role::Worker,
        task_id: "perm".to_owned(),
        worktree: repo.clone(),
        duet_exe: duet.exe(),
        socket: repo.join(".duet/duet.sock"),
        token: "token-perm".to_owned(),
        system_prompt: String::new(),
        initial_prompt: Some("PERM-START".to_owned()),
        session: SessionPlan::New { session_id: None },
    };
    let spec = launch_spec(&profile, &ctx).unwrap();
    let worker = agent_pane(&spec, env.envs());
    let idle = idle_pane();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    let panes = rt
        .create_pair_session("duet-perm", &repo, &worker, &idle)
        .unwrap();

    let payload = poll(TIMEOUT, "the PermissionRequest hook", || {
        let calls = duet.calls();
        let found = calls
            .iter()
            .find(|(_, _, p)| p["hook_event_name"] == "PermissionRequest")
            .map(|(_, _, p)| p.clone());
        (found, rt.capture(&panes.worker_pane_id).unwrap_or_default())
    });
    let event = parse_claude_hook(&payload.to_string()).unwrap();
    assert_eq!(
        event.signal,
        AgentSignal::PermissionRequested {
            tool: Some("Bash".to_owned())
        },
        "{payload}"
    );
    // Claude chose the session id itself; SessionStart reported the same one.
    let started = duet
        .calls()
        .into_iter()
        .find(|(_, _, p)| p["hook_event_name"] == "SessionStart")
        .expect("SessionStart ran");
    assert_eq!(started.2["session_id"], payload["session_id"]);
    // Nothing ran: the file does not exist while the permission is pending.
    assert!(!repo.join("needs-permission.txt").exists());
    if let Some(dir) = support::sample_dir() {
        std::fs::write(dir.join("claude-permission.json"), payload.to_string()).unwrap();
    }
}
