//! The dashboard's state and its decisions, with no IO: [`App`] holds what is shown,
//! [`App::on_key`] turns a key into [`Command`]s for the edge (socket requests, attach, quit),
//! [`App::on_stream`] takes the status stream, [`App::on_reply`] the answers to requests.

use duet_core::lifecycle::StateKind;
use duet_core::protocol::Role;
use duet_proto::RequestBody;
use duet_proto::status::{StatusChange, StatusSnapshot, TaskStatus};

/// A key, as the dashboard needs it (the edge maps crossterm's events to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Backspace,
    Tab,
    Up,
    Down,
    /// Ctrl-C.
    Interrupt,
}

/// What the edge must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send this human request on the control socket; its answer comes back through
    /// [`App::on_reply`] with `what` (e.g. "pause parser").
    Request {
        what: String,
        body: RequestBody,
    },
    /// Leave the screen, attach the terminal to this tmux session, come back when detached.
    /// `server` is the tmux server the running duet says holds it (`None`: the default).
    Attach {
        task: String,
        session: String,
        server: Option<String>,
    },
    /// Read the task's conversation (the store's messages) for the detail view.
    LoadDetail {
        task: String,
    },
    /// Ring the terminal bell.
    Bell,
    Quit,
}

/// Where the shown status comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Subscribed to a running duet.
    Live,
    /// No duet runs: the stored state, read-only.
    Offline,
    /// The subscription dropped; reconnecting from the last seq.
    Reconnecting,
}

/// How rows are ordered (tasks that need the human always come first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Backlog order.
    Backlog,
    Id,
    State,
    /// Most recent activity first.
    Activity,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Backlog => SortKey::Id,
            SortKey::Id => SortKey::State,
            SortKey::State => SortKey::Activity,
            SortKey::Activity => SortKey::Backlog,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Backlog => "backlog",
            SortKey::Id => "id",
            SortKey::State => "state",
            SortKey::Activity => "activity",
        }
    }
}

/// What the keys do right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Table,
    Detail,
    Help,
    /// Typing the filter after `/`.
    Filter,
    /// Typing a message: to an agent (`s`, Tab switches) or an answer (`A`).
    Input {
        task: String,
        to: Option<Role>,
        text: String,
    },
    /// `c`: cancel this task? y/n.
    ConfirmCancel {
        task: String,
    },
}

/// One line of a task's conversation for the detail view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationLine {
    pub from: String,
    pub to: String,
    pub text: String,
    /// `delivered`, `accepted` (not yet delivered), `suppressed`; `note` for what is not a
    /// message (a CI run).
    pub state: String,
}

/// The message on the bottom line: an answer, a refusal, a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub is_error: bool,
}

/// The dashboard.
#[derive(Debug, Clone)]
pub struct App {
    pub status: StatusSnapshot,
    pub connection: Connection,
    pub mode: Mode,
    pub filter: String,
    pub sort: SortKey,
    /// The selected task's id (kept across redraws and re-sorts).
    pub selected: Option<String>,
    pub flash: Option<Flash>,
    /// The detail view's conversation, for the task it was loaded for.
    pub detail: Option<(String, Vec<ConversationLine>)>,
    /// Now (ms since the epoch), for "5m ago"; set by the edge, fixed in tests.
    pub now_ms: i64,
}

impl App {
    pub fn new(status: StatusSnapshot, connection: Connection, now_ms: i64) -> App {
        let mut app = App {
            status,
            connection,
            mode: Mode::Table,
            filter: String::new(),
            sort: SortKey::Backlog,
            selected: None,
            flash: None,
            detail: None,
            now_ms,
        };
        app.fix_selection();
        app
    }

