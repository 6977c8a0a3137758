#!/usr/bin/env bash
# Every benchmark of the workspace once in smoke mode (DUET_BENCH_SMOKE=1: the dev build, few
# iterations, small sizes), so that none can rot: each still checks that what it measured
# happened (messages arrived and were counted, rows read back, checkouts equal) and this script
# fails when one fails. .ci/run runs it after the tests. Needs tmux, git, jq and python3; the
# `idle` part runs the pinned agent CLIs (scripts/install-agents.sh).
#
# Usage: scripts/bench-smoke.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DUET_BENCH_SMOKE=1

step() {
  local started=$SECONDS
  echo "== bench smoke: $*" >&2
  "$@"
  echo "== ok in $((SECONDS - started)) s: $*" >&2
}

# The fuzz targets, a short pass (the cases tried per target are printed).
step bash scripts/fuzz.sh 1000
step cargo bench --quiet --profile dev -p duet-store --bench store_bench
step cargo bench --quiet --profile dev -p duet-core --bench backlog_scale
step cargo bench --quiet --profile dev -p duet-daemon --bench status_store
step cargo bench --quiet --profile dev -p duet-daemon --bench bridge_latency
step cargo bench --quiet --profile dev -p duet-cli --bench pair_latency
step cargo bench --quiet --profile dev -p duet-tui --bench render
step cargo bench --quiet --profile dev -p duet-daemon --bench ci_latency
step cargo bench --quiet --profile dev -p duet-daemon --bench soak
step bash scripts/bench-ci.sh --idle-secs 2 --rounds 5 --tasks 3
step bash scripts/bench-worktree.sh
step bash scripts/bench-scale.sh status
step bash scripts/bench-scale.sh idle
