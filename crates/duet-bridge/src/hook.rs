//! `duet hook claude|codex`: forwards a hook payload (claude: the JSON on stdin; codex's notify:
//! the JSON in the last argument) to the controller and prints its reply for claude's Stop hook.
//!
//! A hook must never block or break the agent: the exit code is always 0, the socket timeout is
//! short ([`HOOK_TIMEOUT`]; claude's Stop hook, whose answer hands messages over, waits longer:
//! [`TURN_END_ANSWER_TIMEOUT`]), and every problem (no controller, bad JSON, a refusal) is only
//! logged to stderr. A hook that finds nobody listening, or whose daemon died before answering,
//! tries again for a while: a daemon being restarted must not miss a turn's end. How long
//! depends on who waits for the hook ([`retry_window`]): a turn's end (claude's Stop, codex's
//! notify) keeps trying for [`TURN_END_RETRY_WINDOW`], long enough for a human to start duet
//! again; a hook claude waits on mid-turn (before and after each tool, a prompt) only for
//! [`CONNECT_RETRY_WINDOW`], as every second of it stalls the agent's work while duet is down.
//! Whatever a hook could not tell, the next daemon learns from the agent's pane (adoption's idle
//! watch) and a turn that ends later. Each run adds one id to the payload (`duet_request_id`), the same on every
//! retry, so the controller answers a retried hook it already handled with the same answer.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use duet_core::wire::HOOK_REQUEST_ID_FIELD;
use duet_proto::{
    Client, ClientError, ClientErrorKind, FrameError, HookSource, MAX_FRAME_BYTES, Request,
    RequestBody, Response, ResponseBody,
};

use crate::agent_env::AgentEnv;

/// How long a hook waits for the controller (per connect/write/read step).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a hook the agent waits on mid-turn keeps trying while nobody listens or the daemon
/// dies before answering: it covers the engine's own restart (about a second) without stalling
/// each tool call of an agent whose duet is down for long. A controller that is only slow (a
/// timeout) is not asked again.
pub const CONNECT_RETRY_WINDOW: Duration = Duration::from_secs(5);

/// How long a turn's end keeps trying: claude's Stop hook (the turn is over, the wait only holds
/// its prompt back; claude gives a hook 60 s) and codex's notify (codex does not wait for it).
/// Long enough for a human to run `duet run` again; the Stop hook's answer hands over what is
/// queued for the agent.
pub const TURN_END_RETRY_WINDOW: Duration = Duration::from_secs(30);

/// How long claude's Stop hook waits for the controller's answer (per step): the turn is over
/// and the answer is what hands over the agent's queued messages, so a controller that is only
/// busy (another pair's merge, a pair stopping) must not make the hook give up after
/// [`HOOK_TIMEOUT`] while the controller goes on to hand the messages over into a closed
/// connection. Under claude's own 60 s limit for a hook.
pub const TURN_END_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The per-step timeout of a hook from `source` with `payload`.
pub fn answer_timeout(source: HookSource, payload: &serde_json::Value) -> Duration {
    let event = payload.get("hook_event_name").and_then(|v| v.as_str());
    match (source, event) {
        (HookSource::Claude, Some("Stop")) => TURN_END_ANSWER_TIMEOUT,
        _ => HOOK_TIMEOUT,
    }
}

/// The retry window of a hook from `source` with `payload`.
pub fn retry_window(source: HookSource, payload: &serde_json::Value) -> Duration {
    let event = payload.get("hook_event_name").and_then(|v| v.as_str());
    match (source, event) {
        (HookSource::Codex, _) | (HookSource::Claude, Some("Stop")) => TURN_END_RETRY_WINDOW,
        (HookSource::Claude, _) => CONNECT_RETRY_WINDOW,
    }
}

/// The pause between two connection attempts.
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The largest payload forwarded; the request around it must fit in one frame.
pub const MAX_PAYLOAD_BYTES: usize = MAX_FRAME_BYTES - 4 * 1024;

