//! Drawing the dashboard: [`render`] is a pure function of the [`App`] onto a ratatui frame
//! (the pairs table, the detail, the help, the input and confirm lines). Fits 80×24.

use duet_proto::status::{AgentState, AgentStatus, TaskStatus, TokenUsage};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use crate::app::{App, Connection, Mode};

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame) {
    let [header, body, info, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_line(app)), header);
    match app.mode {
        Mode::Detail => render_detail(app, frame, body),
        Mode::Report => render_report(app, frame, body),
        _ => render_table(app, frame, body),
    }
    if app.mode == Mode::Help {
        render_help(frame, body);
    }
    if !matches!(app.mode, Mode::Detail | Mode::Report) {
        frame.render_widget(Paragraph::new(selected_line(app)), info);
    }
    frame.render_widget(Paragraph::new(footer_line(app)), footer);
}

fn header_line(app: &App) -> Line<'static> {
    let source = match app.connection {
        Connection::Live => Span::styled("live", Style::new().fg(Color::Green)),
        Connection::Offline => Span::styled(
            "no duet running: stored state, read-only",
            Style::new().fg(Color::Yellow),
        ),
        Connection::Reconnecting => Span::styled("reconnecting…", Style::new().fg(Color::Red)),
    };
    let needing = app.needing_human();
    let mut spans = vec![
        Span::styled("duet dash", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" · "),
        source,
        Span::raw(match app.status.tasks.len() {
            1 => " · 1 task".to_string(),
            n => format!(" · {n} tasks"),
        }),
    ];
    if needing > 0 {
        spans.push(Span::styled(
            format!(" · {needing} need you"),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::raw(format!(" · sort: {}", app.sort.as_str())));
    if !app.filter.is_empty() || app.mode == Mode::Filter {
        spans.push(Span::raw(format!(" · filter: {}", app.filter)));
    }
    // The run's spend, once any record was counted: last, as the line is cut at
    // the terminal's width and the sort and filter being typed must stay in sight.
    if let Some(run) = TokenUsage::sum(app.status.tasks.iter().filter_map(|t| t.tokens.as_ref())) {
        spans.push(Span::raw(format!(
            " · {} tokens, ${:.2}",
            compact(run.total.total()),
            run.usd
        )));
    }
    Line::from(spans)
}

/// The selected task in one line: its title and why it waits or needs you (the table is too
/// narrow at 80 columns for the whole title).
fn selected_line(app: &App) -> Line<'static> {
    let Some(task) = app.selected_task() else {
        return Line::default();
    };
    let mut spans = vec![
        Span::styled(
            format!("{}: ", task.id),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(task.title.clone()),
    ];
    if let Some(needs) = &task.needs_human {
        let since = needs.since_ms.map_or(String::new(), |at| {
            format!(" ({} ago)", ago(at, app.now_ms))
        });
        spans.push(Span::styled(
            format!(" · needs you{since}: {}", needs.reason),
            Style::new().fg(Color::Red),
        ));
    } else if let Some(reason) = &task.reason {
        spans.push(Span::raw(format!(" · {reason}")));
    } else if let Some(merge) = &task.merge {
        spans.push(Span::raw(format!(" · {}", merge.state)));
    } else if !task.waiting.is_empty() {
        let waiting: Vec<String> = task.waiting.iter().map(ToString::to_string).collect();
        spans.push(Span::raw(format!(" · {}", waiting.join("; "))));
    }
    Line::from(spans)
}

fn footer_line(app: &App) -> Line<'static> {
    match &app.mode {
        Mode::Filter => Line::from(format!("/{}▏  (Enter: keep, Esc: done)", app.filter)),
        Mode::Input { task, to, text } => {
            let label = match to {
                Some(role) => format!("say to the {role} of {task} (Tab: switch)"),
                None => format!("answer {task}"),
            };
            Line::from(vec![
                Span::styled(format!("{label}: "), Style::new().fg(Color::Cyan)),
                Span::raw(format!("{text}▏")),
            ])
        }
        Mode::ConfirmCancel { task } => Line::from(Span::styled(
            format!("cancel task {task}? y/n"),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
        _ => match &app.flash {
            Some(flash) => Line::from(Span::styled(
                flash.text.clone(),
                if flash.is_error {
                    Style::new().fg(Color::Red)
                } else {
                    Style::new().fg(Color::Green)
                },
            )),
            None => Line::from(Span::styled(
                "↑↓ Enter detail / filter o sort s say A answer p/r pause/resume c cancel m merge a attach ? q",
                Style::new().fg(Color::DarkGray),
            )),
        },
    }
}

/// `claude work`, `codex rest`: the profile and what it does, shortly.
fn agent_cell(agent: &AgentStatus) -> Cell<'static> {
    let (text, color) = match agent.state {
        AgentState::Working => ("work", Color::Green),
        AgentState::AtRest => ("rest", Color::Gray),
        AgentState::WaitingPermission => ("perm", Color::Yellow),
        AgentState::Dead => ("dead", Color::Red),
        AgentState::Starting => ("start", Color::Gray),
        AgentState::Unknown => ("-", Color::DarkGray),
    };
    let profile = if agent.profile.is_empty() {
        "?".to_string()
    } else {
        agent.profile.clone()
    };
    Cell::from(Line::from(vec![
        Span::raw(format!("{profile} ")),
        Span::styled(text, Style::new().fg(color)),
    ]))
}

/// How long ago, shortly: `42s`, `5m`, `3h`, `12d`.
pub fn ago(at_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - at_ms).max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

fn state_style(task: &TaskStatus) -> Style {
    use duet_core::lifecycle::StateKind as S;
    match task.state {
        S::NeedsHuman => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        S::Failed => Style::new().fg(Color::Red),
        S::Done | S::Merged => Style::new().fg(Color::Green),
        S::Ready | S::Merging => Style::new().fg(Color::Magenta),
        S::Working | S::Reviewing | S::Preparing => Style::new().fg(Color::Cyan),
        S::Paused => Style::new().fg(Color::Yellow),
        S::Queued | S::Cancelled => Style::new().fg(Color::Gray),
    }
}

fn row(task: &TaskStatus, now_ms: i64) -> Row<'static> {
    let mark = if task.needs_human.is_some() { "!" } else { " " };
    let ci = task.ci.as_ref().map_or("-", |ci| match ci.state.as_str() {
        "passed" => "ok",
        "failed" => "FAIL",
        "running" => "…",
        _ => "?",
    });
    // The queue's words are long: the column has the position, the info line the words.
    let merge = task
        .merge
        .as_ref()
        .and_then(|m| m.position)
        .map_or_else(|| "-".to_string(), |p| format!("#{p}"));
    let diff = task.diffstat.map_or_else(
        || "-".to_string(),
        |d| format!("+{}-{}", d.insertions, d.deletions),
    );
    let round = if task.max_rounds > 0 {
        format!("{}/{}", task.round, task.max_rounds)
    } else {
        task.round.to_string()
    };
    Row::new(vec![
        Cell::from(Span::styled(
            mark,
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
        Cell::from(task.id.clone()),
        Cell::from(Span::styled(task.state.as_str(), state_style(task))),
        agent_cell(&task.worker),
        agent_cell(&task.reviewer),
        Cell::from(round),
        Cell::from(ci),
        Cell::from(diff),
        Cell::from(
            task.last_activity_ms
                .map_or("-".into(), |at| ago(at, now_ms)),
        ),
        Cell::from(merge),
        Cell::from(task.title.clone()),
    ])
}

fn render_table(app: &App, frame: &mut Frame, area: Rect) {
    let rows = app.rows();
    if rows.is_empty() {
        let text = if app.status.tasks.is_empty() {
            "no tasks in the backlog"
        } else {
            "no task matches the filter"
        };
        frame.render_widget(
            Paragraph::new(text).block(Block::new().borders(Borders::TOP)),
            area,
        );
        return;
    }
    let widths = [
        Constraint::Length(1),
        Constraint::Length(10),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Min(0),
    ];
    let header = Row::new([
        "", "TASK", "STATE", "WORKER", "REVIEWER", "ROUND", "CI", "DIFF", "ACT", "MERGE", "TITLE",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let table = Table::new(rows.iter().map(|t| row(t, app.now_ms)), widths)
        .header(header)
        .column_spacing(1)
        .highlight_symbol("›")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(app.selected_index());
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_detail(app: &App, frame: &mut Frame, area: Rect) {
    let Some(task) = app.selected_task() else {
        frame.render_widget(Paragraph::new("no task selected"), area);
        return;
    };
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(task.id.clone(), bold),
            Span::raw(" · "),
            Span::styled(task.state.as_str(), state_style(task)),
            Span::raw(format!(
                " · round {}/{} · {}",
                task.round, task.max_rounds, task.branch
            )),
        ]),
        Line::from(task.title.clone()),
        Line::from(format!(
            "worker {} ({}) · reviewer {} ({})",
            task.worker.profile,
            task.worker.state.as_str(),
            task.reviewer.profile,
            task.reviewer.state.as_str()
        )),
    ];
    if let Some(needs) = &task.needs_human {
        let since = needs.since_ms.map_or(String::new(), |at| {
            format!(" since {} ago", ago(at, app.now_ms))
        });
        lines.push(Line::from(Span::styled(
            format!("needs you{since}: {}", needs.reason),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )));
        for item in &needs.evidence {
            lines.push(Line::from(format!("  · {item}")));
        }
    } else if let Some(reason) = &task.reason {
        lines.push(Line::from(format!("reason: {reason}")));
    }
    if let Some(d) = &task.diffstat {
        lines.push(Line::from(format!(
            "against the base: {} files, +{} -{}",
            d.files, d.insertions, d.deletions
        )));
    }
    if let Some(t) = &task.tokens {
        let c = &t.total;
        let unpriced = if t.unpriced.is_empty() {
            String::new()
        } else {
            format!(" (no price for {})", t.unpriced.join(", "))
        };
        lines.push(Line::from(format!(
            "tokens: {} in, {} out, {} cache read, {} cache write · ${:.2}{unpriced}",
            compact(c.input),
            compact(c.output),
            compact(c.cache_read),
            compact(c.cache_write),
            t.usd
        )));
    }
    if let Some(merge) = &task.merge {
        let place = merge.position.map_or(String::new(), |p| format!("#{p}: "));
        lines.push(Line::from(format!("merge queue: {place}{}", merge.state)));
    }
    if let Some(ci) = &task.ci {
        lines.push(Line::from(format!(
            "CI at {}: {}",
            short(&ci.sha),
            ci.state
        )));
        if let Some(excerpt) = &ci.excerpt {
            lines.extend(excerpt.lines().map(|l| Line::from(format!("  {l}"))));
        }
    }
    if let Some(activity) = &task.activity {
        lines.push(Line::from(""));
        lines.extend(activity.lines().map(|l| Line::from(l.to_string())));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("conversation", bold)));
    match &app.detail {
        Some((id, conversation)) if *id == task.id => {
            if conversation.is_empty() {
                lines.push(Line::from("  (no messages yet)"));
            }
            for message in conversation {
                let mark = match message.state.as_str() {
                    "delivered" => Span::styled("✓", Style::new().fg(Color::Green)),
                    "suppressed" => Span::styled("×", Style::new().fg(Color::DarkGray)),
                    // Not a message: a CI run, said where it happened.
                    "note" => Span::styled("·", Style::new().fg(Color::Cyan)),
                    _ => Span::styled("…", Style::new().fg(Color::Yellow)),
                };
                lines.push(Line::from(vec![
                    mark,
                    Span::raw(format!(
                        " {} → {}: {}",
                        message.from,
                        message.to,
                        gist(&message.text)
                    )),
                ]));
            }
        }
        _ => lines.push(Line::from("  (loading…)")),
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::new()
                .borders(Borders::TOP)
                .title(" detail (R: report, Esc: back) "),
        ),
        area,
    );
}

