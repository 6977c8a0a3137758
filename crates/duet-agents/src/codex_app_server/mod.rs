//! A JSON-RPC client for `codex app-server`: starting the server (on a unix socket in a private
//! folder, or on stdio), the `initialize` handshake, the thread / turn requests duet needs, and
//! a typed stream of notifications and server requests (approvals answered by a policy).
//!
//! - [`activity`]: the running turn per thread, from notifications; start or steer.
//! - [`leftovers`]: a seat's files beside the engine's socket, removed when it ends.
//! - [`protocol`]: the messages as serde types and the pure decoding ([`protocol::decode`]).
//! - [`ws`]: the minimal WebSocket framing codex uses on its unix socket.
//!
//! Threads, not tokio: one reader thread per connection routes responses to the waiting
//! request and everything else to an unbounded channel (a dropped `turn/completed` would leave
//! duet believing codex busy forever, so nothing is dropped; the consumer drains it).

pub mod activity;
pub mod leftovers;
pub mod protocol;
pub mod ws;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use protocol::{
    Incoming, Notification, RequestId, RpcError, ServerRequest, ThreadResumeParams,
    ThreadStartParams, ThreadStarted, TurnStartParams, TurnStarted, TurnSteerParams, TurnSteered,
    UserInput,
};

/// Why the app-server could not be started or talked to.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action}: {kind}")]
pub struct AppServerError {
    /// What was being done, e.g. "start turn/start".
    pub action: String,
    pub kind: AppServerErrorKind,
    #[source]
    pub source: Option<std::io::Error>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppServerErrorKind {
    #[error("cannot start the process")]
    Spawn,
    #[error("the app-server exited before it listened ({0})")]
    Exited(String),
    #[error("cannot reach its socket")]
    Connect,
    #[error("the connection broke")]
    Io,
    #[error("the connection is closed")]
    Closed,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the app-server answered with error {code}: {message}")]
    Rpc { code: i64, message: String },
    #[error("unexpected answer: {0}")]
    Decode(String),
    #[error("the socket folder is not private: {0}")]
    Folder(String),
}

impl AppServerError {
    fn new(action: impl Into<String>, kind: AppServerErrorKind) -> Self {
        AppServerError {
            action: action.into(),
            kind,
            source: None,
        }
    }

    fn io(action: impl Into<String>, kind: AppServerErrorKind, err: std::io::Error) -> Self {
        AppServerError {
            action: action.into(),
            kind,
            source: Some(err),
        }
    }
}

/// Where the app-server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// Its stdin / stdout: only the process that started it can talk to it.
    Stdio,
    /// `unix://PATH` (codex speaks WebSocket on it). The folder must be private (0700).
    Unix(PathBuf),
}

/// How to start one app-server.
#[derive(Debug, Clone)]
pub struct AppServerCommand {
    pub program: PathBuf,
    /// Arguments after `app-server --listen ...` (e.g. `-c key=value` overrides).
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub listen: Listen,
    /// Where its stderr goes (none: discarded).
    pub stderr_log: Option<PathBuf>,
    /// How long to wait for it to listen and for each answer.
    pub timeout: Duration,
}

/// What the approval policy says to a server request.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyAnswer {
    /// Answer now (e.g. `ApprovalDecision::Accept.to_result()`, or an RPC error).
    Reply(Result<Value, RpcError>),
    /// Do not answer: the request goes to the event stream; answer it later with
    /// [`AppServerClient::answer`] (a human decides).
    Defer,
}

/// The policy callback, called on the reader thread: it must not block.
pub type ApprovalPolicy = Arc<dyn Fn(&ServerRequest) -> PolicyAnswer + Send + Sync>;

/// A policy that defers every request to the event stream.
pub fn defer_all() -> ApprovalPolicy {
    Arc::new(|_| PolicyAnswer::Defer)
}

/// What the connection reports, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Notification(Notification),
    /// A server request the policy deferred.
    ServerRequest {
        id: RequestId,
        request: ServerRequest,
    },
    /// A message that could not be decoded (kept, not fatal).
    Undecodable(String),
    /// The connection ended (the server exited or closed it).
    Closed,
}

/// A running app-server process; killed and reaped on drop (nothing outlives duet's handle,
/// and no zombie stays: process 1 does not reap here).
#[derive(Debug)]
pub struct AppServer {
    child: Child,
    listen: Listen,
}

