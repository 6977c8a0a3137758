#!/usr/bin/env bash
# Stress test of the hand-over race: runs the pair end-to-end scenarios (both role ways round)
# N times in a row against the fake model server, which answers every request at once, and
# counts the runs that stalled or failed. Each run checks that every agent's first model request
# lists all six duet tools and that every hand-over reached a model that had them
# (crates/duet-cli/tests/common/e2e.rs, assert_requests_see_duet).
#
#   scripts/stress-ready.sh [N] [--agents pinned|latest|DIR]   (default: 20, pinned)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

runs="${1:-20}"
agents="${3:-pinned}"
[[ "${2:-}" == "--agents" || -z "${2:-}" ]] || { echo "usage: scripts/stress-ready.sh [N] [--agents pinned|latest|DIR]" >&2; exit 2; }
case "$agents" in
  pinned) dir="$root/.agents"; bash scripts/install-agents.sh >/dev/null ;;
  latest) dir="$root/.agents-latest"; bash scripts/install-agents.sh --latest >/dev/null ;;
  *) dir="$(cd "$agents" && pwd)" ;;
esac
echo "agents: $(cat "$dir/.installed" 2>/dev/null || echo "$dir")"

tests=(--test e2e_pair --test e2e_pair_codex_worker)
log="$(mktemp -t duet-stress-XXXXXX.log)"
# One build, then every test N times in a row (nextest's stress mode), one at a time, no
# retries: a stall must count. CI=true makes missing CLIs a failure, not a skip.
status=0
CI=true DUET_AGENTS_DIR="$dir" cargo nextest run -p duet-cli "${tests[@]}" -j 1 --retries 0 \
  --no-fail-fast --stress-count "$runs" >"$log" 2>&1 || status=$?
grep -E '^ *(PASS|FAIL|TIMEOUT|SIGSEGV|ABORT) \[|Stress test \[' "$log" || true
# One line per iteration: "Stress test [..] iteration K/N: 2 tests run: P passed, F failed, ...".
read -r passed failed < <(grep -E 'Stress test \[.*iteration' "$log" | awk '
  { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^timed/) f += $i } }
  END { print p + 0, f + 0 }')
echo "stress-ready: $((passed + failed)) pair runs (2 scenarios x $runs): $passed passed, $failed stalled or failed (log: $log)"
if ((status == 0 && failed > 0)); then status=1; fi
exit "$status"