/// The selected task's handoff report, from the row scrolled to (the App wraps it at the
/// screen's width and bounds the scrolling); the title says where in it the view is.
fn render_report(app: &App, frame: &mut Frame, area: Rect) {
    let Some(task) = app.selected_task() else {
        frame.render_widget(Paragraph::new("no task selected"), area);
        return;
    };
    let height = usize::from(area.height.saturating_sub(1)).max(1);
    let (lines, place) = match app.report_rows() {
        Some(rows) => {
            // A resize can leave the scroll past the last page: show the last page.
            let from = usize::from(app.report_scroll).min(rows.len().saturating_sub(height));
            let to = (from + height).min(rows.len());
            let bold = Style::new().add_modifier(Modifier::BOLD);
            let lines: Vec<Line> = rows[from..to]
                .iter()
                .map(|row| {
                    if row.starts_with('#') {
                        Line::from(Span::styled(row.clone(), bold))
                    } else {
                        Line::from(row.clone())
                    }
                })
                .collect();
            (lines, format!("{}-{} of {}", from + 1, to, rows.len()))
        }
        None => (vec![Line::from("(loading…)")], String::new()),
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::TOP).title(format!(
            " report {} {place} (↑↓ PgUp/PgDn, R: detail, Esc: back) ",
            task.id
        ))),
        area,
    );
}

