#!/usr/bin/env bash
# A fuzz pass over duet's inputs (crates/duet-fuzz): every target, CASES cases each (default
# 10000), printing "fuzz <target>: N cases, 0 failures" per target; exits 1 when one fails.
# The seed corpora are in tests/fuzz/<target>/; a failing case prints its seed to repeat it.
#
# Usage: scripts/fuzz.sh [CASES] [--seed N] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cases=10000
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  cases=$1
  shift
fi
exec cargo run --quiet -p duet-fuzz --bin duet-fuzz -- --cases "$cases" "$@"