/// Runs the hook with this process's stdin, stdout and stderr. `payload_arg` is the payload
/// given as an argument (codex's notify; for claude, stdin is read when it is `None`).
/// Returns the exit code (always 0).
pub fn run(source: HookSource, payload_arg: Option<String>, env: &AgentEnv) -> i32 {
    run_with(
        source,
        payload_arg,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        env,
    )
}

/// The flag before the user's own codex notify command (see `duet_agents::CODEX_NOTIFY_CHAIN_FLAG`).
pub const CODEX_CHAIN_FLAG: &str = "--then";

/// `duet hook codex ARGS...`: codex's notify. `ARGS` are `[--then '<json argv>'] PAYLOAD`: the
/// payload goes to duet, then the user's own notify command (which duet's `-c notify` replaced)
/// runs with the same payload argument, so theirs keeps working. Returns the exit code (always 0).
pub fn run_codex_notify(args: &[String], env: &AgentEnv) -> i32 {
    let stderr = &mut std::io::stderr().lock();
    let (chain, payload) = split_codex_args(args);
    // The user's command first: duet's part may keep trying for a while (a daemon restarting).
    match chain {
        Ok(Some(argv)) => {
            // Not waited for: codex does not wait for its notify either, and a slow command of
            // the user's must not hold up the agent.
            if let Err(err) = run_chained(&argv, payload.as_deref()) {
                let _ = writeln!(
                    stderr,
                    "duet hook codex: failed to run your own notify command {argv:?}: {err}"
                );
            }
        }
        Ok(None) => {}
        Err(message) => {
            let _ = writeln!(stderr, "duet hook codex: {message}");
        }
    }
    run_with(
        HookSource::Codex,
        payload,
        &mut std::io::empty(),
        &mut std::io::stdout().lock(),
        stderr,
        env,
    )
}

/// Splits `duet hook codex`'s arguments into the chained command (if any) and the payload
/// (the last argument, which codex appends).
pub fn split_codex_args(args: &[String]) -> (Result<Option<Vec<String>>, String>, Option<String>) {
    let payload = args.last().cloned();
    let chain = match args.iter().position(|a| a == CODEX_CHAIN_FLAG) {
        None => Ok(None),
        Some(at) if at + 2 > args.len().saturating_sub(1) => Err(format!(
            "{CODEX_CHAIN_FLAG} needs a JSON array of the command and a payload after it"
        )),
        Some(at) => serde_json::from_str::<Vec<String>>(&args[at + 1])
            .map_err(|err| {
                format!("{CODEX_CHAIN_FLAG} takes a JSON array of strings ({err}); not run")
            })
            .map(|argv| (!argv.is_empty()).then_some(argv)),
    };
    (chain, payload)
}

/// Starts the user's own notify command `argv` with `payload` as its last argument, its output
/// discarded, and returns it (not waited for).
pub fn run_chained(argv: &[String], payload: Option<&str>) -> std::io::Result<std::process::Child> {
    let (program, rest) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest)
        .args(payload)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd.spawn()
}

