//! A stand-in for the `duet` binary in this crate's tests: dispatches `mcp`, `hook claude|codex
//! [PAYLOAD]` and `exec-agent -- ARGV...` exactly as the CLI does.

use std::ffi::OsString;
use std::process::ExitCode;

use duet_bridge::{AgentEnv, exec, hook, mcp};
use duet_proto::HookSource;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let command = args.next().map(|arg| arg.to_string_lossy().into_owned());
    let rest: Vec<OsString> = args.collect();
    let env = AgentEnv::from_process();
    let code = match command.as_deref() {
        Some("mcp") => match mcp::Config::from_env(&env).and_then(mcp::serve_stdio) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("duet mcp: {err}");
                1
            }
        },
        Some("hook") => {
            let source = match rest.first().map(|s| s.to_string_lossy()) {
                Some(name) if name == "claude" => HookSource::Claude,
                Some(name) if name == "codex" => HookSource::Codex,
                other => {
                    eprintln!("duet hook: expected `claude` or `codex`, got {other:?}");
                    return ExitCode::from(2);
                }
            };
            let payload = rest
                .get(1..)
                .and_then(<[OsString]>::last)
                .map(|arg| arg.to_string_lossy().into_owned());
            hook::run(source, payload, &env)
        }
        Some("exec-agent") => {
            let argv = match rest.split_first() {
                Some((first, tail)) if first == "--" => tail.to_vec(),
                _ => rest,
            };
            exec::run(argv, &env)
        }
        other => {
            eprintln!(
                "usage: duet-bridge-test mcp | hook claude|codex [PAYLOAD] | exec-agent -- ARGV...; got {other:?}"
            );
            2
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
