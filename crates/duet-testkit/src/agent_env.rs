//! Throw-away homes that make `claude` and `codex` talk to a (fake) model server and start straight
//! to their prompt: no onboarding, no key, trust or bypass dialogs, no update checks, no daemons.
//!
//! The env and arguments are meant for `Command::envs` / `Command::args` on the spawned agent (or
//! a tmux session); nothing here touches this process's own environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

/// The model name both CLIs are told to use against a fake server.
pub const FAKE_MODEL: &str = "fake-model";
/// The codex provider id configured for the fake server.
pub const FAKE_PROVIDER: &str = "fake";
/// The env var codex reads the fake provider's API key from.
pub const FAKE_API_KEY_ENV: &str = "FAKE_API_KEY";

/// Error while preparing an agent environment.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} ({path})")]
pub struct AgentEnvError {
    pub kind: AgentEnvErrorKind,
    action: &'static str,
    path: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// What went wrong while preparing an agent environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentEnvErrorKind {
    /// Creating the home directory or writing a file into it failed.
    Write,
    /// A trusted directory could not be resolved to an absolute path.
    TrustedDir,
    /// `codex debug models --bundled` failed or printed no usable model entry.
    ModelCatalog,
}

impl AgentEnvError {
    fn new(
        kind: AgentEnvErrorKind,
        action: &'static str,
        path: &Path,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            action,
            path: path.display().to_string(),
            source: source.into(),
        }
    }
}

/// Writes `contents` to `path` atomically (temp file + rename), so nothing half-written is left.
fn write_file(path: &Path, contents: &str) -> Result<(), AgentEnvError> {
    let write = || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, contents.as_bytes())?;
        tmp.persist(path).map_err(|err| err.error)?;
        Ok(())
    };
    write().map_err(|err| {
        AgentEnvError::new(
            AgentEnvErrorKind::Write,
            "write agent config file",
            path,
            err,
        )
    })
}

/// Trusted directories as the CLIs compare them: absolute, symlinks resolved, no repeats.
fn resolve_trusted(dirs: &[&Path]) -> Result<Vec<PathBuf>, AgentEnvError> {
    let mut resolved: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let path = std::fs::canonicalize(dir).map_err(|err| {
            AgentEnvError::new(
                AgentEnvErrorKind::TrustedDir,
                "resolve trusted directory",
                dir,
                err,
            )
        })?;
        if !resolved.contains(&path) {
            resolved.push(path);
        }
    }
    Ok(resolved)
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A prepared HOME for Claude Code pointed at `base_url`.
#[derive(Debug)]
pub struct ClaudeEnv {
    home: TempDir,
    base_url: String,
    api_key: String,
}

impl ClaudeEnv {
    /// Creates a temp HOME with `~/.claude.json` (onboarding done, `api_key` approved, each of
    /// `trusted_dirs` trusted) and `~/.claude/settings.json` (bypass-permissions prompt skipped).
    pub fn prepare(
        base_url: &str,
        api_key: &str,
        trusted_dirs: &[&Path],
    ) -> Result<Self, AgentEnvError> {
        let home = tempfile::Builder::new()
            .prefix("duet-claude-home-")
            .tempdir()
            .map_err(|err| {
                AgentEnvError::new(
                    AgentEnvErrorKind::Write,
                    "create claude home",
                    &std::env::temp_dir(),
                    err,
                )
            })?;
        let trusted = resolve_trusted(trusted_dirs)?;
        let projects: serde_json::Map<String, Value> = trusted
            .iter()
            .map(|dir| (path_str(dir), json!({ "hasTrustDialogAccepted": true })))
            .collect();
        let state = json!({
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": { "approved": [approval_suffix(api_key)], "rejected": [] },
            "projects": projects,
        });
        write_file(&home.path().join(".claude.json"), &pretty(&state))?;
        let settings = json!({ "skipDangerousModePermissionPrompt": true });
        write_file(
            &home.path().join(".claude/settings.json"),
            &pretty(&settings),
        )?;
        Ok(Self {
            home,
            base_url: base_url.to_owned(),
            api_key: api_key.to_owned(),
        })
    }

