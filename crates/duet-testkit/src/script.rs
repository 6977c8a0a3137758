//! Scripts for the fake model servers: the data model (agents, steps, matchers, replies),
//! loading from TOML / JSON, and validation.

use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};

use crate::request_view::RequestView;

/// Which wire API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// Anthropic Messages API (`POST /v1/messages`), spoken by Claude Code.
    Anthropic,
    /// OpenAI Responses API (`POST /v1/responses`), spoken by Codex.
    Openai,
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Api::Anthropic => "anthropic",
            Api::Openai => "openai",
        })
    }
}

/// The scope name used for requests that no `[[agent]]` selector claims.
pub const DEFAULT_SCOPE: &str = "default";

/// A whole scenario: agent scopes, the ordered steps, and fallback steps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Title answered to title requests (never consumes a step).
    #[serde(default)]
    pub title: Option<String>,
    /// Agent scopes, tried in order; the first whose selector matches a request owns it.
    #[serde(default, rename = "agent", alias = "agents")]
    pub agents: Vec<AgentScope>,
    /// Ordered steps. Each scope has its own cursor over the steps that belong to it.
    #[serde(default, rename = "step", alias = "steps")]
    pub steps: Vec<Step>,
    /// Steps tried (in order) when the scope's next step does not match; never consumed.
    #[serde(default, alias = "fallbacks")]
    pub fallback: Vec<Step>,
}

/// Decides which requests belong to a named agent. All given fields must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentScope {
    /// The scope name that steps refer to with `agent = "..."`.
    pub name: String,
    /// Only requests on this API.
    #[serde(default)]
    pub api: Option<Api>,
    /// The request's `model` field contains this text.
    #[serde(default)]
    pub model: Option<String>,
    /// The system prompt (Anthropic `system`, OpenAI `instructions` + developer messages)
    /// contains this text.
    #[serde(default)]
    pub system_contains: Option<String>,
    /// Some user message in the conversation contains this text.
    #[serde(default)]
    pub any_user_contains: Option<String>,
}

impl AgentScope {
    /// Whether `request` belongs to this agent.
    pub fn selects(&self, request: &RequestView) -> bool {
        self.api.is_none_or(|api| api == request.api)
            && self
                .model
                .as_deref()
                .is_none_or(|m| request.model.contains(m))
            && self
                .system_contains
                .as_deref()
                .is_none_or(|s| request.system.contains(s))
            && self
                .any_user_contains
                .as_deref()
                .is_none_or(|s| request.all_user_text.iter().any(|t| t.contains(s)))
    }
}

/// One scripted exchange: when a request matches, answer with `reply`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A label shown in the request log and in mismatch explanations.
    #[serde(default)]
    pub name: Option<String>,
    /// The scope this step belongs to (default: [`DEFAULT_SCOPE`]).
    #[serde(default)]
    pub agent: Option<String>,
    /// Conditions on the request; all given ones must hold. Empty matches anything.
    #[serde(default, rename = "match")]
    pub matcher: Matcher,
    /// What to answer.
    pub reply: Reply,
}

impl Step {
    /// The scope this step belongs to.
    pub fn scope(&self) -> &str {
        self.agent.as_deref().unwrap_or(DEFAULT_SCOPE)
    }
}

/// Conditions on a request. All given fields must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// Only requests on this API.
    #[serde(default)]
    pub api: Option<Api>,
    /// The last user text (see [`RequestView::last_user_text`]) contains this.
    #[serde(default)]
    pub user_contains: Option<String>,
    /// The last user text matches this regular expression.
    #[serde(default)]
    pub user_regex: Option<Pattern>,
    /// The system prompt contains this.
    #[serde(default)]
    pub system_contains: Option<String>,
    /// The request ends with a tool result like this.
    #[serde(default)]
    pub tool_result: Option<ToolResultMatch>,
    /// The request offers a tool with this name (Codex namespace tools flattened to
    /// `mcp__<server>__<tool>`).
    #[serde(default)]
    pub tool_offered: Option<String>,
}

