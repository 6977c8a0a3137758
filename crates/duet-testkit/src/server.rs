//! The fake model server: one HTTP server on 127.0.0.1 answering both the Anthropic
//! Messages API and the OpenAI Responses API from a script, on its own runtime thread.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::watch;

use crate::engine::{Decision, Engine};
use crate::request_log::{LogEntry, Outcome, RequestLog};
use crate::request_view::RequestView;
use crate::script::{Api, Reply, Script, excerpt};
use crate::wire::SseEvent;
use crate::{anthropic, openai};

/// How long a stopping server lets in-flight answers finish before it cuts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Where and how to serve.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The JSON lines request log; by default a file in a temporary directory owned by the
    /// server (removed when it stops).
    pub log_path: Option<PathBuf>,
}

/// A failure of the fake model server.
#[derive(Debug, thiserror::Error)]
#[error("failed to {kind}")]
pub struct FakeServerError {
    /// What went wrong.
    #[source]
    pub kind: FakeServerErrorKind,
}

/// What went wrong in the fake model server.
#[derive(Debug, thiserror::Error)]
pub enum FakeServerErrorKind {
    /// Binding the port failed.
    #[error("bind 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Creating the runtime, thread or log file failed.
    #[error("set up the server: {0}")]
    Setup(#[source] std::io::Error),
    /// A wait ran out of time.
    #[error("see {what} within {timeout:?}; log so far:\n{log}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: Duration,
        /// A one-line-per-entry summary of the log.
        log: String,
    },
}

fn error(kind: FakeServerErrorKind) -> FakeServerError {
    FakeServerError { kind }
}

struct Shared {
    engine: Mutex<Engine>,
    log: RequestLog,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake model server. Stops (gracefully, thread joined) on drop.
///
/// ```no_run
/// use duet_testkit::{FakeModelServer, Script};
/// let script = Script::from_toml_str(r#"
///     [[step]]
///     match.user_contains = "hello"
///     reply.text = "Hi there."
/// "#).unwrap();
/// let server = FakeModelServer::start(script).unwrap();
/// // point ANTHROPIC_BASE_URL at server.anthropic_base_url() and run claude ...
/// server.wait_until_steps_consumed(1, std::time::Duration::from_secs(30)).unwrap();
/// ```
pub struct FakeModelServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    _log_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for FakeModelServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeModelServer")
            .field("addr", &self.addr)
            .field("log_path", &self.shared.log.path())
            .finish_non_exhaustive()
    }
}

impl FakeModelServer {
    /// Serves `script` on a free port of 127.0.0.1, logging to a temporary file.
    pub fn start(script: Script) -> Result<Self, FakeServerError> {
        Self::start_with(script, ServerOptions::default())
    }

