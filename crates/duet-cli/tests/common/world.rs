//! The set-up every end-to-end world shares: a repository with duet initialised and a backlog,
//! the fake model server playing a script, both agent CLIs configured against it, and a
//! private tmux server killed when the world is dropped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use duet_testkit::agent_env::{ClaudeEnv, CodexEnv};
use duet_testkit::agents::{AgentBins, require_agents};
use duet_testkit::{FakeModelServer, Script};

use super::{TestEnvironment, TmuxServerGuard, agent_profiles};

/// How long claude may take to write a session's transcript.
const TRANSCRIPT_TIMEOUT: Duration = Duration::from_secs(45);

/// A repository with a backlog, the fake model server and the agent CLIs pointed at it.
pub struct AgentWorld {
    pub env: TestEnvironment,
    pub repo: PathBuf,
    pub server: FakeModelServer,
    pub tmux_socket: String,
    pub bins: AgentBins,
    pub claude_env: ClaudeEnv,
    pub codex_env: CodexEnv,
    // Declared last: dropped after the fields above, once the test is over.
    _tmux: TmuxServerGuard,
}

impl AgentWorld {
    /// Sets the world up on tmux server `tmux_socket`, or `None` (after a skip line) when the
    /// agent CLIs are not installed. The repository has no duet.toml agents yet: see
    /// [`AgentWorld::write_config`].
    pub fn start(tmux_socket: String, backlog: &str, script: Script) -> Option<Self> {
        Self::start_in(tmux_socket, backlog, script, &|_| "repo".to_string())
    }

    /// [`AgentWorld::start`] with the repository at `repo_name(test root)` under the test's
    /// root (a relative path, e.g. a deep one).
    pub fn start_in(
        tmux_socket: String,
        backlog: &str,
        script: Script,
        repo_name: &dyn Fn(&std::path::Path) -> String,
    ) -> Option<Self> {
        let bins = require_agents()?;
        let env = TestEnvironment::default();
        let root = std::fs::canonicalize(env.root()).unwrap();
        let repo = std::fs::canonicalize(env.repo_with_commit(&repo_name(&root))).unwrap();
        assert_eq!(env.duet(&repo, &["init"]).code, 0);
        std::fs::write(repo.join("backlog.toml"), backlog).unwrap();
        let server = FakeModelServer::start(script).unwrap();
        let claude_env = ClaudeEnv::prepare(
            &server.anthropic_base_url(),
            "sk-ant-duet-test-key-0123456789",
            &[&repo],
        )
        .unwrap();
        let codex_env =
            CodexEnv::prepare(&bins.codex, &server.openai_base_url(), &[&repo]).unwrap();
        Some(AgentWorld {
            env,
            repo,
            server,
            tmux_socket: tmux_socket.clone(),
            bins,
            claude_env,
            codex_env,
            _tmux: TmuxServerGuard(tmux_socket),
        })
    }

    /// Writes duet.toml: `settings` (base branch, roles, limits) followed by both agent
    /// profiles pointed at the fake model server.
    pub fn write_config(&self, settings: &str) {
        let profiles = agent_profiles(
            &self.bins.claude,
            &self.claude_env,
            &self.bins.codex,
            &self.codex_env,
        );
        std::fs::write(self.repo.join("duet.toml"), format!("{settings}{profiles}")).unwrap();
    }

    /// Waits until claude has written the transcript of session `id` with `text` in it (a
    /// claude killed before that cannot be resumed).
    pub fn wait_for_claude_transcript(&self, id: &str, text: &str) {
        let deadline = Instant::now() + TRANSCRIPT_TIMEOUT;
        let root = self.claude_env.home().join(".claude/projects");
        loop {
            let found = std::fs::read_dir(&root)
                .into_iter()
                .flatten()
                .flatten()
                .map(|dir| dir.path().join(format!("{id}.jsonl")))
                .any(|file| std::fs::read_to_string(file).is_ok_and(|t| t.contains(text)));
            if found {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no transcript of claude session {id} with {text:?} under {}",
                root.display()
            );
            // Claude's transcript is a plain file: nothing to wait on but its contents.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The requests no step matched (HTTP 400 answers), for failure messages.
    pub fn unmatched_requests(&self) -> String {
        let unmatched: Vec<_> = self
            .server
            .log()
            .into_iter()
            .filter(|e| e.detail.is_some() && !e.is_step())
            .collect();
        format!("{unmatched:#?}")
    }

    /// The subjects of what the merge queue landed on main for `task`, newest first (its
    /// branch gone).
    pub fn landed(&self, task: &str) -> Vec<String> {
        self.env.landed(&self.repo, task)
    }

    /// A task branch's commit subjects, newest first.
    pub fn branch_log(&self, task: &str) -> Vec<String> {
        self.env
            .git(
                &self.repo,
                &["log", "--format=%s", &format!("main..duet/{task}")],
            )
            .lines()
            .map(str::to_string)
            .collect()
    }
}
