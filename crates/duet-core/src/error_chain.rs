//! Turning an error and its chain of sources into one line for a user.

/// Renders an error and its chain of sources as "outer: inner: innermost", leaving out a cause
/// whose text the outer message already contains.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
