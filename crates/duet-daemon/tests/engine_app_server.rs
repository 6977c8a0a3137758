//! The engine with a codex seat on its app-server (`transport = "app-server"`), on the memory
//! runtime: its pane is never read to learn its state (nor typed into), while the claude seat
//! beside it is watched from its pane as usual.

mod engine_support;

use engine_support::*;

const CODEX_ON_APP_SERVER: &str = r#"
[agents.cx]
kind = "codex"
command = "never-run-by-the-memory-runtime"
transport = "app-server"
"#;

#[test]
fn the_pane_of_a_codex_seat_on_its_app_server_is_never_read_or_typed_into() {
    let backlog =
        "[[task]]\nid = \"t\"\ntitle = \"Task t\"\nprompt = \"Do t.\"\nreviewer = \"cx\"\n";
    let world = World::with_backlog(backlog, CODEX_ON_APP_SERVER);
    let _engine = world.start(false, None);
    // The claude worker's pane is watched until it rests (no hook says so here): the loop has
    // gone round several times once it was read thrice.
    world.wait("the worker's pane read thrice", || {
        let (worker, _) = world.pair("t");
        (worker.screen_reads >= 3).then_some(())
    });
    let (_, reviewer) = world.pair("t");
    assert_eq!(reviewer.screen_reads, 0, "codex's pane was read");
    assert!(
        reviewer.typed.is_empty(),
        "typed into codex: {:?}",
        reviewer.typed
    );
    // Its pane runs `duet codex-seat` (the app-server and the TUI), not codex itself.
    let argv = &reviewer.starts[0].argv;
    assert!(argv.iter().any(|a| a == "codex-seat"), "{argv:?}");
}
