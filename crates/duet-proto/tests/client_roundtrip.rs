//! The blocking client against a real unix socket served by a thread.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use duet_proto::{
    Client, ClientErrorKind, Request, RequestBody, Response, ResponseBody, decode_line,
    encode_line, read_frame,
};

#[test]
fn client_sends_one_request_and_reads_one_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("duet.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let request: Request = decode_line(&read_frame(&mut reader).unwrap()).unwrap();
        let mut stream = stream;
        stream
            .write_all(&encode_line(&Response::ok(ResponseBody::Ack)))
            .unwrap();
        request
    });
    let client = Client::new(&path, Duration::from_secs(5));
    let sent = Request::from_agent("tok", RequestBody::ProcessStarted { pid: 42 });
    assert_eq!(client.send(&sent).unwrap(), Response::ok(ResponseBody::Ack));
    assert_eq!(server.join().unwrap(), sent);
}

#[test]
fn no_listener_is_a_connect_error_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.sock");
    let err = Client::new(&path, Duration::from_secs(1))
        .send(&Request::from_human(RequestBody::Status { task: None }))
        .unwrap_err();
    assert_eq!(err.kind, ClientErrorKind::Connect);
    assert!(err.to_string().contains("missing.sock"), "{err}");
}

#[test]
fn a_silent_server_times_out_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (_stream, _) = listener.accept().unwrap();
        // Hold the connection open without answering until the client gave up.
        rx.recv().ok();
    });
    let err = Client::new(&path, Duration::from_millis(200))
        .send(&Request::from_human(RequestBody::Status { task: None }))
        .unwrap_err();
    assert_eq!(err.kind, ClientErrorKind::Exchange);
    tx.send(()).unwrap();
    server.join().unwrap();
}
