//! What the engine's latency benches share: stand-in agents and the `duet exec-agent` shim,
//! a hermetic `git`, and the report line.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use duet_core::protocol::ToolCall;
use duet_proto::{Client, HookSource, Request, RequestBody, Response, ResponseBody};

/// How long a bench waits for an answer from the engine.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// The stand-in agent: remember the token, then pass on whatever is typed at the terminal.
pub const STAND_IN: &str = r#"#!/bin/sh
tag="$DUET_TASK.$DUET_ROLE"
printf '%s' "$DUET_TOKEN" > "$BENCH_DIR/token.$tag.tmp"
mv "$BENCH_DIR/token.$tag.tmp" "$BENCH_DIR/token.$tag"
exec cat > "$BENCH_DIR/typed.$tag"
"#;

/// Stands in for `duet exec-agent -- ARGV...`: runs ARGV (no process reports; not timed here).
pub const EXEC_SHIM: &str = r#"#!/bin/sh
[ "$1" = exec-agent ] && [ "$2" = -- ] || exit 64
shift 2
exec "$@"
"#;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn report(label: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: median {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*sorted.last().unwrap()),
        sorted.len()
    );
}

/// One agent's side of the control socket, as its bridge and hooks talk to it.
pub struct Agent {
    client: Client,
    token: String,
}

impl Agent {
    pub fn new(socket: &Path, token: String) -> Self {
        Agent {
            client: Client::new(socket, ANSWER_TIMEOUT),
            token,
        }
    }

    pub fn send(&self, body: RequestBody) -> ResponseBody {
        match self
            .client
            .send(&Request::from_agent(&self.token, body))
            .expect("the engine answers")
        {
            Response::Ok { body } => body,
            Response::Error { error } => panic!("refused: {error:?}"),
        }
    }

    #[allow(dead_code)] // not every bench calls tools
    pub fn tool(&self, call: ToolCall) -> String {
        match self.send(RequestBody::ToolCall { call }) {
            ResponseBody::ToolResult { text, is_error } => {
                assert!(!is_error, "{text}");
                text
            }
            other => panic!("expected a tool result, got {other:?}"),
        }
    }

    /// Sends a claude hook payload; returns what `duet hook claude` would print.
    pub fn hook(&self, event: &str, extra: serde_json::Value) -> Option<String> {
        let mut payload = serde_json::json!({
            "session_id": "bench-session",
            "transcript_path": "/dev/null",
            "cwd": "/",
            "hook_event_name": event,
        });
        if let (Some(payload), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
            payload.extend(extra.clone());
        }
        match self.send(RequestBody::Hook {
            source: HookSource::Claude,
            payload,
        }) {
            ResponseBody::HookReply { stdout } => stdout,
            other => panic!("expected a hook reply, got {other:?}"),
        }
    }
}
