//! `merge.mode = "pr"`: instead of landing locally, push the task branch and open a draft pull
//! request with `gh pr create --draft`, its description made from the task's record.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{GitError, GitErrorKind};

/// What goes into the pull request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrDescription {
    pub task_id: String,
    pub title: String,
    /// The task's prompt (what was asked).
    pub prompt: String,
    pub review_rounds: u32,
    /// Each review finding and how it was resolved.
    pub findings: Vec<(String, String)>,
    /// The reviewer's approval (summary), if any.
    pub approval: Option<String>,
    /// The CI result on the branch's HEAD, e.g. "passed: cargo test (41 s)"; `None` = no CI.
    pub ci: Option<String>,
    /// The approved plan (plan step tasks), shown under "## Plan".
    pub plan: Option<String>,
}

impl PrDescription {
    /// The pull request's body (Markdown).
    pub fn render(&self) -> String {
        let mut body = format!("Task `{}`", self.task_id);
        if !self.title.trim().is_empty() {
            body.push_str(&format!(": {}", self.title.trim()));
        }
        body.push_str("\n\n## What was asked\n\n");
        body.push_str(self.prompt.trim());
        if let Some(plan) = self.plan.as_deref().filter(|p| !p.trim().is_empty()) {
            body.push_str("\n\n## Plan\n\nApproved by the reviewer before any code:\n\n");
            body.push_str(plan.trim());
        }
        body.push_str("\n\n## Review\n\n");
        let rounds = if self.review_rounds == 1 {
            "round"
        } else {
            "rounds"
        };
        body.push_str(&format!("{} review {rounds}.", self.review_rounds));
        if self.findings.is_empty() {
            body.push_str(" No findings.\n");
        } else {
            body.push_str("\n\n| finding | resolution |\n| --- | --- |\n");
            for (finding, resolution) in &self.findings {
                body.push_str(&format!("| {} | {} |\n", cell(finding), cell(resolution)));
            }
        }
        if let Some(approval) = self.approval.as_deref().filter(|a| !a.trim().is_empty()) {
            body.push_str("\nApproved:\n\n");
            for line in approval.trim().lines() {
                body.push_str(format!("> {line}").trim_end());
                body.push('\n');
            }
        }
        body.push_str("\n## CI\n\n");
        body.push_str(self.ci.as_deref().unwrap_or("No CI command is configured."));
        body.push_str(&format!("\n\nDuet-Task: {}\n", self.task_id));
        body
    }
}

/// A Markdown table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// How to open one pull request.
#[derive(Debug, Clone)]
pub struct PrRequest<'a> {
    /// A working directory of the repository (the main one).
    pub workdir: &'a Path,
    /// The remote to push to, e.g. `origin`.
    pub remote: &'a str,
    pub branch: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    /// The `gh` program (`github.command`: a name looked up on the child's PATH, or a path).
    pub gh: &'a str,
    /// Extra environment for the `git` and `gh` children only (e.g. `PATH`, `GH_TOKEN`);
    /// duet's own environment is never changed.
    pub env: &'a [(OsString, OsString)],
}

/// The pull request opened (or the one that already existed for the branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrOpened {
    pub url: String,
    pub already_existed: bool,
}

/// Pushes the branch (`git push --set-upstream REMOTE BRANCH`) and opens a draft pull request
/// against `base`; a pull request that already exists for the branch is reported, not an
/// error.
pub fn open_pull_request(request: &PrRequest<'_>) -> Result<PrOpened, GitError> {
    let push = run(
        request,
        "git",
        &[
            "push",
            "--quiet",
            "--set-upstream",
            request.remote,
            request.branch,
        ],
        None,
    )
    .map_err(|e| e.into_git(format!("push `{}` to `{}`", request.branch, request.remote)))?;
    drop(push);
    let created = run(
        request,
        request.gh,
        &[
            "pr",
            "create",
            "--draft",
            "--base",
            request.base,
            "--head",
            request.branch,
            "--title",
            request.title,
            "--body-file",
            "-",
        ],
        Some(request.body),
    );
    let action = || format!("open a pull request for `{}`", request.branch);
    match created {
        Ok(stdout) => match last_url(&stdout) {
            Some(url) => Ok(PrOpened {
                url,
                already_existed: false,
            }),
            None => Err(GitError::new(GitErrorKind::GhCommand {
                action: action(),
                message: format!("printed no pull request URL: {}", stdout.trim()),
            })),
        },
        Err(Failed::Exit(stderr)) if stderr.contains("already exists") => match last_url(&stderr) {
            Some(url) => Ok(PrOpened {
                url,
                already_existed: true,
            }),
            None => Err(Failed::Exit(stderr).into_gh(action())),
        },
        Err(e) => Err(e.into_gh(action())),
    }
}

