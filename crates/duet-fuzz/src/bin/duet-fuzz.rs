//! `duet-fuzz [--cases N] [--seed S] [TARGET...]`: a long fuzz pass (what `scripts/fuzz.sh`
//! runs), one line per target with the cases tried; exit 1 when a target fails.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut cases = duet_fuzz::DEFAULT_CASES;
    let mut seed = None;
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cases" => cases = parse(args.next(), "--cases"),
            "--seed" => seed = Some(parse(args.next(), "--seed")),
            "--list" => {
                for t in duet_fuzz::TARGETS {
                    println!("{}\t{}", t.name, t.what);
                }
                return ExitCode::SUCCESS;
            }
            name => names.push(name.to_owned()),
        }
    }
    let seed = seed.unwrap_or_else(duet_fuzz::fresh_seed);
    let targets: Vec<_> = if names.is_empty() {
        duet_fuzz::TARGETS.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for name in &names {
            match duet_fuzz::target(name) {
                Some(t) => chosen.push(t),
                None => {
                    eprintln!("error: no fuzz target `{name}` (see --list)");
                    return ExitCode::from(2);
                }
            }
        }
        chosen
    };
    println!("fuzz seed {seed}, {cases} cases per target");
    let mut failed = false;
    for target in targets {
        let outcome = duet_fuzz::run(target, cases, seed);
        println!("{}", outcome.line());
        if let Some(failure) = &outcome.failure {
            eprintln!("fuzz {} FAILED: {failure}", target.name);
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn parse<T: std::str::FromStr>(value: Option<String>, flag: &str) -> T {
    match value.as_deref().map(str::parse) {
        Some(Ok(v)) => v,
        _ => {
            eprintln!("error: {flag} takes a number");
            std::process::exit(2);
        }
    }
}