impl AppServer {
    /// Starts the server, connects, and does the `initialize` / `initialized` handshake.
    pub fn start(
        command: &AppServerCommand,
        policy: ApprovalPolicy,
    ) -> Result<(AppServer, AppServerClient, Receiver<Event>), AppServerError> {
        let listen_arg = match &command.listen {
            Listen::Stdio => "stdio://".to_owned(),
            Listen::Unix(path) => {
                let folder = path.parent().unwrap_or(Path::new("/"));
                private_folder(folder)?;
                // A socket left by a killed server would make `--listen` fail or mislead
                // the connect below.
                let _ = std::fs::remove_file(path);
                format!("unix://{}", path.display())
            }
        };
        let mut cmd = Command::new(&command.program);
        cmd.arg("app-server")
            .arg("--listen")
            .arg(&listen_arg)
            .args(&command.args)
            .current_dir(&command.cwd)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Its own group: `codex` is a node wrapper around the native binary, and killing
            // the wrapper alone leaves the server running (holding its socket).
            .process_group(0);
        if command.listen == Listen::Stdio {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        }
        match &command.stderr_log {
            Some(path) => {
                let file = std::fs::File::create(path).map_err(|e| {
                    AppServerError::io("create the app-server log", AppServerErrorKind::Spawn, e)
                })?;
                cmd.stderr(file);
            }
            None => {
                cmd.stderr(Stdio::null());
            }
        }
        let mut child = cmd.spawn().map_err(|e| {
            AppServerError::io(
                format!("start {} app-server", command.program.display()),
                AppServerErrorKind::Spawn,
                e,
            )
        })?;
        let connection = match &command.listen {
            Listen::Stdio => {
                let stdin = child.stdin.take().expect("piped stdin");
                let stdout = child.stdout.take().expect("piped stdout");
                Ok(Transport::stdio(stdin, stdout))
            }
            Listen::Unix(path) => wait_for_socket(&mut child, path, command.timeout),
        };
        let mut server = AppServer {
            child,
            listen: command.listen.clone(),
        };
        let (client, events) =
            match connection.and_then(|t| AppServerClient::handshake(t, policy, command.timeout)) {
                Ok(pair) => pair,
                Err(err) => {
                    server.kill();
                    return Err(err);
                }
            };
        Ok((server, client, events))
    }

