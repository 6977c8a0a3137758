//! Exact argv / env vectors of both adapters, new and resumed, with model and profile args.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

fn profile(kind: AgentKind, model: Option<&str>, args: &[&str]) -> AgentProfile {
    AgentProfile {
        kind,
        command: kind.as_str().to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: BTreeMap::from([
            (
                "DUET_TOKEN".to_owned(),
                "profile-cannot-override".to_owned(),
            ),
            ("EXTRA".to_owned(), "1".to_owned()),
        ]),
        model: model.map(str::to_owned),
        transport: duet_core::config::AgentTransport::Tmux,
    }
}

fn ctx(session: SessionPlan, prompt: Option<&str>) -> LaunchContext {
    LaunchContext {
        role: Role::Worker,
        task_id: "add-greeting".to_owned(),
        worktree: PathBuf::from("/repo/.duet/worktrees/add-greeting"),
        duet_exe: PathBuf::from("/opt/duet bin/duet"),
        socket: PathBuf::from("/repo/.duet/duet.sock"),
        token: "tok-123".to_owned(),
        system_prompt: "You are the worker.".to_owned(),
        initial_prompt: prompt.map(str::to_owned),
        session,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

const BRIDGE_ENV: &str = r#"{"DUET_ROLE":"worker","DUET_SOCKET":"/repo/.duet/duet.sock","DUET_TASK":"add-greeting","DUET_TOKEN":"tok-123"}"#;

fn claude_mcp() -> String {
    format!(
        r#"{{"mcpServers":{{"duet":{{"alwaysLoad":true,"args":["mcp"],"command":"/opt/duet bin/duet","env":{BRIDGE_ENV},"type":"stdio"}}}}}}"#
    )
}

#[test]
fn claude_new_session_with_model_profile_args_and_prompt() {
    let c = ctx(
        SessionPlan::New {
            session_id: Some("0b5c1e7a-1111-4222-8333-944455556666".to_owned()),
        },
        Some("Implement the task."),
    );
    let spec = launch_spec(
        &profile(AgentKind::Claude, Some("opus"), &["--verbose"]),
        &c,
    )
    .unwrap();
    assert_eq!(spec.program, "claude");
    assert_eq!(spec.cwd, c.worktree);
    let settings = claude_settings_json(&c).unwrap();
    assert_eq!(
        spec.args,
        vec![
            "--session-id".to_owned(),
            "0b5c1e7a-1111-4222-8333-944455556666".to_owned(),
            "--mcp-config".to_owned(),
            claude_mcp(),
            "--settings".to_owned(),
            settings,
            "--append-system-prompt".to_owned(),
            "You are the worker.".to_owned(),
            "--model".to_owned(),
            "opus".to_owned(),
            "--verbose".to_owned(),
            "--".to_owned(),
            "Implement the task.".to_owned(),
        ]
    );
    assert_eq!(spec.argv()[0], "claude");
    assert_eq!(spec.argv()[1..], spec.args[..]);
}

#[test]
fn claude_resume_without_model_or_prompt() {
    let c = ctx(
        SessionPlan::Resume {
            id: "sess-9".to_owned(),
        },
        None,
    );
    let spec = launch_spec(&profile(AgentKind::Claude, None, &[]), &c).unwrap();
    assert_eq!(spec.args[..2], strings(&["--resume", "sess-9"]));
    assert!(!spec.args.contains(&"--model".to_owned()));
    assert!(!spec.args.contains(&"--".to_owned()), "{:?}", spec.args);
    assert_eq!(spec.args.last().unwrap(), "You are the worker.");
    // New without an id: claude picks one (reported by SessionStart).
    let c = ctx(SessionPlan::New { session_id: None }, None);
    let spec = launch_spec(&profile(AgentKind::Claude, None, &[]), &c).unwrap();
    assert_eq!(spec.args[0], "--mcp-config");
}

#[test]
fn claude_settings_run_duet_hook_for_every_event_shell_quoted() {
    let c = ctx(SessionPlan::New { session_id: None }, None);
    let settings: Value = serde_json::from_str(&claude_settings_json(&c).unwrap()).unwrap();
    let hooks = settings["hooks"].as_object().unwrap();
    let names: Vec<&str> = hooks.keys().map(String::as_str).collect();
    let mut expected = CLAUDE_HOOK_EVENTS.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected);
    for (event, groups) in hooks {
        let group = &groups[0];
        assert_eq!(
            group["hooks"],
            json!([{ "type": "command", "command": "'/opt/duet bin/duet' hook claude" }]),
            "{event}"
        );
        let is_tool_event =
            ["PreToolUse", "PostToolUse", "PermissionRequest"].contains(&event.as_str());
        assert_eq!(
            group.get("matcher"),
            is_tool_event.then_some(&json!("*")),
            "{event}"
        );
    }
}

#[test]
fn codex_new_session_with_model_profile_args_and_prompt() {
    let c = ctx(
        SessionPlan::New {
            session_id: Some("ignored".to_owned()),
        },
        Some("-x review"),
    );
    let spec = launch_spec(&profile(AgentKind::Codex, Some("gpt-5"), &["--search"]), &c).unwrap();
    assert_eq!(spec.program, "codex");
    let expected = vec![
        "-c".to_owned(),
        r#"mcp_servers.duet.command="/opt/duet bin/duet""#.to_owned(),
        "-c".to_owned(),
        r#"mcp_servers.duet.args=["mcp"]"#.to_owned(),
        "-c".to_owned(),
        r#"mcp_servers.duet.env={ DUET_ROLE = "worker", DUET_SOCKET = "/repo/.duet/duet.sock", DUET_TASK = "add-greeting", DUET_TOKEN = "tok-123" }"#.to_owned(),
        "-c".to_owned(),
        r#"mcp_servers.duet.default_tools_approval_mode="approve""#.to_owned(),
        "-c".to_owned(),
        r#"notify=["/opt/duet bin/duet", "hook", "codex"]"#.to_owned(),
        "-c".to_owned(),
        r#"developer_instructions="You are the worker.""#.to_owned(),
        "-m".to_owned(),
        "gpt-5".to_owned(),
        "--search".to_owned(),
        "--".to_owned(),
        "-x review".to_owned(),
    ];
    assert_eq!(spec.args, expected);
}

#[test]
fn codex_resume_puts_the_subcommand_first_and_the_thread_id_after_the_options() {
    let mut c = ctx(
        SessionPlan::Resume {
            id: "thread-7".to_owned(),
        },
        None,
    );
    c.system_prompt = String::new();
    let spec = launch_spec(&profile(AgentKind::Codex, None, &["--no-alt-screen"]), &c).unwrap();
    assert_eq!(spec.args[0], "resume");
    assert_eq!(
        spec.args[spec.args.len() - 3..],
        strings(&["--no-alt-screen", "--", "thread-7"])
    );
    assert!(
        !spec
            .args
            .iter()
            .any(|a| a.starts_with("developer_instructions"))
    );
    assert!(!spec.args.contains(&"-m".to_owned()));
    let c = ctx(
        SessionPlan::Resume {
            id: "thread-7".to_owned(),
        },
        Some("go on"),
    );
    let spec = launch_spec(&profile(AgentKind::Codex, None, &[]), &c).unwrap();
    assert_eq!(
        spec.args[spec.args.len() - 3..],
        strings(&["--", "thread-7", "go on"])
    );
}

#[test]
fn codex_overrides_are_valid_toml_with_tricky_text() {
    let mut c = ctx(SessionPlan::New { session_id: None }, None);
    c.system_prompt = "Line one \"quoted\"\nback\\slash = 'x'".to_owned();
    for (key, value) in codex_config_overrides(&c).unwrap() {
        let doc: toml::Table = format!("v = {}", value.encode()).parse().unwrap();
        if key == "developer_instructions" {
            assert_eq!(doc["v"].as_str(), Some(c.system_prompt.as_str()));
        }
    }
}

#[test]
fn env_is_the_profile_env_then_duets_variables() {
    let c = ctx(SessionPlan::New { session_id: None }, None);
    let spec = launch_spec(&profile(AgentKind::Codex, None, &[]), &c).unwrap();
    assert_eq!(
        spec.env,
        vec![
            (
                "DUET_TOKEN".to_owned(),
                "profile-cannot-override".to_owned()
            ),
            ("EXTRA".to_owned(), "1".to_owned()),
            ("DUET_SOCKET".to_owned(), "/repo/.duet/duet.sock".to_owned()),
            ("DUET_TOKEN".to_owned(), "tok-123".to_owned()),
            ("DUET_TASK".to_owned(), "add-greeting".to_owned()),
            ("DUET_ROLE".to_owned(), "worker".to_owned()),
        ]
    );
    // Later entries win (tmux -e / Command::envs), so duet's token is the one the agent sees.
    let seen: BTreeMap<_, _> = spec.env.iter().cloned().collect();
    assert_eq!(seen["DUET_TOKEN"], "tok-123");
}

#[test]
fn wrapped_argv_runs_the_agent_under_exec_agent() {
    let c = ctx(SessionPlan::New { session_id: None }, None);
    let spec = launch_spec(&profile(AgentKind::Codex, None, &[]), &c).unwrap();
    let wrapped = spec.wrapped_argv(&c.duet_exe).unwrap();
    assert_eq!(
        wrapped[..4],
        strings(&["/opt/duet bin/duet", "exec-agent", "--", "codex"])
    );
    assert_eq!(wrapped[4..], spec.args[..]);
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let c = ctx(SessionPlan::New { session_id: None }, None);
    let mut bad_env = profile(AgentKind::Claude, None, &[]);
    bad_env.env.insert("A=B".to_owned(), "x".to_owned());
    let err = launch_spec(&bad_env, &c).unwrap_err();
    assert_eq!(err.kind, AdapterErrorKind::InvalidEnvName);
    assert!(err.to_string().contains("\"A=B\""), "{err}");

    let nul = ctx(SessionPlan::New { session_id: None }, Some("a\0b"));
    let err = launch_spec(&profile(AgentKind::Claude, None, &[]), &nul).unwrap_err();
    assert_eq!(err.kind, AdapterErrorKind::NulByte);

    use std::os::unix::ffi::OsStrExt;
    let mut non_utf8 = ctx(SessionPlan::New { session_id: None }, None);
    non_utf8.duet_exe = PathBuf::from(std::ffi::OsStr::from_bytes(b"/opt/\xffduet"));
    for kind in AgentKind::ALL {
        let err = launch_spec(&profile(kind, None, &[]), &non_utf8).unwrap_err();
        assert_eq!(err.kind, AdapterErrorKind::NonUtf8Path, "{kind:?}");
        assert!(err.to_string().contains("duet executable"), "{err}");
    }
}

#[test]
fn shell_quote_leaves_plain_paths_and_quotes_the_rest() {
    assert_eq!(shell_quote("/usr/bin/duet"), "/usr/bin/duet");
    assert_eq!(shell_quote("/a b/duet"), "'/a b/duet'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("$HOME;rm"), "'$HOME;rm'");
}

/// One row per tested CLI version: the exact argv duet gives it for a new worker seat with a
/// prompt (the same for every version today; a version that needs something else gets its own
/// expected argv here and its difference in the adapter's data).
#[test]
fn every_tested_version_gets_exactly_this_argv() {
    let c = ctx(
        SessionPlan::New {
            session_id: Some("0b5c1e7a-1111-4222-8333-944455556666".to_owned()),
        },
        Some("Implement the task."),
    );
    let settings = claude_settings_json(&c).unwrap();
    let claude_rows: Vec<(&str, Vec<String>)> = vec![
        (
            "2.1.197",
            vec![
                "--session-id".to_owned(),
                "0b5c1e7a-1111-4222-8333-944455556666".to_owned(),
                "--mcp-config".to_owned(),
                claude_mcp(),
                "--settings".to_owned(),
                settings.clone(),
                "--append-system-prompt".to_owned(),
                "You are the worker.".to_owned(),
                "--".to_owned(),
                "Implement the task.".to_owned(),
            ],
        ),
        (
            "2.1.332",
            vec![
                "--session-id".to_owned(),
                "0b5c1e7a-1111-4222-8333-944455556666".to_owned(),
                "--mcp-config".to_owned(),
                claude_mcp(),
                "--settings".to_owned(),
                settings,
                "--append-system-prompt".to_owned(),
                "You are the worker.".to_owned(),
                "--".to_owned(),
                "Implement the task.".to_owned(),
            ],
        ),
    ];
    let versions: Vec<&str> = claude_rows.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions, TESTED_CLAUDE_VERSIONS,
        "one row per tested version"
    );
    for (version, expected) in &claude_rows {
        let mut p = profile(AgentKind::Claude, None, &[]);
        p.env.clear();
        let spec = launch_spec_with(&p, &c, None).unwrap();
        assert_eq!(&spec.args, expected, "claude {version}");
        let mcp: Value = serde_json::from_str(&expected[3]).unwrap();
        assert_eq!(
            mcp["mcpServers"]["duet"]["alwaysLoad"],
            json!(true),
            "claude {version}: duet's tools are never deferred"
        );
    }

    let codex_expected = |notify: &str| {
        vec![
            "-c".to_owned(),
            r#"mcp_servers.duet.command="/opt/duet bin/duet""#.to_owned(),
            "-c".to_owned(),
            r#"mcp_servers.duet.args=["mcp"]"#.to_owned(),
            "-c".to_owned(),
            r#"mcp_servers.duet.env={ DUET_ROLE = "worker", DUET_SOCKET = "/repo/.duet/duet.sock", DUET_TASK = "add-greeting", DUET_TOKEN = "tok-123" }"#.to_owned(),
            "-c".to_owned(),
            r#"mcp_servers.duet.default_tools_approval_mode="approve""#.to_owned(),
            "-c".to_owned(),
            notify.to_owned(),
            "-c".to_owned(),
            r#"developer_instructions="You are the worker.""#.to_owned(),
            "--".to_owned(),
            "Implement the task.".to_owned(),
        ]
    };
    let plain = r#"notify=["/opt/duet bin/duet", "hook", "codex"]"#;
    let chained = r#"notify=["/opt/duet bin/duet", "hook", "codex", "--then", "[\"notify-send\",\"codex\"]"]"#;
    let codex_rows = [("0.169.0", plain, chained), ("0.171.0", plain, chained)];
    let versions: Vec<&str> = codex_rows.iter().map(|(v, _, _)| *v).collect();
    assert_eq!(
        versions, TESTED_CODEX_VERSIONS,
        "one row per tested version"
    );
    let user_notify = strings(&["notify-send", "codex"]);
    for (version, plain, chained) in codex_rows {
        let p = profile(AgentKind::Codex, None, &[]);
        let spec = launch_spec_with(&p, &c, None).unwrap();
        assert_eq!(spec.args, codex_expected(plain), "codex {version}");
        let spec = launch_spec_with(&p, &c, Some(&user_notify)).unwrap();
        assert_eq!(
            spec.args,
            codex_expected(chained),
            "codex {version}, chained"
        );
    }
}

/// The pins of `scripts/install-agents.sh` are the newest tested versions.
#[test]
fn the_install_script_pins_the_newest_tested_versions() {
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/install-agents.sh"
    ))
    .unwrap();
    let newest_claude = TESTED_CLAUDE_VERSIONS.last().unwrap();
    let newest_codex = TESTED_CODEX_VERSIONS.last().unwrap();
    assert!(
        script.contains(&format!("CLAUDE_VERSION=\"{newest_claude}\"")),
        "install-agents.sh does not pin claude {newest_claude}"
    );
    assert!(
        script.contains(&format!("CODEX_VERSION=\"{newest_codex}\"")),
        "install-agents.sh does not pin codex {newest_codex}"
    );
}

