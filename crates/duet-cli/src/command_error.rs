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
