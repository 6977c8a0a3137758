//! The tmux runtime against a real tmux server (a unique socket per test, killed on drop).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use duet_agents::tmux::{
    CLAUDE_PASTE_SEEN_TIMEOUT, EnterAfter, PaneState, literal_arg, pane_title, session_name,
};
use duet_agents::{PaneCommand, TmuxErrorKind, TmuxRuntime};
use duet_core::config::AgentKind;
use duet_core::protocol::Role;
use support::{TestTmux, poll, running};

const TIMEOUT: Duration = Duration::from_secs(10);

fn sh(script: &str, env: &[(&str, &str)]) -> PaneCommand {
    PaneCommand {
        argv: vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()],
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// A pane program that echoes every line it reads as `got:<line>`.
fn echo_lines() -> PaneCommand {
    sh(
        r#"echo ready; while IFS= read -r l; do echo "got:$l"; done"#,
        &[],
    )
}

fn display(rt: &TmuxRuntime, target: &str, format: &str) -> String {
    let out = rt
        .command()
        .args(["display-message", "-p", "-t", target, format])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn wait_for_text(rt: &TmuxRuntime, pane: &str, needle: &str) -> String {
    poll(TIMEOUT, &format!("{needle:?} in pane {pane}"), || {
        let screen = rt.capture(pane).unwrap();
        (screen.contains(needle).then(|| screen.clone()), screen)
    })
}

#[test]
fn a_pair_session_has_two_panes_side_by_side_with_env_cwd_titles_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    let worker = sh(
        r#"echo "w:$DUET_ROLE:$(pwd)"; exec sleep 600"#,
        &[("DUET_ROLE", "worker")],
    );
    let reviewer = sh(
        r#"echo "r:$DUET_ROLE:$SEMI"; exec sleep 600"#,
        &[("DUET_ROLE", "reviewer"), ("SEMI", "ends with;")],
    );
    let panes = rt
        .create_pair_session("duet-repo-t1", &cwd, &worker, &reviewer)
        .unwrap();
    assert_ne!(panes.worker_pane_id, panes.reviewer_pane_id);
    assert_eq!(panes.pane(Role::Reviewer), panes.reviewer_pane_id);
    wait_for_text(
        rt,
        &panes.worker_pane_id,
        &format!("w:worker:{}", cwd.display()),
    );
    wait_for_text(rt, &panes.reviewer_pane_id, "r:reviewer:ends with;");

    // Side by side: same top, the reviewer to the right.
    let geometry = |pane: &str| -> (u32, u32) {
        let text = display(rt, pane, "#{pane_left} #{pane_top}");
        let (left, top) = text.split_once(' ').unwrap();
        (left.parse().unwrap(), top.parse().unwrap())
    };
    let (worker_left, worker_top) = geometry(&panes.worker_pane_id);
    let (reviewer_left, reviewer_top) = geometry(&panes.reviewer_pane_id);
    assert_eq!(worker_top, reviewer_top);
    assert!(reviewer_left > worker_left);

    let target = &panes.worker_pane_id;
    assert_eq!(display(rt, target, "#{remain-on-exit}"), "on");
    assert_eq!(display(rt, target, "#{pane-border-status}"), "top");
    // (display trims the trailing space)
    assert_eq!(display(rt, target, "#{status-left}"), "[duet duet-repo-t1]");

    // Titles: set per pane, with format and separator characters kept as they are.
    let title = pane_title("t1", Role::Worker, AgentKind::Claude, "working #1;");
    assert_eq!(title, "t1 worker (claude): working #1;");
    rt.set_pane_title(&panes.worker_pane_id, &title).unwrap();
    rt.set_pane_title(&panes.reviewer_pane_id, "t1 reviewer (codex): idle")
        .unwrap();
    assert_eq!(rt.pane_title(&panes.worker_pane_id).unwrap(), title);
    assert_eq!(
        rt.pane_title(&panes.reviewer_pane_id).unwrap(),
        "t1 reviewer (codex): idle"
    );
    assert_eq!(display(rt, target, "#{pane_title}"), title);
}

#[test]
fn a_program_cannot_overwrite_the_border_title() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    // Sets the terminal title with OSC 2 on each line it reads, as TUIs do.
    let retitle = sh(
        r#"echo ready; while IFS= read -r l; do printf '\033]2;%s\007' "$l"; echo "set:$l"; done"#,
        &[],
    );
    let panes = rt
        .create_pair_session("s", dir.path(), &retitle, &echo_lines())
        .unwrap();
    rt.set_pane_title(&panes.worker_pane_id, "t worker (claude): idle")
        .unwrap();
    wait_for_text(rt, &panes.worker_pane_id, "ready");
    rt.send_text(&panes.worker_pane_id, "hijacked", AgentKind::Claude)
        .unwrap();
    wait_for_text(rt, &panes.worker_pane_id, "set:hijacked");
    assert_eq!(
        display(rt, &panes.worker_pane_id, "#{pane_title}"),
        "hijacked"
    );
    assert_eq!(
        rt.pane_title(&panes.worker_pane_id).unwrap(),
        "t worker (claude): idle"
    );
}

