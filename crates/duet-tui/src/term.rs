//! The dashboard's edge: the terminal (crossterm, raw mode, alternate screen), the status
//! subscription on a thread of its own (reconnecting from its last seq, falling back to the
//! stored state when no duet runs), requests sent off the UI thread, and attaching to tmux.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use duet_proto::status::StatusSnapshot;
use duet_proto::{Client, ClientErrorKind, Request, RequestBody, Response, ResponseBody};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::app::{App, Command, Connection, ConversationLine, Key, StreamEvent};
use crate::render::render;

/// How long one exchange with the running duet may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often input is looked for: a change on screen within this (plus drawing).
const TICK: Duration = Duration::from_millis(50);

/// Reads the stored state (no duet running).
pub type StoredFn = Box<dyn FnMut() -> Result<StatusSnapshot, String>>;
/// Reads a task's conversation.
pub type DetailFn = Box<dyn FnMut(&str) -> Vec<ConversationLine>>;
/// Builds a task's report from the stored state (no duet running): the Markdown, or why there
/// is none.
pub type ReportFn = Box<dyn FnMut(&str) -> Result<String, String>>;
/// Attaches the terminal to tmux session `session` on server `server` (`None`: the host's
/// default) until the user detaches, or switches the tmux client the dashboard runs in to it;
/// answers what to tell the user.
pub type AttachFn = Box<dyn FnMut(&str, Option<&str>) -> Result<String, String>>;

/// What the dashboard needs from its host (the `duet` binary): the stored state when no duet
/// runs, a task's conversation, its report when no duet runs to ask, and attaching the terminal
/// to a tmux session.
#[allow(missing_debug_implementations)]
pub struct Hooks {
    pub stored: StoredFn,
    pub detail: DetailFn,
    pub report: ReportFn,
    pub attach: AttachFn,
}

/// The terminal could not be driven.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} the terminal")]
pub struct TuiError {
    pub action: &'static str,
    #[source]
    pub source: std::io::Error,
}

fn term_err(action: &'static str) -> impl FnOnce(std::io::Error) -> TuiError {
    move |source| TuiError { action, source }
}

enum Msg {
    Stream(StreamEvent),
    /// Nothing answers on the socket.
    NotRunning,
    Reply {
        what: String,
        result: Result<String, String>,
    },
    /// The running duet's answer to a report request; `None`: no duet runs to ask.
    Report {
        task: String,
        result: Option<Result<String, String>>,
    },
}

/// Puts the terminal back however the dashboard ends (even by a panic).
struct Screen;

impl Screen {
    fn enter() -> Result<Screen, TuiError> {
        crossterm::terminal::enable_raw_mode().map_err(term_err("set up"))?;
        crossterm::execute!(std::io::stdout(), EnterAlternateScreen).map_err(term_err("set up"))?;
        Ok(Screen)
    }

    fn leave() {
        let _ = crossterm::terminal::disable_raw_mode();
        let _ = crossterm::execute!(
            std::io::stdout(),
            LeaveAlternateScreen,
            crossterm::cursor::Show
        );
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        Screen::leave();
    }
}

