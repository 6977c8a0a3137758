//! `duet pair` end to end: the real `claude` and `codex` CLIs in a real tmux session, against
//! the scripted fake model server, talking through duet's bridge and hooks.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::TestEnvironment;
use duet_testkit::agent_env::{ClaudeEnv, CodexEnv};
use duet_testkit::agents::{ChildGuard, require_agents};
use duet_testkit::{FakeModelServer, Script};

const PAIR_TIMEOUT: Duration = Duration::from_secs(240);

fn script(name: &str) -> Script {
    Script::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/scripts")
            .join(name),
    )
    .unwrap()
}

/// Kills the test's private tmux server when the test ends, also on failure.
struct TmuxServerGuard(String);

impl Drop for TmuxServerGuard {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

/// A TOML inline table of env vars.
fn env_table(vars: &[(String, String)]) -> String {
    let items: Vec<String> = vars
        .iter()
        .map(|(k, v)| format!("{k} = {}", toml_string(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

fn toml_string(text: &str) -> String {
    toml_edit::Value::from(text).to_string().trim().to_string()
}

fn toml_array(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| toml_string(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// duet.toml with agent profiles pointed at the fake model server.
fn write_config(
    repo: &Path,
    claude: &Path,
    claude_env: &ClaudeEnv,
    codex: &Path,
    codex_env: &CodexEnv,
    roles: (&str, &str),
    max_rounds: u32,
) {
    let mut codex_args = codex_env.config_args();
    codex_args.push("--dangerously-bypass-approvals-and-sandbox".into());
    let config = format!(
        "base_branch = \"main\"\n\
         [roles]\nworker = \"{worker}\"\nreviewer = \"{reviewer}\"\n\
         [review]\nmax_rounds = {max_rounds}\n\
         [agents.claude]\nkind = \"claude\"\ncommand = {claude}\nargs = [\"--dangerously-skip-permissions\"]\nenv = {claude_env}\n\
         [agents.codex]\nkind = \"codex\"\ncommand = {codex}\nargs = {codex_args}\nenv = {codex_env}\n",
        worker = roles.0,
        reviewer = roles.1,
        claude = toml_string(&claude.to_string_lossy()),
        claude_env = env_table(&claude_env.envs()),
        codex = toml_string(&codex.to_string_lossy()),
        codex_args = toml_array(&codex_args),
        codex_env = env_table(&codex_env.envs()),
    );
    std::fs::write(repo.join("duet.toml"), config).unwrap();
}

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt that greets the world."
proof = "cat greeting.txt"
"#;

struct PairRun {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_pair(env: &TestEnvironment, repo: &Path, tmux_socket: &str) -> PairRun {
    let out_path = env.root().join("pair.out");
    let err_path = env.root().join("pair.err");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_duet"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .current_dir(repo)
        .args(["pair", "greet", "--tmux-socket", tmux_socket])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = ChildGuard::new(cmd.spawn().unwrap());
    let status = child.wait_timeout(PAIR_TIMEOUT).unwrap();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "duet pair did not finish within {PAIR_TIMEOUT:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    };
    PairRun {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

fn branch_log(env: &TestEnvironment, repo: &Path) -> Vec<String> {
    env.git(repo, &["log", "--format=%s", "main..duet/greet"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn setup(env: &TestEnvironment) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let bins = require_agents()?;
    let repo = env.repo_with_commit("repo");
    let repo = std::fs::canonicalize(repo).unwrap();
    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    std::fs::write(repo.join("backlog.toml"), BACKLOG).unwrap();
    Some((repo, bins.claude, bins.codex))
}

#[test]
fn claude_worker_and_codex_reviewer_finish_a_task_in_two_rounds() {
    let env = TestEnvironment::default();
    let Some((repo, claude, codex)) = setup(&env) else {
        return;
    };
    let server = FakeModelServer::start(script("pair_claude_worker_codex_reviewer.toml")).unwrap();
    let claude_env = ClaudeEnv::prepare(
        &server.anthropic_base_url(),
        "sk-ant-duet-test-key-0123456789",
        &[&repo],
    )
    .unwrap();
    let codex_env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    write_config(
        &repo,
        &claude,
        &claude_env,
        &codex,
        &codex_env,
        ("claude", "codex"),
        5,
    );

    let socket = format!("duet-e2e-{}", std::process::id());
    let _tmux = TmuxServerGuard(socket.clone());
    let run = run_pair(&env, &repo, &socket);
    let log = server.log();
    let unmatched: Vec<_> = log
        .iter()
        .filter(|e| e.detail.is_some() && !e.is_step())
        .collect();
    assert_eq!(
        run.code, 0,
        "duet pair failed\nstdout:\n{}\nstderr:\n{}\nunmatched requests: {unmatched:#?}",
        run.stdout, run.stderr
    );
    assert!(run.stdout.contains("task greet: done"), "{}", run.stdout);
    assert!(run.stdout.contains("review rounds: 2"), "{}", run.stdout);
    assert_eq!(
        branch_log(&env, &repo),
        vec!["greet the world", "add greeting"]
    );
    assert_eq!(
        server.unconsumed_steps(),
        Vec::<usize>::new(),
        "every scripted step was used"
    );

    // The finding reached the worker as the reviewer wrote it.
    let fix = log
        .iter()
        .find(|e| e.user_text.contains("Say hello, world"))
        .expect("finding delivered");
    assert_eq!(fix.scope.as_deref(), Some("worker"));

    assert_messages_delivered_once(&repo);
    let status = env.duet(&repo, &["status", "--json"]);
    assert!(
        status.stdout.contains("\"state\": \"done\""),
        "{}",
        status.stdout
    );
}

/// Every accepted message was delivered, and none twice.
fn assert_messages_delivered_once(repo: &Path) {
    use duet_store::{Event, EventFilter, Store};
    let store = Store::open_read_only(repo.join(".duet/state.db")).unwrap();
    let events = store.events(&EventFilter::all().task("greet")).unwrap();
    let accepted: Vec<String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageAccepted { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    let delivered: Vec<String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageDelivered { id } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert!(!accepted.is_empty());
    let mut unique = delivered.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "a message was delivered twice: {delivered:?}"
    );
    let mut accepted_sorted = accepted.clone();
    accepted_sorted.sort();
    assert_eq!(
        unique, accepted_sorted,
        "accepted {accepted:?}, delivered {delivered:?}"
    );
}