/// [`run`] over the given streams.
pub fn run_with(
    source: HookSource,
    payload_arg: Option<String>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    env: &AgentEnv,
) -> i32 {
    let name = source_name(source);
    duet_proto::hop_log::mark("hook.start", name);
    let mut log = |message: String| {
        // Ignore write errors: the agent may have closed our stderr.
        let _ = writeln!(stderr, "duet hook {name}: {message}");
    };
    let raw = match (source, payload_arg) {
        (_, Some(arg)) => arg.into_bytes(),
        (HookSource::Claude, None) => match read_bounded(stdin) {
            Ok(bytes) => bytes,
            Err(message) => {
                log(message);
                return 0;
            }
        },
        (HookSource::Codex, None) => {
            log("no payload: codex passes the notify JSON as the last argument".into());
            return 0;
        }
    };
    if raw.len() > MAX_PAYLOAD_BYTES {
        log(format!(
            "payload of {} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit; not forwarded",
            raw.len()
        ));
        return 0;
    }
    let mut payload: serde_json::Value = match serde_json::from_slice(&raw) {
        Ok(payload) => payload,
        Err(err) => {
            log(format!("payload is not JSON ({err}); not forwarded"));
            return 0;
        }
    };
    let (socket, token) = match env.connection() {
        Ok(connection) => connection,
        Err(err) => {
            log(format!("{err}; payload not forwarded"));
            return 0;
        }
    };
    if let Some(fields) = payload.as_object_mut() {
        fields.insert(
            HOOK_REQUEST_ID_FIELD.to_owned(),
            serde_json::Value::String(request_id()),
        );
    }
    let window = retry_window(source, &payload);
    let client = Client::new(&socket, answer_timeout(source, &payload));
    let event = hook_event_name(&payload);
    let request = Request::from_agent(token, RequestBody::Hook { source, payload });
    duet_proto::hop_log::mark("hook.send", format_args!("{name} {event}"));
    let answer = send_retrying_connect(&client, &request, window);
    duet_proto::hop_log::mark("hook.answered", format_args!("{name} {event}"));
    match answer {
        Ok(Response::Ok {
            body: ResponseBody::HookReply { stdout: Some(text) },
        }) => {
            if let Err(err) = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                log(format!("failed to print duet's reply: {err}"));
            }
        }
        Ok(Response::Ok {
            body: ResponseBody::HookReply { stdout: None } | ResponseBody::Ack,
        }) => {}
        Ok(Response::Ok { body }) => log(format!("unexpected answer from duet: {body:?}")),
        Ok(Response::Error { error }) => log(format!(
            "duet refused the payload ({:?}): {}",
            error.kind, error.message
        )),
        Err(err) => {
            log(format!(
                "duet is not reachable ({}); payload dropped",
                crate::failure::describe(&err)
            ));
        }
    }
    0
}

