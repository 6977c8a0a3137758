//! Test helper: appends batches of events to a state database forever, printing
//! `committed <batch> <first-seq> <last-seq>` after each commit, so that a test can SIGKILL it at
//! a known point and check what survived. Resumes at the next batch after a restart.
//!
//! Usage: duet-store-writer <db-path> <notes-per-batch> <note-bytes>

use std::io::Write;
use std::process::ExitCode;

use duet_core::lifecycle::StateKind;
use duet_store::{Event, NewEvent, Store};

/// The note text the writer puts at position `index` of batch `batch`; tests recompute it.
fn note_text(batch: usize, index: usize, bytes: usize) -> String {
    let mut text = format!("batch {batch} note {index} ");
    let fill = char::from(b'a' + u8::try_from(batch.wrapping_add(index) % 26).unwrap_or(0));
    while text.len() < bytes {
        text.push(fill);
    }
    text
}

fn batch_events(batch: usize, notes: usize, note_bytes: usize) -> Vec<NewEvent> {
    let task = format!("t{batch:05}");
    let at = i64::try_from(batch).unwrap_or(i64::MAX);
    let ev = |event| NewEvent::for_task(at, task.clone(), event);
    let message = format!("m{batch:05}");
    let mut events = vec![
        ev(Event::TaskQueued {
            title: Some(format!("task {batch}")),
        }),
        ev(Event::TaskStateChanged {
            from: StateKind::Queued,
            to: StateKind::Preparing,
            reason: None,
        }),
        ev(Event::MessageAccepted {
            id: message.clone(),
            from: "worker".into(),
            to: "reviewer".into(),
            text: format!("hello from batch {batch}"),
        }),
        ev(Event::MessageDelivered { id: message }),
    ];
    events.extend((0..notes).map(|index| {
        ev(Event::Note {
            text: note_text(batch, index, note_bytes),
        })
    }));
    events.push(ev(Event::TaskStateChanged {
        from: StateKind::Preparing,
        to: StateKind::Working,
        reason: Some(format!("batch {batch} complete")),
    }));
    events
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, notes, note_bytes] = args.as_slice() else {
        return Err("usage: duet-store-writer <db-path> <notes-per-batch> <note-bytes>".into());
    };
    let notes: usize = notes.parse().map_err(|e| format!("notes-per-batch: {e}"))?;
    let note_bytes: usize = note_bytes.parse().map_err(|e| format!("note-bytes: {e}"))?;
    let mut store = Store::open(path).map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout().lock();
    let mut batch = store.task_states().map_err(|e| e.to_string())?.len();
    loop {
        let events = batch_events(batch, notes, note_bytes);
        writeln!(stdout, "begin {batch}").map_err(|e| e.to_string())?;
        stdout.flush().map_err(|e| e.to_string())?;
        let seqs = store.append_batch(&events).map_err(|e| e.to_string())?;
        writeln!(
            stdout,
            "committed {batch} {} {}",
            seqs[0],
            seqs[seqs.len() - 1]
        )
        .map_err(|e| e.to_string())?;
        stdout.flush().map_err(|e| e.to_string())?;
        batch += 1;
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("duet-store-writer: {message}");
            ExitCode::FAILURE
        }
    }
}
