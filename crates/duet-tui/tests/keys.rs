//! The dashboard's keys: each becomes the socket request the CLI command would send (or a
//! mode change), refusals are shown, the bell rings once per task that starts needing you.

use duet_core::lifecycle::StateKind;
use duet_core::protocol::Role;
use duet_proto::RequestBody;
use duet_proto::status::{NeedsHuman, StatusChange};
use duet_tui::fixtures::{self, NOW_MS};
use duet_tui::{App, Command, Connection, Key, Mode, SortKey, StreamEvent};

fn app() -> App {
    App::new(fixtures::running(), Connection::Live, NOW_MS)
}

fn typed(app: &mut App, text: &str) -> Vec<Command> {
    text.chars()
        .flat_map(|c| app.on_key(Key::Char(c)))
        .collect()
}

fn request(commands: &[Command]) -> &RequestBody {
    match commands {
        [Command::Request { body, .. }] => body,
        other => panic!("expected one request, got {other:?}"),
    }
}

#[test]
fn pause_resume_and_merge_go_to_the_selected_task() {
    let mut app = app();
    app.on_key(Key::Down);
    assert_eq!(app.selected.as_deref(), Some("lexer"));
    assert_eq!(
        request(&app.on_key(Key::Char('p'))),
        &RequestBody::Pause {
            task: "lexer".into()
        }
    );
    assert_eq!(
        request(&app.on_key(Key::Char('r'))),
        &RequestBody::Resume {
            task: "lexer".into()
        }
    );
    assert_eq!(
        request(&app.on_key(Key::Char('m'))),
        &RequestBody::Merge {
            task: Some("lexer".into())
        }
    );
    // Up stops at the top, Down at the bottom.
    for _ in 0..10 {
        app.on_key(Key::Down);
    }
    assert_eq!(app.selected.as_deref(), Some("printer"));
    for _ in 0..10 {
        app.on_key(Key::Up);
    }
    assert_eq!(app.selected.as_deref(), Some("parser"));
}

#[test]
fn say_goes_to_the_worker_or_with_tab_the_reviewer_and_answer_is_an_answer() {
    let mut app = app();
    assert!(app.on_key(Key::Char('s')).is_empty());
    // Keys are text while typing: `q` does not quit, `p` does not pause.
    assert!(typed(&mut app, "qp!").is_empty());
    app.on_key(Key::Backspace);
    app.on_key(Key::Tab);
    assert_eq!(
        request(&app.on_key(Key::Enter)),
        &RequestBody::Say {
            task: "parser".into(),
            to: Some(Role::Reviewer),
            text: "qp".into()
        }
    );
    assert_eq!(app.mode, Mode::Table);

    app.on_key(Key::Char('A'));
    assert!(
        app.on_key(Key::Enter).is_empty(),
        "an empty answer is not sent"
    );
    typed(&mut app, "use hi");
    assert_eq!(
        request(&app.on_key(Key::Enter)),
        &RequestBody::Answer {
            task: "parser".into(),
            text: "use hi".into()
        }
    );
    // Esc drops what was typed.
    app.on_key(Key::Char('s'));
    typed(&mut app, "never mind");
    assert!(app.on_key(Key::Esc).is_empty());
    assert_eq!(app.mode, Mode::Table);
}

#[test]
fn cancel_asks_first() {
    let mut app = app();
    assert!(app.on_key(Key::Char('c')).is_empty());
    assert!(app.on_key(Key::Char('n')).is_empty());
    assert_eq!(app.flash.as_ref().unwrap().text, "not cancelled: parser");
    app.on_key(Key::Char('c'));
    assert_eq!(
        request(&app.on_key(Key::Char('y'))),
        &RequestBody::Cancel {
            task: "parser".into()
        }
    );
}