    /// Where it listens.
    pub fn listen(&self) -> &Listen {
        &self.listen
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills its whole process group at once (SIGKILL: what a crash looks like) and reaps
    /// the wrapper. The native server, orphaned in the same instant, is reparented.
    pub fn kill(&mut self) {
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// Asks it to stop (SIGTERM to its group: the wrapper waits for the native server), waits
    /// up to `grace`, then kills what is left.
    pub fn stop(&mut self, grace: Duration) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.signal_group(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        // No event tells a child's exit without blocking; poll briefly.
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    fn signal_group(&self, signal: Signal) {
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pgid), signal);
        }
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

/// Connects another client to a server listening on `path` (e.g. duet restarted while the
/// app-server kept running) and does the handshake.
pub fn connect_unix(
    path: &Path,
    policy: ApprovalPolicy,
    timeout: Duration,
) -> Result<(AppServerClient, Receiver<Event>), AppServerError> {
    let stream = UnixStream::connect(path).map_err(|e| {
        AppServerError::io(
            format!("connect to {}", path.display()),
            AppServerErrorKind::Connect,
            e,
        )
    })?;
    AppServerClient::handshake(Transport::unix(stream, path)?, policy, timeout)
}

/// Makes `folder` (and parents) exist, and checks it is 0700: the socket's only guard.
fn private_folder(folder: &Path) -> Result<(), AppServerError> {
    let action = format!("prepare the socket folder {}", folder.display());
    std::fs::create_dir_all(folder)
        .map_err(|e| AppServerError::io(&action, AppServerErrorKind::Folder("create".into()), e))?;
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| AppServerError::io(&action, AppServerErrorKind::Folder("chmod".into()), e))?;
    let mode = std::fs::metadata(folder)
        .map_err(|e| AppServerError::io(&action, AppServerErrorKind::Folder("stat".into()), e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(AppServerError::new(
            action,
            AppServerErrorKind::Folder(format!("mode {:o}", mode & 0o777)),
        ));
    }
    Ok(())
}

/// Connects once the server listens. There is no event for "listening" (codex prints nothing
/// on stdout in this mode), so this retries the connect briefly, and stops early if it exited.
fn wait_for_socket(
    child: &mut Child,
    path: &Path,
    timeout: Duration,
) -> Result<Transport, AppServerError> {
    let action = format!("connect to the app-server at {}", path.display());
    let deadline = Instant::now() + timeout;
    loop {
        match UnixStream::connect(path) {
            Ok(stream) => return Transport::unix(stream, path),
            Err(err) => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(AppServerError::io(
                        action,
                        AppServerErrorKind::Exited(status.to_string()),
                        err,
                    ));
                }
                if Instant::now() >= deadline {
                    return Err(AppServerError::io(action, AppServerErrorKind::Connect, err));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The two ends of one connection.
struct Transport {
    writer: Writer,
    reader: Box<dyn FnMut() -> Option<ReadItem> + Send>,
}

enum ReadItem {
    Message(String),
    Ping(Vec<u8>),
}

enum Writer {
    Stdio(ChildStdin),
    Ws(ws::WsWriter),
}

impl Writer {
    fn send(&mut self, text: &str) -> std::io::Result<()> {
        match self {
            Writer::Stdio(stdin) => {
                stdin.write_all(text.as_bytes())?;
                stdin.write_all(b"\n")?;
                stdin.flush()
            }
            Writer::Ws(ws) => ws.send_text(text),
        }
    }
}

impl Transport {
    fn stdio(stdin: ChildStdin, stdout: std::process::ChildStdout) -> Transport {
        let mut lines = BufReader::new(stdout).lines();
        Transport {
            writer: Writer::Stdio(stdin),
            reader: Box::new(move || lines.next()?.ok().map(ReadItem::Message)),
        }
    }

    fn unix(stream: UnixStream, path: &Path) -> Result<Transport, AppServerError> {
        let (mut reader, writer) = ws::connect(stream).map_err(|e| {
            AppServerError::io(
                format!("open a WebSocket on {}", path.display()),
                AppServerErrorKind::Connect,
                e,
            )
        })?;
        Ok(Transport {
            writer: Writer::Ws(writer),
            reader: Box::new(move || match reader.read().ok()? {
                ws::Frame::Text(text) => Some(ReadItem::Message(text)),
                ws::Frame::Ping(payload) => Some(ReadItem::Ping(payload)),
                ws::Frame::Close => None,
            }),
        })
    }
}

type Pending = Arc<Mutex<HashMap<RequestId, Sender<Result<Value, RpcError>>>>>;

/// One JSON-RPC connection to an app-server. Requests may be sent from several threads.
pub struct AppServerClient {
    writer: Arc<Mutex<Writer>>,
    pending: Pending,
    next_id: AtomicI64,
    timeout: Duration,
    reader: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AppServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppServerClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl AppServerClient {
    fn handshake(
        transport: Transport,
        policy: ApprovalPolicy,
        timeout: Duration,
    ) -> Result<(AppServerClient, Receiver<Event>), AppServerError> {
        let writer = Arc::new(Mutex::new(transport.writer));
        let pending: Pending = Arc::default();
        let (events_tx, events) = mpsc::channel();
        let reader = {
            let writer = Arc::clone(&writer);
            let pending = Arc::clone(&pending);
            let mut read = transport.reader;
            std::thread::Builder::new()
                .name("codex-app-server-reader".into())
                .spawn(move || read_loop(&mut read, &writer, &pending, &policy, &events_tx))
                .map_err(|e| {
                    AppServerError::io("start the reader thread", AppServerErrorKind::Io, e)
                })?
        };
        let client = AppServerClient {
            writer,
            pending,
            next_id: AtomicI64::new(0),
            timeout,
            reader: Some(reader),
        };
        client.request(
            "initialize",
            protocol::initialize_params("duet", env!("CARGO_PKG_VERSION")),
        )?;
        client.send_line("initialized", &protocol::encode_notification("initialized"))?;
        Ok((client, events))
    }

    /// Sends a request and waits for its answer (at most the client's timeout).
    pub fn request(&self, method: &str, params: Value) -> Result<Value, AppServerError> {
        let id = RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let (tx, rx) = mpsc::channel();
        self.pending.lock().unwrap().insert(id.clone(), tx);
        if let Err(err) = self.send_line(method, &protocol::encode_request(&id, method, &params)) {
            self.pending.lock().unwrap().remove(&id);
            return Err(err);
        }
        let answer = rx.recv_timeout(self.timeout);
        self.pending.lock().unwrap().remove(&id);
        match answer {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(AppServerError::new(
                format!("send {method}"),
                AppServerErrorKind::Rpc {
                    code: error.code,
                    message: error.message,
                },
            )),
            Err(RecvTimeoutError::Timeout) => Err(AppServerError::new(
                format!("send {method}"),
                AppServerErrorKind::Timeout(self.timeout),
            )),
            Err(RecvTimeoutError::Disconnected) => Err(AppServerError::new(
                format!("send {method}"),
                AppServerErrorKind::Closed,
            )),
        }
    }

    /// `thread/start`: a new thread; its id.
    pub fn thread_start(&self, params: &ThreadStartParams) -> Result<String, AppServerError> {
        let result = self.request("thread/start", to_value(params))?;
        Ok(parse::<ThreadStarted>("thread/start", result)?.thread.id)
    }

    /// `thread/resume`: loads a thread (from disk after a restart) and subscribes to it.
    pub fn thread_resume(&self, params: &ThreadResumeParams) -> Result<Value, AppServerError> {
        self.request("thread/resume", to_value(params))
    }

    /// `turn/start` with one text message (codex idle); the new turn's id.
    pub fn turn_start(&self, thread_id: &str, text: &str) -> Result<String, AppServerError> {
        let params = TurnStartParams {
            thread_id: thread_id.to_owned(),
            input: vec![UserInput::Text {
                text: text.to_owned(),
            }],
        };
        let result = self.request("turn/start", to_value(&params))?;
        Ok(parse::<TurnStarted>("turn/start", result)?.turn.id)
    }

    /// `turn/steer`: adds a message to the running turn `turn_id` (refused by codex when that
    /// turn is no longer running: then start a turn instead); the turn's id.
    pub fn turn_steer(
        &self,
        thread_id: &str,
        turn_id: &str,
        text: &str,
    ) -> Result<String, AppServerError> {
        let params = TurnSteerParams {
            thread_id: thread_id.to_owned(),
            expected_turn_id: turn_id.to_owned(),
            input: vec![UserInput::Text {
                text: text.to_owned(),
            }],
        };
        let result = self.request("turn/steer", to_value(&params))?;
        Ok(parse::<TurnSteered>("turn/steer", result)?.turn_id)
    }

    /// `turn/interrupt`.
    pub fn turn_interrupt(&self, thread_id: &str, turn_id: &str) -> Result<(), AppServerError> {
        self.request(
            "turn/interrupt",
            serde_json::json!({ "threadId": thread_id, "turnId": turn_id }),
        )
        .map(drop)
    }

    /// Answers a deferred server request.
    pub fn answer(
        &self,
        id: &RequestId,
        result: Result<Value, RpcError>,
    ) -> Result<(), AppServerError> {
        self.send_line(
            "answer a server request",
            &protocol::encode_response(id, result),
        )
    }

    fn send_line(&self, what: &str, line: &str) -> Result<(), AppServerError> {
        self.writer
            .lock()
            .unwrap()
            .send(line)
            .map_err(|e| AppServerError::io(format!("send {what}"), AppServerErrorKind::Io, e))
    }
}

impl Drop for AppServerClient {
    fn drop(&mut self) {
        // On a socket, shutting it down ends the reader thread (the server may well stay up
        // for another client); then it can be joined. On stdio the pipes close when the
        // server exits, which is its owner's business: the thread is left to end then.
        let socket = match &*self.writer.lock().unwrap() {
            Writer::Ws(ws) => ws.shutdown().is_ok(),
            Writer::Stdio(_) => false,
        };
        if let Some(reader) = self.reader.take()
            && socket
        {
            let _ = reader.join();
        }
    }
}

fn read_loop(
    read: &mut (dyn FnMut() -> Option<ReadItem> + Send),
    writer: &Mutex<Writer>,
    pending: &Pending,
    policy: &ApprovalPolicy,
    events: &Sender<Event>,
) {
    while let Some(item) = read() {
        let message = match item {
            ReadItem::Ping(payload) => {
                if let Writer::Ws(ws) = &mut *writer.lock().unwrap() {
                    let _ = ws.pong(&payload);
                }
                continue;
            }
            ReadItem::Message(message) => message,
        };
        match protocol::decode(&message) {
            Ok(Incoming::Response { id, result }) => {
                if let Some(waiter) = pending.lock().unwrap().remove(&id) {
                    let _ = waiter.send(result);
                }
            }
            Ok(Incoming::Notification(notification)) => {
                let _ = events.send(Event::Notification(notification));
            }
            Ok(Incoming::ServerRequest { id, request }) => match policy(&request) {
                PolicyAnswer::Reply(result) => {
                    let line = protocol::encode_response(&id, result);
                    let _ = writer.lock().unwrap().send(&line);
                }
                PolicyAnswer::Defer => {
                    let _ = events.send(Event::ServerRequest { id, request });
                }
            },
            Err(err) => {
                let _ = events.send(Event::Undecodable(err.to_string()));
            }
        }
    }
    // Waiters learn it through their dropped senders.
    pending.lock().unwrap().clear();
    let _ = events.send(Event::Closed);
}

fn to_value(params: &impl serde::Serialize) -> Value {
    serde_json::to_value(params).expect("request params serialize")
}

fn parse<T: serde::de::DeserializeOwned>(method: &str, result: Value) -> Result<T, AppServerError> {
    serde_json::from_value(result).map_err(|e| {
        AppServerError::new(
            format!("read the answer to {method}"),
            AppServerErrorKind::Decode(e.to_string()),
        )
    })
}