    /// The prepared HOME.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Env for the `claude` process: HOME, the fake server and key, no background traffic, and
    /// `IS_SANDBOX=1` so `--dangerously-skip-permissions` is accepted when running as root.
    pub fn envs(&self) -> Vec<(String, String)> {
        [
            ("HOME", path_str(self.home())),
            ("ANTHROPIC_BASE_URL", self.base_url.clone()),
            ("ANTHROPIC_API_KEY", self.api_key.clone()),
            ("IS_SANDBOX", "1".to_owned()),
            ("DISABLE_AUTOUPDATER", "1".to_owned()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
            ("DISABLE_TELEMETRY", "1".to_owned()),
            ("DISABLE_ERROR_REPORTING", "1".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }

    /// Adds `envs()` to `cmd`.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.envs(self.envs());
    }
}

/// Claude remembers an approved key by its last 20 characters.
fn approval_suffix(api_key: &str) -> String {
    let chars: Vec<char> = api_key.chars().collect();
    chars[chars.len().saturating_sub(20)..].iter().collect()
}

fn pretty(value: &Value) -> String {
    // Serializing a `Value` cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A prepared CODEX_HOME (inside a temp HOME) for codex pointed at a Responses API server.
#[derive(Debug)]
pub struct CodexEnv {
    root: TempDir,
    codex_home: PathBuf,
    catalog: PathBuf,
    base_url: String,
}

impl CodexEnv {
    /// Creates a temp HOME with `.codex/` as CODEX_HOME holding `config.toml` (fake provider at
    /// `openai_base_url`, e.g. `http://127.0.0.1:PORT/v1`, one trust table per distinct
    /// `trusted_dirs` entry, update checks, analytics, endless retries and the daemon off) and a
    /// model catalog made from a bundled entry of `codex_bin`, renamed to [`FAKE_MODEL`].
    ///
    /// For a git repository, trust its root: codex ignores trust given to a subdirectory and
    /// trusts a linked worktree through its main repository's root.
    pub fn prepare(
        codex_bin: &Path,
        openai_base_url: &str,
        trusted_dirs: &[&Path],
    ) -> Result<Self, AgentEnvError> {
        let root = tempfile::Builder::new()
            .prefix("duet-codex-home-")
            .tempdir()
            .map_err(|err| {
                AgentEnvError::new(
                    AgentEnvErrorKind::Write,
                    "create codex home",
                    &std::env::temp_dir(),
                    err,
                )
            })?;
        let codex_home = root.path().join(".codex");
        std::fs::create_dir_all(&codex_home).map_err(|err| {
            AgentEnvError::new(
                AgentEnvErrorKind::Write,
                "create codex home",
                &codex_home,
                err,
            )
        })?;
        let trusted = resolve_trusted(trusted_dirs)?;
        let catalog = codex_home.join("fake-model-catalog.json");
        let entry = bundled_model_entry(codex_bin, root.path(), &codex_home)?;
        write_file(
            &catalog,
            &pretty(&json!({ "models": [fake_model_entry(entry)] })),
        )?;
        let env = Self {
            root,
            codex_home,
            catalog,
            base_url: openai_base_url.to_owned(),
        };
        write_file(
            &env.codex_home.join("config.toml"),
            &env.config_toml(&trusted),
        )?;
        Ok(env)
    }

    /// CODEX_HOME.
    pub fn codex_home(&self) -> &Path {
        &self.codex_home
    }

    /// The HOME around CODEX_HOME.
    pub fn home(&self) -> &Path {
        self.root.path()
    }

    /// The model catalog file.
    pub fn catalog_path(&self) -> &Path {
        &self.catalog
    }

    /// Env for the `codex` process: HOME, CODEX_HOME and the fake provider's key.
    pub fn envs(&self) -> Vec<(String, String)> {
        vec![
            ("HOME".to_owned(), path_str(self.home())),
            ("CODEX_HOME".to_owned(), path_str(&self.codex_home)),
            (FAKE_API_KEY_ENV.to_owned(), "fake-key".to_owned()),
        ]
    }

    /// `-c key=value` overrides repeating the essentials of `config.toml` on the command line,
    /// where they outrank any `.codex/config.toml` in the project. (Trust cannot be given this
    /// way; it lives in `config.toml` only.)
    pub fn config_args(&self) -> Vec<String> {
        self.settings()
            .into_iter()
            .flat_map(|(key, value)| ["-c".to_owned(), format!("{key}={value}")])
            .collect()
    }

    /// Adds `envs()` to `cmd`.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.envs(self.envs());
    }

    /// Top-level settings as (dotted key, TOML value) pairs.
    fn settings(&self) -> Vec<(String, String)> {
        let provider = format!(
            "{{name={},base_url={},env_key={},wire_api=\"responses\",request_max_retries=0,stream_max_retries=0}}",
            toml_str("Fake model server"),
            toml_str(&self.base_url),
            toml_str(FAKE_API_KEY_ENV),
        );
        vec![
            ("model_provider".to_owned(), toml_str(FAKE_PROVIDER)),
            (format!("model_providers.{FAKE_PROVIDER}"), provider),
            ("model".to_owned(), toml_str(FAKE_MODEL)),
            (
                "model_catalog_json".to_owned(),
                toml_str(&path_str(&self.catalog)),
            ),
            ("check_for_update_on_startup".to_owned(), "false".to_owned()),
            ("analytics.enabled".to_owned(), "false".to_owned()),
            (
                "features.unbounded_connection_retries".to_owned(),
                "false".to_owned(),
            ),
            ("features.daemon_auto_start".to_owned(), "false".to_owned()),
        ]
    }

    fn config_toml(&self, trusted: &[PathBuf]) -> String {
        // Dotted keys are valid TOML at the top level, before any table header.
        let mut text = String::from("# Written by duet: codex against a fake model server.\n");
        for (key, value) in self.settings() {
            text.push_str(&format!("{key} = {value}\n"));
        }
        for dir in trusted {
            text.push_str(&format!(
                "\n[projects.{}]\ntrust_level = \"trusted\"\n",
                toml_str(&path_str(dir))
            ));
        }
        text
    }
}

/// A TOML basic string literal.
pub fn toml_str(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Runs `codex debug models --bundled` and picks the plainest entry: one with no special tool
/// mode (those expose tools only through code mode), else the first.
fn bundled_model_entry(
    codex_bin: &Path,
    home: &Path,
    codex_home: &Path,
) -> Result<Value, AgentEnvError> {
    let catalog_error = |source: Box<dyn std::error::Error + Send + Sync>| -> AgentEnvError {
        AgentEnvError::new(
            AgentEnvErrorKind::ModelCatalog,
            "read codex's bundled model catalog",
            codex_bin,
            source,
        )
    };
    let output = Command::new(codex_bin)
        .args(["debug", "models", "--bundled"])
        .env("HOME", home)
        .env("CODEX_HOME", codex_home)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| catalog_error(Box::new(err)))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        return Err(catalog_error(
            format!("codex exited with {}: {stderr}", output.status).into(),
        ));
    }
    let catalog: Value =
        serde_json::from_slice(&output.stdout).map_err(|err| catalog_error(Box::new(err)))?;
    let models = catalog["models"].as_array().cloned().unwrap_or_default();
    let plain = models
        .iter()
        .find(|model| model.get("tool_mode").is_none_or(Value::is_null));
    plain
        .or(models.first())
        .cloned()
        .ok_or_else(|| catalog_error("the catalog lists no models".into()))
}

/// The bundled entry renamed to the fake model, with the hosted search tool off (a fake server
/// has no search backend).
fn fake_model_entry(mut entry: Value) -> Value {
    entry["slug"] = json!(FAKE_MODEL);
    entry["display_name"] = json!(FAKE_MODEL);
    entry["supports_search_tool"] = json!(false);
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_home_has_onboarding_key_approval_and_trust() {
        let project = tempfile::tempdir().unwrap();
        let key = "sk-test-0123456789abcdefghijklmnop";
        let env = ClaudeEnv::prepare("http://127.0.0.1:9", key, &[project.path(), project.path()])
            .unwrap();
        let state: Value = serde_json::from_str(
            &std::fs::read_to_string(env.home().join(".claude.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(state["hasCompletedOnboarding"], json!(true));
        assert_eq!(
            state["customApiKeyResponses"]["approved"],
            json!(["0123456789abcdefghijklmnop"[6..]])
        );
        let canonical = path_str(&std::fs::canonicalize(project.path()).unwrap());
        assert_eq!(
            state["projects"][&canonical]["hasTrustDialogAccepted"],
            json!(true)
        );
        assert_eq!(state["projects"].as_object().unwrap().len(), 1);
        let settings: Value = serde_json::from_str(
            &std::fs::read_to_string(env.home().join(".claude/settings.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(settings["skipDangerousModePermissionPrompt"], json!(true));
        let envs = env.envs();
        assert!(envs.contains(&("ANTHROPIC_BASE_URL".into(), "http://127.0.0.1:9".into())));
        assert!(envs.contains(&("HOME".into(), path_str(env.home()))));
        assert!(envs.contains(&("IS_SANDBOX".into(), "1".into())));
    }

    #[test]
    fn approval_suffix_keeps_the_last_twenty_characters() {
        assert_eq!(approval_suffix("short"), "short");
        assert_eq!(
            approval_suffix("abcdefghijklmnopqrstuvwxyz"),
            "ghijklmnopqrstuvwxyz"
        );
    }

    #[test]
    fn a_missing_trusted_dir_is_an_error_naming_it() {
        let err =
            ClaudeEnv::prepare("http://x", "k", &[Path::new("/nonexistent/duet/dir")]).unwrap_err();
        assert_eq!(err.kind, AgentEnvErrorKind::TrustedDir);
        assert!(err.to_string().contains("/nonexistent/duet/dir"), "{err}");
    }

    #[test]
    fn a_codex_that_cannot_list_models_is_an_error() {
        let err = CodexEnv::prepare(Path::new("/bin/false"), "http://x/v1", &[]).unwrap_err();
        assert_eq!(err.kind, AgentEnvErrorKind::ModelCatalog);
    }

    #[test]
    fn codex_home_has_config_trust_tables_and_the_fake_catalog() {
        use std::os::unix::fs::PermissionsExt;
        let bin_dir = tempfile::tempdir().unwrap();
        let fake_codex = bin_dir.path().join("codex");
        let catalog = r#"{"models":[{"slug":"coded","tool_mode":"code_mode_only"},{"slug":"plain","tool_mode":null,"supports_search_tool":true}]}"#;
        std::fs::write(&fake_codex, format!("#!/bin/sh\necho '{catalog}'\n")).unwrap();
        std::fs::set_permissions(&fake_codex, std::fs::Permissions::from_mode(0o755)).unwrap();
        let repo_a = tempfile::tempdir().unwrap();
        let repo_b = tempfile::tempdir().unwrap();
        let env = CodexEnv::prepare(
            &fake_codex,
            "http://127.0.0.1:9/v1",
            &[repo_a.path(), repo_b.path(), repo_a.path()],
        )
        .unwrap();

        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(env.catalog_path()).unwrap()).unwrap();
        assert_eq!(written["models"].as_array().unwrap().len(), 1);
        assert_eq!(written["models"][0]["slug"], json!(FAKE_MODEL));
        assert_eq!(written["models"][0]["supports_search_tool"], json!(false));

        let config: toml::Table = std::fs::read_to_string(env.codex_home().join("config.toml"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(config["model"].as_str(), Some(FAKE_MODEL));
        assert_eq!(config["model_provider"].as_str(), Some(FAKE_PROVIDER));
        let provider = &config["model_providers"][FAKE_PROVIDER];
        assert_eq!(provider["base_url"].as_str(), Some("http://127.0.0.1:9/v1"));
        assert_eq!(provider["wire_api"].as_str(), Some("responses"));
        assert_eq!(
            config["features"]["daemon_auto_start"].as_bool(),
            Some(false)
        );
        let projects = config["projects"].as_table().unwrap();
        assert_eq!(projects.len(), 2);
        for repo in [&repo_a, &repo_b] {
            let key = path_str(&std::fs::canonicalize(repo.path()).unwrap());
            assert_eq!(projects[&key]["trust_level"].as_str(), Some("trusted"));
        }

        let args = env.config_args();
        assert!(args.chunks(2).all(|pair| pair[0] == "-c"));
        assert!(
            args.contains(&"model=\"fake-model\"".to_owned()),
            "{args:?}"
        );
        assert!(
            env.envs()
                .contains(&("CODEX_HOME".to_owned(), path_str(env.codex_home())))
        );
    }

    #[test]
    fn fake_entry_is_renamed_and_has_no_search_tool() {
        let entry = fake_model_entry(
            json!({"slug": "gpt-x", "supports_search_tool": true, "context_window": 5}),
        );
        assert_eq!(entry["slug"], json!(FAKE_MODEL));
        assert_eq!(entry["supports_search_tool"], json!(false));
        assert_eq!(entry["context_window"], json!(5));
    }

    #[test]
    fn toml_strings_are_escaped() {
        for text in ["plain", "a\"b\\c", "it's", "new\nline"] {
            let table: toml::Table = format!("k = {}", toml_str(text)).parse().unwrap();
            assert_eq!(table["k"].as_str(), Some(text));
        }
    }
}
