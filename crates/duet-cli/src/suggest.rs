//! "Did you mean" suggestions for names the user mistyped.

/// The candidate most similar to `wanted`, if any is close enough to be a likely typo.
pub fn closest<'a>(wanted: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(wanted, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(closest("parsr", &["parser", "printer"]), Some("parser"));
        assert_eq!(closest("zzz", &["parser", "printer"]), None);
        assert_eq!(closest("x", &[]), None);
    }
}