    /// Serves `script` as `options` say.
    pub fn start_with(script: Script, options: ServerOptions) -> Result<Self, FakeServerError> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", options.port))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| {
                error(FakeServerErrorKind::Bind {
                    port: options.port,
                    source,
                })
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| error(FakeServerErrorKind::Setup(e)))?;
        let (log_dir, log_path) = match options.log_path {
            Some(path) => (None, path),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("duet-fake-model-")
                    .tempdir()
                    .map_err(|e| error(FakeServerErrorKind::Setup(e)))?;
                let path = dir.path().join("requests.jsonl");
                (Some(dir), path)
            }
        };
        let log =
            RequestLog::create(&log_path).map_err(|e| error(FakeServerErrorKind::Setup(e)))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| error(FakeServerErrorKind::Setup(e)))?;
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            engine: Mutex::new(Engine::new(script)),
            log,
            shutdown: shutdown.clone(),
        });
        let app = router(shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("fake-model-{}", addr.port()))
            .spawn(move || runtime.block_on(serve(listener, app, shutdown)))
            .map_err(|e| error(FakeServerErrorKind::Setup(e)))?;
        Ok(FakeModelServer {
            addr,
            shared,
            stop,
            thread: Some(thread),
            _log_dir: log_dir,
        })
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The value for `ANTHROPIC_BASE_URL` (the same as [`Self::base_url`]).
    pub fn anthropic_base_url(&self) -> String {
        self.base_url()
    }

    /// The `base_url` for a Codex model provider: `http://127.0.0.1:PORT/v1`.
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.base_url())
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log.entries()
    }

    /// The JSON lines log file.
    pub fn log_path(&self) -> &Path {
        self.shared.log.path()
    }

    /// How many script steps have been used up.
    pub fn steps_consumed(&self) -> usize {
        self.shared.engine().consumed()
    }

    /// Indexes of the script steps not used up yet.
    pub fn unconsumed_steps(&self) -> Vec<usize> {
        self.shared.engine().unconsumed()
    }

    /// Waits until `done(log)` holds; returns the log at that moment.
    pub fn wait_for(
        &self,
        done: impl FnMut(&[LogEntry]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<LogEntry>, FakeServerError> {
        self.shared
            .log
            .wait_for(done, timeout)
            .map_err(|seen| timeout_error("the awaited log condition", timeout, &seen))
    }

    /// Waits for the first log entry satisfying `wanted`.
    pub fn wait_for_entry(
        &self,
        mut wanted: impl FnMut(&LogEntry) -> bool,
        timeout: Duration,
    ) -> Result<LogEntry, FakeServerError> {
        let mut found = None;
        self.shared
            .log
            .wait_for(
                |entries| {
                    found = entries.iter().find(|e| wanted(e)).cloned();
                    found.is_some()
                },
                timeout,
            )
            .map_err(|seen| timeout_error("a matching log entry", timeout, &seen))?;
        Ok(found.expect("wait_for returned Ok only after finding an entry"))
    }

    /// Waits until at least `n` script steps have been used up.
    pub fn wait_until_steps_consumed(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<(), FakeServerError> {
        self.shared
            .log
            .wait_for(
                |entries| entries.iter().filter(|e| e.is_step()).count() >= n,
                timeout,
            )
            .map(drop)
            .map_err(|seen| timeout_error(&format!("{n} script steps used up"), timeout, &seen))
    }

    /// Stops serving and joins the server thread (also done on drop).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            eprintln!("duet fake model: server thread panicked");
        }
    }
}