#[test]
fn filter_sort_detail_help_attach_and_quit() {
    let mut app = app();
    app.on_key(Key::Char('/'));
    typed(&mut app, "lex");
    assert_eq!(app.on_key(Key::Enter), Vec::new());
    assert_eq!(
        app.rows().iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["lexer"]
    );
    assert_eq!(app.selected.as_deref(), Some("lexer"), "selection follows");
    app.on_key(Key::Char('/'));
    for _ in 0..3 {
        app.on_key(Key::Backspace);
    }
    app.on_key(Key::Esc);
    assert_eq!(app.rows().len(), 4);

    app.on_key(Key::Char('o'));
    assert_eq!(app.sort, SortKey::Id);
    assert_eq!(
        app.rows().iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["docs", "lexer", "parser", "printer"]
    );

    assert_eq!(
        app.on_key(Key::Enter),
        vec![Command::LoadDetail {
            task: "lexer".into()
        }]
    );
    assert_eq!(app.mode, Mode::Detail);
    app.on_key(Key::Esc);
    assert_eq!(app.mode, Mode::Table);

    assert_eq!(
        app.on_key(Key::Char('a')),
        vec![Command::Attach {
            task: "lexer".into(),
            session: "duet-repo-lexer".into(),
            server: Some("duet".into()),
        }]
    );
    app.on_key(Key::Char('?'));
    assert_eq!(app.mode, Mode::Help);
    assert!(app.on_key(Key::Char('x')).is_empty());
    assert_eq!(app.mode, Mode::Table);
    assert_eq!(app.on_key(Key::Char('q')), vec![Command::Quit]);
    assert_eq!(app.on_key(Key::Interrupt), vec![Command::Quit]);
}

#[test]
fn attach_without_a_session_and_refusals_are_shown() {
    let mut app = app();
    app.on_key(Key::Char('/'));
    typed(&mut app, "printer");
    app.on_key(Key::Enter);
    assert!(app.on_key(Key::Char('a')).is_empty());
    assert!(app.flash.as_ref().unwrap().is_error);
    app.on_reply(
        "merge parser",
        Err("this duet does not merge tasks yet".into()),
    );
    let flash = app.flash.clone().unwrap();
    assert_eq!(
        flash.text,
        "merge parser: this duet does not merge tasks yet"
    );
    assert!(flash.is_error);
    app.on_reply("pause parser", Ok(String::new()));
    assert_eq!(app.flash.as_ref().unwrap().text, "pause parser: done");
}

#[test]
fn the_bell_rings_once_when_a_task_starts_needing_you_and_the_stream_keeps_the_view() {
    let mut app = app();
    let mut lexer = fixtures::running().tasks[1].clone();
    lexer.state = StateKind::NeedsHuman;
    lexer.needs_human = Some(NeedsHuman {
        reason: "stuck".into(),
        since_ms: None,
        evidence: Vec::new(),
    });
    let change = |seq, task| StatusChange {
        seq,
        id: "lexer".into(),
        task: Some(task),
    };
    assert_eq!(
        app.on_stream(StreamEvent::Changes(vec![change(43, lexer.clone())])),
        vec![Command::Bell]
    );
    assert_eq!(app.rows()[0].id, "lexer", "needs-human first");
    // Still needing it: no second bell; an old change (seq 43 again) is ignored.
    lexer.round = 3;
    assert!(
        app.on_stream(StreamEvent::Changes(vec![change(44, lexer.clone())]))
            .is_empty()
    );
    assert!(
        app.on_stream(StreamEvent::Changes(vec![change(43, lexer)]))
            .is_empty()
    );
    assert_eq!(app.status.tasks[1].round, 3);

    app.on_stream(StreamEvent::Dropped);
    assert_eq!(app.connection, Connection::Reconnecting);
    // A reconnect's snapshot with the same task needing you: no bell.
    let snapshot = app.status.clone();
    assert!(app.on_stream(StreamEvent::Snapshot(snapshot)).is_empty());
    assert_eq!(app.connection, Connection::Live);
    let mut stored = fixtures::running();
    stored.live = false;
    app.on_stream(StreamEvent::Stored(stored));
    assert_eq!(app.connection, Connection::Offline);
}

