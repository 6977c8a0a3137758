//! Every fuzz target with a short case count, in the normal test pass (`DUET_FUZZ_CASES`,
//! `DUET_FUZZ_SEED` override; the long pass is `scripts/fuzz.sh`).

fn fuzz(name: &str) {
    let cases = std::env::var("DUET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(duet_fuzz::DEFAULT_CASES);
    let seed = std::env::var("DUET_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(duet_fuzz::fresh_seed);
    let target = duet_fuzz::target(name).expect("a known target");
    let outcome = duet_fuzz::run(target, cases, seed);
    println!("{}", outcome.line());
    if let Some(failure) = outcome.failure {
        panic!("fuzz {name} failed: {failure}");
    }
    assert_eq!(outcome.cases, u64::from(cases), "every case ran");
}

#[test]
fn backlog() {
    fuzz("backlog");
}

#[test]
fn config() {
    fuzz("config");
}

#[test]
fn frame() {
    fuzz("frame");
}

#[test]
fn requests() {
    fuzz("requests");
}

#[test]
fn tool_args() {
    fuzz("tool_args");
}

#[test]
fn hook() {
    fuzz("hook");
}

#[test]
fn every_target_has_a_test_and_a_corpus() {
    let names: Vec<&str> = duet_fuzz::TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "backlog",
            "config",
            "frame",
            "requests",
            "tool_args",
            "hook"
        ]
    );
    for name in names.iter().filter(|n| **n != "requests") {
        assert!(
            duet_fuzz::mutate::corpus(name).len() >= 4,
            "{name}: a handful of seeds"
        );
    }
}
