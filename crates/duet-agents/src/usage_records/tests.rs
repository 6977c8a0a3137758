//! Tests of the record readers on trimmed lines of real records (claude 2.1.332, codex 0.171.0).

use super::*;

fn write(lines: &[&str]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), lines.join("\n") + "\n").unwrap();
    file
}

const CLAUDE_BLOCK_1: &str = r#"{"type":"assistant","message":{"id":"msg_1","model":"claude-opus-5-5","content":[{"type":"text","text":"Running it."}],"usage":{"input_tokens":1234,"cache_creation_input_tokens":300,"cache_read_input_tokens":7000,"output_tokens":56}}}"#;
const CLAUDE_BLOCK_2: &str = r#"{"type":"assistant","message":{"id":"msg_1","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"t","name":"Bash","input":{}}],"usage":{"input_tokens":1234,"cache_creation_input_tokens":300,"cache_read_input_tokens":7000,"output_tokens":56}}}"#;
const CLAUDE_REPLY_2: &str = r#"{"type":"assistant","message":{"id":"msg_3","model":"claude-opus-5-5","content":[{"type":"text","text":"Done."}],"usage":{"input_tokens":222,"cache_creation_input_tokens":11,"cache_read_input_tokens":8100,"output_tokens":33}}}"#;
const CLAUDE_LIMIT: &str = r#"{"type":"assistant","message":{"id":"f19a","model":"<synthetic>","content":[{"type":"text","text":"API Error: Request rejected (429) · rate_limit_error: usage limit reached"}],"usage":{"input_tokens":0,"output_tokens":0}}}"#;

#[test]
fn claude_counts_each_reply_once_though_it_has_a_line_per_block() {
    let file = write(&[
        r#"{"type":"user","message":{"role":"user","content":"hi"}}"#,
        CLAUDE_BLOCK_1,
        CLAUDE_BLOCK_2,
        CLAUDE_REPLY_2,
        "{\"type\":\"assist",
    ]);
    let record = read_claude_transcript(file.path()).unwrap();
    assert_eq!(
        record.usage["claude-opus-5-5"],
        TokenCounts {
            input: 1456,
            output: 89,
            cache_read: 15100,
            cache_write: 311
        }
    );
    assert_eq!(record.usage.len(), 1, "{record:?}");
    assert_eq!(record.limit_error, None);
}

/// A retry of a 429 that had the unified rate-limit headers, then the give-up line (claude
/// 2.1.332 with `CLAUDE_CODE_MAX_RETRIES=1`, trimmed).
const CLAUDE_RETRY: &str = r#"{"type":"system","subtype":"api_error","level":"error","error":{"message":"429 {}","status":429,"formatted":"429 This request would exceed your account's rate limit. Please try again later.","rateLimits":{"rateLimitType":"five_hour","resetsAt":1796228998}},"retryInMs":1042,"retryAttempt":1,"maxRetries":1,"source":"request_retry"}"#;
const CLAUDE_GAVE_UP: &str = r#"{"type":"assistant","message":{"id":"24ea","model":"<synthetic>","role":"assistant","content":[{"type":"text","text":"API Error: Request rejected (429) · This request would exceed your account's rate limit. Please try again later."}],"usage":{"input_tokens":0,"output_tokens":0}},"apiErrorIsTransient":false,"error":"rate_limit","isApiErrorMessage":true,"apiErrorStatus":429,"apiErrorType":"rate_limit_error"}"#;

#[test]
fn claude_limit_takes_its_reset_time_from_the_retries_rate_limits() {
    let file = write(&[CLAUDE_BLOCK_1, CLAUDE_RETRY, CLAUDE_GAVE_UP]);
    let record = read_claude_transcript(file.path()).unwrap();
    assert!(
        record
            .limit_error
            .as_deref()
            .is_some_and(|t| t.contains("(429)")),
        "{record:?}"
    );
    assert_eq!(record.limit_resets_at, Some(1_796_228_998));
    // Not retried (retry-after over a minute): the limit without a time of its own.
    let file = write(&[CLAUDE_GAVE_UP]);
    let record = read_claude_transcript(file.path()).unwrap();
    assert!(record.limit_error.is_some());
    assert_eq!(record.limit_resets_at, None);
    // A retry that then succeeded leaves no reset time for a later give-up.
    let file = write(&[CLAUDE_RETRY, CLAUDE_REPLY_2, CLAUDE_GAVE_UP]);
    assert_eq!(
        read_claude_transcript(file.path()).unwrap().limit_resets_at,
        None
    );
    // The retry written, the give-up line not yet (claude's StopFailure hook runs before it).
    let file = write(&[CLAUDE_BLOCK_1, CLAUDE_RETRY]);
    let record = read_claude_transcript(file.path()).unwrap();
    assert_eq!(
        (record.limit_error, record.limit_resets_at),
        (None, Some(1_796_228_998))
    );
    let file = write(&[CLAUDE_RETRY, CLAUDE_GAVE_UP, CLAUDE_REPLY_2]);
    let record = read_claude_transcript(file.path()).unwrap();
    assert_eq!((record.limit_error, record.limit_resets_at), (None, None));
}

