//! `duet mcp`: the MCP stdio server that gives an agent its duet tools. Each call's arguments are
//! checked for shape here (JSON schema types, required fields) and forwarded to the controller
//! as a `ToolCall` request with its own call id, one connection per attempt; a call that got no
//! answer is sent again with the same id while a daemon comes back ([`retry`]). The controller
//! checks role, sizes and state and its answer (or the reason nothing answered) becomes the tool
//! result.

mod answer;
pub mod args;
pub mod descriptions;
pub mod retry;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use duet_core::protocol::{CallId, ToolCall, ToolName};
use duet_proto::{Client, MAX_FRAME_BYTES, Request, RequestBody, encode_line};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, JsonObject, ServerCapabilities, ServerConfig,
};
use rmcp::{ErrorData, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::agent_env::AgentEnv;
use crate::error::{BridgeError, BridgeErrorKind};
use args::{
    AskHumanArgs, MarkDoneArgs, RequestPlanReviewArgs, RequestReviewArgs, SendMessageArgs,
    SubmitReviewArgs,
};

/// The name the bridge reports and is registered under in the agents' MCP configs, so the tools
/// read `mcp__duet__<tool>`.
pub const SERVER_NAME: &str = "duet";

/// How long a tool call waits for the controller by default.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the bridge sends its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub socket: PathBuf,
    pub token: String,
    /// Per step (connect, write, read) of one attempt.
    pub call_timeout: Duration,
    /// How long a call that got no answer is sent again ([`retry::CALL_RETRY_WINDOW`]).
    pub retry_window: Duration,
}

impl Config {
    /// From `DUET_SOCKET` and `DUET_TOKEN`, with the default timeout.
    pub fn from_env(env: &AgentEnv) -> Result<Self, BridgeError> {
        let (socket, token) = env.connection()?;
        Ok(Config {
            socket,
            token,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            retry_window: retry::CALL_RETRY_WINDOW,
        })
    }

    /// From this process's environment.
    pub fn from_process_env() -> Result<Self, BridgeError> {
        Self::from_env(&AgentEnv::from_process())
    }
}

/// The MCP server: one tool per [`ToolName`].
#[derive(Debug, Clone)]
pub struct DuetBridge {
    client: Client,
    token: String,
    retry_window: Duration,
    /// Told to duet once, at the agent's first `tools/list`.
    ready: Arc<ReadyOnce>,
    tool_router: ToolRouter<Self>,
}

/// Tells duet, once, that the agent has listed duet's tools (`BridgeReady`). Readiness means
/// "the agent's tool list holds duet's tools": the MCP handshake alone is not enough, since a
/// client may send its first model request before it lists a server's tools.
#[derive(Debug)]
struct ReadyOnce {
    told: std::sync::atomic::AtomicBool,
    socket: std::path::PathBuf,
    step_timeout: std::time::Duration,
    request: Request,
}

/// How long `BridgeReady` keeps being sent while no daemon answers (one killed while the agent
/// started): without it the seat would never be handed anything. Longer than a call's window:
/// nothing waits on it but the agent's first message, and telling twice is harmless.
const READY_RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

impl ReadyOnce {
    fn new(config: &Config) -> Self {
        ReadyOnce {
            told: std::sync::atomic::AtomicBool::new(false),
            socket: config.socket.clone(),
            step_timeout: config.call_timeout,
            request: Request::from_agent(config.token.clone(), RequestBody::BridgeReady),
        }
    }

    /// Sends `BridgeReady` in the background the first time it is called.
    fn tell(self: &Arc<Self>) {
        if self.told.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let sent = retry::send_until_answered(
                &this.socket,
                this.step_timeout,
                &this.request,
                READY_RETRY_WINDOW,
                |_| {},
            );
            if let Err(err) = sent.result {
                eprintln!("duet mcp: failed to tell duet the tools are listed: {err}");
            }
        });
    }
}

fn input_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_input::<T>()
        .unwrap_or_else(|err| panic!("tool argument types have object schemas: {err}"))
}

#[tool_router]
impl DuetBridge {
    pub fn new(config: Config) -> Self {
        DuetBridge {
            ready: Arc::new(ReadyOnce::new(&config)),
            client: Client::new(config.socket, config.call_timeout),
            token: config.token,
            retry_window: config.retry_window,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = descriptions::SEND_MESSAGE,
        input_schema = input_schema::<SendMessageArgs>()
    )]
    async fn send_message(&self, arguments: JsonObject) -> Result<CallToolResult, ErrorData> {
        Ok(self
            .parse_and_forward::<SendMessageArgs>(ToolName::SendMessage, arguments)
            .await)
    }