/// The hook's event (claude's `hook_event_name`, codex's `type`), for the hop log.
fn hook_event_name(payload: &serde_json::Value) -> String {
    payload
        .get("hook_event_name")
        .or_else(|| payload.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("?")
        .to_owned()
}

/// An id unique to this hook run: pid and start time.
fn request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Sends `request`, trying again until `window` has passed while nobody listens or the
/// controller went away without answering (or answered that it is shutting down).
fn send_retrying_connect(
    client: &Client,
    request: &Request,
    window: Duration,
) -> Result<Response, ClientError> {
    let deadline = Instant::now() + window;
    loop {
        match client.send(request) {
            Err(err) if controller_gone(&err) && Instant::now() < deadline => {
                std::thread::sleep(CONNECT_RETRY_PAUSE);
            }
            // Its loop had ended: as good as a daemon that died before answering.
            Ok(answer) if answer.is_shutting_down() && Instant::now() < deadline => {
                std::thread::sleep(CONNECT_RETRY_PAUSE);
            }
            other => return other,
        }
    }
}

/// Nobody listens, or the connection closed without an answer (the daemon died); not a
/// timeout, which means a controller that is alive.
fn controller_gone(err: &ClientError) -> bool {
    if err.kind == ClientErrorKind::Connect {
        return true;
    }
    match &err.source {
        Some(FrameError::Truncated) => true,
        Some(FrameError::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

fn source_name(source: HookSource) -> &'static str {
    match source {
        HookSource::Claude => "claude",
        HookSource::Codex => "codex",
    }
}

/// Reads stdin up to the limit. An oversized input is drained (so the agent's write does not
/// fail) and refused.
fn read_bounded(stdin: &mut dyn Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_PAYLOAD_BYTES).unwrap_or(u64::MAX) + 1;
    stdin
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("failed to read the payload from stdin: {err}"))?;
    if bytes.len() > MAX_PAYLOAD_BYTES {
        let rest = std::io::copy(stdin, &mut std::io::sink()).unwrap_or(0);
        let total = u64::try_from(bytes.len()).unwrap_or(u64::MAX) + rest;
        return Err(format!(
            "payload of {total} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit; not forwarded"
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_in_memory(
        source: HookSource,
        arg: Option<&str>,
        stdin: &[u8],
        env: &AgentEnv,
    ) -> (i32, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run_with(
            source,
            arg.map(str::to_owned),
            &mut &stdin[..],
            &mut out,
            &mut err,
            env,
        );
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn bad_json_is_logged_and_exits_zero() {
        let env = AgentEnv::default();
        let (code, out, err) = run_in_memory(HookSource::Claude, None, b"{not json", &env);
        assert_eq!((code, out.as_str()), (0, ""));
        assert!(
            err.starts_with("duet hook claude: payload is not JSON"),
            "{err}"
        );
    }

    #[test]
    fn codex_without_an_argument_is_logged() {
        let (code, _, err) = run_in_memory(HookSource::Codex, None, b"", &AgentEnv::default());
        assert_eq!(code, 0);
        assert!(err.contains("no payload"), "{err}");
    }

    #[test]
    fn an_oversized_payload_is_drained_and_refused() {
        let big = vec![b' '; MAX_PAYLOAD_BYTES + 100];
        let (code, _, err) = run_in_memory(HookSource::Claude, None, &big, &AgentEnv::default());
        assert_eq!(code, 0);
        assert!(
            err.contains(&format!(
                "payload of {} bytes is over",
                MAX_PAYLOAD_BYTES + 100
            )),
            "{err}"
        );
    }

    #[test]
    fn codex_args_split_into_the_users_command_and_the_payload() {
        let args = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (chain, payload) = split_codex_args(&args(&["{\"type\":1}"]));
        assert_eq!(
            (chain, payload.as_deref()),
            (Ok(None), Some("{\"type\":1}"))
        );
        let (chain, payload) =
            split_codex_args(&args(&["--then", r#"["notify-send","-u","low"]"#, "{}"]));
        assert_eq!(
            chain,
            Ok(Some(args(&["notify-send", "-u", "low"]))),
            "the user's argv, in order"
        );
        assert_eq!(payload.as_deref(), Some("{}"));
        let (chain, _) = split_codex_args(&args(&["--then", "not json", "{}"]));
        assert!(chain.unwrap_err().contains("JSON array"));
        let (chain, _) = split_codex_args(&args(&["--then", "{}"]));
        assert!(chain.unwrap_err().contains("needs"));
    }

    #[test]
    fn the_users_command_runs_with_the_same_payload() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("args");
        let script = format!("printf '%s\\n' \"$@\" > {}", out.display());
        let argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            script,
            "sh".to_owned(),
            "first".to_owned(),
        ];
        let status = run_chained(&argv, Some(r#"{"type":"agent-turn-complete"}"#))
            .unwrap()
            .wait()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "first\n{\"type\":\"agent-turn-complete\"}\n"
        );
        assert!(run_chained(&[], None).is_err());
    }

    #[test]
    fn a_turns_end_keeps_trying_longer_than_a_hook_the_agent_waits_on() {
        let claude = |event: &str| serde_json::json!({ "hook_event_name": event });
        assert_eq!(
            retry_window(HookSource::Claude, &claude("Stop")),
            TURN_END_RETRY_WINDOW
        );
        assert_eq!(
            retry_window(
                HookSource::Codex,
                &serde_json::json!({"type": "agent-turn-complete"})
            ),
            TURN_END_RETRY_WINDOW
        );
        for event in [
            "PreToolUse",
            "PostToolUse",
            "UserPromptSubmit",
            "SessionStart",
        ] {
            assert_eq!(
                retry_window(HookSource::Claude, &claude(event)),
                CONNECT_RETRY_WINDOW,
                "{event}"
            );
        }
        assert!(
            TURN_END_RETRY_WINDOW < Duration::from_secs(60),
            "claude's hook timeout"
        );
    }

    #[test]
    fn a_missing_environment_is_logged() {
        let (code, _, err) = run_in_memory(HookSource::Claude, None, b"{}", &AgentEnv::default());
        assert_eq!(code, 0);
        assert!(err.contains("DUET_SOCKET and DUET_TOKEN not set"), "{err}");
    }
}