#[test]
fn r_shows_the_report_fetched_anew_and_toggles_back_to_the_detail() {
    let mut app = App::new(fixtures::merged(), Connection::Live, NOW_MS);
    assert_eq!(app.selected.as_deref(), Some("parser"));
    assert_eq!(
        app.on_key(Key::Char('R')),
        vec![Command::LoadReport {
            task: "parser".into()
        }]
    );
    assert_eq!(app.mode, Mode::Report);
    assert_eq!(app.report_rows(), None, "nothing fetched yet: loading");
    app.on_report("parser".into(), Ok(fixtures::report_markdown()));
    let rows = app.report_rows().unwrap();
    assert_eq!(rows[0], "# parser: Write the parser");
    assert!(rows.iter().all(|row| row.chars().count() <= 80), "{rows:?}");
    // A long finding is wrapped, not cut: all its words are there.
    let joined = rows.join(" ");
    assert!(
        joined.contains("*addressed in `89ab01cd` (round 2)*"),
        "{joined}"
    );

    // R again: the detail, with its conversation asked for; R once more fetches the report
    // again (it changes until the task is merged) from the top.
    assert_eq!(
        app.on_key(Key::Char('R')),
        vec![Command::LoadDetail {
            task: "parser".into()
        }]
    );
    assert_eq!(app.mode, Mode::Detail);
    app.on_key(Key::Char('R'));
    app.on_report("parser".into(), Ok(fixtures::report_markdown()));
    assert_eq!((app.mode.clone(), app.report_scroll), (Mode::Report, 0));
    // Esc: back to the table.
    app.on_key(Key::Esc);
    assert_eq!(app.mode, Mode::Table);
}

#[test]
fn the_report_scrolls_within_its_rows_and_the_selection_stays() {
    let mut app = App::new(fixtures::merged(), Connection::Live, NOW_MS);
    app.on_key(Key::Char('R'));
    app.on_report("parser".into(), Ok(fixtures::report_markdown()));
    let rows = app.report_rows().unwrap().len();
    let height = app.report_height();
    assert_eq!(height, 20, "24 rows less header, info, footer and title");
    assert!(
        rows > height,
        "the fixture must need scrolling: {rows} rows"
    );
    // Up at the top stays; Down moves one row, not the selection.
    app.on_key(Key::Up);
    assert_eq!(app.report_scroll, 0);
    app.on_key(Key::Down);
    app.on_key(Key::Char('j'));
    assert_eq!(app.report_scroll, 2);
    assert_eq!(app.selected.as_deref(), Some("parser"));
    // Paging stops at the last page: the last row stays in sight.
    for _ in 0..10 {
        app.on_key(Key::PageDown);
    }
    assert_eq!(usize::from(app.report_scroll), rows - height);
    app.on_key(Key::PageUp);
    assert_eq!(usize::from(app.report_scroll), rows - height - 10);
    app.on_key(Key::Char('k'));
    assert_eq!(usize::from(app.report_scroll), rows - height - 11);
    // A wider screen wraps less: the bound follows it.
    app.size = (200, 24);
    assert!(app.report_rows().unwrap().len() <= rows);
}

#[test]
fn a_task_without_a_report_says_why_and_another_tasks_report_is_not_shown() {
    let mut app = app();
    app.on_key(Key::Char('R'));
    let why = "task `parser` has no report yet: it is working; its report is built when it \
               finishes (done, ready, merged, failed or cancelled)";
    app.on_report("parser".into(), Err(why.into()));
    let rows = app.report_rows().unwrap();
    assert!(
        rows.join(" ").contains("has no report yet: it is working"),
        "{rows:?}"
    );
    // A report that comes back for a task no longer selected is not this task's.
    app.on_key(Key::Esc);
    app.on_key(Key::Down);
    app.on_key(Key::Char('R'));
    assert_eq!(app.selected.as_deref(), Some("lexer"));
    assert_eq!(app.report_rows(), None);
    // The keys of the table still work on the report's task: pause.
    assert_eq!(
        request(&app.on_key(Key::Char('p'))),
        &RequestBody::Pause {
            task: "lexer".into()
        }
    );
}
