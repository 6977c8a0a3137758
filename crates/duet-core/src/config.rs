//! duet.toml: the typed configuration, its embedded defaults, and the checked reading of a
//! user's file over those defaults (key by key; user agent profiles add to the built-in ones).

pub mod cost;
pub mod gates;
pub(crate) mod reader;

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml_edit::TableLike;

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile, did_you_mean};
use crate::task_id::check_component;
use crate::validate::{NoRepo, RepoFacts};
use reader::{At, Reader, parse_document};

/// The defaults, and the template `duet init` writes: every setting with a comment.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../../config/duet.toml");

/// The name duet looks for in the repository root.
pub const CONFIG_FILE_NAME: &str = "duet.toml";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub base_branch: String,
    pub max_parallel: NonZeroUsize,
    pub branch_prefix: String,
    pub worktree_root: PathBuf,
    pub backlog: PathBuf,
    pub roles: Roles,
    pub agents: BTreeMap<String, AgentProfile>,
    pub ci: CiConfig,
    pub review: ReviewConfig,
    pub stall: StallConfig,
    pub merge: MergeConfig,
    pub notify: NotifyConfig,
    pub github: GithubConfig,
    /// The scope guard's budget (`[scope]`).
    pub scope: gates::ScopeConfig,
    pub budget: cost::BudgetConfig,
    pub pricing: crate::accounting::Pricing,
}

/// Default worker and reviewer profile names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    pub worker: String,
    pub reviewer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    Claude,
    Codex,
}

impl AgentKind {
    pub const ALL: [AgentKind; 2] = [AgentKind::Claude, AgentKind::Codex];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Claude => "claude",
            AgentKind::Codex => "codex",
        }
    }

    pub fn parse(s: &str) -> Option<AgentKind> {
        AgentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How to start one agent CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub kind: AgentKind,
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub model: Option<String>,
    /// How duet reaches the agent (codex only: its app-server, or typing into its pane).
    pub transport: AgentTransport,
}

/// How duet hands messages to an agent and learns its turns (a profile's default:
/// [`AgentTransport::default_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentTransport {
    /// Typed into the agent's tmux pane; turns from hooks / notify and the pane.
    #[default]
    Tmux,
    /// codex only: `codex app-server` on a private unix socket, messages by `turn/start` /
    /// `turn/steer`, turns from its notifications, the TUI attached with `--remote` in the pane.
    AppServer,
}

