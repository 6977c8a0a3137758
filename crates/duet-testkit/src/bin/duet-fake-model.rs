//! `duet-fake-model`: serves a fake model script over HTTP until killed, for manual runs of
//! `claude` / `codex` against a script.

use std::path::PathBuf;

use clap::Parser;
use duet_testkit::{FakeModelServer, Script, ServerOptions};

/// Serve a scripted fake Anthropic Messages + OpenAI Responses API on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "duet-fake-model")]
struct Args {
    /// The script (.toml or .json).
    #[arg(long)]
    script: PathBuf,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write the JSON lines request log (default: a temporary file, printed).
    #[arg(long)]
    log: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let script = match Script::load(&args.script) {
        Ok(script) => script,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            return std::process::ExitCode::from(2);
        }
    };
    let options = ServerOptions {
        port: args.port,
        log_path: args.log,
    };
    let server = match FakeModelServer::start_with(script, options) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{}", server.base_url());
    println!(
        "anthropic: ANTHROPIC_BASE_URL={}",
        server.anthropic_base_url()
    );
    println!("openai:    base_url={}", server.openai_base_url());
    println!("log:       {}", server.log_path().display());
    // Serve until the process is killed; the server thread does the work.
    loop {
        std::thread::park();
    }
}

fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
