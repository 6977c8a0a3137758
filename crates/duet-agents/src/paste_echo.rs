//! Whether text pasted into an agent's TUI shows in its pane yet. claude loses an Enter that
//! comes while it still handles a bracketed paste; once the pasted text (or its
//! `[Pasted text #N +M lines]` placeholder, codex's `[Pasted Content N chars]`, for a long
//! paste) is drawn in the input box, the paste is in its input and Enter submits it. duet
//! presses Enter on that sign instead of after a fixed pause (claude and codex alike).
//!
//! The TUI wraps and indents the input box itself, so screen and text are compared with all
//! whitespace removed, on the text's last characters.

/// How many non-whitespace characters at the end of the text are looked for on the screen.
const TAIL_CHARS: usize = 48;
/// What claude 2.1.x draws instead of a long paste: `[Pasted text #N +M lines]`, N counting the
/// session's pastes.
const PLACEHOLDER: &str = "[Pasted text #";
/// What codex draws instead of a long paste: `[Pasted Content N chars]`.
const CODEX_PLACEHOLDER: &str = "[Pasted Content ";

/// What to look for on the screen after pasting a text, taken from the screen before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasteEcho {
    tail: String,
    /// Copies of the tail already on the screen (an earlier message with the same ending):
    /// the paste shows once there is one more.
    tail_before: usize,
    /// Placeholder numbers already on the screen: a new number is this paste's.
    placeholders_before: Vec<u64>,
    /// codex's placeholders already on the screen (they carry no number): one more is this
    /// paste's.
    codex_placeholders_before: usize,
}

impl PasteEcho {
    /// The sign of `text` pasted into a pane whose screen was `before`.
    pub fn new(text: &str, before: &str) -> Self {
        let squeezed = squeeze(text);
        let skip = squeezed.chars().count().saturating_sub(TAIL_CHARS);
        let tail: String = squeezed.chars().skip(skip).collect();
        let tail_before = count(&squeeze(before), &tail);
        PasteEcho {
            tail,
            tail_before,
            placeholders_before: placeholders(before),
            codex_placeholders_before: before.matches(CODEX_PLACEHOLDER).count(),
        }
    }

    /// Whether `screen` shows the pasted text (its ending, or a new placeholder).
    pub fn shows(&self, screen: &str) -> bool {
        if self.tail.is_empty() {
            return true;
        }
        count(&squeeze(screen), &self.tail) > self.tail_before
            || placeholders(screen)
                .iter()
                .any(|n| !self.placeholders_before.contains(n))
            || screen.matches(CODEX_PLACEHOLDER).count() > self.codex_placeholders_before
    }
}

/// `text` without any whitespace.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

fn count(haystack: &str, needle: &str) -> usize {
    if needle.is_empty() {
        return 0;
    }
    haystack.matches(needle).count()
}

/// The numbers of the `[Pasted text #N` placeholders on `screen`.
fn placeholders(screen: &str) -> Vec<u64> {
    screen
        .match_indices(PLACEHOLDER)
        .filter_map(|(at, _)| {
            let digits: String = screen[at + PLACEHOLDER.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_BOX: &str = "──────\n❯ \n──────\n  ⏵⏵ bypass permissions on\n";

    #[test]
    fn a_short_paste_shows_once_its_ending_is_drawn_wrapped_and_indented() {
        let text = "[duet message 7 from the reviewer]\nduet hands you this message.\n> Please \
                    rename the function to hello_world and run the tests again";
        let echo = PasteEcho::new(text, EMPTY_BOX);
        assert!(!echo.shows(EMPTY_BOX));
        // Half drawn: the first line only.
        assert!(!echo.shows("❯ [duet message 7 from the reviewer]\n──────\n"));
        // claude wraps the long last line at the box's edge and indents what follows.
        let drawn = "──────\n❯ [duet message 7 from the reviewer]\n  duet hands you this \
                     message.\n  > Please rename the function to hello_w\n  orld and run the \
                     tests again \n──────\n";
        assert!(echo.shows(drawn));
    }

    #[test]
    fn an_ending_already_on_the_screen_needs_one_more_copy() {
        let text = "[duet message 8 from duet]\nrun the tests again";
        let before = "❯ [duet message 3 from duet]\n  run the tests again\n● Done.\n❯ \n";
        let echo = PasteEcho::new(text, before);
        assert!(!echo.shows(before));
        assert!(echo.shows(&format!(
            "{before}❯ [duet message 8 from duet]\n  run the tests again\n"
        )));
    }

    #[test]
    fn a_long_paste_shows_as_a_new_placeholder() {
        let text = (0..30)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let before = "❯ [Pasted text #1 +29 lines]\n● ok\n❯ \n";
        let echo = PasteEcho::new(&text, before);
        assert!(!echo.shows(before));
        assert!(echo.shows(&format!("{before}❯ [Pasted text #2 +29 lines] \n")));
    }

    #[test]
    fn a_long_paste_into_codex_shows_as_one_more_placeholder() {
        let text = "x".repeat(2000);
        let before = "› [Pasted Content 1500 chars]\n• ok\n› \n";
        let echo = PasteEcho::new(&text, before);
        assert!(!echo.shows(before));
        assert!(echo.shows(&format!("{before}› [Pasted Content 2000 chars]\n")));
    }

    #[test]
    fn nothing_to_see_shows_at_once() {
        assert!(PasteEcho::new(" \n\t", EMPTY_BOX).shows(EMPTY_BOX));
    }

    #[test]
    fn placeholder_numbers_are_read_and_bad_ones_skipped() {
        assert_eq!(
            placeholders("[Pasted text #12 +3 lines] [Pasted text #x] [Pasted text #4"),
            vec![12, 4]
        );
    }
}
