//! Helpers for the live status lines (indicatif) of `duet pair` and `duet run`.

use indicatif::MultiProgress;

/// A line for the human above the live lines, or on stderr when they are hidden (not a terminal).
pub fn say_line(multi: &MultiProgress, text: String) {
    if multi.is_hidden() {
        eprintln!("{text}");
    } else {
        let _ = multi.println(text);
    }
}
