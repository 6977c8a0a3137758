//! The control socket's `subscribe`: a real unix socket, a real feed, the blocking client: the
//! catch-up, changes as they are published, a resumed subscription that misses nothing, a
//! refusal where no feed is served, and the end of the stream when the feed goes.

use std::time::Duration;

use duet_core::lifecycle::StateKind;
use duet_pair::socket::{self, StatusFeed};
use duet_proto::status::{AgentStatus, StatusSnapshot, TaskStatus};
use duet_proto::{Client, ErrorKind, Response, ResponseBody};
use tokio::sync::mpsc;

fn task(id: &str, state: StateKind) -> TaskStatus {
    serde_json::from_value(serde_json::json!({
        "id": id, "title": id, "state": state, "round": 0, "branch": format!("duet/{id}"),
        "worker": AgentStatus::idle_profile("claude", None),
        "reviewer": AgentStatus::idle_profile("codex", None),
    }))
    .unwrap()
}

fn snapshot(answer: Response) -> StatusSnapshot {
    match answer {
        Response::Ok {
            body: ResponseBody::Status { status },
        } => status,
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

fn changes(answer: Response) -> Vec<duet_proto::status::StatusChange> {
    match answer {
        Response::Ok {
            body: ResponseBody::StatusChanged { changes },
        } => changes,
        other => panic!("expected changes, got {other:?}"),
    }
}

#[test]
fn a_subscriber_gets_every_change_and_resumes_where_it_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("duet.sock");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let feed = StatusFeed::new(1_000, 16);
    feed.publish(vec![task("a", StateKind::Queued)]);
    let (tx, _rx) = mpsc::channel(4);
    {
        let _guard = runtime.enter();
        let listener = socket::bind(&path).unwrap();
        runtime.spawn(socket::serve_with_status(
            listener,
            path.clone(),
            tx,
            Some(feed.reader()),
        ));
    }
    let client = Client::new(&path, Duration::from_secs(10));

    let mut sub = client.subscribe(None).unwrap();
    let mut view = snapshot(sub.recv().unwrap());
    assert_eq!(view.tasks.len(), 1);
    assert_eq!(view.seq, 1_000 << 20 | 1);

    feed.publish(vec![
        task("a", StateKind::Working),
        task("b", StateKind::Queued),
    ]);
    let got = changes(sub.recv().unwrap());
    assert_eq!(got.len(), 2);
    got.into_iter().for_each(|c| view.apply(c));
    assert_eq!(view.tasks[0].state, StateKind::Working);
    drop(sub);

    // Changes while nobody listens come with the next subscription from the seq seen.
    feed.publish(vec![
        task("a", StateKind::NeedsHuman),
        task("b", StateKind::Queued),
    ]);
    let mut sub = client.subscribe(Some(view.seq)).unwrap();
    let missed = changes(sub.recv().unwrap());
    assert_eq!(
        missed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    missed.into_iter().for_each(|c| view.apply(c));
    assert_eq!(view.tasks, feed.snapshot().tasks);

    // The feed gone (the duet stopping): the stream ends.
    drop(feed);
    assert!(sub.recv().is_err());
}

#[test]
fn without_a_feed_subscribe_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("duet.sock");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (tx, _rx) = mpsc::channel(4);
    {
        let _guard = runtime.enter();
        let listener = socket::bind(&path).unwrap();
        runtime.spawn(socket::serve(listener, path.clone(), tx));
    }
    let client = Client::new(&path, Duration::from_secs(10));
    let mut sub = client.subscribe(Some(3)).unwrap();
    match sub.recv().unwrap() {
        Response::Error { error } => assert_eq!(error.kind, ErrorKind::Unsupported),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
