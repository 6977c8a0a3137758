//! `duet dash`: the dashboard of parallel pairs (ratatui + crossterm), a client of the control
//! socket only: it never reads tmux or git itself.
//!
//! - [`app`]: the state and its decisions, pure: `App`, `App::on_key(Key) -> Vec<Command>`,
//!   the status stream and the answers to requests.
//! - [`render`]: `render(&App, &mut Frame)`, pure drawing.
//! - [`term`]: the edge: terminal, subscription thread (reconnects from its last seq), requests,
//!   attaching to tmux.

pub mod app;
#[doc(hidden)]
pub mod fixtures;
pub mod render;
pub mod term;

pub use app::{App, Command, Connection, ConversationLine, Key, Mode, SortKey, StreamEvent};
pub use render::render;
pub use term::{Hooks, TuiError, run};
