#!/usr/bin/env bash
# Benchmark of duet's CI edges: inbox result -> worker message ready, branch moved -> CommitSeen,
# and the idle CPU cost of watching 20 task worktrees. Extra arguments go to the benchmark,
# e.g. `scripts/bench-ci.sh --idle-secs 60 --rounds 50 --tasks 20`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run -q ${PROFILE:+--profile "$PROFILE"} -p duet-ci --example ci_bench -- "$@"
