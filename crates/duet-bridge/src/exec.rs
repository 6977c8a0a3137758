//! `duet exec-agent -- ARGV`: runs the agent in its tmux pane (stdio inherited), reports
//! `ProcessStarted{pid}` and `ProcessExited{code|signal}` to the controller, and exits with the
//! agent's code (128 + signal when it was killed).
//!
//! The wrapper catches SIGINT, SIGQUIT and SIGTSTP and does nothing with them: the agent, in the
//! same foreground process group, gets them from the tty itself. Catching (rather than ignoring)
//! keeps the agent's own dispositions at their defaults, as ignored signals would stay ignored
//! across exec. SIGTERM and SIGHUP are forwarded to the agent. Reporting failures never stop the
//! agent from running; they are logged to stderr.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use duet_proto::{Client, Request, RequestBody, Response, ResponseBody};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use crate::agent_env::AgentEnv;

/// How long each report waits for the controller (per connect/write/read step).
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the start report is sent again while no controller answers: a loaded engine can
/// take longer than one `REPORT_TIMEOUT`, and a seat whose start was never reported never gets
/// its first message. (The controller takes a repeat of the same pid once.)
pub const START_REPORT_PATIENCE: Duration = Duration::from_secs(60);

/// Between tries of the start report.
const START_REPORT_RETRY: Duration = Duration::from_millis(250);

/// The exit code when the agent could not be started (as a shell reports a missing command).
pub const SPAWN_FAILED_CODE: i32 = 127;

/// The exit code when there is nothing to run.
pub const USAGE_CODE: i32 = 2;

/// Runs `argv` (program and arguments) as the agent and returns the exit code for the wrapper.
pub fn run(argv: Vec<OsString>, env: &AgentEnv) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        log("nothing to run: usage `duet exec-agent -- PROGRAM [ARGS...]`".into());
        return USAGE_CODE;
    };
    let reporter = Reporter::from_env(env);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            log(format!("failed to start the async runtime: {err}"));
            return 1;
        }
    };
    runtime.block_on(supervise(program, args, &reporter))
}

async fn supervise(program: &OsString, args: &[OsString], reporter: &Reporter) -> i32 {
    // Handlers first, so no signal between spawn and the loop kills the wrapper.
    let mut ignored = [
        SignalKind::interrupt(),
        SignalKind::quit(),
        SignalKind::from_raw(nix::libc::SIGTSTP),
    ]
    .map(listen);
    let mut terminate = listen(SignalKind::terminate());
    let mut hangup = listen(SignalKind::hangup());

    let mut child = match tokio::process::Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(err) => {
            log(format!(
                "failed to start {}: {err}",
                program.to_string_lossy()
            ));
            reporter.report(RequestBody::ProcessExited {
                code: Some(SPAWN_FAILED_CODE),
                signal: None,
            });
            return SPAWN_FAILED_CODE;
        }
    };
    let pid = child.id();
    // Off the signal loop: the agent's signals are forwarded while the report is retried.
    let agent_ended = Arc::new(AtomicBool::new(false));
    let started = pid.map(|pid| {
        let (reporter, agent_ended) = (reporter.clone(), agent_ended.clone());
        tokio::task::spawn_blocking(move || {
            let body = RequestBody::ProcessStarted { pid };
            reporter.report_patiently(body, START_REPORT_PATIENCE, &agent_ended)
        })
    });
    let [interrupt, quit, stop] = &mut ignored;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            () = next(&mut terminate) => forward(pid, Signal::SIGTERM),
            () = next(&mut hangup) => forward(pid, Signal::SIGHUP),
            () = next(interrupt) => {}
            () = next(quit) => {}
            () = next(stop) => {}
        }
    };
    agent_ended.store(true, Ordering::Relaxed);
    if let Some(started) = started {
        // The exit is reported after the start, never before it.
        let _ = started.await;
    }
    match status {
        Ok(status) => {
            let (code, signal) = code_and_signal(status);
            reporter.report(RequestBody::ProcessExited { code, signal });
            exit_code(code, signal)
        }
        Err(err) => {
            log(format!("failed to wait for the agent: {err}"));
            reporter.report(RequestBody::ProcessExited {
                code: None,
                signal: None,
            });
            1
        }
    }
}

