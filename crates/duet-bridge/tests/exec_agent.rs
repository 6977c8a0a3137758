//! `duet exec-agent -- ARGV` as a real process wrapping real child processes, reporting to a
//! test controller on a real unix socket.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use duet_proto::{Request, RequestBody};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{TestController, bridge_bin, helper_env};

const TOKEN: &str = "tok-worker-3";
const WAIT: Duration = Duration::from_secs(10);

fn wrapper(argv: &[&str], socket: Option<&Path>, home: &Path) -> Command {
    let mut cmd = Command::new(bridge_bin());
    cmd.args(["exec-agent", "--"]).args(argv);
    helper_env(&mut cmd, socket, socket.map(|_| TOKEN), home);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn started(pid: u32) -> Request {
    Request::from_agent(TOKEN, RequestBody::ProcessStarted { pid })
}

fn exited(code: Option<i32>, signal: Option<i32>) -> Request {
    Request::from_agent(TOKEN, RequestBody::ProcessExited { code, signal })
}

fn pid_in(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Waits until the agent has written its pid (a file written by another process: no event to
/// await, so poll with a deadline).
fn wait_for_pid(path: &Path) -> u32 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.ends_with('\n') {
            return text.trim().parse().unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pid in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for the wrapper (it is our child; it must be reaped).
fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

#[test]
fn the_exit_code_is_propagated_and_start_and_exit_reported_with_the_agents_pid() {
    let controller = TestController::acking();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!(
        "echo $$ > '{}'; echo from-agent; exit 7",
        pid_file.display()
    );
    let output = wrapper(
        &["sh", "-c", &script],
        Some(controller.socket()),
        dir.path(),
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "from-agent\n");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pid = pid_in(&pid_file);
    assert_eq!(
        controller.wait_for_requests(2, WAIT),
        vec![started(pid), exited(Some(7), None)]
    );
}

#[test]
fn a_start_report_left_unanswered_is_sent_again_and_the_exit_comes_after_it() {
    // The first start report's connection is closed unanswered (a loaded engine past the
    // wrapper's timeout); the agent runs until the second one is answered, then exits.
    let dir = tempfile::tempdir().unwrap();
    let answered = dir.path().join("answered");
    let starts = std::sync::atomic::AtomicUsize::new(0);
    let controller = {
        let answered = answered.clone();
        TestController::start_answering(move |request| {
            if matches!(request.body, RequestBody::ProcessStarted { .. })
                && starts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
            {
                return None;
            }
            std::fs::write(&answered, "").unwrap();
            Some(duet_proto::Response::ok(duet_proto::ResponseBody::Ack))
        })
    };
    let pid_file = dir.path().join("pid");
    // The agent waits for the answer: a file the controller writes has no event a shell can
    // await, so it looks every 20 ms.
    let script = format!(
        "echo $$ > '{}'; while [ ! -e '{}' ]; do sleep 0.02; done; exit 5",
        pid_file.display(),
        answered.display()
    );
    let output = wrapper(
        &["sh", "-c", &script],
        Some(controller.socket()),
        dir.path(),
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(5));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pid = pid_in(&pid_file);
    assert_eq!(
        controller.wait_for_requests(3, WAIT),
        vec![started(pid), started(pid), exited(Some(5), None)]
    );
}

#[test]
fn a_killed_agent_is_reported_with_its_signal_and_exits_128_plus_signal() {
    let controller = TestController::acking();
    let dir = tempfile::tempdir().unwrap();
    let output = wrapper(
        &["sh", "-c", "kill -KILL $$"],
        Some(controller.socket()),
        dir.path(),
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(128 + 9));
    let requests = controller.wait_for_requests(2, WAIT);
    assert!(matches!(
        requests[0].body,
        RequestBody::ProcessStarted { .. }
    ));
    assert_eq!(requests[1], exited(None, Some(9)));
}

#[test]
fn sigterm_is_forwarded_and_tty_signals_do_not_stop_the_wrapper() {
    let controller = TestController::acking();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // `exec` so that the pid written is the process that receives the signals.
    let script = format!("echo $$ > '{}'; exec sleep 60", pid_file.display());
    let child = wrapper(
        &["sh", "-c", &script],
        Some(controller.socket()),
        dir.path(),
    )
    .spawn()
    .unwrap();
    let wrapper_pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    let requests = controller.wait_for_requests(1, WAIT);
    let RequestBody::ProcessStarted { pid: agent_pid } = requests[0].body else {
        panic!("first report is not the start: {requests:?}");
    };
    assert_eq!(wait_for_pid(&pid_file), agent_pid);
    // The wrapper alone gets the tty signals here (the agent would get its own from the tty):
    // they must neither end the wrapper nor reach the agent.
    for signal in [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGTSTP] {
        kill(wrapper_pid, signal).unwrap();
    }
    kill(wrapper_pid, Signal::SIGTERM).unwrap();
    let output = finish(child);
    assert_eq!(
        output.status.code(),
        Some(128 + 15),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        controller.wait_for_requests(2, WAIT),
        vec![started(agent_pid), exited(None, Some(15))]
    );
}

#[test]
fn sighup_is_forwarded_to_the_agent() {
    let controller = TestController::acking();
    let dir = tempfile::tempdir().unwrap();
    let child = wrapper(&["sleep", "60"], Some(controller.socket()), dir.path())
        .spawn()
        .unwrap();
    controller.wait_for_requests(1, WAIT);
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGHUP,
    )
    .unwrap();
    let output = finish(child);
    assert_eq!(output.status.code(), Some(128 + 1));
    assert_eq!(
        controller.wait_for_requests(2, WAIT)[1],
        exited(None, Some(1))
    );
}

#[test]
fn the_agent_starts_with_default_dispositions_for_the_tty_signals() {
    let dir = tempfile::tempdir().unwrap();
    // grep reports its own ignored-signal mask, inherited across exec.
    let output = wrapper(&["grep", "^SigIgn:", "/proc/self/status"], None, dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let line = String::from_utf8(output.stdout).unwrap();
    let mask = u64::from_str_radix(line.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    for signal in [
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTSTP,
        Signal::SIGTERM,
        Signal::SIGHUP,
    ] {
        let bit = 1u64 << (signal as i32 - 1);
        assert_eq!(mask & bit, 0, "{signal} is ignored in the agent: {line}");
    }
}

#[test]
fn without_duet_the_agent_still_runs_and_the_reason_goes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let output = wrapper(&["sh", "-c", "echo ran; exit 3"], None, dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ran\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("DUET_SOCKET and DUET_TOKEN not set")
            && stderr.contains("; running the agent without reporting to duet"),
        "{stderr}"
    );

    let missing = dir.path().join("gone.sock");
    let output = wrapper(&["sh", "-c", "exit 4"], Some(&missing), dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("failed to report the agent's start"),
        "{stderr}"
    );
    assert!(
        stderr.contains("failed to report the agent's exit"),
        "{stderr}"
    );
}

#[test]
fn an_agent_that_cannot_start_exits_127_and_is_reported() {
    let controller = TestController::acking();
    let dir = tempfile::tempdir().unwrap();
    let output = wrapper(
        &["/nonexistent/agent-cli"],
        Some(controller.socket()),
        dir.path(),
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("failed to start /nonexistent/agent-cli"),
        "{stderr}"
    );
    assert_eq!(
        controller.wait_for_requests(1, WAIT),
        vec![exited(Some(127), None)]
    );
}

#[test]
fn nothing_to_run_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = wrapper(&[], None, dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage"));
}