impl AgentTransport {
    pub const ALL: [AgentTransport; 2] = [AgentTransport::Tmux, AgentTransport::AppServer];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentTransport::Tmux => "tmux",
            AgentTransport::AppServer => "app-server",
        }
    }

    pub fn parse(s: &str) -> Option<AgentTransport> {
        AgentTransport::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// A profile's transport when it sets none: codex on its app-server, claude typed into.
    pub fn default_for(kind: AgentKind) -> AgentTransport {
        match kind {
            AgentKind::Codex => AgentTransport::AppServer,
            AgentKind::Claude => AgentTransport::Tmux,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiConfig {
    /// Run with `sh -c`; `None` means no CI gate.
    pub command: Option<String>,
    pub timeout: Duration,
    pub env: BTreeMap<String, String>,
    /// How many CI runs at once across all tasks (agents' test suites compete for the cores).
    pub max_parallel: NonZeroUsize,
}

/// GitHub, optional: a task's pull request polled through `gh` for check runs and reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubConfig {
    /// Poll when `gh` is installed and logged in (`false`: never call `gh` for CI).
    pub enabled: bool,
    /// Time between polls of each task's pull request (longer after rate limits).
    pub interval: Duration,
    /// The `gh` program (looked up on PATH).
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewConfig {
    pub max_rounds: NonZeroU32,
    /// The TDD gate (`tdd`, `test_command`, `test_files`).
    pub tdd: gates::TddConfig,
    /// An approval must list what the reviewer verified; one listing nothing is refused.
    pub require_verification: bool,
    /// Plan step: the worker's PLAN.md is reviewed before any code (tasks may override).
    pub plan: bool,
    /// Plan review rounds without approval before the task goes to the human.
    pub max_plan_rounds: NonZeroU32,
    /// PLAN.md may be committed on the task branch (and so land on the base); off by default:
    /// the plan goes into the report and the PR description, not into the base branch.
    pub plan_in_branch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StallConfig {
    pub idle: Duration,
    pub no_progress: Duration,
    pub repeat_limit: NonZeroU32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeStrategy {
    Rebase,
    Squash,
    Merge,
}

impl MergeStrategy {
    pub const ALL: [MergeStrategy; 3] = [
        MergeStrategy::Rebase,
        MergeStrategy::Squash,
        MergeStrategy::Merge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MergeStrategy::Rebase => "rebase",
            MergeStrategy::Squash => "squash",
            MergeStrategy::Merge => "merge",
        }
    }
}

/// Where a finished task's branch goes (`merge.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeMode {
    /// duet's merge queue lands it on the base branch in this repository.
    Local,
    /// The branch is pushed and a draft pull request opened (`gh pr create --draft`); nothing
    /// lands locally.
    Pr,
}

impl MergeMode {
    pub const ALL: [MergeMode; 2] = [MergeMode::Local, MergeMode::Pr];

    pub fn as_str(self) -> &'static str {
        match self {
            MergeMode::Local => "local",
            MergeMode::Pr => "pr",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConfig {
    pub mode: MergeMode,
    pub strategy: MergeStrategy,
    pub auto: bool,
    pub delete_branch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Run with `sh -c` when a task needs the human; `None` means no command.
    pub command: Option<String>,
}

impl Default for Config {
    /// The embedded `config/duet.toml`.
    fn default() -> Self {
        let file = SourceFile::new("<built-in duet.toml>", DEFAULT_CONFIG_TOML);
        let (config, diagnostics) = read_config(&file, Config::skeleton(), &NoRepo);
        assert!(
            diagnostics.is_empty(),
            "the embedded config/duet.toml is invalid: {}",
            Diagnostics(diagnostics).render_plain()
        );
        config
    }
}

impl Config {
    /// Parses a user's duet.toml over the defaults. Every problem is returned, not just the first.
    pub fn from_toml_str(src: &str, path: impl AsRef<Path>) -> Result<Config, Diagnostics> {
        let file = SourceFile::new(path.as_ref(), src);
        let (config, diagnostics) = read_config(&file, Config::default(), &NoRepo);
        let diagnostics = Diagnostics(diagnostics);
        if diagnostics.has_errors() {
            Err(diagnostics)
        } else {
            Ok(config)
        }
    }

    /// The branch a task works on: `<branch_prefix>/<task id>`.
    pub fn task_branch(&self, task: &crate::task_id::TaskId) -> String {
        format!("{}/{}", self.branch_prefix, task)
    }

    /// A value every default overwrites; only used as the base the defaults are read onto.
    fn skeleton() -> Config {
        Config {
            base_branch: String::new(),
            max_parallel: NonZeroUsize::MIN,
            branch_prefix: String::new(),
            worktree_root: PathBuf::new(),
            backlog: PathBuf::new(),
            roles: Roles {
                worker: String::new(),
                reviewer: String::new(),
            },
            agents: BTreeMap::new(),
            ci: CiConfig {
                command: None,
                timeout: Duration::ZERO,
                env: BTreeMap::new(),
                max_parallel: NonZeroUsize::MIN,
            },
            review: ReviewConfig {
                max_rounds: NonZeroU32::MIN,
                tdd: gates::TddConfig {
                    enabled: false,
                    test_command: None,
                    test_files: Vec::new(),
                },
                require_verification: false,
                plan: false,
                max_plan_rounds: NonZeroU32::MIN,
                plan_in_branch: false,
            },
            stall: StallConfig {
                idle: Duration::ZERO,
                no_progress: Duration::ZERO,
                repeat_limit: NonZeroU32::MIN,
            },
            merge: MergeConfig {
                mode: MergeMode::Pr,
                strategy: MergeStrategy::Merge,
                auto: false,
                delete_branch: false,
            },
            notify: NotifyConfig { command: None },
            github: GithubConfig {
                enabled: false,
                interval: Duration::ZERO,
                command: String::new(),
            },
            scope: gates::ScopeConfig::default(),
            budget: cost::BudgetConfig::default(),
            pricing: crate::accounting::Pricing::default(),
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "base_branch",
    "max_parallel",
    "branch_prefix",
    "worktree_root",
    "backlog",
    "roles",
    "agents",
    "ci",
    "review",
    "stall",
    "merge",
    "notify",
    "github",
    "scope",
    "budget",
    "pricing",
];
const ROLE_KEYS: &[&str] = &["worker", "reviewer"];
const AGENT_KEYS: &[&str] = &["kind", "command", "args", "env", "model", "transport"];
const CI_KEYS: &[&str] = &["command", "timeout", "env", "max_parallel"];
const REVIEW_KEYS: &[&str] = &[
    "max_rounds",
    "tdd",
    "test_command",
    "test_files",
    "require_verification",
    "plan",
    "max_plan_rounds",
    "plan_in_branch",
];
const STALL_KEYS: &[&str] = &["idle", "no_progress", "repeat_limit"];
const MERGE_KEYS: &[&str] = &["mode", "strategy", "auto", "delete_branch"];
const NOTIFY_KEYS: &[&str] = &["command"];
const GITHUB_KEYS: &[&str] = &["enabled", "interval", "command"];

/// Reads `file` over `base`, returning the result (bad values keep their base value, so later
/// checks can still run) and every problem found.
pub(crate) fn read_config(
    file: &Arc<SourceFile>,
    mut config: Config,
    repo: &dyn RepoFacts,
) -> (Config, Vec<Diagnostic>) {
    let doc = match parse_document(file) {
        Ok(doc) => doc,
        Err(d) => return (config, vec![d]),
    };
    let mut r = Reader::new(file);
    let top = doc.as_table() as &dyn TableLike;
    r.check_keys(top, "", TOP_KEYS);

    if let Some(base) = r.non_empty_string(top, "base_branch", "base_branch") {
        check_base_branch(&mut r, &base, repo);
        config.base_branch = base.value;
    }
    if let Some(n) = r.positive(top, "max_parallel", "max_parallel")
        && let Some(n) = usize::try_from(n.get()).ok().and_then(NonZeroUsize::new)
    {
        config.max_parallel = n;
    }
    if let Some(prefix) = r.non_empty_string(top, "branch_prefix", "branch_prefix")
        && check_branch_prefix(&mut r, &prefix)
    {
        config.branch_prefix = prefix.value;
    }
    if let Some(root) = r.non_empty_string(top, "worktree_root", "worktree_root") {
        config.worktree_root = root.value.into();
    }
    if let Some(backlog) = r.non_empty_string(top, "backlog", "backlog") {
        config.backlog = backlog.value.into();
    }

    if let Some(agents) = r.table(top, "agents", "agents") {
        read_agents(&mut r, agents, &mut config.agents);
    }
    read_roles(&mut r, top, &mut config);

    if let Some(ci) = r.table(top, "ci", "ci") {
        r.check_keys(ci, "ci", CI_KEYS);
        if let Some(command) = r.non_empty_string(ci, "command", "ci.command") {
            config.ci.command = Some(command.value);
        }
        if let Some(timeout) = r.duration(ci, "timeout", "ci.timeout") {
            config.ci.timeout = timeout;
        }
        if let Some(env) = r.string_map(ci, "env", "ci.env") {
            config.ci.env.extend(env);
        }
        if let Some(n) = r.positive(ci, "max_parallel", "ci.max_parallel")
            && let Some(n) = usize::try_from(n.get()).ok().and_then(NonZeroUsize::new)
        {
            config.ci.max_parallel = n;
        }
    }
    if let Some(review) = r.table(top, "review", "review") {
        r.check_keys(review, "review", REVIEW_KEYS);
        if let Some(n) = r.positive(review, "max_rounds", "review.max_rounds") {
            config.review.max_rounds = n;
        }
        gates::read_review_gates(&mut r, review, &mut config.review.tdd);
        if let Some(require) = r.bool(
            review,
            "require_verification",
            "review.require_verification",
        ) {
            config.review.require_verification = require;
        }
        if let Some(plan) = r.bool(review, "plan", "review.plan") {
            config.review.plan = plan;
        }
        if let Some(n) = r.positive(review, "max_plan_rounds", "review.max_plan_rounds") {
            config.review.max_plan_rounds = n;
        }
        if let Some(allowed) = r.bool(review, "plan_in_branch", "review.plan_in_branch") {
            config.review.plan_in_branch = allowed;
        }
    }
    if let Some(scope) = r.table(top, "scope", "scope") {
        config.scope = gates::read_scope(&mut r, scope, "scope");
    }
    if let Some(stall) = r.table(top, "stall", "stall") {
        r.check_keys(stall, "stall", STALL_KEYS);
        if let Some(d) = r.duration(stall, "idle", "stall.idle") {
            config.stall.idle = d;
        }
        if let Some(d) = r.duration(stall, "no_progress", "stall.no_progress") {
            config.stall.no_progress = d;
        }
        if let Some(n) = r.positive(stall, "repeat_limit", "stall.repeat_limit") {
            config.stall.repeat_limit = n;
        }
    }
    if let Some(merge) = r.table(top, "merge", "merge") {
        r.check_keys(merge, "merge", MERGE_KEYS);
        if let Some(mode) = r.string(merge, "mode", "merge.mode") {
            match MergeMode::ALL
                .into_iter()
                .find(|m| m.as_str() == mode.value)
            {
                Some(m) => config.merge.mode = m,
                None => unknown_choice(
                    &mut r,
                    &mode,
                    "merge mode",
                    &MergeMode::ALL.map(MergeMode::as_str),
                ),
            }
        }
        if let Some(strategy) = r.string(merge, "strategy", "merge.strategy") {
            match MergeStrategy::ALL
                .into_iter()
                .find(|s| s.as_str() == strategy.value)
            {
                Some(s) => config.merge.strategy = s,
                None => unknown_choice(
                    &mut r,
                    &strategy,
                    "merge strategy",
                    &MergeStrategy::ALL.map(MergeStrategy::as_str),
                ),
            }
        }
        if let Some(auto) = r.bool(merge, "auto", "merge.auto") {
            config.merge.auto = auto;
        }
        if let Some(delete) = r.bool(merge, "delete_branch", "merge.delete_branch") {
            config.merge.delete_branch = delete;
        }
    }
    if let Some(notify) = r.table(top, "notify", "notify") {
        r.check_keys(notify, "notify", NOTIFY_KEYS);
        if let Some(command) = r.non_empty_string(notify, "command", "notify.command") {
            config.notify.command = Some(command.value);
        }
    }
    if let Some(github) = r.table(top, "github", "github") {
        r.check_keys(github, "github", GITHUB_KEYS);
        if let Some(enabled) = r.bool(github, "enabled", "github.enabled") {
            config.github.enabled = enabled;
        }
        if let Some(interval) = r.duration(github, "interval", "github.interval") {
            config.github.interval = interval;
        }
        if let Some(command) = r.non_empty_string(github, "command", "github.command") {
            config.github.command = command.value;
        }
    }
    cost::read_cost(&mut r, top, &mut config.budget, &mut config.pricing);
    (config, r.into_sorted())
}

fn read_agents(
    r: &mut Reader,
    agents: &dyn TableLike,
    profiles: &mut BTreeMap<String, AgentProfile>,
) {
    for (name, item) in agents.iter() {
        let section = format!("agents.{name}");
        let Some(table) = item.as_table_like() else {
            r.error(
                item.span(),
                format!(
                    "`{section}` must be a table, found {}",
                    reader::describe(item)
                ),
                "expected a table",
                Some(format!(
                    "write an agent profile as `[{section}]` with `kind` and `command`"
                )),
            );
            continue;
        };
        r.check_keys(table, &section, AGENT_KEYS);
        let kind = r
            .string(table, "kind", &format!("{section}.kind"))
            .and_then(|kind| match AgentKind::parse(&kind.value) {
                Some(k) => Some(k),
                None => {
                    unknown_choice(
                        r,
                        &kind,
                        "agent kind",
                        &AgentKind::ALL.map(AgentKind::as_str),
                    );
                    None
                }
            });
        let existing = profiles.get(name).cloned();
        let mut profile = match (existing, kind) {
            (Some(mut p), kind) => {
                if let Some(kind) = kind.filter(|kind| *kind != p.kind) {
                    // Another kind of agent: its own default way in, unless the table says.
                    p.kind = kind;
                    p.transport = AgentTransport::default_for(kind);
                }
                p
            }
            (None, Some(kind)) => AgentProfile {
                kind,
                command: kind.as_str().to_owned(),
                args: Vec::new(),
                env: BTreeMap::new(),
                model: None,
                transport: AgentTransport::default_for(kind),
            },
            (None, None) => {
                if !table.contains_key("kind") {
                    let span = agents.key(name).and_then(|k| k.span());
                    r.error(
                        span,
                        format!("agent profile `{name}` has no `kind`"),
                        "new profile without `kind`",
                        Some("add `kind = \"claude\"` or `kind = \"codex\"`".to_owned()),
                    );
                }
                continue;
            }
        };
        if let Some(command) = r.non_empty_string(table, "command", &format!("{section}.command")) {
            profile.command = command.value;
        }
        if let Some(args) = r.string_array(table, "args", &format!("{section}.args")) {
            profile.args = args.into_iter().map(|a| a.value).collect();
        }
        if let Some(env) = r.string_map(table, "env", &format!("{section}.env")) {
            profile.env.extend(env);
        }
        if let Some(model) = r.non_empty_string(table, "model", &format!("{section}.model")) {
            profile.model = Some(model.value);
        }
        if let Some(transport) = r.string(table, "transport", &format!("{section}.transport")) {
            match AgentTransport::parse(&transport.value) {
                Some(AgentTransport::AppServer) if profile.kind != AgentKind::Codex => r.error(
                    transport.span.clone(),
                    format!("`{section}.transport = \"app-server\"` is for codex agents only"),
                    "not a codex profile",
                    Some("remove `transport` or use `transport = \"tmux\"`".to_owned()),
                ),
                Some(t) => profile.transport = t,
                None => unknown_choice(
                    r,
                    &transport,
                    "agent transport",
                    &AgentTransport::ALL.map(AgentTransport::as_str),
                ),
            }
        }
        profiles.insert(name.to_owned(), profile);
    }
}

fn read_roles(r: &mut Reader, top: &dyn TableLike, config: &mut Config) {
    let Some(roles) = r.table(top, "roles", "roles") else {
        return;
    };
    r.check_keys(roles, "roles", ROLE_KEYS);
    let worker = r.non_empty_string(roles, "worker", "roles.worker");
    let reviewer = r.non_empty_string(roles, "reviewer", "roles.reviewer");
    let worker_ok = worker
        .as_ref()
        .is_some_and(|w| check_profile_exists(r, w, &config.agents));
    let reviewer_ok = reviewer
        .as_ref()
        .is_some_and(|w| check_profile_exists(r, w, &config.agents));
    if let (Some(w), true) = (&worker, worker_ok) {
        config.roles.worker = w.value.clone();
    }
    if let (Some(rv), true) = (&reviewer, reviewer_ok) {
        config.roles.reviewer = rv.value.clone();
    }
    if (worker.is_some() || reviewer.is_some()) && config.roles.worker == config.roles.reviewer {
        let label = if reviewer.is_some() {
            "same profile as the worker"
        } else {
            "same profile as the reviewer"
        };
        let span = reviewer.or(worker).and_then(|at| at.span);
        r.push(same_profile_error(&config.roles.worker, label).at(&r.file, span));
    }
}

/// "worker and reviewer are both `x`", shared with the backlog's per-task check.
pub(crate) fn same_profile_error(profile: &str, label: &str) -> Diagnostic {
    Diagnostic::error(format!(
        "worker and reviewer are both the profile `{profile}`"
    ))
    .with_label(label)
    .with_hint("a pair needs two different agent profiles; pick another reviewer or worker")
}

/// Reports `name` if it is not an agent profile; returns whether it is one.
pub(crate) fn check_profile_exists(
    r: &mut Reader,
    name: &At<String>,
    agents: &BTreeMap<String, AgentProfile>,
) -> bool {
    if agents.contains_key(&name.value) {
        return true;
    }
    let known: Vec<&str> = agents.keys().map(String::as_str).collect();
    let hint = match did_you_mean(&name.value, known.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? profiles: {}", known.join(", ")),
        None => format!(
            "profiles: {}; define others with [agents.NAME] in duet.toml",
            known.join(", ")
        ),
    };
    r.error(
        name.span.clone(),
        format!("unknown agent profile `{}`", name.value),
        "no such profile",
        Some(hint),
    );
    false
}

/// Reports `name` when the repository is known and has no such branch.
pub(crate) fn check_base_branch(r: &mut Reader, name: &At<String>, repo: &dyn RepoFacts) {
    if repo.branch_exists(&name.value) == Some(false) {
        r.error(
            name.span.clone(),
            format!(
                "base branch `{}` does not exist in the repository",
                name.value
            ),
            "no such branch",
            Some("create the branch first, or name an existing one".to_owned()),
        );
    }
}

fn check_branch_prefix(r: &mut Reader, prefix: &At<String>) -> bool {
    for component in prefix.value.split('/') {
        if let Err(kind) = check_component(component) {
            r.error(
                prefix.span.clone(),
                format!(
                    "invalid `branch_prefix` `{}`: the part `{component}`: {kind}",
                    prefix.value
                ),
                "not a safe branch name",
                Some("use letters, digits, `-`, `_` and `.`, parts separated by `/`".to_owned()),
            );
            return false;
        }
    }
    true
}

fn unknown_choice(r: &mut Reader, value: &At<String>, what: &str, choices: &[&str]) {
    let hint = did_you_mean(&value.value, choices.iter().copied())
        .map(|close| format!("did you mean `{close}`?"));
    r.error(
        value.span.clone(),
        format!("unknown {what} `{}`", value.value),
        format!("expected one of: {}", choices.join(", ")),
        hint,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_embedded_file() {
        let c = Config::default();
        assert_eq!(c.base_branch, "main");
        assert_eq!(c.max_parallel.get(), 2);
        assert_eq!(c.branch_prefix, "duet");
        assert_eq!(c.worktree_root, PathBuf::from(".duet/worktrees"));
        assert_eq!(c.backlog, PathBuf::from("backlog.toml"));
        assert_eq!(c.roles.worker, "claude");
        assert_eq!(c.roles.reviewer, "codex");
        assert_eq!(c.agents["claude"].kind, AgentKind::Claude);
        assert_eq!(c.agents["codex"].command, "codex");
        assert_eq!(c.ci.command, None);
        assert_eq!(c.ci.timeout, Duration::from_secs(30 * 60));
        assert_eq!(c.ci.max_parallel.get(), 1);
        assert_eq!(c.review.max_rounds.get(), 5);
        assert!(c.review.require_verification);
        assert!(!c.review.plan);
        assert_eq!(c.review.max_plan_rounds.get(), 3);
        assert_eq!(c.stall.idle, Duration::from_secs(15 * 60));
        assert_eq!(c.stall.no_progress, Duration::from_secs(3600));
        assert_eq!(c.stall.repeat_limit.get(), 3);
        assert_eq!(c.merge.mode, MergeMode::Local);
        assert_eq!(c.merge.strategy, MergeStrategy::Rebase);
        assert!(c.merge.auto);
        assert!(c.merge.delete_branch);
        assert_eq!(c.notify.command, None);
    }

    #[test]
    fn defaults_set_every_field_the_skeleton_leaves_blank() {
        // Every skeleton value that is not also a legitimate default must be overwritten.
        let c = Config::default();
        let s = Config::skeleton();
        assert_ne!(c.base_branch, s.base_branch);
        assert_ne!(c.max_parallel, s.max_parallel);
        assert_ne!(c.branch_prefix, s.branch_prefix);
        assert_ne!(c.worktree_root, s.worktree_root);
        assert_ne!(c.backlog, s.backlog);
        assert_ne!(c.roles, s.roles);
        assert_ne!(c.ci.timeout, s.ci.timeout);
        assert_ne!(c.review, s.review);
        assert_ne!(c.review.require_verification, s.review.require_verification);
        assert_ne!(c.review.max_plan_rounds, s.review.max_plan_rounds);
        assert_ne!(c.stall.idle, s.stall.idle);
        assert_ne!(c.stall.no_progress, s.stall.no_progress);
        assert_ne!(c.stall.repeat_limit, s.stall.repeat_limit);
        assert_ne!(c.merge, s.merge);
        assert_ne!(c.merge.mode, s.merge.mode);
    }

    #[test]
    fn user_file_overrides_key_by_key_and_adds_profiles() {
        let src = r#"
max_parallel = 4
[agents.claude]
model = "opus"
[agents.codex-fast]
kind = "codex"
args = ["-c", "model_reasoning_effort=low"]
[roles]
reviewer = "codex-fast"
[stall]
idle = "5m"
"#;
        let c = Config::from_toml_str(src, "duet.toml").unwrap();
        assert_eq!(c.max_parallel.get(), 4);
        assert_eq!(c.base_branch, "main");
        assert_eq!(c.agents["claude"].model.as_deref(), Some("opus"));
        assert_eq!(c.agents["claude"].command, "claude");
        assert_eq!(c.agents["codex-fast"].command, "codex");
        assert_eq!(c.agents["codex-fast"].args.len(), 2);
        assert!(c.agents.contains_key("codex"));
        assert_eq!(c.roles.worker, "claude");
        assert_eq!(c.roles.reviewer, "codex-fast");
        assert_eq!(c.stall.idle, Duration::from_secs(300));
        assert_eq!(c.stall.no_progress, Duration::from_secs(3600));
    }

    #[test]
    fn review_plan_keys_are_read_and_zero_rounds_refused() {
        let c = Config::from_toml_str("[review]\nplan = true\nmax_plan_rounds = 2\n", "duet.toml")
            .unwrap();
        assert!(c.review.plan);
        assert_eq!(c.review.max_plan_rounds.get(), 2);
        assert!(
            !c.review.plan_in_branch,
            "the plan stays off the branch by default"
        );
        let c = Config::from_toml_str("[review]\nplan_in_branch = true\n", "duet.toml").unwrap();
        assert!(c.review.plan_in_branch);
        let errors = Config::from_toml_str("[review]\nplan_in_branch = 1\n", "duet.toml")
            .unwrap_err()
            .render_short();
        assert!(errors.contains("review.plan_in_branch"), "{errors}");
        let errors = Config::from_toml_str("[review]\nmax_plan_rounds = 0\n", "duet.toml")
            .unwrap_err()
            .render_short();
        assert!(
            errors.contains("`review.max_plan_rounds` must be greater than zero"),
            "{errors}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let src = "max_paralel = 4\nmax_parallel = 0\n[stall]\nidle = \"soon\"\n";
        let errors = Config::from_toml_str(src, "duet.toml").unwrap_err();
        let lines = errors.render_short();
        assert_eq!(
            lines,
            "duet.toml:1:1: error: unknown key `max_paralel`\n\
             duet.toml:2:16: error: `max_parallel` must be greater than zero, found 0\n\
             duet.toml:4:8: error: `stall.idle` is not a valid duration: expected number at 0\n"
        );
    }
}