enum Failed {
    Spawn(String),
    Exit(String),
}

impl Failed {
    fn message(self) -> String {
        match self {
            Failed::Spawn(message) => format!("could not be started: {message}"),
            Failed::Exit(stderr) => format!("failed: {}", stderr.trim()),
        }
    }

    fn into_git(self, action: String) -> GitError {
        GitError::new(GitErrorKind::GitCommand {
            action,
            message: self.message(),
        })
    }

    fn into_gh(self, action: String) -> GitError {
        GitError::new(GitErrorKind::GhCommand {
            action,
            message: self.message(),
        })
    }
}

fn run(
    request: &PrRequest<'_>,
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, Failed> {
    // `Command` looks a bare program name up on duet's own PATH; when the child gets a PATH
    // of its own, look it up there, so that the program the child's PATH names is the one run.
    let resolved = request
        .env
        .iter()
        .find(|(key, _)| key == "PATH")
        .and_then(|(_, path)| find_on(path, program))
        .unwrap_or_else(|| program.into());
    let mut command = Command::new(resolved);
    command
        .args(args)
        .current_dir(request.workdir)
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .env("GH_PROMPT_DISABLED", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| Failed::Spawn(e.to_string()))?;
    if let Some(input) = input
        && let Some(mut stdin) = child.stdin.take()
    {
        // A child that exits without reading its input is reported by its status below.
        let _ = stdin.write_all(input.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Failed::Spawn(e.to_string()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Failed::Exit(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }
}

fn find_on(path: &OsString, program: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn last_url(text: &str) -> Option<String> {
    text.split_whitespace()
        .rev()
        .find(|word| word.starts_with("https://") || word.starts_with("http://"))
        .map(|url| url.trim_end_matches(['.', ',']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_has_task_review_findings_and_ci() {
        let description = PrDescription {
            task_id: "t1".into(),
            title: "Add login".into(),
            prompt: "Add a login form.\n".into(),
            review_rounds: 2,
            findings: vec![(
                "no test for a | in the name".into(),
                "added test_pipe\nin tests/".into(),
            )],
            approval: Some("Good now.".into()),
            ci: Some("passed: make test".into()),
            plan: None,
        };
        assert_eq!(
            description.render(),
            "Task `t1`: Add login\n\n## What was asked\n\nAdd a login form.\n\n## Review\n\n\
             2 review rounds.\n\n| finding | resolution |\n| --- | --- |\n\
             | no test for a \\| in the name | added test_pipe in tests/ |\n\nApproved:\n\n\
             > Good now.\n\n## CI\n\npassed: make test\n\nDuet-Task: t1\n"
        );
    }

    #[test]
    fn an_approved_plan_has_its_section_before_the_review() {
        let body = PrDescription {
            task_id: "t1".into(),
            prompt: "Add a login form.".into(),
            plan: Some("1. add the form\n2. test it\n".into()),
            ..PrDescription::default()
        }
        .render();
        assert!(
            body.contains(
                "## What was asked\n\nAdd a login form.\n\n## Plan\n\nApproved by the reviewer \
                 before any code:\n\n1. add the form\n2. test it\n\n## Review"
            ),
            "{body}"
        );
        assert!(!PrDescription::default().render().contains("## Plan"));
    }

    #[test]
    fn urls_are_found_at_the_end() {
        assert_eq!(
            last_url("a pull request for branch \"x\" already exists:\nhttps://h/o/r/pull/3\n"),
            Some("https://h/o/r/pull/3".into())
        );
        assert_eq!(last_url("nothing"), None);
    }
}