#[test]
fn the_users_own_codex_notify_is_read_from_their_codex_home() {
    let home = tempfile::tempdir().unwrap();
    let dot_codex = home.path().join(".codex");
    std::fs::create_dir_all(&dot_codex).unwrap();
    assert_eq!(user_codex_notify(&dot_codex), None, "no config.toml");
    std::fs::write(
        dot_codex.join("config.toml"),
        "model = \"x\"\nnotify = [\"notify-send\", \"codex says\"]\n[projects.\"/r\"]\ntrust_level = \"trusted\"\n",
    )
    .unwrap();
    assert_eq!(
        user_codex_notify(&dot_codex),
        Some(strings(&["notify-send", "codex says"]))
    );
    // The profile's CODEX_HOME (or its HOME's .codex) is where launch_spec looks.
    let mut p = profile(AgentKind::Codex, None, &[]);
    p.env.insert(
        "CODEX_HOME".to_owned(),
        dot_codex.to_string_lossy().into_owned(),
    );
    assert_eq!(codex_home(&p), Some(dot_codex.clone()));
    let c = ctx(SessionPlan::New { session_id: None }, None);
    let spec = launch_spec(&p, &c).unwrap();
    assert!(
        spec.args.contains(
            &r#"notify=["/opt/duet bin/duet", "hook", "codex", "--then", "[\"notify-send\",\"codex says\"]"]"#
                .to_owned()
        ),
        "{:?}",
        spec.args
    );
    p.env.remove("CODEX_HOME");
    p.env.insert(
        "HOME".to_owned(),
        home.path().to_string_lossy().into_owned(),
    );
    if std::env::var_os("CODEX_HOME").is_none() {
        assert_eq!(codex_home(&p), Some(dot_codex.clone()));
    }
    // Not an array of strings, or not TOML: no chain (codex reports a broken config itself).
    for bad in [
        "notify = \"notify-send\"\n",
        "notify = [1]\n",
        "notify = [\n",
        "notify = []\n",
    ] {
        std::fs::write(dot_codex.join("config.toml"), bad).unwrap();
        assert_eq!(user_codex_notify(&dot_codex), None, "{bad:?}");
    }
}