    #[tool(
        description = descriptions::REQUEST_REVIEW,
        input_schema = input_schema::<RequestReviewArgs>()
    )]
    async fn request_review(&self, arguments: JsonObject) -> Result<CallToolResult, ErrorData> {
        Ok(self
            .parse_and_forward::<RequestReviewArgs>(ToolName::RequestReview, arguments)
            .await)
    }

    #[tool(
        description = descriptions::REQUEST_PLAN_REVIEW,
        input_schema = input_schema::<RequestPlanReviewArgs>()
    )]
    async fn request_plan_review(
        &self,
        arguments: JsonObject,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(self
            .parse_and_forward::<RequestPlanReviewArgs>(ToolName::RequestPlanReview, arguments)
            .await)
    }

    #[tool(
        description = descriptions::SUBMIT_REVIEW,
        input_schema = input_schema::<SubmitReviewArgs>()
    )]
    async fn submit_review(&self, arguments: JsonObject) -> Result<CallToolResult, ErrorData> {
        Ok(self
            .parse_and_forward::<SubmitReviewArgs>(ToolName::SubmitReview, arguments)
            .await)
    }

    #[tool(
        description = descriptions::MARK_DONE,
        input_schema = input_schema::<MarkDoneArgs>()
    )]
    async fn mark_done(&self, arguments: JsonObject) -> Result<CallToolResult, ErrorData> {
        Ok(self
            .parse_and_forward::<MarkDoneArgs>(ToolName::MarkDone, arguments)
            .await)
    }

    #[tool(
        description = descriptions::ASK_HUMAN,
        input_schema = input_schema::<AskHumanArgs>()
    )]
    async fn ask_human(&self, arguments: JsonObject) -> Result<CallToolResult, ErrorData> {
        Ok(self
            .parse_and_forward::<AskHumanArgs>(ToolName::AskHuman, arguments)
            .await)
    }

    #[tool(
        description = descriptions::TASK_STATUS,
        annotations(read_only_hint = true)
    )]
    async fn task_status(&self, arguments: JsonObject) -> Result<CallToolResult, ErrorData> {
        if let Some(name) = arguments.keys().next() {
            return Ok(error_result(format!(
                "invalid arguments for task_status: unknown field `{name}`, it takes no arguments"
            )));
        }
        Ok(self.forward(ToolCall::TaskStatus).await)
    }
}

impl DuetBridge {
    async fn parse_and_forward<T>(&self, tool: ToolName, arguments: JsonObject) -> CallToolResult
    where
        T: DeserializeOwned + Into<ToolCall>,
    {
        match args::parse::<T>(tool, arguments) {
            Ok(parsed) => self.forward(parsed.into()).await,
            Err(message) => error_result(message),
        }
    }

    /// Sends `call` to the controller (again while no daemon answers) and turns its answer into
    /// the tool result.
    async fn forward(&self, call: ToolCall) -> CallToolResult {
        let tool = call.name();
        let call_id = new_call_id();
        duet_proto::hop_log::mark("mcp.call", format_args!("{tool} {call_id}"));
        let request = Request::tool_call(self.token.clone(), call_id.clone(), call);
        let size = encode_line(&request).len();
        if size > MAX_FRAME_BYTES {
            return error_result(format!(
                "{tool} refused: the arguments are {size} bytes, over duet's {MAX_FRAME_BYTES}-byte \
                 limit for one call; shorten them"
            ));
        }
        let socket = self.client.socket().to_path_buf();
        let step = self.client.timeout();
        let window = self.retry_window;
        let answered_id = call_id.clone();
        let sent = tokio::task::spawn_blocking(move || {
            retry::send_until_answered(&socket, step, &request, window, |err| {
                eprintln!(
                    "duet mcp: the {tool} call {call_id} got no answer ({}); sending it again \
                     for up to {}s while duet comes back",
                    crate::failure::describe(err),
                    window.as_secs()
                );
            })
        })
        .await;
        duet_proto::hop_log::mark("mcp.answered", answered_id);
        let answer = match sent {
            Ok(sent) => answer::tool_answer(tool, self.client.socket(), window, sent),
            Err(join_error) => {
                answer::ToolAnswer::error(format!("{tool} failed inside duet mcp: {join_error}"))
            }
        };
        answer.into_result()
    }
}

/// An id unique to one call of this process: pid, start time and a counter.
fn new_call_id() -> CallId {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    CallId::new(format!("mcp-{}-{nanos}-{n}", std::process::id()))
}

fn error_result(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

#[tool_handler]
impl ServerHandler for DuetBridge {
    /// Every tool; the first call also tells duet the agent is ready (see [`ReadyOnce`]).
    async fn list_tools(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, ErrorData> {
        let supports_cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= rmcp::model::ProtocolVersion::V_2026_07_28);
        let result = rmcp::model::ListToolsResult {
            result_type: Some(rmcp::model::ResultType::COMPLETE),
            tools: self.tool_router.list_all(),
            meta: None,
            next_cursor: None,
            ttl_ms: supports_cache_hints.then_some(0),
            cache_scope: supports_cache_hints.then_some(rmcp::model::CacheScope::Public),
        };
        self.ready.tell();
        Ok(result)
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
            .with_instructions(descriptions::INSTRUCTIONS)
    }
}

/// Serves the bridge on this process's stdin/stdout until the agent closes it. Builds its own
/// async runtime: call it from synchronous code (the CLI's `main`).
pub fn serve_stdio(config: Config) -> Result<(), BridgeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|err| {
            BridgeError::with_source(BridgeErrorKind::Runtime, "start the async runtime", err)
        })?;
    runtime.block_on(serve_stdio_async(config))
}

/// [`serve_stdio`] for callers already inside a tokio runtime.
pub async fn serve_stdio_async(config: Config) -> Result<(), BridgeError> {
    let serve_error = |err: Box<dyn std::error::Error + Send + Sync>| {
        BridgeError::with_source(
            BridgeErrorKind::Serve,
            "serve duet's MCP tools on stdio",
            err,
        )
    };
    // duet hears `BridgeReady` at the agent's first `tools/list` (see `list_tools`), so that it
    // hands messages over only once the agent can answer them with duet's tools.
    let running = DuetBridge::new(config)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|err| serve_error(Box::new(err)))?;
    running
        .waiting()
        .await
        .map_err(|err| serve_error(Box::new(err)))?;
    Ok(())
}
