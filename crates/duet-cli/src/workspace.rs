//! The repository duet works in: where its files are, and loading its config and backlog with
//! diagnostics printed on failure.

use std::path::{Path, PathBuf};

use duet_core::backlog::Backlog;
use duet_core::config::{CONFIG_FILE_NAME, Config};
use duet_core::diagnostic::SourceFile;
use duet_core::validate::RepoFacts;
use duet_git::{GitErrorKind, Repo};

use crate::command_error::{CommandError, error_chain};

/// A git repository with (possibly) duet files at its main working directory.
pub struct Workspace {
    repo: Repo,
}

impl Workspace {
    /// Finds the repository containing `cwd`; outside one, a user error with a hint.
    pub fn discover(cwd: &Path) -> Result<Self, CommandError> {
        match Repo::discover(cwd) {
            Ok(repo) => Ok(Workspace { repo }),
            Err(err) => match err.kind {
                GitErrorKind::Discover { .. } => Err(CommandError::user(format!(
                    "{} is not inside a git repository",
                    cwd.display()
                ))
                .hint("run `git init` first, or pass -C DIR to point duet at a repository")),
                _ => Err(CommandError::user(error_chain(&err))),
            },
        }
    }

    /// The main working directory of the repository, where duet.toml and `.duet/` live.
    pub fn root(&self) -> &Path {
        self.repo.main_workdir()
    }

    pub fn config_path(&self) -> PathBuf {
        self.root().join(CONFIG_FILE_NAME)
    }

    /// `.git/info/exclude` of the repository (shared by all its worktrees).
    pub fn exclude_file_path(&self) -> PathBuf {
        self.repo.common_dir().join("info").join("exclude")
    }

    pub fn state_db_path(&self) -> PathBuf {
        self.root().join(duet_store::STATE_DB_RELATIVE_PATH)
    }

    /// Reads duet.toml; prints its diagnostics and fails if it is invalid or missing.
    pub fn load_config(&self) -> Result<Config, CommandError> {
        let path = self.config_path();
        let src = match std::fs::read(&path) {
            Ok(bytes) => decode(display_path(self.root(), &path), bytes, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CommandError::user(format!(
                    "no {CONFIG_FILE_NAME} in {}",
                    self.root().display()
                ))
                .hint("run `duet init` to create duet.toml and backlog.toml"));
            }
            Err(e) => {
                return Err(CommandError::user(format!(
                    "failed to read {}: {}",
                    path.display(),
                    error_chain(&e)
                )));
            }
        };
        Config::from_toml_str(&src, display_path(self.root(), &path)).map_err(|diagnostics| {
            eprint!("{}", diagnostics.render_plain());
            CommandError::invalid_input_reported(format!("{} is invalid", path.display()))
                .hint("run `duet validate` to see every problem")
        })
    }

    /// Reads the backlog that `config` names; prints its diagnostics and fails if it is invalid.
    pub fn load_backlog(&self, config: &Config) -> Result<Backlog, CommandError> {
        let path = self.root().join(&config.backlog);
        let bytes = std::fs::read(&path).map_err(|e| {
            CommandError::user(format!(
                "failed to read backlog {}: {}",
                path.display(),
                error_chain(&e)
            ))
            .hint("set `backlog` in duet.toml, or run `duet init` to create backlog.toml")
        })?;
        let src = decode(display_path(self.root(), &path), bytes, &path)?;
        let base_dir = path.parent().unwrap_or(self.root()).to_path_buf();
        Backlog::from_toml_str(&src, display_path(self.root(), &path), config, &base_dir).map_err(
            |diagnostics| {
                eprint!("{}", diagnostics.render_plain());
                CommandError::invalid_input_reported(format!("{} is invalid", path.display()))
                    .hint("run `duet validate` to see every problem")
            },
        )
    }
}

/// The file's text; invalid UTF-8 is printed as a diagnostic at the first bad byte.
fn decode(shown: PathBuf, bytes: Vec<u8>, path: &Path) -> Result<String, CommandError> {
    SourceFile::decode(shown, bytes).map_err(|diagnostics| {
        eprint!("{}", diagnostics.render_plain());
        CommandError::invalid_input_reported(format!("{} is invalid", path.display()))
    })
}

/// Paths in messages are shown relative to the repository root when they are inside it.
pub fn display_path(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Answers validation's questions about branches from the real repository.
pub struct GitRepoFacts<'a>(pub &'a Repo);

impl RepoFacts for GitRepoFacts<'_> {
    fn branch_exists(&self, name: &str) -> Option<bool> {
        self.0.branch_exists(name).ok()
    }
}