/// The code and signal of an ended process, as reported to the controller.
pub fn code_and_signal(status: ExitStatus) -> (Option<i32>, Option<i32>) {
    (status.code(), status.signal())
}

/// The wrapper's exit code for an agent that ended with `code` or was killed by `signal`.
pub fn exit_code(code: Option<i32>, signal: Option<i32>) -> i32 {
    match (code, signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}

fn listen(kind: SignalKind) -> Option<tokio::signal::unix::Signal> {
    match signal(kind) {
        Ok(stream) => Some(stream),
        Err(err) => {
            log(format!(
                "failed to handle signal {}: {err}",
                kind.as_raw_value()
            ));
            None
        }
    }
}

/// The next delivery of a signal; never, when it could not be handled.
async fn next(stream: &mut Option<tokio::signal::unix::Signal>) {
    match stream {
        Some(stream) => {
            if stream.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

fn forward(pid: Option<u32>, signal: Signal) {
    let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) else {
        return;
    };
    if let Err(err) = kill(Pid::from_raw(pid), signal) {
        log(format!(
            "failed to forward {signal} to the agent ({pid}): {err}"
        ));
    }
}

/// Reports to the controller when the environment names one; logs what fails.
#[derive(Debug, Clone)]
struct Reporter {
    target: Option<(Client, String)>,
}

impl Reporter {
    fn from_env(env: &AgentEnv) -> Self {
        match env.connection() {
            Ok((socket, token)) => Reporter {
                target: Some((Client::new(socket, REPORT_TIMEOUT), token)),
            },
            Err(err) => {
                log(format!(
                    "{err}; running the agent without reporting to duet"
                ));
                Reporter { target: None }
            }
        }
    }

    fn report(&self, body: RequestBody) {
        self.report_patiently(body, Duration::ZERO, &AtomicBool::new(true));
    }

    /// Reports `body`, sending it again while no controller answers, for up to `patience` or
    /// until `give_up` is set (the agent ended: its exit report goes next).
    fn report_patiently(&self, body: RequestBody, patience: Duration, give_up: &AtomicBool) {
        let Some((client, token)) = &self.target else {
            return;
        };
        let what = match &body {
            RequestBody::ProcessStarted { .. } => "the agent's start",
            _ => "the agent's exit",
        };
        let request = Request::from_agent(token.clone(), body);
        let deadline = Instant::now() + patience;
        let mut answer = client.send(&request);
        while answer.is_err()
            && !give_up.load(Ordering::Relaxed)
            && Instant::now() + START_REPORT_RETRY < deadline
        {
            std::thread::sleep(START_REPORT_RETRY);
            answer = client.send(&request);
        }
        match answer {
            Ok(Response::Ok {
                body: ResponseBody::Ack,
            }) => {}
            Ok(Response::Ok { body }) => {
                log(format!("unexpected answer to {what} from duet: {body:?}"));
            }
            Ok(Response::Error { error }) => log(format!(
                "duet refused {what} ({:?}): {}",
                error.kind, error.message
            )),
            Err(err) => log(format!(
                "failed to report {what} ({})",
                crate::failure::describe(&err)
            )),
        }
    }
}

/// Logs to stderr, ignoring failures: after a hang-up the pane's tty is gone.
fn log(message: String) {
    let _ = writeln!(std::io::stderr(), "duet exec-agent: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code(Some(3), None), 3);
        assert_eq!(exit_code(None, Some(9)), 137);
        assert_eq!(exit_code(None, None), 1);
        assert_eq!(code_and_signal(ExitStatus::from_raw(15)), (None, Some(15)));
        assert_eq!(
            code_and_signal(ExitStatus::from_raw(7 << 8)),
            (Some(7), None)
        );
    }
}