/// Conditions on one of the tool results the request ends with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolResultMatch {
    /// The tool's name, resolved from the earlier call with the same id.
    #[serde(default)]
    pub name: Option<String>,
    /// The result content contains this.
    #[serde(default)]
    pub contains: Option<String>,
    /// The result is (or is not) flagged as an error (Anthropic `is_error`).
    #[serde(default)]
    pub is_error: Option<bool>,
}

/// A compiled regular expression read from a script.
#[derive(Debug, Clone)]
pub struct Pattern(pub Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Regex::new(&source)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("invalid regex {source:?}: {e}")))
    }
}

impl Matcher {
    /// `None` when `request` satisfies every condition, else why not (for the log and the
    /// unmatched reply).
    pub fn mismatch(&self, request: &RequestView) -> Option<String> {
        if let Some(api) = self.api
            && api != request.api
        {
            return Some(format!("wants api {api}, request is {}", request.api));
        }
        if let Some(want) = &self.user_contains
            && !request.last_user_text.contains(want.as_str())
        {
            return Some(format!(
                "wants user text containing {want:?}, last user text is {:?}",
                excerpt(&request.last_user_text, 200)
            ));
        }
        if let Some(Pattern(re)) = &self.user_regex
            && !re.is_match(&request.last_user_text)
        {
            return Some(format!(
                "wants user text matching /{re}/, last user text is {:?}",
                excerpt(&request.last_user_text, 200)
            ));
        }
        if let Some(want) = &self.system_contains
            && !request.system.contains(want.as_str())
        {
            return Some(format!("wants system prompt containing {want:?}"));
        }
        if let Some(want) = &self.tool_offered
            && !request.tools.iter().any(|t| t == want)
        {
            return Some(format!(
                "wants tool {want:?} offered, offered are {:?}",
                request.tools
            ));
        }
        if let Some(want) = &self.tool_result {
            let hit = request.tool_results.iter().any(|r| {
                want.name
                    .as_deref()
                    .is_none_or(|n| r.name.as_deref() == Some(n))
                    && want
                        .contains
                        .as_deref()
                        .is_none_or(|c| r.content.contains(c))
                    && want.is_error.is_none_or(|e| e == r.is_error)
            });
            if !hit {
                let seen: Vec<String> = request
                    .tool_results
                    .iter()
                    .map(|r| {
                        format!(
                            "{}: {:?}",
                            r.name.as_deref().unwrap_or("?"),
                            excerpt(&r.content, 120)
                        )
                    })
                    .collect();
                return Some(format!(
                    "wants tool result {}{}, request ends with {}",
                    want.name.as_deref().unwrap_or("(any tool)"),
                    want.contains
                        .as_deref()
                        .map(|c| format!(" containing {c:?}"))
                        .unwrap_or_default(),
                    if seen.is_empty() {
                        "no tool results".to_owned()
                    } else {
                        format!("[{}]", seen.join(", "))
                    }
                ));
            }
        }
        None
    }
}

/// What a step answers. Exactly one of: content (`text` and/or `tool_calls`), `error`, or
/// a stream dropped before any content (`drop_after_events` alone).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Assistant text.
    #[serde(default)]
    pub text: Option<String>,
    /// Tool calls, after the text.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Answer with an HTTP error instead.
    #[serde(default)]
    pub error: Option<ErrorReply>,
    /// Streaming only: send this many SSE events, then cut the connection.
    #[serde(default)]
    pub drop_after_events: Option<usize>,
    /// Wait this long before answering.
    #[serde(default)]
    pub delay_ms: u64,
    /// The token usage to report (otherwise rough counts of the request and reply sizes).
    #[serde(default)]
    pub usage: Option<crate::wire::Usage>,
}

