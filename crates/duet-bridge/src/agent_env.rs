//! [`AgentEnv`]: what the helpers read from their environment (`DUET_SOCKET`, `DUET_TOKEN`, ...).

use std::ffi::OsString;
use std::path::PathBuf;

use duet_proto::env;

use crate::error::{BridgeError, BridgeErrorKind};

/// The duet variables of an agent's environment. Empty values count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentEnv {
    /// `DUET_SOCKET`: the controller's unix socket.
    pub socket: Option<PathBuf>,
    /// `DUET_TOKEN`: binds requests to one task and role.
    pub token: Option<String>,
    /// `DUET_TASK` (informational).
    pub task: Option<String>,
    /// `DUET_ROLE` (informational).
    pub role: Option<String>,
}

impl AgentEnv {
    /// Reads this process's environment.
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the variables through `lookup` (tests pass a map instead of the real environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let text = |name: &str| {
            lookup(name)
                .filter(|value| !value.is_empty())
                .map(|value| value.to_string_lossy().into_owned())
        };
        AgentEnv {
            socket: lookup(env::SOCKET)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from),
            token: text(env::TOKEN),
            task: text(env::TASK),
            role: text(env::ROLE),
        }
    }

    /// The socket and the token, or an error naming what is missing.
    pub fn connection(&self) -> Result<(PathBuf, String), BridgeError> {
        match (&self.socket, &self.token) {
            (Some(socket), Some(token)) => Ok((socket.clone(), token.clone())),
            (socket, token) => {
                let missing: Vec<&str> = [
                    socket.is_none().then_some(env::SOCKET),
                    token.is_none().then_some(env::TOKEN),
                ]
                .into_iter()
                .flatten()
                .collect();
                Err(BridgeError::new(
                    BridgeErrorKind::MissingEnv,
                    format!(
                        "find duet's control socket: {} not set (duet sets them for the agents it starts)",
                        missing.join(" and ")
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> AgentEnv {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AgentEnv::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn reads_the_variables_and_treats_empty_as_unset() {
        let env = env_of(&[
            ("DUET_SOCKET", "/tmp/d.sock"),
            ("DUET_TOKEN", "tok"),
            ("DUET_TASK", ""),
            ("DUET_ROLE", "worker"),
        ]);
        assert_eq!(env.socket, Some(PathBuf::from("/tmp/d.sock")));
        assert_eq!(env.token.as_deref(), Some("tok"));
        assert_eq!(env.task, None);
        assert_eq!(env.role.as_deref(), Some("worker"));
        assert_eq!(
            env.connection().unwrap(),
            (PathBuf::from("/tmp/d.sock"), "tok".to_owned())
        );
    }

    #[test]
    fn a_missing_connection_names_every_missing_variable() {
        let err = env_of(&[("DUET_TOKEN", "")]).connection().unwrap_err();
        assert_eq!(err.kind, BridgeErrorKind::MissingEnv);
        let text = err.to_string();
        assert!(
            text.contains("DUET_SOCKET and DUET_TOKEN not set"),
            "{text}"
        );
        let err = env_of(&[("DUET_SOCKET", "/s")]).connection().unwrap_err();
        assert!(err.to_string().contains("DUET_TOKEN not set"), "{err}");
        assert!(!err.to_string().contains("DUET_SOCKET"), "{err}");
    }
}