impl Drop for FakeModelServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn timeout_error(what: &str, timeout: Duration, seen: &[LogEntry]) -> FakeServerError {
    let log = if seen.is_empty() {
        "  (no requests)".to_owned()
    } else {
        seen.iter()
            .map(|e| {
                format!(
                    "  #{} {} {} {:?} scope={} user={:?}{}",
                    e.seq,
                    e.method,
                    e.path,
                    e.outcome,
                    e.scope.as_deref().unwrap_or("-"),
                    excerpt(&e.user_text, 80),
                    e.detail
                        .as_deref()
                        .map(|d| format!(" detail={d}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    error(FakeServerErrorKind::Timeout {
        what: what.to_owned(),
        timeout,
        log,
    })
}

async fn serve(listener: std::net::TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("duet fake model: failed to register the listener: {e}");
            return;
        }
    };
    let mut graceful = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stop| *stop).await;
    });
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                eprintln!("duet fake model: server failed: {e}");
            }
        }
        // Bound the graceful phase: a client holding a connection open must not hang drop.
        _ = async {
            let _ = shutdown.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {}
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(probe).head(probe))
        .route("/v1/messages", post(anthropic_messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/responses", post(openai_responses))
        .fallback(no_route)
        .with_state(shared)
}

fn blank_entry(method: &Method, uri: &Uri, api: Option<Api>, outcome: Outcome) -> LogEntry {
    LogEntry {
        seq: 0,
        method: method.to_string(),
        path: uri.path().to_owned(),
        api,
        outcome,
        scope: None,
        model: String::new(),
        stream: false,
        system: String::new(),
        user_text: String::new(),
        tool_results: Vec::new(),
        tools: Vec::new(),
        reply: String::new(),
        detail: None,
        served: None,
        at_unix_us: now_unix_us(),
    }
}

fn now_unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

async fn probe(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> StatusCode {
    shared
        .log
        .append(blank_entry(&method, &uri, None, Outcome::Probe));
    StatusCode::OK
}

async fn no_route(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    let message = format!("duet fake model: no route for {method} {}", uri.path());
    let mut entry = blank_entry(&method, &uri, None, Outcome::NoRoute);
    entry.detail = Some(message.clone());
    shared.log.append(entry);
    (StatusCode::NOT_FOUND, message).into_response()
}

async fn count_tokens(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut entry = blank_entry(&method, &uri, Some(Api::Anthropic), Outcome::CountTokens);
    if let Ok(view) = serde_json::from_slice::<Value>(&body)
        .map_err(|e| e.to_string())
        .and_then(|v| anthropic::parse_request(&v))
    {
        fill_entry(&mut entry, &view);
    }
    entry.reply = "token count".into();
    shared.log.append(entry);
    json_response(StatusCode::OK, &anthropic::count_tokens_body(body.len()))
}

async fn anthropic_messages(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let view = serde_json::from_slice::<Value>(&body)
        .map_err(|e| format!("body is not JSON: {e}"))
        .and_then(|v| anthropic::parse_request(&v));
    answer(shared, Api::Anthropic, &method, &uri, view, body.len()).await
}

async fn openai_responses(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let metadata = headers
        .get(openai::TURN_METADATA_HEADER)
        .and_then(|v| v.to_str().ok());
    let view = serde_json::from_slice::<Value>(&body)
        .map_err(|e| format!("body is not JSON: {e}"))
        .and_then(|v| openai::parse_request(&v, metadata));
    answer(shared, Api::Openai, &method, &uri, view, body.len()).await
}

fn fill_entry(entry: &mut LogEntry, view: &RequestView) {
    entry.model = view.model.clone();
    entry.stream = view.stream;
    entry.system = view.system.clone();
    entry.user_text = view.last_user_text.clone();
    entry.tool_results = view.tool_results.clone();
    entry.tools = view.tools.clone();
}

/// Logs the request, decides, and answers.
async fn answer(
    shared: Arc<Shared>,
    api: Api,
    method: &Method,
    uri: &Uri,
    view: Result<RequestView, String>,
    request_bytes: usize,
) -> Response {
    let view = match view {
        Ok(view) => view,
        Err(why) => {
            let message = format!("duet fake model: unreadable request: {why}");
            let mut entry = blank_entry(method, uri, Some(api), Outcome::BadRequest);
            entry.detail = Some(message.clone());
            shared.log.append(entry);
            return api_error(api, StatusCode::BAD_REQUEST, &message);
        }
    };
    let mut entry = blank_entry(method, uri, Some(api), Outcome::Unmatched);
    fill_entry(&mut entry, &view);
    let reply = if view.is_title_request {
        let title = serde_json::json!({ "title": shared.engine().script().title() }).to_string();
        entry.outcome = Outcome::Title;
        Reply {
            text: Some(title),
            ..Reply::default()
        }
    } else {
        let decision = shared.engine().decide(&view);
        match decision {
            Decision::Step {
                index,
                name,
                scope,
                reply,
            } => {
                entry.outcome = Outcome::Step { index, name };
                entry.scope = Some(scope);
                reply
            }
            Decision::Fallback {
                index,
                name,
                scope,
                reply,
            } => {
                entry.outcome = Outcome::Fallback { index, name };
                entry.scope = Some(scope);
                reply
            }
            Decision::Unmatched { scope, reason } => {
                let message =
                    format!("duet fake model: no script step matches this request: {reason}");
                entry.scope = Some(scope);
                entry.reply = "error 400 (unmatched)".into();
                entry.detail = Some(message.clone());
                shared.log.append(entry);
                return api_error(api, StatusCode::BAD_REQUEST, &message);
            }
        }
    };
    entry.reply = reply.summary();
    let (response, served) = render(api, &view, &reply, request_bytes);
    entry.served = served;
    shared.log.append(entry);
    if reply.delay_ms > 0 {
        let mut shutdown = shared.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(reply.delay_ms)) => {}
            _ = shutdown.wait_for(|stop| *stop) => {
                return api_error(api, StatusCode::SERVICE_UNAVAILABLE, "duet fake model: shutting down");
            }
        }
    }
    response
}

