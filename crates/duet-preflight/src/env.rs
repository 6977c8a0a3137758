//! The environment checks run in: a fixed set of variables, passed to every program a check
//! starts (tests give their own; duet gives its process's).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<OsString, OsString>,
}

impl Env {
    /// This process's environment.
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars_os().collect(),
        }
    }

    /// Exactly these variables.
    pub fn from_vars<K: Into<OsString>, V: Into<OsString>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Env {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// This environment with `overrides` set on top (an agent profile's `env`).
    pub fn with<'a>(&self, overrides: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut vars = self.vars.clone();
        for (key, value) in overrides {
            vars.insert(key.into(), value.into());
        }
        Env { vars }
    }

    /// A variable's value, if set and not empty.
    pub fn get(&self, key: &str) -> Option<&OsStr> {
        self.vars
            .get(OsStr::new(key))
            .map(OsString::as_os_str)
            .filter(|v| !v.is_empty())
    }

    /// `$HOME`.
    pub fn home(&self) -> Option<PathBuf> {
        self.get("HOME").map(PathBuf::from)
    }

    /// `program` to run with exactly this environment.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear().envs(&self.vars);
        cmd
    }
}
