//! Fuzzing of duet's inputs on the stable toolchain: each [`Target`] is a proptest property over
//! arbitrary inputs, structured inputs with a known answer, and mutations (byte flips,
//! truncation, splicing, ...) of a seed corpus kept in the repository (`tests/fuzz/<target>/`).
//! The property is the same everywhere: no panic, no hang (inputs are bounded and each case is
//! timed), and invalid input gets an error with a clear message (for files: where).
//!
//! `tests/fuzz.rs` runs every target with a short case count in the normal test pass;
//! `scripts/fuzz.sh [CASES]` runs the `duet-fuzz` binary for a long pass and prints the cases
//! tried per target.

pub mod mutate;
mod targets;

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// The largest input a case builds (mutations stop growing there), so a decode always ends.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// A case that takes longer than this is a hang: the target fails. Generous: the slowest real
/// cases (1 MiB frames, debug build) take a few hundred ms, several seconds on a loaded machine.
pub const CASE_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Default cases per target in the normal test pass (`DUET_FUZZ_CASES` overrides).
pub const DEFAULT_CASES: u32 = 256;

/// One fuzz target: its name (also its corpus folder) and its property.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub what: &'static str,
    run: fn(&mut Runner) -> Result<(), String>,
}

/// Every target, in the order they are run.
pub const TARGETS: &[Target] = &[
    Target {
        name: "backlog",
        what: "backlog.toml parsing and validation",
        run: targets::files::backlog,
    },
    Target {
        name: "config",
        what: "duet.toml parsing and validation",
        run: targets::files::config,
    },
    Target {
        name: "frame",
        what: "socket frame decoding and the request / response types",
        run: targets::proto::frame,
    },
    Target {
        name: "requests",
        what: "request sequences into a pair controller",
        run: targets::proto::requests,
    },
    Target {
        name: "tool_args",
        what: "the bridge's tool arguments",
        run: targets::agents::tool_args,
    },
    Target {
        name: "hook",
        what: "claude hook and codex notify payloads",
        run: targets::agents::hook,
    },
];

/// How a target's run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub target: &'static str,
    /// Cases that passed (the run stops at the first failure).
    pub cases: u64,
    /// The slowest case.
    pub slowest: Duration,
    /// The failing input (shrunk) and why, if any.
    pub failure: Option<String>,
}

impl Outcome {
    /// `fuzz backlog: 256 cases, 0 failures (slowest 3 ms)`.
    pub fn line(&self) -> String {
        format!(
            "fuzz {}: {} cases, {} failures (slowest {} ms)",
            self.target,
            self.cases,
            u8::from(self.failure.is_some()),
            self.slowest.as_millis()
        )
    }
}

/// Runs `target` for `cases` cases from `seed`.
pub fn run(target: &Target, cases: u32, seed: u64) -> Outcome {
    let mut runner = Runner::new(cases, seed);
    let failure = (target.run)(&mut runner).err();
    Outcome {
        target: target.name,
        cases: runner.passed.load(Ordering::Relaxed),
        slowest: Duration::from_nanos(runner.slowest.load(Ordering::Relaxed)),
        failure: failure.map(|f| {
            format!(
                "{f}\n(seed {seed}; run `scripts/fuzz.sh {cases} --seed {seed} {}` to repeat)",
                target.name
            )
        }),
    }
}

pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The proptest runner a target drives, counting passed cases and timing each.
#[derive(Debug)]
pub struct Runner {
    inner: TestRunner,
    passed: AtomicU64,
    slowest: AtomicU64,
}

impl Runner {
    fn new(cases: u32, seed: u64) -> Self {
        let config = Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 2048,
            ..Config::default()
        };
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
        Runner {
            inner: TestRunner::new_with_rng(config, rng),
            passed: AtomicU64::new(0),
            slowest: AtomicU64::new(0),
        }
    }

    /// Checks `property` on values of `strategy`; a failure is reported with its shrunk input.
    pub fn check<S>(
        &mut self,
        strategy: S,
        property: impl Fn(S::Value) -> Result<(), TestCaseError>,
    ) -> Result<(), String>
    where
        S: Strategy,
        S::Value: Debug,
    {
        let (passed, slowest) = (&self.passed, &self.slowest);
        let result = self.inner.run(&strategy, |value| {
            let started = Instant::now();
            let result = property(value);
            let took = started.elapsed();
            slowest.fetch_max(
                u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            result?;
            if took > CASE_TIME_LIMIT {
                return Err(TestCaseError::fail(format!(
                    "one case took {} ms (a hang: the limit is {} ms)",
                    took.as_millis(),
                    CASE_TIME_LIMIT.as_millis()
                )));
            }
            passed.fetch_add(1, Ordering::Relaxed);
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TestError::Fail(why, input)) => Err(format!("{why}\ninput: {input:#?}")),
            Err(TestError::Abort(why)) => Err(format!("aborted: {why}")),
        }
    }
}

/// Where the seed corpora live: `tests/fuzz/` of the checkout.
pub fn corpus_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fuzz"))
}

/// A seed from the clock, for runs that should not repeat themselves.
pub fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}
