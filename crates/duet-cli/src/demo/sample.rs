//! The sample project `textstats` (a small Python package with unittest tests, embedded as
//! text) and writing it as a fresh git repository with duet's config and the demo backlog.

use std::path::Path;
use std::process::Command;

use crate::command_error::{CommandError, error_chain};
use crate::fs_atomic::write_atomic;

/// The sample's files: (path in the repository, contents).
pub const FILES: &[(&str, &str)] = &[
    (".gitignore", include_str!("sample/gitignore")),
    ("README.md", include_str!("sample/README.md")),
    (
        "textstats/__init__.py",
        include_str!("sample/textstats/__init__.py"),
    ),
    (
        "textstats/__main__.py",
        include_str!("sample/textstats/__main__.py"),
    ),
    ("textstats/cli.py", include_str!("sample/textstats/cli.py")),
    (
        "textstats/stats.py",
        include_str!("sample/textstats/stats.py"),
    ),
    (
        "tests/__init__.py",
        include_str!("sample/tests/__init__.py"),
    ),
    (
        "tests/test_cli.py",
        include_str!("sample/tests/test_cli.py"),
    ),
    (
        "tests/test_stats.py",
        include_str!("sample/tests/test_stats.py"),
    ),
];

/// The identity of commits made in the demo repository (its own config, so agents' commits
/// work on a machine without a git identity; your global git config is not touched).
const DEMO_NAME: &str = "duet demo";
const DEMO_EMAIL: &str = "demo@duet.invalid";

/// Runs git in `dir` without the user's or system's git config, as the demo identity.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, CommandError> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", DEMO_NAME)
        .env("GIT_AUTHOR_EMAIL", DEMO_EMAIL)
        .env("GIT_COMMITTER_NAME", DEMO_NAME)
        .env("GIT_COMMITTER_EMAIL", DEMO_EMAIL)
        .output()
        .map_err(|e| {
            CommandError::user(format!("failed to run git: {}", error_chain(&e)))
                .hint("install git")
        })?;
    if !output.status.success() {
        return Err(CommandError::user(format!(
            "`git {}` failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Writes the sample into the empty folder `dir` as a git repository on `main` with two
/// commits: the program, then duet.toml + backlog.toml (duet's defaults and the demo backlog).
pub fn create_repository(dir: &Path) -> Result<(), CommandError> {
    git(dir, &["init", "-q", "-b", super::BASE_BRANCH])?;
    for (key, value) in [
        ("user.name", DEMO_NAME),
        ("user.email", DEMO_EMAIL),
        ("commit.gpgsign", "false"),
    ] {
        git(dir, &["config", key, value])?;
    }
    for (path, contents) in FILES {
        write_file(&dir.join(path), contents)?;
    }
    git(dir, &["add", "-A"])?;
    git(
        dir,
        &["commit", "-q", "-m", "textstats: line and character counts"],
    )?;
    write_file(
        &dir.join(duet_core::config::CONFIG_FILE_NAME),
        duet_core::config::DEFAULT_CONFIG_TOML,
    )?;
    write_file(&dir.join("backlog.toml"), super::BACKLOG_TOML)?;
    git(dir, &["add", "duet.toml", "backlog.toml"])?;
    git(dir, &["commit", "-q", "-m", "duet: config and backlog"])?;
    Ok(())
}

fn write_file(path: &Path, contents: &str) -> Result<(), CommandError> {
    let write = || -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        write_atomic(path, contents.as_bytes())
    };
    write().map_err(|e| {
        CommandError::user(format!(
            "failed to write {}: {}",
            path.display(),
            error_chain(&e)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_a_repository_whose_tests_pass() {
        let dir = tempfile::tempdir().unwrap();
        create_repository(dir.path()).unwrap();
        let log = git(dir.path(), &["log", "--format=%s", "main"]).unwrap();
        assert_eq!(
            log.lines().collect::<Vec<_>>(),
            vec![
                "duet: config and backlog",
                "textstats: line and character counts"
            ]
        );
        assert_eq!(git(dir.path(), &["status", "--porcelain"]).unwrap(), "");
        let tests = Command::new("python3")
            .args(["-B", "-m", "unittest"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&tests.stderr);
        assert!(tests.status.success(), "{stderr}");
        assert!(stderr.contains("Ran 4 tests"), "{stderr}");
    }

    #[test]
    fn the_demo_backlog_and_script_are_valid() {
        let config = duet_core::config::Config::from_toml_str(
            duet_core::config::DEFAULT_CONFIG_TOML,
            "duet.toml",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let backlog = duet_core::backlog::Backlog::from_toml_str(
            super::super::BACKLOG_TOML,
            "backlog.toml",
            &config,
            dir.path(),
        )
        .unwrap();
        let ids: Vec<&str> = backlog.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["word-count", "cli-flag", "readme"]);
        let cli_flag = backlog.get("cli-flag").unwrap();
        assert_eq!(cli_flag.worker_profile(&config), "codex");
        assert_eq!(cli_flag.depends_on[0].as_str(), "word-count");
        duet_testkit::Script::from_toml_str(super::super::SCRIPT_TOML).unwrap();
    }
}
