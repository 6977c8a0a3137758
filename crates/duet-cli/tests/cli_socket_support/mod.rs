//! Helpers shared by the socket command tests: running `duet` as an unprivileged user.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::common::{RunOutput, TestEnvironment};

/// The unprivileged user the permission tests switch to.
const NOBODY: u32 = 65534;

fn as_nobody(env: &TestEnvironment, program: &str) -> Command {
    // A home nobody can read, whose git config trusts repositories owned by root.
    let home = env.root().join("nobody-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join(".gitconfig"), "[safe]\n\tdirectory = *\n").unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .env("GIT_CONFIG_GLOBAL", home.join(".gitconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .uid(NOBODY)
        .gid(NOBODY);
    cmd
}

/// Runs `duet ARGS` in `dir` as user `nobody`; `None` (after printing why) when this process
/// cannot switch users, e.g. when the tests do not run as root.
pub fn duet_as_nobody(env: &TestEnvironment, dir: &Path, args: &[&str]) -> Option<RunOutput> {
    let probe = as_nobody(env, "id").arg("-u").output();
    match probe {
        Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == NOBODY.to_string() => {}
        other => {
            println!("skipped: cannot run a command as user nobody (uid {NOBODY}): {other:?}");
            return None;
        }
    }
    let out = as_nobody(env, env!("CARGO_BIN_EXE_duet"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("failed to run duet as nobody");
    Some(RunOutput {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    })
}