#[test]
fn send_text_reaches_the_program_as_typed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    let panes = rt
        .create_pair_session("s", dir.path(), &echo_lines(), &echo_lines())
        .unwrap();
    for pane in [&panes.worker_pane_id, &panes.reviewer_pane_id] {
        wait_for_text(rt, pane, "ready");
    }
    // Characters tmux would otherwise read as key names, formats or a command separator.
    let line = r#"Enter C-c #{pane_id} $HOME "q" 'a' \ end;"#;
    rt.send_text(&panes.worker_pane_id, line, AgentKind::Claude)
        .unwrap();
    wait_for_text(rt, &panes.worker_pane_id, &format!("got:{line}"));

    let started = Instant::now();
    let after = rt
        .send_text(&panes.reviewer_pane_id, "for codex", AgentKind::Codex)
        .unwrap();
    assert_eq!(after, EnterAfter::CodexPause);
    assert!(started.elapsed() >= duet_agents::tmux::CODEX_ENTER_DELAY);
    wait_for_text(rt, &panes.reviewer_pane_id, "got:for codex");
    // Pasted into codex: Enter once the paste shows, not after the typed line's fixed pause.
    let after = rt
        .send_text(
            &panes.reviewer_pane_id,
            "codex one\ncodex two",
            AgentKind::Codex,
        )
        .unwrap();
    assert!(
        matches!(after, EnterAfter::PasteSeen(waited) if waited < CLAUDE_PASTE_SEEN_TIMEOUT),
        "{after:?}"
    );
    wait_for_text(rt, &panes.reviewer_pane_id, "got:codex two");

    // Multi-line text is pasted: each line arrives, in order, nothing lost. The Enter came once
    // the paste showed in the pane (the terminal echoes it), not after a timeout.
    let after = rt
        .send_text(&panes.worker_pane_id, "one\ntwo\nthree", AgentKind::Claude)
        .unwrap();
    assert!(
        matches!(after, EnterAfter::PasteSeen(waited) if waited < CLAUDE_PASTE_SEEN_TIMEOUT),
        "{after:?}"
    );
    let screen = wait_for_text(rt, &panes.worker_pane_id, "got:three");
    let one = screen.find("got:one").unwrap();
    let two = screen.find("got:two").unwrap();
    assert!(
        one < two && two < screen.find("got:three").unwrap(),
        "{screen}"
    );

    let err = rt
        .send_text(&panes.worker_pane_id, "nul\0byte", AgentKind::Claude)
        .unwrap_err();
    assert_eq!(err.kind, TmuxErrorKind::InvalidInput);
}

#[test]
fn a_paste_that_never_shows_is_submitted_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    // No echo, and only a count of the lines read: the pasted text never shows.
    let hidden = sh(
        r#"stty -echo; echo ready; n=0; while IFS= read -r l; do n=$((n+1)); echo "lines:$n"; done"#,
        &[],
    );
    let panes = rt
        .create_pair_session("s", dir.path(), &hidden, &hidden)
        .unwrap();
    wait_for_text(rt, &panes.worker_pane_id, "ready");
    let after = rt
        .send_text(&panes.worker_pane_id, "one\ntwo\nthree", AgentKind::Claude)
        .unwrap();
    assert!(
        matches!(after, EnterAfter::PasteNotSeen(waited) if waited >= CLAUDE_PASTE_SEEN_TIMEOUT),
        "{after:?}"
    );
    // Enter was pressed anyway: the last line was submitted.
    wait_for_text(rt, &panes.worker_pane_id, "lines:3");
}

