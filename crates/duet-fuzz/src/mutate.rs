//! The seed corpus and its mutations: byte flips and overwrites, inserted tokens that matter to
//! TOML and JSON, deletions, truncation, duplication and splicing two corpus inputs together.

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::MAX_INPUT_BYTES;

/// Every file of `tests/fuzz/<target>/`, sorted by name. Panics when there is none: a target
/// without a corpus mutates nothing.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = crate::corpus_root().join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("failed to read the corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus {} is empty", dir.display());
    files.iter().map(|p| read(p)).collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()))
}

/// Tokens that change how TOML or JSON is read (quotes, brackets, escapes, deep nesting,
/// numbers at the edges, bytes that are not UTF-8).
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"'",
    b"'''",
    b"\"\"\"",
    b"\\",
    b"\\u",
    b"\\uD800",
    b"\\U0010FFFF",
    b"[",
    b"]",
    b"[[",
    b"]]",
    b"[[task]]\n",
    b"{",
    b"}",
    b"=",
    b".",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b"\r",
    b"\t",
    b"#",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xef\xbb\xbf",
    b"-1",
    b"0",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"1e309",
    b"nan",
    b"inf",
    b"true",
    b"null",
    b"1979-05-27T07:32:00Z",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":",
    b"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p = 1\n",
];

/// One edit of an input; positions are fractions of its length, so they fit any input.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    InsertToken(Index, Index),
    InsertBytes(Index, Vec<u8>),
    Delete(Index, u8),
    Truncate(Index),
    /// Repeat a slice of the input (grows nesting and lists).
    Duplicate(Index, u8, u8),
    /// Replace the tail from here with the tail of another corpus input from there.
    Splice(Index, Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        1 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::InsertBytes(i, b)),
        2 => (any::<Index>(), 1u8..32).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1u8..64, 1u8..16).prop_map(|(i, n, k)| Mutation::Duplicate(i, n, k)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(i, o, j)| Mutation::Splice(i, o, j)),
    ]
}

/// Applies `edits` to `input` (never past [`MAX_INPUT_BYTES`]).
pub fn apply(input: &[u8], corpus: &[Vec<u8>], edits: &[Mutation]) -> Vec<u8> {
    let mut out = input.to_vec();
    for edit in edits {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match edit {
            Mutation::FlipBit(i, bit) if !out.is_empty() => {
                let p = i.index(out.len());
                out[p] ^= 1 << bit;
            }
            Mutation::SetByte(i, b) if !out.is_empty() => {
                let p = i.index(out.len());
                out[p] = *b;
            }
            Mutation::InsertToken(i, t) => {
                let p = at(i, out.len());
                let token = TOKENS[t.index(TOKENS.len())];
                out.splice(p..p, token.iter().copied());
            }
            Mutation::InsertBytes(i, bytes) => {
                let p = at(i, out.len());
                out.splice(p..p, bytes.iter().copied());
            }
            Mutation::Delete(i, n) if !out.is_empty() => {
                let p = i.index(out.len());
                let end = (p + usize::from(*n)).min(out.len());
                out.drain(p..end);
            }
            Mutation::Truncate(i) => {
                let p = at(i, out.len());
                out.truncate(p);
            }
            Mutation::Duplicate(i, n, k) if !out.is_empty() => {
                let p = i.index(out.len());
                let end = (p + usize::from(*n)).min(out.len());
                let piece = out[p..end].to_vec();
                for _ in 0..*k {
                    out.splice(end..end, piece.iter().copied());
                }
            }
            Mutation::Splice(i, other, j) => {
                let other = &corpus[other.index(corpus.len())];
                let p = at(i, out.len());
                let q = at(j, other.len()).min(other.len());
                out.truncate(p);
                out.extend_from_slice(&other[q..]);
            }
            _ => {}
        }
        out.truncate(MAX_INPUT_BYTES);
    }
    out
}

/// A corpus input with one to six mutations.
pub fn mutated(corpus: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = corpus.len();
    (0..n, vec(mutation(), 1..6))
        .prop_map(move |(pick, edits)| apply(&corpus[pick], &corpus, &edits))
}

/// Bytes that show as text when a failing case is printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

/// Raw bytes: a fifth anything, the rest mutated corpus inputs (where the bugs are: close to
/// valid), plus the corpus itself unchanged now and then.
pub fn bytes_for(target: &str) -> impl Strategy<Value = Bytes> {
    let corpus = corpus(target);
    let n = corpus.len();
    let seeds = corpus.clone();
    prop_oneof![
        1 => (0..n).prop_map(move |i| seeds[i].clone()),
        2 => vec(any::<u8>(), 0..512),
        7 => mutated(corpus),
    ]
    .prop_map(Bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn mutations_change_inputs_and_stay_bounded() {
        let corpus = vec![
            b"[[task]]\nid = \"a\"\nprompt = \"p\"\n".to_vec(),
            b"{}".to_vec(),
        ];
        let mut runner = TestRunner::deterministic();
        let strategy = mutated(corpus.clone());
        let mut changed = 0;
        for _ in 0..200 {
            let value = strategy.new_tree(&mut runner).unwrap().current();
            assert!(value.len() <= MAX_INPUT_BYTES);
            changed += usize::from(!corpus.contains(&value));
        }
        assert!(changed > 150, "only {changed} of 200 mutated");
    }
}
