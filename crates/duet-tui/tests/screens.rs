//! The dashboard's screens at 80×24 (ratatui's TestBackend), from fixture data: empty,
//! running, needs-human, merged, the detail, the help, and the stored state with no duet.

use duet_core::protocol::Role;
use duet_proto::status::StatusSnapshot;
use duet_tui::fixtures::{self, NOW_MS};
use duet_tui::{App, Connection, ConversationLine, Key, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| render(app, frame)).unwrap();
    // The buffer as text, one line per row, trailing blanks trimmed.
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            let line: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect();
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn live(status: StatusSnapshot) -> App {
    App::new(status, Connection::Live, NOW_MS)
}

#[test]
fn empty() {
    let app = live(StatusSnapshot::new(0, true, Vec::new()));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn running() {
    insta::assert_snapshot!(screen(&live(fixtures::running())));
}

#[test]
fn needs_human_comes_first_and_marked() {
    let app = live(fixtures::needs_human());
    assert_eq!(app.rows()[0].id, "lexer");
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn merged() {
    let mut app = live(fixtures::merged());
    // The task being landed: its queue position in the table, the queue's words below.
    app.on_key(Key::Down);
    assert_eq!(app.selected.as_deref(), Some("lexer"));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn detail_says_why_the_task_needs_you_and_shows_the_conversation() {
    let mut app = live(fixtures::needs_human());
    app.on_key(Key::Enter);
    app.on_detail(
        "lexer".into(),
        vec![
            ConversationLine {
                from: "worker".into(),
                to: "reviewer".into(),
                text: "please review 0123456".into(),
                state: "delivered".into(),
            },
            ConversationLine {
                from: "ci".into(),
                to: "pair".into(),
                text: "CI test at 01234567: failed, 1 failing test".into(),
                state: "note".into(),
            },
            ConversationLine {
                from: "human".into(),
                to: "worker".into(),
                text: "accept leading dots".into(),
                state: "accepted".into(),
            },
        ],
    );
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn help() {
    let mut app = live(fixtures::running());
    app.on_key(Key::Char('?'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn offline_says_it_is_the_stored_state_and_typing_a_message() {
    let mut status = fixtures::running();
    status.live = false;
    let mut app = App::new(status, Connection::Offline, NOW_MS);
    app.on_key(Key::Char('s'));
    app.on_key(Key::Tab);
    for c in "hi".chars() {
        app.on_key(Key::Char(c));
    }
    assert!(matches!(
        app.mode,
        duet_tui::Mode::Input {
            to: Some(Role::Reviewer),
            ..
        }
    ));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn report_of_a_merged_task_scrolled() {
    let mut app = live(fixtures::merged());
    app.on_key(Key::Char('R'));
    app.on_report("parser".into(), Ok(fixtures::report_markdown()));
    insta::assert_snapshot!("report_top", screen(&app));
    for _ in 0..3 {
        app.on_key(Key::PageDown);
    }
    // The last page: the report's end in sight, the title says where.
    insta::assert_snapshot!("report_end", screen(&app));
}