/// The answer, and the usage it reports (none for errors and dropped streams).
fn render(
    api: Api,
    view: &RequestView,
    reply: &Reply,
    request_bytes: usize,
) -> (Response, Option<crate::wire::Usage>) {
    if let Some(err) = &reply.error {
        let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let now = crate::script::unix_now();
        let mut response = if let Some(body) = &err.body {
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                crate::script::fill_clock(body, now),
            )
                .into_response()
        } else {
            let message = err
                .message
                .as_deref()
                .map(|m| crate::script::fill_clock(m, now))
                .unwrap_or_else(|| format!("duet fake model: scripted error {}", err.status));
            api_error(api, status, &message)
        };
        for (name, value) in &err.headers {
            let value = crate::script::fill_clock(value, now);
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                header::HeaderValue::from_str(&value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        return (response, None);
    }
    let text = reply.text.as_deref();
    let scripted = reply.usage.as_ref();
    let (events, json, usage) = match api {
        Api::Anthropic => match anthropic::Message::new(
            &view.model,
            text,
            &reply.tool_calls,
            request_bytes,
            scripted,
        ) {
            Ok(message) => (
                message.to_events(),
                message.to_json(),
                message.usage_served(),
            ),
            Err(why) => {
                let response = api_error(
                    api,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("duet fake model: bad scripted reply: {why}"),
                );
                return (response, None);
            }
        },
        Api::Openai => {
            let response = openai::Response::new(
                &view.model,
                text,
                &reply.tool_calls,
                request_bytes,
                scripted,
            );
            (
                response.to_events(),
                response.to_json(),
                response.usage_served(),
            )
        }
    };
    let served = reply.drop_after_events.is_none().then_some(usage);
    let response = if view.stream {
        sse_response(api, events, reply.drop_after_events)
    } else if reply.drop_after_events.is_some() {
        streamed(StatusCode::OK, "application/json", Vec::new(), true)
    } else {
        json_response(StatusCode::OK, &json)
    };
    (response, served)
}

fn sse_response(api: Api, events: Vec<SseEvent>, drop_after: Option<usize>) -> Response {
    let mut chunks: Vec<String> = events.iter().map(SseEvent::to_wire).collect();
    if let Some(n) = drop_after {
        chunks.truncate(n);
    }
    let mut response = streamed(
        StatusCode::OK,
        "text/event-stream",
        chunks,
        drop_after.is_some(),
    );
    let id_header = match api {
        Api::Anthropic => "request-id",
        Api::Openai => "x-request-id",
    };
    if let Ok(value) = crate::wire::fresh_id("req").parse() {
        response.headers_mut().insert(id_header, value);
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
}

/// A chunked body of `chunks`; with `cut`, the connection is aborted after them (the
/// client sees a truncated body, as with a dropped stream).
fn streamed(
    status: StatusCode,
    content_type: &'static str,
    chunks: Vec<String>,
    cut: bool,
) -> Response {
    use futures_util::StreamExt;
    let events = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<Bytes, std::io::Error>(Bytes::from(c))),
    );
    // Before cutting, give hyper one turn (the body reports Pending) so that it flushes the
    // events already produced; otherwise it may drop them together with the connection.
    let cut = futures_util::stream::iter(cut.then_some(())).then(|()| async {
        tokio::task::yield_now().await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "duet fake model: scripted stream drop",
        ))
    });
    let items = events.chain(cut);
    let body = Body::from_stream(items);
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn api_error(api: Api, status: StatusCode, message: &str) -> Response {
    let body = match api {
        Api::Anthropic => anthropic::error_body(status.as_u16(), message),
        Api::Openai => openai::error_body(status.as_u16(), message),
    };
    json_response(status, &body)
}
