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
    PageUp,
    PageDown,
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
    /// Fetch the task's handoff report for the report view; it comes back through
    /// [`App::on_report`].
    LoadReport {
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
    /// The detail's other view: the selected task's handoff report, scrolled.
    Report,
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
    /// The report view's text for the task it was fetched for: the report, or why there is
    /// none (not finished yet, no duet to ask).
    pub report: Option<(String, Result<String, String>)>,
    /// The report view's first row shown (of [`report_rows`](Self::report_rows)).
    pub report_scroll: u16,
    /// The terminal's size (columns, rows), for the report's wrapping and scrolling; set by
    /// the edge, 80×24 in tests.
    pub size: (u16, u16),
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
            report: None,
            report_scroll: 0,
            size: (80, 24),
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

    /// The report fetched for `task` (or why there is none).
    pub fn on_report(&mut self, task: String, result: Result<String, String>) {
        self.report = Some((task, result));
        self.scroll_report(0);
    }

    /// The selected task's report as the view shows it: wrapped at the screen's width;
    /// `None` until it is fetched. A task without one shows why.
    pub fn report_rows(&self) -> Option<Vec<String>> {
        let id = self.selected.as_deref()?;
        let text = match &self.report {
            Some((task, Ok(text))) if task == id => text.as_str(),
            Some((task, Err(why))) if task == id => why.as_str(),
            _ => return None,
        };
        let width = usize::from(self.size.0.max(1));
        Some(text.lines().flat_map(|line| wrap(line, width)).collect())
    }

    /// How many report rows fit: the screen less the header, the footer, the info line and
    /// the view's title.
    pub fn report_height(&self) -> usize {
        usize::from(self.size.1.saturating_sub(4)).max(1)
    }

    /// Scrolls the report by `by` rows, no further than its last page.
    fn scroll_report(&mut self, by: i32) {
        let rows = self.report_rows().map_or(0, |rows| rows.len());
        let last = rows.saturating_sub(self.report_height());
        let to = (i64::from(self.report_scroll) + i64::from(by))
            .clamp(0, i64::try_from(last).unwrap_or(i64::MAX));
        self.report_scroll = u16::try_from(to).unwrap_or(u16::MAX);
    }

    /// Keys of the report view: scrolling, `R` back to the detail, Esc to the table; the
    /// rest as in the table (a report is about the selected task).
    fn on_report_key(&mut self, key: Key) -> Vec<Command> {
        match key {
            Key::Up | Key::Char('k') => self.scroll_report(-1),
            Key::Down | Key::Char('j') => self.scroll_report(1),
            Key::PageUp => self.scroll_report(-REPORT_PAGE),
            Key::PageDown | Key::Char(' ') => self.scroll_report(REPORT_PAGE),
            Key::Esc => self.mode = Mode::Table,
            Key::Char('R') => {
                self.mode = Mode::Detail;
                return match self.selected.clone() {
                    Some(task) => vec![Command::LoadDetail { task }],
                    None => Vec::new(),
                };
            }
            _ => return self.on_view_key(key),
        }
        Vec::new()
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
            Mode::Report => self.on_report_key(key),
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
            Key::Char('R') => {
                // Fetched anew each time: a task's report changes until it is merged.
                self.mode = Mode::Report;
                self.report_scroll = 0;
                vec![Command::LoadReport { task }]
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

/// How far PageUp / PageDown (and Space) scroll the report.
const REPORT_PAGE: i32 = 10;

/// `line` cut into rows of at most `width` characters, at spaces where it can (a word longer
/// than a row is cut where the row ends); an empty line stays one empty row.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut len = 0;
    for word in line.split_inclusive(' ') {
        let mut word = word;
        loop {
            let word_len = word.chars().count();
            let fits = len + word.trim_end().chars().count() <= width;
            if fits {
                row.push_str(word);
                len += word_len;
                break;
            }
            if len > 0 {
                rows.push(std::mem::take(&mut row).trim_end().to_owned());
                len = 0;
                continue;
            }
            // A word longer than a row: its first `width` characters make one.
            let cut = word
                .char_indices()
                .nth(width)
                .map_or(word.len(), |(at, _)| at);
            rows.push(word[..cut].to_owned());
            word = &word[cut..];
            if word.is_empty() {
                break;
            }
        }
    }
    if len > 0 || rows.is_empty() {
        rows.push(row.trim_end().to_owned());
    }
    rows
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

#[cfg(test)]
mod wrap_tests {
    use super::wrap;

    #[test]
    fn lines_are_cut_at_spaces_and_long_words_where_the_row_ends() {
        assert_eq!(wrap("", 10), vec![""]);
        assert_eq!(wrap("short", 10), vec!["short"]);
        assert_eq!(
            wrap("one two three four", 9),
            vec!["one two", "three", "four"]
        );
        assert_eq!(wrap("abcdefghijkl xy", 5), vec!["abcde", "fghij", "kl xy"]);
        // Every character is kept, in order.
        let text = "the reviewer asked for a test of the empty input, then approved";
        assert_eq!(
            wrap(text, 12)
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
        assert!(wrap(text, 12).iter().all(|row| row.chars().count() <= 12));
    }
}
