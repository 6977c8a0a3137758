//! The hidden commands agents run: `duet mcp`, `duet hook`, `duet exec-agent` (duet-bridge).

use std::process::ExitCode;

use duet_bridge::{AgentEnv, exec, hook, mcp};
use duet_proto::HookSource;

use crate::cli::{ExecAgentArgs, HookAgent, HookArgs};
use crate::command_error::{CommandError, error_chain};

pub fn mcp() -> Result<ExitCode, CommandError> {
    let env = AgentEnv::from_process();
    mcp::Config::from_env(&env)
        .and_then(mcp::serve_stdio)
        .map_err(|e| CommandError::user(format!("duet mcp: {}", error_chain(&e))))?;
    Ok(ExitCode::SUCCESS)
}

pub fn hook(args: &HookArgs) -> Result<ExitCode, CommandError> {
    let source = match args.agent {
        HookAgent::Claude => HookSource::Claude,
        HookAgent::Codex => HookSource::Codex,
    };
    let env = AgentEnv::from_process();
    let code = match source {
        // codex's notify: the payload is the last argument, maybe after the user's own command.
        HookSource::Codex => hook::run_codex_notify(&args.payload, &env),
        HookSource::Claude => hook::run(source, args.payload.last().cloned(), &env),
    };
    Ok(exit(code))
}

pub fn exec_agent(args: ExecAgentArgs) -> Result<ExitCode, CommandError> {
    Ok(exit(exec::run(args.argv, &AgentEnv::from_process())))
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
