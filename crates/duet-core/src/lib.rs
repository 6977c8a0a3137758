//! Domain types and pure logic of duet: config, backlog, validation, task lifecycle and protocol rules.
//!
//! Nothing in this crate does IO beyond reading the files it is asked to parse; no clock, no tokio.

pub mod accounting;
pub mod backlog;
pub mod config;
pub mod diagnostic;
pub mod error_chain;
pub mod lifecycle;
pub mod protocol;
pub mod task_id;
pub mod validate;
pub mod wire;