#[test]
fn claude_limit_error_is_kept_until_a_later_reply() {
    let file = write(&[CLAUDE_BLOCK_1, CLAUDE_LIMIT]);
    let record = read_claude_transcript(file.path()).unwrap();
    assert!(record.limit_error.unwrap().contains("(429)"));
    assert!(!record.usage.contains_key("<synthetic>"));
    let file = write(&[CLAUDE_LIMIT, CLAUDE_REPLY_2]);
    assert_eq!(
        read_claude_transcript(file.path()).unwrap().limit_error,
        None
    );
}

const CODEX_CONTEXT: &str = r#"{"type":"turn_context","payload":{"model":"gpt-5.5-codex"}}"#;
const CODEX_RECORD_1: &str = r#"{"type":"token_usage_record","payload":{"response_id":"resp_2","usage":{"input_tokens":8234,"cached_input_tokens":7000,"cache_write_input_tokens":0,"output_tokens":56,"reasoning_output_tokens":0,"total_tokens":8290}}}"#;
const CODEX_RECORD_2: &str = r#"{"type":"token_usage_record","payload":{"response_id":"resp_5","usage":{"input_tokens":8322,"cached_input_tokens":8100,"cache_write_input_tokens":0,"output_tokens":33,"reasoning_output_tokens":0,"total_tokens":8355}}}"#;
const CODEX_TOTAL: &str = r#"{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":16556,"cached_input_tokens":15100,"output_tokens":89}}}}"#;
const CODEX_FAILED: &str = r#"{"type":"event_msg","payload":{"type":"task_complete","error":{"message":"exceeded retry limit, last status: 429 Too Many Requests","codex_error_info":{"response_too_many_failed_attempts":{"http_status_code":429}}}}}"#;

#[test]
fn codex_sums_its_per_response_records_once_each() {
    let file = write(&[
        CODEX_CONTEXT,
        CODEX_RECORD_1,
        CODEX_RECORD_2,
        CODEX_RECORD_2,
        CODEX_TOTAL,
    ]);
    let record = read_codex_rollout(file.path()).unwrap();
    let want = TokenCounts {
        input: 1456,
        output: 89,
        cache_read: 15100,
        cache_write: 0,
    };
    assert_eq!(record.usage["gpt-5.5-codex"], want);
    // Without per-response records, the thread total counts.
    let file = write(&[CODEX_CONTEXT, CODEX_TOTAL]);
    assert_eq!(
        read_codex_rollout(file.path()).unwrap().usage["gpt-5.5-codex"],
        want
    );
}

#[test]
fn codex_failed_turn_with_429_is_a_limit_error() {
    let file = write(&[CODEX_CONTEXT, CODEX_FAILED]);
    let record = read_codex_rollout(file.path()).unwrap();
    assert!(record.limit_error.unwrap().contains("429"));
    let ok =
        r#"{"type":"event_msg","payload":{"type":"task_complete","last_agent_message":"Done."}}"#;
    let file = write(&[CODEX_FAILED, ok]);
    assert_eq!(read_codex_rollout(file.path()).unwrap().limit_error, None);
}

/// codex 0.171.0 on a `usage_limit_reached` 429 with the `x-codex-primary-*` headers (trimmed).
const CODEX_LIMITS: &str = r#"{"type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"limit_id":"codex","primary":{"used_percent":100.0,"window_minutes":300,"resets_at":1796229041},"secondary":null}}}"#;
const CODEX_USAGE_LIMIT: &str = r#"{"type":"event_msg","payload":{"type":"task_complete","last_agent_message":null,"error":{"message":"You\u2019ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/usage to purchase more credits or try again at 4:30 PM.","codex_error_info":"usage_limit_exceeded"}}}"#;

#[test]
fn codex_usage_limit_takes_its_reset_time_from_the_rate_limit_snapshot() {
    let file = write(&[CODEX_CONTEXT, CODEX_LIMITS, CODEX_USAGE_LIMIT]);
    let record = read_codex_rollout(file.path()).unwrap();
    assert!(
        record
            .limit_error
            .as_deref()
            .is_some_and(|t| t.contains("try again at 4:30 PM")),
        "{record:?}"
    );
    assert_eq!(record.limit_resets_at, Some(1_796_229_041));
    // Without the headers the snapshot has no window: only the text's clock time is left.
    let file = write(&[CODEX_CONTEXT, CODEX_USAGE_LIMIT]);
    let record = read_codex_rollout(file.path()).unwrap();
    assert!(record.limit_error.is_some());
    assert_eq!(record.limit_resets_at, None);
    // A window used up while the turn succeeded is no limit error.
    let file = write(&[CODEX_CONTEXT, CODEX_LIMITS, CODEX_RECORD_1]);
    assert_eq!(
        read_codex_rollout(file.path()).unwrap().limit_resets_at,
        None
    );
}

#[test]
fn the_rollout_of_a_thread_is_found_under_the_sessions_folder() {
    let home = tempfile::tempdir().unwrap();
    let day = home.path().join("sessions/2026/12/02");
    std::fs::create_dir_all(&day).unwrap();
    let path = day.join("rollout-2026-12-02T05-53-31-01a2-b5f3.jsonl");
    std::fs::write(&path, "").unwrap();
    std::fs::write(day.join("rollout-2026-12-02T05-53-31-other.jsonl"), "").unwrap();
    assert_eq!(find_codex_rollout(home.path(), "01a2-b5f3"), Some(path));
    assert_eq!(find_codex_rollout(home.path(), "missing"), None);
}
