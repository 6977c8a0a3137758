//! The report request on the control socket (what `duet dash` shows in its report view)
//! against a real `duet run`: a finished task's answer is the very report `duet report TASK`
//! prints; a task still working, or one the backlog does not have, is refused saying why.

mod cli_socket_support;
mod common;

use std::time::Duration;

use cli_socket_support::LiveDuet;
use common::TestEnvironment;
use duet_proto::{ErrorKind, Request, RequestBody, Response, ResponseBody};

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt."
priority = 5

[[task]]
id = "parser"
title = "Write the parser"
prompt = "Write it."
"#;

fn report(duet: &LiveDuet, task: &str) -> Response {
    let client = duet_proto::Client::new(duet.socket(), Duration::from_secs(10));
    client
        .send(&Request::from_human(RequestBody::Report {
            task: task.into(),
        }))
        .unwrap()
}

#[test]
fn the_socket_answers_a_finished_tasks_report_and_refuses_one_still_working() {
    let env = TestEnvironment::default();
    let mut duet = LiveDuet::start(&env, "report", BACKLOG, "max_parallel = 1", &["run"]);
    let repo = duet.repo.clone();

    // The running task has no report yet, and the answer says why.
    match report(&duet, "greet") {
        Response::Error { error } => {
            assert_eq!(error.kind, ErrorKind::WrongState, "{error:?}");
            assert!(
                error.message.starts_with(
                    "task `greet` has no report yet: it is working; its report is built when it finishes"
                ),
                "{}",
                error.message
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // The queued task, cancelled, has finished: its report is the one `duet report` builds.
    assert_eq!(env.duet(&repo, &["cancel", "parser"]).code, 0);
    duet.wait_for(&env, "parser to be cancelled", |status| {
        status["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["id"] == "parser" && t["state"] == "cancelled")
    });
    let markdown = match report(&duet, "parser") {
        Response::Ok {
            body: ResponseBody::Report { task, markdown },
        } => {
            assert_eq!(task, "parser");
            markdown
        }
        other => panic!("expected the report, got {other:?}"),
    };
    assert!(
        markdown.starts_with("# parser: Write the parser\n\n**cancelled**"),
        "{markdown}"
    );
    let printed = env.duet(&repo, &["report", "parser"]);
    assert_eq!(printed.code, 0, "{printed:?}");
    assert_eq!(markdown, printed.stdout);

    // A task the backlog does not have.
    match report(&duet, "parsr") {
        Response::Error { error } => {
            assert_eq!(error.kind, ErrorKind::UnknownTask);
            assert_eq!(error.message, "unknown task `parsr`");
        }
        other => panic!("expected unknown task, got {other:?}"),
    }

    // The engine went on meanwhile: the running task still answers.
    assert_eq!(env.duet(&repo, &["pause", "greet"]).code, 0);
    assert_eq!(env.duet(&repo, &["stop"]).code, 0);
    duet.wait_exit();
}