/// A tool call in a reply.
///
/// Anthropic: a `tool_use` block with `name` and `input` (an object), e.g. `Bash`, `Write`,
/// `Edit`, `mcp__duet__request_review`.
/// OpenAI: `input` as an object becomes a `function_call` whose `arguments` is its JSON text
/// (`exec_command` with `{cmd}`); `input` as a string becomes a `custom_tool_call`
/// (`apply_patch`); a name `mcp__<server>__<tool>` becomes a `function_call` with
/// `namespace = "mcp__<server>"` and `name = "<tool>"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// Tool name as the agent offers it.
    pub name: String,
    /// Arguments.
    #[serde(default = "empty_object")]
    pub input: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// An HTTP error answer. In `message`, `body` and header values, `{{now_unix}}` and
/// `{{now_unix+N}}` become the unix time (seconds) of the answer, plus N: a limit's reset time
/// a few seconds after it was answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorReply {
    /// HTTP status: 400, 429, 500, 529, ...
    pub status: u16,
    /// Message put into the API's error body.
    #[serde(default)]
    pub message: Option<String>,
    /// The whole body verbatim, instead of the API's usual error shape.
    #[serde(default)]
    pub body: Option<String>,
    /// Extra response headers, e.g. `retry-after` or `anthropic-ratelimit-unified-reset`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// A failure to read or validate a script.
#[derive(Debug, thiserror::Error)]
#[error("failed to load fake model script{}: {kind}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
pub struct ScriptError {
    /// The file, when loaded from one.
    pub path: Option<PathBuf>,
    /// What went wrong.
    #[source]
    pub kind: ScriptErrorKind,
}

/// What went wrong loading a script.
#[derive(Debug, thiserror::Error)]
pub enum ScriptErrorKind {
    /// The file could not be read.
    #[error("failed to read the file")]
    Read(#[source] std::io::Error),
    /// The file is neither `.toml` nor `.json`.
    #[error("failed to pick a format: extension must be .toml or .json")]
    UnknownFormat,
    /// The TOML text does not describe a script.
    #[error("failed to parse TOML: {0}")]
    Toml(#[source] toml::de::Error),
    /// The JSON text does not describe a script.
    #[error("failed to parse JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A step or agent is inconsistent.
    #[error("failed validation at {at}: {reason}")]
    Invalid {
        /// e.g. `steps[3] (commit)` or `agent "worker"` (indexes are 0-based).
        at: String,
        /// Why.
        reason: String,
    },
}

impl Script {
    /// Parses and validates a TOML script.
    pub fn from_toml_str(text: &str) -> Result<Self, ScriptError> {
        let script: Script = toml::from_str(text).map_err(|e| ScriptError {
            path: None,
            kind: ScriptErrorKind::Toml(e),
        })?;
        script.validated()
    }

    /// Parses and validates a JSON script.
    pub fn from_json_str(text: &str) -> Result<Self, ScriptError> {
        let script: Script = serde_json::from_str(text).map_err(|e| ScriptError {
            path: None,
            kind: ScriptErrorKind::Json(e),
        })?;
        script.validated()
    }

    /// Loads a `.toml` or `.json` script file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ScriptError> {
        let path = path.as_ref();
        let with_path = |kind| ScriptError {
            path: Some(path.to_path_buf()),
            kind,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| with_path(ScriptErrorKind::Read(e)))?;
        let parsed = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Self::from_toml_str(&text),
            Some("json") => Self::from_json_str(&text),
            _ => return Err(with_path(ScriptErrorKind::UnknownFormat)),
        };
        parsed.map_err(|e| with_path(e.kind))
    }