fn reviewer_ctx(session: SessionPlan) -> LaunchContext {
    LaunchContext {
        role: Role::Reviewer,
        system_prompt: String::new(),
        ..ctx(session, None)
    }
}

/// The reviewer cannot write: claude's editing tools are removed, whatever the profile passes.
#[test]
fn a_claude_reviewer_has_its_file_editing_tools_denied() {
    let c = reviewer_ctx(SessionPlan::Resume {
        id: "sess-1".to_owned(),
    });
    let p = profile(AgentKind::Claude, None, &["--dangerously-skip-permissions"]);
    let spec = launch_spec_with(&p, &c, None).unwrap();
    let at = spec
        .args
        .iter()
        .position(|a| a == "--disallowedTools")
        .expect("--disallowedTools given");
    assert_eq!(spec.args[at + 1], "Edit,Write,NotebookEdit");
    // The profile's own arguments come after, so nothing of theirs is swallowed.
    assert_eq!(spec.args.last().unwrap(), "--dangerously-skip-permissions");
    // The worker keeps every tool.
    let worker =
        launch_spec_with(&p, &ctx(SessionPlan::New { session_id: None }, None), None).unwrap();
    assert!(!worker.args.iter().any(|a| a == "--disallowedTools"));
}

/// The reviewer cannot write: codex runs in its read-only sandbox without approvals, and a
/// profile flag that would lift the sandbox is dropped for the reviewer only.
#[test]
fn a_codex_reviewer_runs_read_only_whatever_its_profile_says() {
    let p = profile(
        AgentKind::Codex,
        None,
        &[
            "--dangerously-bypass-approvals-and-sandbox",
            "-s",
            "workspace-write",
            "--search",
        ],
    );
    for session in [
        SessionPlan::New { session_id: None },
        SessionPlan::Resume {
            id: "thread-9".to_owned(),
        },
    ] {
        let resume = matches!(session, SessionPlan::Resume { .. });
        let spec = launch_spec_with(&p, &reviewer_ctx(session), None).unwrap();
        let tail: Vec<&str> = spec
            .args
            .iter()
            .skip_while(|a| !a.starts_with("notify="))
            .skip(1)
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "--sandbox",
            "read-only",
            "--ask-for-approval",
            "never",
            "--search",
        ];
        if resume {
            expected.extend(["--", "thread-9"]);
            assert_eq!(spec.args[0], "resume");
        }
        assert_eq!(tail, expected);
    }
    // The worker's profile arguments are its own.
    let worker =
        launch_spec_with(&p, &ctx(SessionPlan::New { session_id: None }, None), None).unwrap();
    assert!(
        worker
            .args
            .iter()
            .any(|a| a == "--dangerously-bypass-approvals-and-sandbox")
    );
    assert!(!worker.args.iter().any(|a| a == "read-only"));
}