    /// The rows shown, in order: tasks that need the human first, then by the sort key;
    /// only those matching the filter (id, title, state, profiles).
    pub fn rows(&self) -> Vec<&TaskStatus> {
        let filter = self.filter.to_lowercase();
        let mut rows: Vec<(usize, &TaskStatus)> = self
            .status
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| filter.is_empty() || matches_filter(t, &filter))
            .collect();
        rows.sort_by(|(ia, a), (ib, b)| {
            let needs = b.needs_human.is_some().cmp(&a.needs_human.is_some());
            let by_key = match self.sort {
                SortKey::Backlog => ia.cmp(ib),
                SortKey::Id => a.id.cmp(&b.id),
                SortKey::State => a.state.cmp(&b.state).then(ia.cmp(ib)),
                SortKey::Activity => b.last_activity_ms.cmp(&a.last_activity_ms),
            };
            needs.then(by_key)
        });
        rows.into_iter().map(|(_, t)| t).collect()
    }

    pub fn selected_task(&self) -> Option<&TaskStatus> {
        let id = self.selected.as_deref()?;
        self.status.tasks.iter().find(|t| t.id == id)
    }

    /// The selected row's index in [`rows`](Self::rows).
    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_deref()?;
        self.rows().iter().position(|t| t.id == id)
    }

    pub fn needing_human(&self) -> usize {
        self.status
            .tasks
            .iter()
            .filter(|t| t.needs_human.is_some())
            .count()
    }

    fn fix_selection(&mut self) {
        let rows = self.rows();
        let keep = self
            .selected
            .as_deref()
            .is_some_and(|id| rows.iter().any(|t| t.id == id));
        if !keep {
            self.selected = rows.first().map(|t| t.id.clone());
        }
    }

    fn move_selection(&mut self, down: bool) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let at = self.selected_index().unwrap_or(0);
        let next = if down {
            (at + 1).min(rows.len() - 1)
        } else {
            at.saturating_sub(1)
        };
        self.selected = Some(rows[next].id.clone());
    }

    /// A fresh snapshot (a new subscription, or the stored state): replaces everything.
    pub fn on_snapshot(&mut self, status: StatusSnapshot, connection: Connection) -> Vec<Command> {
        let before = self.needs_set();
        self.status = status;
        self.connection = connection;
        self.fix_selection();
        self.bell_for(&before)
    }

    /// Changes streamed by the subscription.
    pub fn on_changes(&mut self, changes: Vec<StatusChange>) -> Vec<Command> {
        let before = self.needs_set();
        for change in changes {
            self.status.apply(change);
        }
        self.connection = Connection::Live;
        self.fix_selection();
        self.bell_for(&before)
    }

    /// The subscription dropped (the edge reconnects from `status.seq`).
    pub fn on_disconnected(&mut self) {
        self.connection = Connection::Reconnecting;
    }

    /// Alias used by the edge for any stream event.
    pub fn on_stream(&mut self, event: StreamEvent) -> Vec<Command> {
        match event {
            StreamEvent::Snapshot(status) => self.on_snapshot(status, Connection::Live),
            StreamEvent::Changes(changes) => self.on_changes(changes),
            StreamEvent::Stored(status) => self.on_snapshot(status, Connection::Offline),
            StreamEvent::Dropped => {
                self.on_disconnected();
                Vec::new()
            }
        }
    }

    fn needs_set(&self) -> Vec<String> {
        self.status
            .tasks
            .iter()
            .filter(|t| t.needs_human.is_some())
            .map(|t| t.id.clone())
            .collect()
    }

    /// The bell when a task starts needing the human (not for those already shown so).
    fn bell_for(&self, before: &[String]) -> Vec<Command> {
        let new = self
            .status
            .tasks
            .iter()
            .any(|t| t.needs_human.is_some() && !before.contains(&t.id));
        if new { vec![Command::Bell] } else { Vec::new() }
    }

    /// The answer to a request sent for `what`: `Ok(text)` or the refusal.
    pub fn on_reply(&mut self, what: &str, result: Result<String, String>) {
        self.flash = Some(match result {
            Ok(text) if text.is_empty() => Flash {
                text: format!("{what}: done"),
                is_error: false,
            },
            Ok(text) => Flash {
                text: format!("{what}: {text}"),
                is_error: false,
            },
            Err(refusal) => Flash {
                text: format!("{what}: {refusal}"),
                is_error: true,
            },
        });
    }

    pub fn on_detail(&mut self, task: String, lines: Vec<ConversationLine>) {
        self.detail = Some((task, lines));
    }

    /// One key; answers what the edge must do.
    pub fn on_key(&mut self, key: Key) -> Vec<Command> {
        if key == Key::Interrupt {
            return vec![Command::Quit];
        }
        match self.mode.clone() {
            Mode::Filter => {
                match key {
                    Key::Enter | Key::Esc => self.mode = Mode::Table,
                    Key::Backspace => {
                        self.filter.pop();
                    }
                    Key::Char(c) => self.filter.push(c),
                    _ => {}
                }
                self.fix_selection();
                Vec::new()
            }
            Mode::Input { task, to, mut text } => match key {
                Key::Esc => {
                    self.mode = Mode::Table;
                    Vec::new()
                }
                Key::Tab if to.is_some() => {
                    let to = match to {
                        Some(Role::Worker) => Role::Reviewer,
                        _ => Role::Worker,
                    };
                    self.mode = Mode::Input {
                        task,
                        to: Some(to),
                        text,
                    };
                    Vec::new()
                }
                Key::Backspace => {
                    text.pop();
                    self.mode = Mode::Input { task, to, text };
                    Vec::new()
                }
                Key::Char(c) => {
                    text.push(c);
                    self.mode = Mode::Input { task, to, text };
                    Vec::new()
                }
                Key::Enter if text.trim().is_empty() => Vec::new(),
                Key::Enter => {
                    self.mode = Mode::Table;
                    let (what, body) = match to {
                        Some(to) => (
                            format!("say to the {to} of {task}"),
                            RequestBody::Say {
                                task,
                                to: Some(to),
                                text,
                            },
                        ),
                        None => (format!("answer {task}"), RequestBody::Answer { task, text }),
                    };
                    vec![Command::Request { what, body }]
                }
                _ => Vec::new(),
            },
            Mode::ConfirmCancel { task } => {
                self.mode = Mode::Table;
                match key {
                    Key::Char('y' | 'Y') => vec![Command::Request {
                        what: format!("cancel {task}"),
                        body: RequestBody::Cancel { task },
                    }],
                    _ => {
                        self.flash = Some(Flash {
                            text: format!("not cancelled: {task}"),
                            is_error: false,
                        });
                        Vec::new()
                    }
                }
            }
            Mode::Help => {
                self.mode = Mode::Table;
                match key {
                    Key::Char('q') => vec![Command::Quit],
                    _ => Vec::new(),
                }
            }
            Mode::Table | Mode::Detail => self.on_view_key(key),
        }
    }

    /// Keys of the table and the detail view.
    fn on_view_key(&mut self, key: Key) -> Vec<Command> {
        let task = self.selected.clone();
        match key {
            Key::Char('q') => return vec![Command::Quit],
            Key::Esc if self.mode == Mode::Detail => self.mode = Mode::Table,
            Key::Esc => self.flash = None,
            Key::Up | Key::Char('k') => self.move_selection(false),
            Key::Down | Key::Char('j') => self.move_selection(true),
            Key::Char('?') => self.mode = Mode::Help,
            Key::Char('/') => self.mode = Mode::Filter,
            Key::Char('o') => {
                self.sort = self.sort.next();
                self.fix_selection();
            }
            _ => {}
        }
        let Some(task) = task else {
            return Vec::new();
        };
        let request = |what: &str, body| {
            vec![Command::Request {
                what: format!("{what} {task}"),
                body,
            }]
        };
        match key {
            Key::Enter => {
                self.mode = Mode::Detail;
                vec![Command::LoadDetail { task }]
            }
            Key::Char('s') => {
                self.mode = Mode::Input {
                    task,
                    to: Some(Role::Worker),
                    text: String::new(),
                };
                Vec::new()
            }
            Key::Char('A') => {
                self.mode = Mode::Input {
                    task,
                    to: None,
                    text: String::new(),
                };
                Vec::new()
            }
            Key::Char('p') => request("pause", RequestBody::Pause { task: task.clone() }),
            Key::Char('r') => request("resume", RequestBody::Resume { task: task.clone() }),
            Key::Char('m') => request(
                "merge",
                RequestBody::Merge {
                    task: Some(task.clone()),
                },
            ),
            Key::Char('c') => {
                self.mode = Mode::ConfirmCancel { task };
                Vec::new()
            }
            Key::Char('a') => match self
                .selected_task()
                .and_then(|t| Some((t.session.clone()?, t.tmux_server.clone())))
            {
                Some((session, server)) => vec![Command::Attach {
                    task,
                    session,
                    server,
                }],
                None => {
                    self.flash = Some(Flash {
                        text: format!("attach {task}: no pair runs it (no tmux session)"),
                        is_error: true,
                    });
                    Vec::new()
                }
            },
            _ => Vec::new(),
        }
    }
}

/// What the status stream brings the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A subscription's full snapshot.
    Snapshot(StatusSnapshot),
    Changes(Vec<StatusChange>),
    /// No duet runs: the stored state.
    Stored(StatusSnapshot),
    /// The subscription dropped.
    Dropped,
}

fn matches_filter(task: &TaskStatus, filter: &str) -> bool {
    [
        task.id.as_str(),
        task.title.as_str(),
        task.state.as_str(),
        task.worker.profile.as_str(),
        task.reviewer.profile.as_str(),
    ]
    .iter()
    .any(|field| field.to_lowercase().contains(filter))
}

/// A state's short name for the table.
pub fn state_label(state: StateKind) -> &'static str {
    state.as_str()
}