/// Runs the dashboard on this terminal over the control socket at `socket` until `q`.
pub fn run(socket: PathBuf, mut hooks: Hooks) -> Result<(), TuiError> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let client = Client::new(&socket, TIMEOUT);
    spawn_stream(client.clone(), tx.clone());

    let initial = (hooks.stored)().unwrap_or_else(|_| StatusSnapshot::new(0, false, Vec::new()));
    let mut app = App::new(initial, Connection::Offline, now_ms());
    let screen = Screen::enter()?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(term_err("draw on"))?;
    let mut dirty = true;
    let mut drawn_at = Instant::now();
    loop {
        // Relative times move on: redraw at least every second.
        if dirty || drawn_at.elapsed() >= Duration::from_secs(1) {
            app.now_ms = now_ms();
            terminal
                .draw(|frame| render(&app, frame))
                .map_err(term_err("draw on"))?;
            dirty = false;
            drawn_at = Instant::now();
        }
        let mut commands = Vec::new();
        if let Ok(size) = terminal.size() {
            app.size = (size.width, size.height);
        }
        if event::poll(TICK).map_err(term_err("read"))? {
            match event::read().map_err(term_err("read"))? {
                Event::Key(key) if key.kind != KeyEventKind::Release => {
                    if let Some(key) = map_key(key) {
                        commands.extend(app.on_key(key));
                    }
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        while let Ok(msg) = rx.try_recv() {
            dirty = true;
            match msg {
                Msg::Stream(event) => commands.extend(app.on_stream(event)),
                Msg::NotRunning => {
                    if app.connection != Connection::Offline || app.status.live {
                        match (hooks.stored)() {
                            Ok(stored) => {
                                commands.extend(app.on_stream(StreamEvent::Stored(stored)))
                            }
                            Err(err) => app.on_reply("read the stored state", Err(err)),
                        }
                    }
                }
                Msg::Reply { what, result } => app.on_reply(&what, result),
                Msg::Report { task, result } => {
                    let result = result.unwrap_or_else(|| (hooks.report)(&task));
                    app.on_report(task, result);
                }
            }
        }
        for command in commands {
            match command {
                Command::Quit => {
                    drop(terminal);
                    drop(screen);
                    return Ok(());
                }
                Command::Bell => {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(b"\x07");
                    let _ = out.flush();
                }
                Command::Request { what, body } => send(client.clone(), tx.clone(), what, body),
                Command::LoadReport { task } => fetch_report(client.clone(), tx.clone(), task),
                Command::LoadDetail { task } => {
                    let lines = (hooks.detail)(&task);
                    app.on_detail(task, lines);
                }
                Command::Attach {
                    task,
                    session,
                    server,
                } => {
                    // tmux gets the terminal as a shell would hand it over: cooked, main screen.
                    Screen::leave();
                    let result = (hooks.attach)(&session, server.as_deref());
                    crossterm::terminal::enable_raw_mode().map_err(term_err("set up"))?;
                    crossterm::execute!(std::io::stdout(), EnterAlternateScreen)
                        .map_err(term_err("set up"))?;
                    // Whatever tmux left on the screen is not the dashboard's: draw it all anew.
                    terminal.clear().map_err(term_err("draw on"))?;
                    // Keys typed while attached were tmux's, not the dashboard's.
                    while event::poll(Duration::ZERO).map_err(term_err("read"))? {
                        let _ = event::read();
                    }
                    app.on_reply(&format!("attach {task}"), result);
                    dirty = true;
                }
            }
        }
    }
}

fn map_key(key: event::KeyEvent) -> Option<Key> {
    Some(match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Key::Interrupt,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Tab => Key::Tab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        _ => return None,
    })
}

/// The subscription, forever: each answer to the UI; a dropped one resumes from the last seq
/// seen; no duet running is said once per attempt, retried every second.
fn spawn_stream(client: Client, tx: mpsc::Sender<Msg>) {
    std::thread::spawn(move || {
        let mut last: Option<u64> = None;
        loop {
            match client.subscribe(last) {
                Ok(mut subscription) => loop {
                    let event = match subscription.recv() {
                        Ok(Response::Ok {
                            body: ResponseBody::Status { status },
                        }) => {
                            last = Some(status.seq);
                            StreamEvent::Snapshot(status)
                        }
                        Ok(Response::Ok {
                            body: ResponseBody::StatusChanged { changes },
                        }) => {
                            if let Some(change) = changes.last() {
                                last = Some(change.seq);
                            }
                            StreamEvent::Changes(changes)
                        }
                        // A duet that does not stream: ask it for its status every second.
                        Ok(Response::Error { .. }) => {
                            if !poll_status(&client, &tx) {
                                return;
                            }
                            break;
                        }
                        Ok(_) | Err(_) => {
                            if tx.send(Msg::Stream(StreamEvent::Dropped)).is_err() {
                                return;
                            }
                            break;
                        }
                    };
                    if tx.send(Msg::Stream(event)).is_err() {
                        return;
                    }
                },
                Err(err) if err.kind == ClientErrorKind::Connect => {
                    if tx.send(Msg::NotRunning).is_err() {
                        return;
                    }
                }
                Err(_) => {
                    if tx.send(Msg::Stream(StreamEvent::Dropped)).is_err() {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}

/// Asks a duet that does not stream (`duet pair` today) for its status every second, until it
/// stops answering; false when the UI is gone.
fn poll_status(client: &Client, tx: &mpsc::Sender<Msg>) -> bool {
    loop {
        match client.send(&Request::from_human(RequestBody::Status { task: None })) {
            Ok(Response::Ok {
                body: ResponseBody::Status { status },
            }) => {
                if tx.send(Msg::Stream(StreamEvent::Snapshot(status))).is_err() {
                    return false;
                }
            }
            _ => return tx.send(Msg::Stream(StreamEvent::Dropped)).is_ok(),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Sends one request off the UI thread; its answer comes back as a reply.
fn send(client: Client, tx: mpsc::Sender<Msg>, what: String, body: RequestBody) {
    std::thread::spawn(move || {
        let result = match client.send(&Request::from_human(body)) {
            Ok(Response::Ok { body }) => Ok(match body {
                ResponseBody::ToolResult { text, .. } => text,
                _ => String::new(),
            }),
            Ok(Response::Error { error }) => Err(error.message),
            Err(err) if err.kind == ClientErrorKind::Connect => {
                Err("no duet is running (the state shown is read-only)".to_string())
            }
            Err(err) => Err(err.to_string()),
        };
        let _ = tx.send(Msg::Reply { what, result });
    });
}

/// Asks the running duet for a task's report off the UI thread (building it reads git).
fn fetch_report(client: Client, tx: mpsc::Sender<Msg>, task: String) {
    std::thread::spawn(move || {
        let body = RequestBody::Report { task: task.clone() };
        let result = match client.send(&Request::from_human(body)) {
            Ok(Response::Ok {
                body: ResponseBody::Report { markdown, .. },
            }) => Some(Ok(markdown)),
            Ok(Response::Ok { body }) => Some(Err(format!("unexpected answer: {body:?}"))),
            Ok(Response::Error { error }) => Some(Err(error.message)),
            Err(err) if err.kind == ClientErrorKind::Connect => None,
            Err(err) => Some(Err(err.to_string())),
        };
        let _ = tx.send(Msg::Report { task, result });
    });
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