fn short(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

const HELP: &[(&str, &str)] = &[
    ("↑/↓ j/k", "select a task"),
    ("Enter", "detail: conversation, findings, why it needs you"),
    ("R", "the handoff report of a finished task"),
    ("/", "filter (id, title, state, agent)"),
    ("o", "next sort key (needs-you first always)"),
    ("s", "say to the worker (Tab: the reviewer)"),
    ("A", "answer the task's question"),
    ("p / r", "pause / resume"),
    ("c", "cancel (asks first)"),
    ("m", "merge a ready task"),
    ("a", "attach to the pair's tmux session"),
    ("Esc", "back / clear the message"),
    ("q", "quit"),
];

fn render_help(frame: &mut Frame, area: Rect) {
    let width = area.width.min(60);
    let height = area
        .height
        .min(u16::try_from(HELP.len()).unwrap_or(u16::MAX) + 2);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| Line::from(format!("{keys:>8}  {what}")))
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" keys ")),
        popup,
    );
}

/// A message as the detail view lists it: one paragraph, cut after [`GIST_CHARS`] characters
/// (a brief or a CI excerpt would push the rest of the conversation off the screen;
/// `duet log TASK` has every word).
fn gist(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(GIST_CHARS) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// See [`gist`].
const GIST_CHARS: usize = 160;

/// `950`, `12.3k`, `4.2M`.
fn compact(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

#[cfg(test)]
mod gist_tests {
    use super::{GIST_CHARS, gist};

    #[test]
    fn a_long_message_is_one_paragraph_cut_with_an_ellipsis_and_a_short_one_is_whole() {
        assert_eq!(gist("fix  the\nparser"), "fix the parser");
        let long = "word ".repeat(100);
        let cut = gist(&long);
        assert!(cut.ends_with('…'), "{cut}");
        assert_eq!(cut.chars().count(), GIST_CHARS + 1);
        // Multi-byte text is cut at a character, never inside one.
        assert!(gist(&"é".repeat(200)).ends_with('…'));
    }
}
