//! Helpers for the preflight and doctor tests: a PATH holding only git, tmux and stand-in agent
//! CLIs, and running `duet` with exactly the environment a test gives.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::RunOutput;

/// A folder holding only links to git and tmux (and stand-in agents a test adds), to use as
/// the whole PATH: nothing else installed on this machine can leak in.
pub struct ToolBin(tempfile::TempDir);

impl Default for ToolBin {
    fn default() -> Self {
        Self::new()
    }
}

impl ToolBin {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for tool in ["git", "tmux"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap();
            let path = String::from_utf8(found.stdout).unwrap();
            std::os::unix::fs::symlink(path.trim(), dir.path().join(tool)).unwrap();
        }
        ToolBin(dir)
    }

    pub fn path(&self) -> PathBuf {
        std::fs::canonicalize(self.0.path()).unwrap()
    }

    /// A stand-in agent `name` that answers `--version` with `version`.
    pub fn agent(&self, name: &str, version: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\n[ \"$1\" = --version ] && {{ echo '{version}'; exit 0; }}\nexec sleep 600\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

/// `duet ARGS` in `dir` with exactly `vars` (and PATH = `bin`).
pub fn duet(dir: &Path, bin: &ToolBin, vars: &[(&str, &str)], args: &[&str]) -> RunOutput {
    let out = Command::new(env!("CARGO_BIN_EXE_duet"))
        .env_clear()
        .env("PATH", bin.path())
        .envs(vars.iter().copied())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    RunOutput {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}
