//! The CLI's one error type: every failure's kind, message, hints and exit code, all mapped here.

use std::fmt;
use std::process::ExitCode;

pub use duet_core::error_chain::error_chain;

/// What went wrong, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandErrorKind {
    /// The user asked for something that cannot be done as things are (exit 1).
    User,
    /// A config or backlog file is invalid (exit 2); the diagnostics were already printed.
    InvalidInput,
    /// The command line itself is wrong (exit 2, like clap's usage errors).
    Cli,
    /// A bug or an environment failure duet cannot explain (exit 70, EX_SOFTWARE).
    Internal,
}

impl CommandErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            CommandErrorKind::User => 1,
            CommandErrorKind::InvalidInput | CommandErrorKind::Cli => 2,
            CommandErrorKind::Internal => 70,
        }
    }
}

/// An error a command returns, with hints for the user.
#[derive(Debug)]
pub struct CommandError {
    pub kind: CommandErrorKind,
    pub message: String,
    pub hints: Vec<String>,
    /// Set when the details were already printed (e.g. validation diagnostics).
    pub already_reported: bool,
}

impl CommandError {
    pub fn new(kind: CommandErrorKind, message: impl Into<String>) -> Self {
        CommandError {
            kind,
            message: message.into(),
            hints: Vec::new(),
            already_reported: false,
        }
    }

    pub fn user(message: impl Into<String>) -> Self {
        Self::new(CommandErrorKind::User, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(CommandErrorKind::Internal, message)
    }

    /// Invalid input whose diagnostics have been printed already.
    pub fn invalid_input_reported(summary: impl Into<String>) -> Self {
        CommandError {
            already_reported: true,
            ..Self::new(CommandErrorKind::InvalidInput, summary)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Prints the error to stderr and returns the process exit code.
    pub fn report(&self) -> ExitCode {
        let mut out = String::new();
        if !self.already_reported || !self.message.is_empty() {
            out.push_str(&format!("error: {}\n", self.message));
        }
        for hint in &self.hints {
            out.push_str(&format!("hint: {hint}\n"));
        }
        eprint!("{out}");
        ExitCode::from(self.kind.exit_code())
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for CommandError {
    fn from(err: std::io::Error) -> Self {
        CommandError::internal(error_chain(&err))
    }
}

/// The store's failures: a database the user can do something about (missing, not one, from
/// another duet version, read-only) is theirs to fix; a failed read or write is duet's.
impl From<duet_store::StoreError> for CommandError {
    fn from(err: duet_store::StoreError) -> Self {
        use duet_store::StoreErrorKind as K;
        let message = error_chain(&err);
        match err.kind() {
            K::NotFound | K::NotADatabase | K::ReadOnly => CommandError::user(message),
            K::SchemaTooNew { .. } => CommandError::user(message)
                .hint("this state was written by a newer duet: upgrade duet to read it"),
            K::SchemaOutdated { .. } => CommandError::user(message)
                .hint("`duet run` or `duet pair` migrates it; then try again"),
            _ => CommandError::internal(message),
        }
    }
}

/// git's failures: the repository as it is (no commits, a base that does not exist, a folder in
/// the way, work that would be lost) is the user's to fix; git itself failing is duet's.
impl From<duet_git::GitError> for CommandError {
    fn from(err: duet_git::GitError) -> Self {
        use duet_git::GitErrorKind as K;
        let message = error_chain(&err);
        match &err.kind {
            K::Git { .. } | K::Io { .. } | K::GitCommand { .. } | K::GhCommand { .. } => {
                CommandError::internal(message)
            }
            _ => CommandError::user(message),
        }
    }
}

/// The engine's failures keep their kind: another engine running or a setup the user can
/// change exits 1; a store or internal failure exits 70, with the whole chain of causes.
impl From<duet_daemon::DaemonError> for CommandError {
    fn from(err: duet_daemon::DaemonError) -> Self {
        use duet_daemon::DaemonErrorKind as K;
        let message = error_chain(&err);
        match err.kind {
            K::Busy => CommandError::user(message)
                .hint("`duet status` talks to the running duet; `duet stop` stops it"),
            K::Setup => CommandError::user(message),
            K::Store => match err.store_error().map(duet_store::StoreError::kind) {
                Some(duet_store::StoreErrorKind::SchemaTooNew { .. }) => {
                    CommandError::user(message)
                        .hint("this state was written by a newer duet: upgrade duet to read it")
                }
                _ => CommandError::internal(message),
            },
            K::Internal => CommandError::internal(message),
        }
    }
}

impl From<clap::Error> for CommandError {
    fn from(err: clap::Error) -> Self {
        CommandError::new(CommandErrorKind::Cli, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_per_class() {
        assert_eq!(CommandErrorKind::User.exit_code(), 1);
        assert_eq!(CommandErrorKind::InvalidInput.exit_code(), 2);
        assert_eq!(CommandErrorKind::Cli.exit_code(), 2);
        assert_eq!(CommandErrorKind::Internal.exit_code(), 70);
    }

    #[test]
    fn engine_errors_keep_their_kind() {
        use duet_daemon::{DaemonError, DaemonErrorKind};
        let io = || std::io::Error::other("disk on fire");
        let busy = CommandError::from(DaemonError::of_kind(
            DaemonErrorKind::Busy,
            "start the daemon",
            io(),
        ));
        assert_eq!(busy.kind, CommandErrorKind::User);
        assert_eq!(busy.message, "failed to start the daemon: disk on fire");
        let store = CommandError::from(DaemonError::of_kind(
            DaemonErrorKind::Store,
            "write the state store",
            io(),
        ));
        assert_eq!(
            store.kind,
            CommandErrorKind::Internal,
            "a store failure exits 70"
        );
        assert_eq!(store.kind.exit_code(), 70);
        let setup = CommandError::from(DaemonError::of_kind(
            DaemonErrorKind::Setup,
            "read the backlog",
            io(),
        ));
        assert_eq!(setup.kind.exit_code(), 1);
    }

    #[test]
    fn error_chain_joins_sources_without_repeats() {
        let inner = std::io::Error::other("disk on fire");
        #[derive(Debug, thiserror::Error)]
        #[error("failed to write duet.toml")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(
            error_chain(&Outer(inner)),
            "failed to write duet.toml: disk on fire"
        );
    }
}
