//! Diagnostics for duet's input files: one problem with its file, span, line:col, label and hint,
//! a deterministic plain-text renderer, JSON output, and a `miette::Diagnostic` view.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceCode};

/// How bad a problem is: errors make `duet validate` fail, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The text of one input file, shared by every diagnostic that points into it.
#[derive(Debug)]
pub struct SourceFile {
    path: PathBuf,
    named: NamedSource<String>,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Self> {
        let path = path.into();
        let named = NamedSource::new(path.display().to_string(), text.into());
        Arc::new(SourceFile { path, named })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn text(&self) -> &str {
        self.named.inner()
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let text = self.text();
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// Reads a file's bytes as its text. Invalid UTF-8 is an error pointing at the first bad
    /// byte (line and column counted in the characters before it; the excerpt shows the bad
    /// bytes as U+FFFD), since a TOML file must be UTF-8 and nothing after it can be trusted.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Arc<Self>, Diagnostic> {
        let path = path.into();
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(path, text)),
            Err(err) => {
                let utf8 = err.utf8_error();
                let at = utf8.valid_up_to();
                let bytes = err.as_bytes();
                let bad = &bytes[at..at + utf8.error_len().unwrap_or(bytes.len() - at)];
                let shown: Vec<String> = bad.iter().map(|b| format!("0x{b:02x}")).collect();
                let what = if bad.len() == 1 { "byte" } else { "bytes" };
                let message = match utf8.error_len() {
                    Some(_) => format!(
                        "file is not valid UTF-8: invalid {what} {}",
                        shown.join(" ")
                    ),
                    None => format!(
                        "file is not valid UTF-8: it ends inside a character ({})",
                        shown.join(" ")
                    ),
                };
                let text = String::from_utf8_lossy(bytes).into_owned();
                let file = SourceFile::new(path, text);
                // In the lossy text the prefix is unchanged and U+FFFD (3 bytes) stands at `at`.
                Err(Diagnostic::error(message)
                    .at(&file, Some(at..at + '\u{FFFD}'.len_utf8()))
                    .with_label("not UTF-8")
                    .with_hint("duet reads its files as UTF-8: save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"))
            }
        }
    }

    /// [`SourceFile::from_bytes`] for callers that want the text (`from_toml_str`).
    pub fn decode(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<String, Diagnostics> {
        match Self::from_bytes(path, bytes) {
            Ok(file) => Ok(file.text().to_owned()),
            Err(d) => Err(Diagnostics(vec![d])),
        }
    }

    /// The full text of the 1-based line `line`, without its line ending.
    fn line_text(&self, line: usize) -> &str {
        let text = self.text().lines().nth(line - 1).unwrap_or("");
        text.strip_suffix('\r').unwrap_or(text)
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// One problem found in an input file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// The file the problem is in; `None` for problems that belong to no file
    /// (for example a built-in default that does not fit the repository).
    pub file: Option<Arc<SourceFile>>,
    /// Byte range in the file; `None` when the problem concerns the file as a whole.
    pub span: Option<Range<usize>>,
    /// Short text printed under the caret.
    pub label: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            file: None,
            span: None,
            label: None,
            hint: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    pub fn in_file(mut self, file: &Arc<SourceFile>) -> Self {
        self.file = Some(Arc::clone(file));
        self
    }

    pub fn at(mut self, file: &Arc<SourceFile>, span: Option<Range<usize>>) -> Self {
        self.file = Some(Arc::clone(file));
        self.span = span;
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 1-based line and column (in characters) where the problem starts.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let file = self.file.as_ref()?;
        let span = self.span.as_ref()?;
        Some(file.line_col(span.start))
    }

    /// `file:line:col` (or just `file`), as printed in both renderings.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        Some(match self.line_col() {
            Some((line, col)) => format!("{}:{line}:{col}", file.path().display()),
            None => file.path().display().to_string(),
        })
    }

    /// One line: `duet.toml:3:1: error: unknown key ...`.
    pub fn render_short(&self) -> String {
        match self.location() {
            Some(location) => format!("{location}: {}: {}", self.severity.as_str(), self.message),
            None => format!("{}: {}", self.severity.as_str(), self.message),
        }
    }

    /// The rustc-like block with the source line, a caret under the span, the label and the hint.
    pub fn render_plain(&self) -> String {
        let mut out = format!("{}: {}\n", self.severity.as_str(), self.message);
        let excerpt = self
            .line_col()
            .zip(self.file.as_ref())
            .zip(self.span.as_ref());
        let gutter = excerpt.map_or(1, |(((line, _), _), _)| line.to_string().len());
        let pad = " ".repeat(gutter);
        if let Some(location) = self.location() {
            out.push_str(&format!("{pad}--> {location}\n"));
        }
        if let Some((((line, col), file), span)) = excerpt {
            // Tabs are shown as one space so the caret column matches the character column.
            let text = file.line_text(line).replace('\t', " ");
            let line_chars = text.chars().count();
            let span_text = file.text().get(span.start..span.end).unwrap_or("");
            let span_chars = span_text.split('\n').next().unwrap_or("").chars().count();
            let width = span_chars.min(line_chars.saturating_sub(col - 1)).max(1);
            out.push_str(&format!("{pad} |\n"));
            out.push_str(format!("{line} | {text}").trim_end());
            out.push('\n');
            let carets = format!("{}{}", " ".repeat(col - 1), "^".repeat(width));
            match &self.label {
                Some(label) => out.push_str(&format!("{pad} | {carets} {label}\n")),
                None => out.push_str(&format!("{pad} | {carets}\n")),
            }
        } else if let Some(label) = &self.label {
            out.push_str(&format!("{pad} = note: {label}\n"));
        }
        if let Some(hint) = &self.hint {
            if excerpt.is_some() {
                out.push_str(&format!("{pad} |\n"));
            }
            out.push_str(&format!("{pad} = hint: {hint}\n"));
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        let (line, column) = self.line_col().unzip();
        serde_json::json!({
            "severity": self.severity.as_str(),
            "message": self.message,
            "file": self.file.as_ref().map(|f| f.path().display().to_string()),
            "line": line,
            "column": column,
            "span": self.span.as_ref().map(|s| [s.start, s.end]),
            "label": self.label,
            "hint": self.hint,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Warning => miette::Severity::Warning,
            Severity::Error => miette::Severity::Error,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.hint
            .as_ref()
            .map(|hint| Box::new(hint) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.file
            .as_ref()
            .map(|file| &file.named as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span.clone()?;
        let label = LabeledSpan::new_primary_with_span(self.label.clone(), span);
        Some(Box::new(std::iter::once(label)))
    }
}

/// Every problem found, in the order found. An `Err(Diagnostics)` never holds zero errors.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warning_count(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.0.iter().filter(|d| d.severity == severity).count()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// All blocks, separated by blank lines.
    pub fn render_plain(&self) -> String {
        let blocks: Vec<String> = self.0.iter().map(Diagnostic::render_plain).collect();
        blocks.join("\n")
    }

    /// One line per problem.
    pub fn render_short(&self) -> String {
        self.0.iter().map(|d| d.render_short() + "\n").collect()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.0.iter().map(Diagnostic::to_json).collect())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.error_count();
        write!(f, "{errors} error{}", if errors == 1 { "" } else { "s" })?;
        if let Some(first) = self.0.first() {
            write!(f, ", first: {}", first.render_short())?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl miette::Diagnostic for Diagnostics {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        Some(Box::new(
            self.0.iter().map(|d| d as &dyn miette::Diagnostic),
        ))
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(diagnostics: Vec<Diagnostic>) -> Self {
        Diagnostics(diagnostics)
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The closest candidate to `word` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let file = SourceFile::new("x.toml", "a = 1\nÿé = 2\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(6), (2, 1));
        // 'ÿ' and 'é' are two bytes each: byte 10 is the third character.
        assert_eq!(file.line_col(10), (2, 3));
    }

    #[test]
    fn plain_rendering_has_location_excerpt_caret_and_hint() {
        let file = SourceFile::new("duet.toml", "base_branch = \"main\"\nmax_paralel = 4\n");
        let d = Diagnostic::error("unknown key `max_paralel`")
            .at(&file, Some(21..32))
            .with_label("unknown key")
            .with_hint("did you mean `max_parallel`?");
        let expected = "\
error: unknown key `max_paralel`
 --> duet.toml:2:1
  |
2 | max_paralel = 4
  | ^^^^^^^^^^^ unknown key
  |
  = hint: did you mean `max_parallel`?
";
        assert_eq!(d.render_plain(), expected);
        assert_eq!(
            d.render_short(),
            "duet.toml:2:1: error: unknown key `max_paralel`"
        );
    }

    #[test]
    fn invalid_utf8_is_reported_at_the_first_bad_byte() {
        let bytes = b"a = 1\nb = \"\xc3\xa9\xff\xfe\"\n".to_vec();
        let d = SourceFile::from_bytes("x.toml", bytes).unwrap_err();
        // Line 2: `b = "` is 5 characters, `é` the sixth; 0xff is the seventh.
        assert_eq!(d.location().as_deref(), Some("x.toml:2:7"));
        assert_eq!(d.message, "file is not valid UTF-8: invalid byte 0xff");
        let d = SourceFile::from_bytes("x.toml", b"a = \"\xe2\x82".to_vec()).unwrap_err();
        assert_eq!(d.location().as_deref(), Some("x.toml:1:6"));
        assert!(
            d.message.contains("ends inside a character (0xe2 0x82)"),
            "{}",
            d.message
        );
        assert_eq!(
            SourceFile::from_bytes("x.toml", b"ok".to_vec())
                .unwrap()
                .text(),
            "ok"
        );
    }

    #[test]
    fn did_you_mean_finds_close_names_only() {
        let names = ["max_parallel", "base_branch", "backlog"];
        assert_eq!(did_you_mean("max_paralel", names), Some("max_parallel"));
        assert_eq!(did_you_mean("zzz", names), None);
    }
}