#[test]
fn a_dead_pane_stays_and_is_seen_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    let worker = sh("echo last-words; read _; exit 3", &[]);
    let reviewer = sh("exec sleep 600", &[]);
    let panes = rt
        .create_pair_session("s", dir.path(), &worker, &reviewer)
        .unwrap();
    wait_for_text(rt, &panes.worker_pane_id, "last-words");
    let PaneState::Running { pid } = rt.pane_state(&panes.worker_pane_id).unwrap() else {
        panic!("worker not running");
    };
    assert_eq!(rt.pane_pid(&panes.worker_pane_id).unwrap(), pid);
    rt.send_keys(&panes.worker_pane_id, &["Enter"]).unwrap();
    let exited = Instant::now();
    let state = poll(Duration::from_secs(1), "the worker pane to be dead", || {
        let state = rt.pane_state(&panes.worker_pane_id).unwrap();
        (
            matches!(state, PaneState::Dead { .. }).then_some(state),
            format!("{state:?}"),
        )
    });
    assert!(exited.elapsed() < Duration::from_secs(1));
    // tmux marks a pane dead when its pty closes and fills in how the process ended once it
    // has reaped it, which can come later (or, under load, not be recorded at all).
    let state = settled(rt, &panes.worker_pane_id, state);
    assert!(
        matches!(
            state,
            PaneState::Dead {
                exit_code: Some(3) | None,
                signal: None
            }
        ),
        "{state:?}"
    );
    // Still there to read.
    assert!(rt.has_session("s").unwrap());
    let screen = rt.capture_all(&panes.worker_pane_id).unwrap();
    assert!(screen.contains("last-words"), "{screen}");
    if state
        == (PaneState::Dead {
            exit_code: Some(3),
            signal: None,
        })
    {
        assert!(screen.contains("Pane is dead (status 3"), "{screen}");
    }

    let reviewer_pid = rt.pane_pid(&panes.reviewer_pane_id).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &reviewer_pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let state = poll(
        Duration::from_secs(1),
        "the reviewer pane to be dead",
        || {
            let state = rt.pane_state(&panes.reviewer_pane_id).unwrap();
            (
                matches!(state, PaneState::Dead { .. }).then_some(state),
                format!("{state:?}"),
            )
        },
    );
    let state = settled(rt, &panes.reviewer_pane_id, state);
    assert!(
        matches!(
            state,
            PaneState::Dead {
                exit_code: None,
                signal: Some(15) | None
            }
        ),
        "{state:?}"
    );
}

#[test]
fn sessions_are_found_and_killed_by_exact_name() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    assert!(!rt.has_session("duet-r-t1").unwrap(), "no server yet");
    assert_eq!(rt.list_sessions().unwrap(), Vec::<String>::new());
    let sleeper = || sh("exec sleep 600", &[]);
    let panes = rt
        .create_pair_session("duet-r-t10", dir.path(), &sleeper(), &sleeper())
        .unwrap();
    // "duet-r-t1" is a prefix of "duet-r-t10": it must not be taken for it.
    assert!(!rt.has_session("duet-r-t1").unwrap());
    rt.kill_session("duet-r-t1").unwrap();
    assert!(rt.has_session("duet-r-t10").unwrap());
    let err = rt
        .create_pair_session("duet-r-t10", dir.path(), &sleeper(), &sleeper())
        .unwrap_err();
    assert_eq!(err.kind, TmuxErrorKind::Command);
    assert!(err.to_string().contains("duplicate session"), "{err}");

    let pids = [
        rt.pane_pid(&panes.worker_pane_id).unwrap(),
        rt.pane_pid(&panes.reviewer_pane_id).unwrap(),
    ];
    rt.create_pair_session("other", dir.path(), &sleeper(), &sleeper())
        .unwrap();
    rt.kill_session("duet-r-t10").unwrap();
    assert!(!rt.has_session("duet-r-t10").unwrap());
    assert_eq!(rt.list_sessions().unwrap(), vec!["other".to_owned()]);
    poll(TIMEOUT, "the killed session's processes to exit", || {
        let alive: Vec<u32> = pids.iter().copied().filter(|&p| running(p)).collect();
        (alive.is_empty().then_some(()), format!("{alive:?}"))
    });
}

#[test]
fn bad_pane_commands_are_refused_before_tmux_runs() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    let ok = sh("exec sleep 600", &[]);
    let empty = PaneCommand {
        argv: vec![],
        env: vec![],
    };
    let bad_env = sh("true", &[("A=B", "x")]);
    for bad in [&empty, &bad_env] {
        let err = rt
            .create_pair_session("s", dir.path(), &ok, bad)
            .unwrap_err();
        assert_eq!(err.kind, TmuxErrorKind::InvalidInput, "{err}");
    }
    assert!(!rt.has_session("s").unwrap(), "nothing half-created");
}

