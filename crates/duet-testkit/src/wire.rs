//! Wire helpers shared by both fake APIs: SSE event framing, unique ids, text chunking, the
//! token usage a reply reports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` line.
    pub name: String,
    /// The `data:` line, as JSON.
    pub data: serde_json::Value,
}

impl SseEvent {
    /// Builds an event whose `data` gets `"type": name` first, as both APIs do.
    pub fn typed(name: &str, fields: serde_json::Value) -> Self {
        let mut data = serde_json::Map::new();
        data.insert("type".into(), name.into());
        if let serde_json::Value::Object(rest) = fields {
            data.extend(rest);
        }
        SseEvent {
            name: name.to_owned(),
            data: serde_json::Value::Object(data),
        }
    }

    /// `event: NAME\ndata: JSON\n\n`.
    pub fn to_wire(&self) -> String {
        format!("event: {}\ndata: {}\n\n", self.name, self.data)
    }
}

/// A process-unique id such as `msg_fake3f2a_17`.
pub fn fresh_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_fake{:x}_{n}", process_tag())
}

fn process_tag() -> u32 {
    static TAG: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *TAG.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        std::process::id() ^ nanos
    })
}

/// Seconds since the epoch, for `created_at` fields.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Splits `text` into pieces of at most `max_chars` characters (at least one piece, so an
/// empty text still yields one empty delta).
pub fn chunk_text(text: &str, max_chars: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars
        .chunks(max_chars.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

/// The token usage one reply reports (and the request log records as served). A script can set
/// it (`reply.usage = { input = 1200, output = 80, cache_read = 300, cache_creation = 40 }`);
/// otherwise input and output are rough counts of the request and reply sizes, caches 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Input tokens not read from the cache (Anthropic `input_tokens`; for OpenAI the
    /// reported `input_tokens` is this plus `cache_read`, as the API counts cached ones in).
    #[serde(default)]
    pub input: u64,
    /// Output tokens.
    #[serde(default)]
    pub output: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read: u64,
    /// Input tokens written to the prompt cache (Anthropic only; OpenAI has no such field).
    #[serde(default)]
    pub cache_creation: u64,
}

impl Usage {
    /// The scripted usage, or rough counts from the request and reply sizes.
    pub fn scripted_or_rough(
        scripted: Option<&Usage>,
        request_bytes: usize,
        output_bytes: usize,
    ) -> Usage {
        scripted.copied().unwrap_or(Usage {
            input: rough_tokens(request_bytes),
            output: rough_tokens(output_bytes),
            cache_read: 0,
            cache_creation: 0,
        })
    }

    /// Adds another reply's usage.
    pub fn add(&mut self, other: &Usage) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_creation += other.cache_creation;
    }
}

/// A rough token count (4 bytes a token), so usage fields look plausible.
pub fn rough_tokens(bytes: usize) -> u64 {
    (bytes / 4).max(1) as u64
}

/// Parses an SSE body strictly as the fake servers write it: every event exactly
/// `event: NAME\ndata: JSON\n\n`. Errors name the event number and what was wrong.
pub fn parse_sse(body: &str) -> Result<Vec<SseEvent>, String> {
    let mut events = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = events.len();
        let (frame, after) = rest
            .split_once("\n\n")
            .ok_or_else(|| format!("event {n}: not terminated by a blank line: {rest:?}"))?;
        let (event_line, data_line) = frame
            .split_once('\n')
            .ok_or_else(|| format!("event {n}: wants two lines, got {frame:?}"))?;
        let name = event_line
            .strip_prefix("event: ")
            .ok_or_else(|| format!("event {n}: first line is not `event: NAME`: {event_line:?}"))?;
        let data = data_line
            .strip_prefix("data: ")
            .ok_or_else(|| format!("event {n}: second line is not `data: JSON`: {data_line:?}"))?;
        let data = serde_json::from_str(data)
            .map_err(|e| format!("event {n} ({name}): data is not JSON: {e}"))?;
        events.push(SseEvent {
            name: name.to_owned(),
            data,
        });
        rest = after;
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_event_is_framed_exactly() {
        let e = SseEvent::typed("ping", serde_json::json!({}));
        assert_eq!(e.to_wire(), "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    }

    #[test]
    fn chunks_rejoin_to_the_text_and_respect_the_limit() {
        let text = "héllo wörld, a longer sentence";
        let chunks = chunk_text(text, 7);
        assert_eq!(chunks.concat(), text);
        assert!(chunks.iter().all(|c| c.chars().count() <= 7));
        assert_eq!(chunk_text("", 7), vec![String::new()]);
    }

    #[test]
    fn parse_sse_round_trips_and_rejects_bad_framing() {
        let events = vec![
            SseEvent::typed("a", serde_json::json!({"x": 1})),
            SseEvent::typed("b", serde_json::json!({})),
        ];
        let wire: String = events.iter().map(SseEvent::to_wire).collect();
        assert_eq!(parse_sse(&wire).unwrap(), events);
        assert!(parse_sse("event: a\ndata: {}\n").is_err());
        assert!(parse_sse("data: {}\n\n").is_err());
        assert!(parse_sse("event: a\ndata: nope\n\n").is_err());
    }

    #[test]
    fn ids_are_unique() {
        assert_ne!(fresh_id("msg"), fresh_id("msg"));
    }
}
