//! Proof: `codex exec --json` against the fake server runs a scripted `exec_command` and a scripted
//! `apply_patch`, and reports both as items.

mod proof_support;

use std::process::Command;

use duet_testkit::agent_env::CodexEnv;
use duet_testkit::agents::require_codex;
use duet_testkit::hermetic::{GIT_ENV, assert_success, run_bounded};
use duet_testkit::{FakeModelServer, Script};
use proof_support::{AGENT_TIMEOUT, git_repo, json_lines};

const SCRIPT: &str = r#"
[[step]]
name = "run a command"
match.user_contains = "make the proof files"
reply.tool_calls = [{ name = "exec_command", input = { cmd = "printf 'from exec' > exec.txt && echo exec-said-ok" } }]

[[step]]
name = "apply a patch"
match.tool_result = { name = "exec_command", contains = "exec-said-ok" }
reply.tool_calls = [{ name = "apply_patch", input = """
*** Begin Patch
*** Add File: patched.txt
+from apply_patch
*** Update File: README.md
@@
-# test repo
+# test repo, patched
*** End Patch
""" }]

[[step]]
name = "finish"
match.tool_result = { name = "apply_patch" }
reply.text = "Both files are done."
"#;

#[test]
fn codex_exec_runs_a_scripted_command_and_patch() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo();
    let server = FakeModelServer::start(Script::from_toml_str(SCRIPT).unwrap()).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();

    let mut cmd = Command::new(&codex);
    cmd.arg("exec")
        .args(env.config_args())
        .args(["--json", "--dangerously-bypass-approvals-and-sandbox", "-C"])
        .arg(&repo)
        .arg("make the proof files")
        .current_dir(&repo)
        .envs(GIT_ENV)
        .envs(env.envs());
    let output = run_bounded(cmd, AGENT_TIMEOUT);
    assert_success(&output, "codex exec");

    assert_eq!(
        std::fs::read_to_string(repo.join("exec.txt")).unwrap(),
        "from exec"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("patched.txt")).unwrap(),
        "from apply_patch\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("README.md")).unwrap(),
        "# test repo, patched\n"
    );
    assert!(
        server.unconsumed_steps().is_empty(),
        "steps left: {:?}; log: {:#?}",
        server.unconsumed_steps(),
        server.log()
    );

    let events = json_lines(&String::from_utf8_lossy(&output.stdout));
    let completed_items: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "item.completed")
        .map(|e| &e["item"])
        .collect();
    let command = completed_items
        .iter()
        .find(|item| item["type"] == "command_execution")
        .expect("a command item");
    assert!(
        command["aggregated_output"]
            .as_str()
            .unwrap_or_default()
            .contains("exec-said-ok"),
        "{command:#}"
    );
    let change = completed_items
        .iter()
        .find(|item| item["type"] == "file_change")
        .expect("a file change item");
    assert!(change.to_string().contains("patched.txt"), "{change:#}");
    let message = completed_items
        .iter()
        .find(|item| item["type"] == "agent_message")
        .expect("a message item");
    assert_eq!(message["text"], "Both files are done.");
    assert!(
        events.iter().any(|e| e["type"] == "turn.completed"),
        "no turn.completed in {events:#?}"
    );
}
