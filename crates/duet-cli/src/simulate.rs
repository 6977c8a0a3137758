//! Simulated-model mode (`duet demo`, `duet run --simulate SCRIPT`): a scripted fake model
//! server in this process, and agent profiles rewritten in memory to run the project-local
//! `claude` / `codex` CLIs against it. The user's duet.toml is never edited.

use std::path::{Path, PathBuf};

use duet_core::config::{AgentKind, AgentProfile, Config};
use duet_testkit::agent_env::{ClaudeEnv, CodexEnv};
use duet_testkit::agents::{AgentBins, AgentCli, find_agent};
use duet_testkit::{FakeModelServer, Script, ServerOptions};

use crate::command_error::{CommandError, error_chain};

/// The API key claude is given for the fake server (any well-formed key; nothing checks it).
const SIMULATED_ANTHROPIC_KEY: &str = "sk-ant-duet-simulated-0123456789";

/// The hint for a missing agent CLI.
pub const INSTALL_HINT: &str = "run scripts/install-agents.sh (in the duet checkout) to install the pinned claude and codex CLIs into .agents/, or point DUET_CLAUDE_BIN / DUET_CODEX_BIN at them";

/// A running fake model server and the prepared homes that point each CLI at it. Dropping it
/// stops the server and removes the homes.
#[derive(Debug)]
pub struct SimulatedModel {
    server: FakeModelServer,
    claude_env: ClaudeEnv,
    codex_env: CodexEnv,
    bins: AgentBins,
}

/// Finds both agent CLIs (env override, `.agents/` near the current directory, or in the duet
/// checkout duet was built from); a missing one is a user error naming it, with the install hint.
pub fn find_agent_bins() -> Result<AgentBins, CommandError> {
    let find = |cli: AgentCli| {
        find_agent(cli).ok_or_else(|| {
            CommandError::user(format!(
                "the {cli} CLI is not installed (needed to simulate agents; {} is not set and no .agents/node_modules/.bin/{cli} was found)",
                cli.env_override()
            ))
            .hint(INSTALL_HINT)
        })
    };
    Ok(AgentBins {
        claude: find(AgentCli::Claude)?,
        codex: find(AgentCli::Codex)?,
    })
}

/// Reads a fake-model script (TOML or JSON); errors say where and why.
pub fn load_script(path: &Path) -> Result<Script, CommandError> {
    Script::load(path).map_err(|e| {
        CommandError::user(format!(
            "failed to load the simulation script {}: {}",
            path.display(),
            error_chain(&e)
        ))
    })
}

impl SimulatedModel {
    /// Starts the fake model server on 127.0.0.1 with `script` and prepares throw-away homes
    /// for both CLIs, trusting `trusted_dirs` (give the repository root: worktrees under it are
    /// trusted through it). The server's request log (JSON lines) goes to `log_path`, or to a
    /// temporary file removed with the server.
    pub fn start(
        script: Script,
        bins: AgentBins,
        trusted_dirs: &[&Path],
        log_path: Option<PathBuf>,
    ) -> Result<Self, CommandError> {
        if let Some(dir) = log_path.as_deref().and_then(Path::parent) {
            std::fs::create_dir_all(dir).map_err(|e| {
                CommandError::user(format!(
                    "failed to create {}: {}",
                    dir.display(),
                    error_chain(&e)
                ))
            })?;
        }
        let options = ServerOptions { port: 0, log_path };
        let server = FakeModelServer::start_with(script, options).map_err(|e| {
            CommandError::user(format!(
                "failed to start the simulated model server: {}",
                error_chain(&e)
            ))
        })?;
        let claude_env = ClaudeEnv::prepare(
            &server.anthropic_base_url(),
            SIMULATED_ANTHROPIC_KEY,
            trusted_dirs,
        )
        .map_err(|e| env_error("claude", &e))?;
        let codex_env = CodexEnv::prepare(&bins.codex, &server.openai_base_url(), trusted_dirs)
            .map_err(|e| env_error("codex", &e))?;
        Ok(SimulatedModel {
            server,
            claude_env,
            codex_env,
            bins,
        })
    }