#[test]
fn a_single_word_command_with_a_space_in_its_path_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = dir.path().join("dir with space");
    std::fs::create_dir(&bin_dir).unwrap();
    let program = bin_dir.join("prog;");
    std::fs::write(
        &program,
        "#!/bin/sh\necho single-word-ran\nexec sleep 600\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmux = TestTmux::new();
    let rt = &tmux.runtime;
    let single = PaneCommand {
        argv: vec![program.to_str().unwrap().to_owned()],
        env: vec![],
    };
    let panes = rt
        .create_pair_session("s", dir.path(), &single, &single)
        .unwrap();
    wait_for_text(rt, &panes.worker_pane_id, "single-word-ran");
}

#[test]
fn attach_from_inside_another_tmux_nests_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let inner = TestTmux::new();
    let rt = &inner.runtime;
    rt.create_pair_session("duet-r-t1", dir.path(), &echo_lines(), &echo_lines())
        .unwrap();
    rt.set_pane_title(&rt_pane(rt, "duet-r-t1"), "t1 worker (claude): idle")
        .unwrap();

    // Outside tmux: a plain attach.
    let plain = rt.attach_command("duet-r-t1", None).unwrap();
    assert_eq!(
        plain.argv[plain.argv.len() - 3..],
        [
            "attach-session".to_owned(),
            "-t".to_owned(),
            "=duet-r-t1".to_owned()
        ]
    );
    assert_eq!(
        plain.argv[..3],
        [
            "tmux".to_owned(),
            "-L".to_owned(),
            rt.socket_name().to_owned()
        ]
    );
    assert!(plain.env_remove.is_empty());

    // Inside this same server: switch the client instead of nesting.
    let ours = format!("{},123,0", rt.socket_path().unwrap());
    let same = rt.attach_command("duet-r-t1", Some(&ours)).unwrap();
    assert_eq!(same.argv[same.argv.len() - 3], "switch-client");
    assert!(same.env_remove.is_empty());

    // Inside another tmux: TMUX removed, and the user's pane really shows the session.
    let outer = TestTmux::new();
    let probe = sh("exec sleep 600", &[]);
    let outer_panes = outer
        .runtime
        .create_pair_session("user", dir.path(), &probe, &probe)
        .unwrap();
    let tmux_env = display(
        &outer.runtime,
        &outer_panes.worker_pane_id,
        "#{socket_path},1,0",
    );
    let nested = rt.attach_command("duet-r-t1", Some(&tmux_env)).unwrap();
    assert_eq!(nested.env_remove, vec!["TMUX".to_owned()]);
    let mut argv = vec!["env".to_owned()];
    for name in &nested.env_remove {
        argv.extend(["-u".to_owned(), name.clone()]);
    }
    argv.extend(nested.argv);
    let attach = PaneCommand { argv, env: vec![] };
    let attached = outer
        .runtime
        .create_pair_session("user2", dir.path(), &attach, &probe)
        .unwrap();
    wait_for_text(
        &outer.runtime,
        &attached.worker_pane_id,
        "t1 worker (claude): idle",
    );
    wait_for_text(&outer.runtime, &attached.worker_pane_id, "[duet duet-r-t1]");
}

fn rt_pane(rt: &TmuxRuntime, session: &str) -> String {
    display(rt, &format!("={session}:"), "#{pane_id}")
}

#[test]
fn session_names_are_sanitised_for_tmux() {
    assert_eq!(
        session_name(Path::new("/src/my.repo"), "fix:bug.2"),
        "duet-my_repo-fix_bug_2"
    );
    assert_eq!(
        session_name(Path::new("/src/app"), "add-greeting"),
        "duet-app-add-greeting"
    );
    assert_eq!(session_name(Path::new("/"), "t"), "duet-repo-t");
    assert_eq!(session_name(Path::new("/a/b c"), "t_1"), "duet-b_c-t_1");
}

#[test]
fn literal_args_escape_a_trailing_separator_only() {
    assert_eq!(literal_arg("plain"), "plain");
    assert_eq!(literal_arg("a;b"), "a;b");
    assert_eq!(literal_arg("end;"), "end\\;");
    assert_eq!(literal_arg(";"), "\\;");
}

/// The pane's state once tmux has recorded how its process ended (at most 2 s after `dead`).
fn settled(rt: &duet_agents::TmuxRuntime, pane: &str, dead: PaneState) -> PaneState {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut state = dead;
    while matches!(
        state,
        PaneState::Dead {
            exit_code: None,
            signal: None
        }
    ) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        state = rt.pane_state(pane).unwrap();
    }
    state
}
