//! The SQLite state store: an append-only event log (the facts) and the tables derived from it
//! (tasks, messages, agents), kept in `.duet/state.db`.
//!
//! Writers call [`Store::append`] / [`Store::append_batch`]; each event is checked against the
//! derived tables and applied to them in the same transaction, so the log and the projections
//! never disagree, and a killed writer leaves only whole transactions behind (WAL).
//! [`Store::rebuild_projections`] recomputes the projections from the log.

mod error;
mod event;
mod projection;
mod query;
mod schema;
mod store;

pub use error::{StoreError, StoreErrorKind};
pub use event::{Clock, Event, EventFilter, EventRecord, NewEvent, SystemClock, UnixMillis};
pub use query::{AgentRow, CiStatus, MessageRow, MessageState, Snapshot, TaskRow};
pub use store::{Durability, OpenOptions, Store};

/// Where a repository keeps its state database, relative to the repository root.
pub const STATE_DB_RELATIVE_PATH: &str = ".duet/state.db";
