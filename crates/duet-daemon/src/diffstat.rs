//! What each task's branch changes against the base (`git diff --shortstat base...HEAD`), for
//! the status feed: asked once per HEAD, answered by git on a thread of its own so the daemon's
//! loop never waits for git (a large repository's diff may take a while).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use duet_proto::status::DiffStat;

/// Task → (the HEAD asked about, git's answer once it came).
type Answers = Arc<Mutex<HashMap<String, (String, Option<DiffStat>)>>>;

/// The diffstats known so far, and the git runs under way.
#[derive(Debug, Clone)]
pub struct DiffStats {
    repo_root: PathBuf,
    answers: Answers,
}

impl DiffStats {
    pub fn new(repo_root: &Path) -> Self {
        DiffStats {
            repo_root: repo_root.to_path_buf(),
            answers: Arc::default(),
        }
    }

    /// The diffstat of `task` at `head` against `base`, if git has answered; asks git (in the
    /// background) the first time this HEAD is seen.
    pub fn get(&self, task: &str, base: &str, head: &str) -> Option<DiffStat> {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        match answers.get(task) {
            Some((asked, answer)) if asked == head => return *answer,
            // A new HEAD: the last answer stands until git gives the new one.
            _ => {}
        }
        let last = answers.get(task).and_then(|(_, answer)| *answer);
        answers.insert(task.to_owned(), (head.to_owned(), last));
        drop(answers);
        let (answers, root) = (Arc::clone(&self.answers), self.repo_root.clone());
        let (task, range, head) = (task.to_owned(), format!("{base}...{head}"), head.to_owned());
        std::thread::spawn(move || {
            let stat = shortstat(&root, &range);
            let mut answers = answers.lock().unwrap_or_else(|e| e.into_inner());
            // Only if nobody asked about a newer HEAD meanwhile.
            if let Some((asked, answer)) = answers.get_mut(&task)
                && *asked == head
            {
                *answer = stat.or(*answer);
            }
        });
        last
    }
}

fn shortstat(root: &Path, range: &str) -> Option<DiffStat> {
    let output = Command::new("git")
        .current_dir(root)
        .args(["diff", "--shortstat", range, "--"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        tracing::debug!("git diff --shortstat {range} failed: {}", output.status);
        return None;
    }
    DiffStat::from_shortstat(&String::from_utf8_lossy(&output.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Asks until git's answer is in (it comes from a thread: there is nothing else to await).
    fn answer(stats: &DiffStats, head: &str) -> Option<DiffStat> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(stat) = stats.get("t", "main", head) {
                return Some(stat);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn each_head_is_diffed_against_the_base_once_answered() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        git(repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.txt"), "one\ntwo\n").unwrap();
        git(repo, &["add", "."]);
        git(repo, &["commit", "-q", "-m", "base"]);
        git(repo, &["switch", "-q", "-c", "duet/t"]);
        std::fs::write(repo.join("a.txt"), "one\n").unwrap();
        std::fs::write(repo.join("b.txt"), "b\nb\nb\n").unwrap();
        git(repo, &["add", "."]);
        git(repo, &["commit", "-q", "-m", "work"]);
        let first = git(repo, &["rev-parse", "HEAD"]);

        let stats = DiffStats::new(repo);
        let want = DiffStat {
            files: 2,
            insertions: 3,
            deletions: 1,
        };
        assert_eq!(answer(&stats, &first), Some(want));

        // A new HEAD: the old answer stands until git's new one is in.
        std::fs::write(repo.join("c.txt"), "c\n").unwrap();
        git(repo, &["add", "."]);
        git(repo, &["commit", "-q", "-m", "more"]);
        let second = git(repo, &["rev-parse", "HEAD"]);
        assert_eq!(stats.get("t", "main", &second), Some(want));
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.get("t", "main", &second) == Some(want) {
            assert!(Instant::now() < deadline, "no answer for the new HEAD");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            stats.get("t", "main", &second),
            Some(DiffStat {
                files: 3,
                insertions: 4,
                deletions: 1
            })
        );
    }
}