    /// Checks cross-references and reply shapes.
    pub fn validated(self) -> Result<Self, ScriptError> {
        let invalid = |at: String, reason: String| ScriptError {
            path: None,
            kind: ScriptErrorKind::Invalid { at, reason },
        };
        for (i, agent) in self.agents.iter().enumerate() {
            if agent.name.is_empty() {
                return Err(invalid(format!("agent[{i}]"), "empty name".into()));
            }
            if self.agents[..i].iter().any(|a| a.name == agent.name) {
                return Err(invalid(
                    format!("agent {:?}", agent.name),
                    "name defined twice".into(),
                ));
            }
        }
        let labelled = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("steps[{i}]"), s))
            .chain(
                self.fallback
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("fallback[{i}]"), s)),
            );
        for (at, step) in labelled {
            let at = match &step.name {
                Some(name) => format!("{at} ({name})"),
                None => at,
            };
            if let Some(agent) = &step.agent
                && agent != DEFAULT_SCOPE
                && !self.agents.iter().any(|a| &a.name == agent)
            {
                return Err(invalid(
                    at,
                    format!("agent {agent:?} is not defined in an [[agent]] table"),
                ));
            }
            step.reply.check().map_err(|reason| invalid(at, reason))?;
        }
        Ok(self)
    }

    /// The title answered to title requests.
    pub fn title(&self) -> &str {
        self.title.as_deref().unwrap_or("Fake session")
    }
}

impl Reply {
    fn check(&self) -> Result<(), String> {
        let has_content = self.text.is_some() || !self.tool_calls.is_empty();
        if let Some(error) = &self.error {
            if has_content {
                return Err("reply has both error and text/tool_calls".into());
            }
            if !(400..=599).contains(&error.status) {
                return Err(format!(
                    "error status {} is not an HTTP error (400..=599)",
                    error.status
                ));
            }
        } else if !has_content && self.drop_after_events.is_none() {
            return Err("reply needs text, tool_calls, error or drop_after_events".into());
        }
        for call in &self.tool_calls {
            if call.name.is_empty() {
                return Err("tool call with empty name".into());
            }
            if !call.input.is_object() && !call.input.is_string() {
                return Err(format!(
                    "tool call {:?}: input must be an object (or a string for custom tools such as apply_patch)",
                    call.name
                ));
            }
        }
        Ok(())
    }

    /// A one-line description for the request log.
    pub fn summary(&self) -> String {
        if let Some(error) = &self.error {
            return format!("error {}", error.status);
        }
        let mut parts = Vec::new();
        if let Some(text) = &self.text {
            parts.push(format!("text {:?}", excerpt(text, 80)));
        }
        for call in &self.tool_calls {
            parts.push(format!("tool {}", call.name));
        }
        if let Some(n) = self.drop_after_events {
            parts.push(format!("drop after {n} events"));
        }
        parts.join(", ")
    }
}

/// The first `max` characters of `text`, with `…` when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The unix time now, in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `text` with each `{{now_unix}}` / `{{now_unix+N}}` replaced by `now` (+ N). A placeholder
/// that does not parse is left as it is.
pub fn fill_clock(text: &str, now: u64) -> String {
    const OPEN: &str = "{{now_unix";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let offset = after[..end].trim();
        let value = if offset.is_empty() {
            Some(now)
        } else {
            offset
                .strip_prefix('+')
                .and_then(|n| n.trim().parse::<u64>().ok())
                .map(|n| now + n)
        };
        match value {
            Some(value) => out.push_str(&value.to_string()),
            None => out.push_str(&rest[start..start + OPEN.len() + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod clock_tests {
    use super::fill_clock;

    #[test]
    fn clock_placeholders_become_the_answer_time_plus_their_offset() {
        assert_eq!(fill_clock("{{now_unix+15}}", 100), "115");
        assert_eq!(
            fill_clock(r#"{"resets_at":{{now_unix + 2}},"now":{{now_unix}}}"#, 7),
            r#"{"resets_at":9,"now":7}"#
        );
        assert_eq!(
            fill_clock("{{now_unix-3}} {{now_unix", 7),
            "{{now_unix-3}} {{now_unix"
        );
        assert_eq!(fill_clock("plain", 7), "plain");
    }
}
