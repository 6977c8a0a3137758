//! The smallest WebSocket client (RFC 6455) that `codex app-server --listen unix://PATH` needs:
//! codex speaks WebSocket on its unix socket too, one JSON-RPC message per text frame.
//!
//! Written here instead of pulling a WebSocket crate because only a client over a private unix
//! socket is needed: the handshake's accept key is not checked (the peer is the process we
//! started, reached through a 0700 folder) and masking keys need no strong randomness (masking
//! guards proxies, and there is none on a unix socket).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};

/// What one read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole text (or binary) message, fragments joined.
    Text(String),
    /// The peer pings: answer with [`WsWriter::pong`].
    Ping(Vec<u8>),
    /// The peer closed the connection.
    Close,
}

/// The reading half.
#[derive(Debug)]
pub struct WsReader {
    stream: BufReader<UnixStream>,
}

/// The writing half.
#[derive(Debug)]
pub struct WsWriter {
    stream: UnixStream,
}

/// Connects and upgrades: `GET /` with the WebSocket headers, expects `101`.
pub fn connect(stream: UnixStream) -> io::Result<(WsReader, WsWriter)> {
    let mut writer = stream.try_clone()?;
    let key = "ZHVldC1hcHAtc2VydmVyLWs="; // any 16 bytes, base64; see the module docs
    write!(
        writer,
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    writer.flush()?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    if !status.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!(
            "the app-server refused the WebSocket upgrade: {}",
            status.trim()
        )));
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if header == "\r\n" {
            break;
        }
    }
    Ok((WsReader { stream: reader }, WsWriter { stream: writer }))
}

impl WsReader {
    /// The next message, ping or close. Fragments are joined; pongs are skipped.
    pub fn read(&mut self) -> io::Result<Frame> {
        let mut message = Vec::new();
        loop {
            let (fin, opcode, payload) = read_frame(&mut self.stream)?;
            match opcode {
                0x0..=0x2 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return String::from_utf8(message)
                            .map(Frame::Text)
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
                0x8 => return Ok(Frame::Close),
                0x9 => return Ok(Frame::Ping(payload)),
                _ => {} // pong or reserved: nothing to do
            }
        }
    }
}

impl WsWriter {
    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send(0x1, text.as_bytes())
    }

    pub fn pong(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send(0xA, payload)
    }

    /// Ends the connection both ways (the reading half then sees the end).
    pub fn shutdown(&self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Both)
    }

    fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let frame = encode_frame(opcode, payload, mask_key());
        self.stream.write_all(&frame)?;
        self.stream.flush()
    }
}

/// A client frame: FIN set, masked (clients must mask).
pub fn encode_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads one frame: (fin, opcode, unmasked payload).
pub fn read_frame(reader: &mut impl Read) -> io::Result<(bool, u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head)?;
    let fin = head[0] & 0x80 != 0;
    let opcode = head[0] & 0x0F;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            reader.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            reader.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    // codex announces 16 MiB as its largest message; refuse anything far beyond that.
    if len > 64 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a WebSocket frame of {len} bytes"),
        ));
    }
    let mut mask = [0u8; 4];
    if masked {
        reader.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload)?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((fin, opcode, payload))
}

fn mask_key() -> [u8; 4] {
    static COUNTER: AtomicU32 = AtomicU32::new(0x9E37_79B9);
    COUNTER
        .fetch_add(0x6D2B_79F5, Ordering::Relaxed)
        .to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_frame_reads_back_as_its_payload() {
        for len in [0usize, 5, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let frame = encode_frame(0x1, &payload, [1, 2, 3, 4]);
            let (fin, opcode, read) = read_frame(&mut frame.as_slice()).unwrap();
            assert!(fin);
            assert_eq!(opcode, 0x1);
            assert_eq!(read, payload, "length {len}");
        }
    }

    #[test]
    fn server_fragments_are_joined_and_pings_surface() {
        // Unmasked server frames: "hel" (text, not fin), "lo" (continuation, fin), ping "p".
        let mut bytes = vec![0x01, 3];
        bytes.extend_from_slice(b"hel");
        bytes.extend_from_slice(&[0x80, 2]);
        bytes.extend_from_slice(b"lo");
        bytes.extend_from_slice(&[0x89, 1, b'p', 0x88, 0]);
        let (a, b) = UnixStream::pair().unwrap();
        let mut writer = a;
        writer.write_all(&bytes).unwrap();
        let mut reader = WsReader {
            stream: BufReader::new(b),
        };
        assert_eq!(reader.read().unwrap(), Frame::Text("hello".to_owned()));
        assert_eq!(reader.read().unwrap(), Frame::Ping(b"p".to_vec()));
        assert_eq!(reader.read().unwrap(), Frame::Close);
    }
}
