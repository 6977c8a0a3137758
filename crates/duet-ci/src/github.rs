//! GitHub, optional: with `gh` installed and logged in, a task branch's pull request is polled
//! for check runs (→ [`CiResult`]s, check `github/<name>`) and submitted reviews from users with
//! write access (→ [`GhReview`]s). One `gh pr view` and one `gh pr checks` per poll (batched),
//! what was seen is cached (only news is returned), write access is looked up once per user,
//! and a rate limit backs the interval off. Tested against a stand-in `gh` that replays JSON in
//! gh's documented `--json` shapes (GitHub cannot be reached here).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use duet_core::protocol::ci::{CiResult, CiStatus};
use serde::Deserialize;

/// How to call `gh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhConfig {
    /// The program (`gh`, looked up on the child's PATH).
    pub program: PathBuf,
    /// Env for every `gh` child (e.g. PATH, GH_TOKEN); the rest is inherited.
    pub env: Vec<(String, String)>,
    /// The repository's directory (gh finds the remote there).
    pub repo_dir: PathBuf,
    /// Time between polls of a task.
    pub interval: Duration,
    /// The longest back-off after rate limits.
    pub max_interval: Duration,
}

impl GhConfig {
    pub fn new(repo_dir: impl Into<PathBuf>) -> Self {
        GhConfig {
            program: "gh".into(),
            env: Vec::new(),
            repo_dir: repo_dir.into(),
            interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum GhError {
    #[error("failed to run gh: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("GitHub rate limit reached; next poll in {}", humantime::format_duration(*.next))]
    RateLimited { next: Duration },
    #[error("gh {args} failed: {stderr}")]
    Failed {
        args: String,
        stderr: String,
        stdout: String,
    },
    #[error("failed to read gh {args} output: {source}")]
    Decode {
        args: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A submitted review from a user with write access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhReview {
    pub id: String,
    pub author: String,
    /// `APPROVED`, `CHANGES_REQUESTED` or `COMMENTED`.
    pub state: String,
    pub body: String,
    /// The commit reviewed, when GitHub says.
    pub commit: Option<String>,
}

/// What one poll found that was not seen before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GhUpdate {
    pub pr: Option<u64>,
    /// The pull request's page.
    pub url: Option<String>,
    pub head: Option<String>,
    /// Finished checks (pending ones come later).
    pub results: Vec<CiResult>,
    pub reviews: Vec<GhReview>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrView {
    number: u64,
    head_ref_oid: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    reviews: Vec<Review>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    id: String,
    #[serde(default)]
    author: Option<Author>,
    #[serde(default)]
    body: String,
    state: String,
    #[serde(default)]
    submitted_at: Option<String>,
    #[serde(default)]
    commit: Option<Commit>,
}

#[derive(Debug, Deserialize)]
struct Author {
    login: String,
}

#[derive(Debug, Deserialize)]
struct Commit {
    oid: String,
}

#[derive(Debug, Deserialize)]
struct Check {
    name: String,
    /// `pass`, `fail`, `pending`, `skipping` or `cancel`.
    bucket: String,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Polls tasks' pull requests; keeps what it has seen.
#[derive(Debug)]
pub struct GithubPoller {
    config: GhConfig,
    /// (sha, check name, bucket) already reported.
    seen_checks: BTreeSet<(String, String, String)>,
    seen_reviews: BTreeSet<String>,
    /// login -> has write access.
    writers: BTreeMap<String, bool>,
    interval: Duration,
}

impl GithubPoller {
    pub fn new(mut config: GhConfig) -> Self {
        // A zero interval would spin.
        config.interval = config.interval.max(Duration::from_secs(1));
        config.max_interval = config.max_interval.max(config.interval);
        let interval = config.interval;
        GithubPoller {
            config,
            seen_checks: BTreeSet::new(),
            seen_reviews: BTreeSet::new(),
            writers: BTreeMap::new(),
            interval,
        }
    }

    /// Time to wait before the next poll (longer after a rate limit).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether `gh` is installed and logged in.
    pub async fn available(&self) -> bool {
        self.gh(&["auth", "status"]).await.is_ok()
    }

    /// One poll of the pull request of `branch`: `Ok(GhUpdate { pr: None, .. })` when it has none.
    pub async fn poll(&mut self, branch: &str) -> Result<GhUpdate, GhError> {
        let view = match self
            .gh_json::<PrView>(&[
                "pr",
                "view",
                branch,
                "--json",
                "number,headRefOid,url,reviews",
            ])
            .await
        {
            Ok(view) => view,
            Err(GhError::Failed { stderr, .. }) if stderr.contains("no pull requests found") => {
                return Ok(GhUpdate::default());
            }
            Err(e) => return Err(e),
        };
        let number = view.number.to_string();
        // `gh pr checks` exits 1 with failed checks and 8 with pending ones: read its JSON anyway.
        let checks_args = [
            "pr",
            "checks",
            &number,
            "--json",
            "name,bucket,link,description",
        ];
        let checks_out = match self.gh_checked(&checks_args).await {
            Ok(out) => out,
            Err(GhError::Failed { stdout, .. }) if stdout.trim_start().starts_with('[') => stdout,
            Err(e) => return Err(e),
        };
        let checks: Vec<Check> =
            serde_json::from_str(&checks_out).map_err(|source| GhError::Decode {
                args: checks_args.join(" "),
                source,
            })?;
        self.interval = self.config.interval;
        let mut update = GhUpdate {
            pr: Some(view.number),
            url: view.url.clone(),
            head: Some(view.head_ref_oid.clone()),
            ..GhUpdate::default()
        };
        for check in checks {
            let status = match check.bucket.as_str() {
                "pass" => CiStatus::Passed,
                "fail" => CiStatus::Failed { exit_code: None },
                "cancel" => CiStatus::Cancelled,
                _ => continue, // pending, skipping
            };
            let key = (
                view.head_ref_oid.clone(),
                check.name.clone(),
                check.bucket.clone(),
            );
            if !self.seen_checks.insert(key) {
                continue;
            }
            let mut result =
                CiResult::new(&view.head_ref_oid, format!("github/{}", check.name), status);
            result.summary = check.description.filter(|d| !d.is_empty());
            result.url = check.link.or_else(|| view.url.clone());
            update.results.push(result);
        }
        for review in view.reviews {
            // A pending review is a draft its author has not submitted.
            if review.state == "PENDING" || review.submitted_at.is_none() {
                continue;
            }
            let Some(author) = review.author.map(|a| a.login) else {
                continue;
            };
            if self.seen_reviews.contains(&review.id) || !self.can_write(&author).await? {
                continue;
            }
            self.seen_reviews.insert(review.id.clone());
            update.reviews.push(GhReview {
                id: review.id,
                author,
                state: review.state,
                body: review.body,
                commit: review.commit.map(|c| c.oid),
            });
        }
        Ok(update)
    }

    /// Write access (admin, maintain, write), asked once per user.
    async fn can_write(&mut self, login: &str) -> Result<bool, GhError> {
        if let Some(known) = self.writers.get(login) {
            return Ok(*known);
        }
        let path = format!("repos/{{owner}}/{{repo}}/collaborators/{login}/permission");
        let answer = self
            .gh(&["api", &path, "--jq", ".permission"])
            .await
            .map(|out| out.trim().to_owned());
        let can = match answer {
            Ok(p) => matches!(p.as_str(), "admin" | "maintain" | "write"),
            // Not a collaborator: GitHub answers 404.
            Err(GhError::Failed { .. }) => false,
            Err(e) => return Err(e),
        };
        self.writers.insert(login.to_owned(), can);
        Ok(can)
    }

    async fn gh_json<T: serde::de::DeserializeOwned>(
        &mut self,
        args: &[&str],
    ) -> Result<T, GhError> {
        let out = self.gh_checked(args).await?;
        serde_json::from_str(&out).map_err(|source| GhError::Decode {
            args: args.join(" "),
            source,
        })
    }

    async fn gh_checked(&mut self, args: &[&str]) -> Result<String, GhError> {
        match self.gh(args).await {
            Err(GhError::Failed { stderr, .. })
                if stderr.contains("rate limit") || stderr.contains("HTTP 429") =>
            {
                self.interval = (self.interval * 2).min(self.config.max_interval);
                Err(GhError::RateLimited {
                    next: self.interval,
                })
            }
            other => other,
        }
    }

    async fn gh(&self, args: &[&str]) -> Result<String, GhError> {
        let out = tokio::process::Command::new(&self.config.program)
            .args(args)
            .current_dir(&self.config.repo_dir)
            .envs(self.config.env.iter().map(|(k, v)| (k, v)))
            .env("GH_PROMPT_DISABLED", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(GhError::Spawn)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(GhError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            })
        }
    }
}