    /// The fake model server (its request log tells which scripted steps were used).
    pub fn server(&self) -> &FakeModelServer {
        &self.server
    }

    pub fn bins(&self) -> &AgentBins {
        &self.bins
    }

    /// `profile` rewritten to run the installed CLI of its kind against the fake server: the
    /// command is the CLI's path, the arguments are the simulation's (the user's own arguments
    /// and model are dropped: they name real models and options a fake server does not have),
    /// and the simulation's env is laid over the profile's env.
    pub fn simulated_profile(&self, profile: &AgentProfile) -> AgentProfile {
        let (command, args, sim_env) = match profile.kind {
            AgentKind::Claude => (
                self.bins.claude.clone(),
                vec!["--dangerously-skip-permissions".to_string()],
                self.claude_env.envs(),
            ),
            AgentKind::Codex => {
                let mut args = self.codex_env.config_args();
                args.push("--dangerously-bypass-approvals-and-sandbox".to_string());
                (self.bins.codex.clone(), args, self.codex_env.envs())
            }
        };
        let mut env = profile.env.clone();
        env.extend(sim_env);
        AgentProfile {
            kind: profile.kind,
            command: path_text(&command),
            args,
            env,
            model: None,
            transport: profile.transport,
        }
    }
}

/// `config` with every agent profile rewritten by [`SimulatedModel::simulated_profile`];
/// everything else (roles, limits, backlog, branches) stays as configured.
pub fn simulate_config(config: &Config, sim: &SimulatedModel) -> Config {
    let mut simulated = config.clone();
    for profile in simulated.agents.values_mut() {
        *profile = sim.simulated_profile(profile);
    }
    simulated
}

fn env_error(cli: &str, err: &dyn std::error::Error) -> CommandError {
    CommandError::user(format!(
        "failed to prepare the simulated {cli} environment: {}",
        error_chain(err)
    ))
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_runs_the_installed_cli_of_its_kind() {
        let Some(bins) = duet_testkit::agents::require_agents() else {
            return;
        };
        let repo = tempfile::tempdir().unwrap();
        let script = Script::from_toml_str("[[step]]\nreply.text = \"hi\"\n").unwrap();
        let sim = SimulatedModel::start(script, bins.clone(), &[repo.path()], None).unwrap();
        let mut config = Config::from_toml_str(
            "[agents.claude]\nargs = [\"--model\", \"opus\"]\nenv = { KEEP = \"1\", ANTHROPIC_BASE_URL = \"https://api.anthropic.com\" }\n\
             [agents.other]\nkind = \"codex\"\ncommand = \"my-codex\"\nmodel = \"gpt-x\"\n",
            "duet.toml",
        )
        .unwrap();
        config.max_parallel = std::num::NonZeroUsize::new(3).unwrap();
        let simulated = simulate_config(&config, &sim);

        assert_eq!(simulated.max_parallel.get(), 3, "non-agent settings kept");
        assert_eq!(simulated.roles, config.roles);
        let claude = &simulated.agents["claude"];
        assert_eq!(claude.command, path_text(&bins.claude));
        assert_eq!(claude.args, vec!["--dangerously-skip-permissions"]);
        assert_eq!(claude.env["KEEP"], "1", "the profile's own env is kept");
        assert_eq!(
            claude.env["ANTHROPIC_BASE_URL"],
            sim.server().anthropic_base_url(),
            "the simulation's env wins"
        );
        assert_ne!(
            claude.env["HOME"],
            std::env::var("HOME").unwrap_or_default()
        );
        for name in ["codex", "other"] {
            let codex = &simulated.agents[name];
            assert_eq!(codex.command, path_text(&bins.codex), "{name}");
            assert_eq!(codex.model, None, "{name}");
            assert!(
                codex
                    .args
                    .contains(&"--dangerously-bypass-approvals-and-sandbox".to_string())
            );
            assert!(
                codex
                    .args
                    .iter()
                    .any(|a| a.contains(&sim.server().openai_base_url())),
                "{:?}",
                codex.args
            );
            assert!(codex.env.contains_key("CODEX_HOME"));
        }
        // The original is untouched.
        assert_eq!(config.agents["other"].command, "my-codex");
    }
}
