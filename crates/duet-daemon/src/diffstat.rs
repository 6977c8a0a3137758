//! What each task's branch changes against the base (`git diff --shortstat base...HEAD`), for
//! the status feed: asked once per HEAD, answered by git on one thread of its own (a bounded
//! queue, `try_send`), so the daemon's loop never waits for git and a thousand new HEADs at
//! once do not start a thousand gits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use duet_proto::status::DiffStat;

/// How many HEADs may wait for git; beyond, a HEAD is asked about again at the next publish.
const QUEUE: usize = 256;

/// Task → (the HEAD asked about, git's answer once it came).
type Answers = Arc<Mutex<HashMap<String, (String, Option<DiffStat>)>>>;

/// One question for git.
struct Job {
    task: String,
    head: String,
    range: String,
}

/// The diffstats known so far, and the queue of questions for the git thread.
#[derive(Debug)]
pub struct DiffStats {
    answers: Answers,
    jobs: SyncSender<Job>,
}

impl DiffStats {
    /// Starts the git thread (it ends when this is dropped).
    pub fn new(repo_root: &Path) -> Self {
        let answers: Answers = Arc::default();
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let (root, written): (PathBuf, Answers) = (repo_root.to_path_buf(), Arc::clone(&answers));
        std::thread::spawn(move || {
            for job in queue {
                let stat = shortstat(&root, &job.range);
                let mut answers = written.lock().unwrap_or_else(|e| e.into_inner());
                // Only if nobody asked about a newer HEAD meanwhile.
                if let Some((asked, answer)) = answers.get_mut(&job.task)
                    && *asked == job.head
                {
                    *answer = stat.or(*answer);
                }
            }
        });
        DiffStats { answers, jobs }
    }

    /// The diffstat of `task` at `head` against `base`, if git has answered; asks git (in the
    /// background) the first time this HEAD is seen. Until git answers, the last HEAD's stands.
    pub fn get(&self, task: &str, base: &str, head: &str) -> Option<DiffStat> {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let last = match answers.get(task) {
            Some((asked, answer)) if asked == head => return *answer,
            other => other.and_then(|(_, answer)| *answer),
        };
        let job = Job {
            task: task.to_owned(),
            head: head.to_owned(),
            range: format!("{base}...{head}"),
        };
        match self.jobs.try_send(job) {
            Ok(()) => {
                answers.insert(task.to_owned(), (head.to_owned(), last));
            }
            // Full: asked again at the next publish. Gone: the thread died; nothing to do.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
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
