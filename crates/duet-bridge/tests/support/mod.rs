//! Shared helpers of the bridge tests: a test controller (a thread serving a real unix socket
//! that records requests and answers from a script) and the path of the test binary.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use duet_proto::{Request, Response, ResponseBody, decode_line, encode_line, read_frame};

/// The stand-in for `duet` built with these tests.
pub fn bridge_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_duet-bridge-test"))
}

/// `None`: the connection is closed without an answer (a daemon that died mid-request).
type Answer = Box<dyn Fn(&Request) -> Option<Response> + Send + Sync>;

#[derive(Default)]
struct Recorded {
    requests: Mutex<Vec<Request>>,
    changed: Condvar,
}

/// A controller stand-in on a real unix socket: one request per connection, each recorded and
/// answered by the scripted function.
pub struct TestController {
    _dir: Option<tempfile::TempDir>,
    socket: PathBuf,
    recorded: Arc<Recorded>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestController {
    /// Answers every request with `Ack`.
    pub fn acking() -> Self {
        Self::start(|_| Response::ok(ResponseBody::Ack))
    }

    pub fn start(answer: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("duet-bridge-")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("duet.sock");
        let mut controller = Self::start_at(socket, answer);
        controller._dir = Some(dir);
        controller
    }

    /// Serves at `socket` (a controller restarting at the same path); the caller owns its
    /// directory.
    pub fn start_at(
        socket: PathBuf,
        answer: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Self {
        Self::serve_at(socket, Box::new(move |request| Some(answer(request))))
    }

    /// Answers from `answer`; `None` closes the connection unanswered.
    pub fn start_answering(
        answer: impl Fn(&Request) -> Option<Response> + Send + Sync + 'static,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("duet-bridge-")
            .tempdir()
            .unwrap();
        let mut controller = Self::serve_at(dir.path().join("duet.sock"), Box::new(answer));
        controller._dir = Some(dir);
        controller
    }

    /// Serves at `socket`, reading and recording each request and closing its connection
    /// without an answer (a daemon killed after reading a call).
    pub fn start_unanswering_at(socket: PathBuf) -> Self {
        Self::serve_at(socket, Box::new(|_| None))
    }

    fn serve_at(socket: PathBuf, answer: Answer) -> Self {
        let listener = UnixListener::bind(&socket).unwrap();
        let recorded = Arc::new(Recorded::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let recorded = Arc::clone(&recorded);
            let stopping = Arc::clone(&stopping);
            std::thread::spawn(move || serve(listener, &answer, &recorded, &stopping))
        };
        TestController {
            _dir: None,
            socket,
            recorded,
            stopping,
            thread: Some(thread),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.recorded.requests.lock().unwrap().clone()
    }

    /// Waits until `n` tool calls arrived (other requests, such as the bridge's ready report,
    /// are left out); panics after `timeout`.
    pub fn wait_for_tool_calls(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let is_call = |r: &Request| matches!(r.body, duet_proto::RequestBody::ToolCall { .. });
        let deadline = Instant::now() + timeout;
        let mut requests = self.recorded.requests.lock().unwrap();
        while requests.iter().filter(|r| is_call(r)).count() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {n} tool calls; got {:?}",
                *requests
            );
            requests = self
                .recorded
                .changed
                .wait_timeout(requests, left)
                .unwrap()
                .0;
        }
        requests.iter().filter(|r| is_call(r)).cloned().collect()
    }

    /// The tool calls received so far.
    pub fn tool_calls(&self) -> Vec<Request> {
        let requests = self.recorded.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| matches!(r.body, duet_proto::RequestBody::ToolCall { .. }))
            .cloned()
            .collect()
    }

    /// Waits until `n` requests arrived (woken by each arrival); panics after `timeout`.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut requests = self.recorded.requests.lock().unwrap();
        while requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{n} requests expected within {timeout:?}, got {requests:#?}"
            );
            requests = self
                .recorded
                .changed
                .wait_timeout(requests, left)
                .unwrap()
                .0;
        }
        requests.clone()
    }

    /// Stops serving and removes the socket (a controller that went away).
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stopping.store(true, Ordering::SeqCst);
            // Wake the accept() with a connection of our own.
            let _ = UnixStream::connect(&self.socket);
            thread.join().unwrap();
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

impl Drop for TestController {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: UnixListener, answer: &Answer, recorded: &Recorded, stopping: &AtomicBool) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let Ok(frame) = read_frame(&mut reader) else {
            continue;
        };
        let request: Request = decode_line(&frame).expect("the helpers send valid requests");
        let response = answer(&request);
        recorded.requests.lock().unwrap().push(request);
        recorded.changed.notify_all();
        if let Some(response) = response {
            let _ = stream.write_all(&encode_line(&response));
        }
    }
}

/// A socket that accepts connections and never answers (a hung controller). Dropping it closes
/// the listener.
pub struct SilentController {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    _listener: UnixListener,
}

impl SilentController {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("duet-bridge-silent-")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("duet.sock");
        // Unaccepted connections wait in the backlog: connect succeeds, reads time out.
        let listener = UnixListener::bind(&socket).unwrap();
        SilentController {
            _dir: dir,
            socket,
            _listener: listener,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

/// Env for a spawned helper: only the given duet variables (the test process's own DUET_* are
/// removed), HOME isolated.
pub fn helper_env(
    cmd: &mut std::process::Command,
    socket: Option<&Path>,
    token: Option<&str>,
    home: &Path,
) {
    for name in ["DUET_SOCKET", "DUET_TOKEN", "DUET_TASK", "DUET_ROLE"] {
        cmd.env_remove(name);
    }
    cmd.env("HOME", home);
    if let Some(socket) = socket {
        cmd.env("DUET_SOCKET", socket);
    }
    if let Some(token) = token {
        cmd.env("DUET_TOKEN", token);
    }
}
