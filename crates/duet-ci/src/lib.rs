//! CI for task commits, the edges around `duet_core::protocol::ci` ([`events`]: as store events): [`run`] runs `ci.command` in
//! throw-away checkouts, [`report`] reads failing tests and excerpts from logs and JUnit XML,
//! [`inbox`] takes results from outside systems, [`watch`] turns commits, file activity and
//! inbox files into events with notify, [`github`] polls a task's pull request through `gh`,
//! [`gate`] runs duet's gate commands (proof, TDD) the same way.

pub mod events;
pub mod gate;
pub mod github;
pub mod inbox;
pub mod report;
pub mod run;
pub mod watch;

pub use inbox::{InboxError, InboxFile, Rejected, Scan, consume, inbox_dir, scan};
pub use run::{CiRunner, RunConfig, RunEvent, RunPaths, become_subreaper, sweep};
pub use watch::{
    ActivityWatcher, CommitWatcher, InboxWatcher, TaskWatch, WatchError, WatchEvent, WatchOptions,
    watch_activity, watch_commits, watch_inbox,
};
