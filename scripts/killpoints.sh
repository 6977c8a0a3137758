#!/usr/bin/env bash
# Kills `duet run` at each failpoint of the engine in turn (abort, no cleanup), starts it again,
# and prints the table of kill points and outcomes (see crates/duet-cli/tests/e2e_killpoints.rs).
#
#   scripts/killpoints.sh                      every kill point
#   scripts/killpoints.sh answer-sent,merge-base-moved   only those (names of duet_pair::failpoint::NAMES,
#                                              or NAME@N for the Nth time the point is reached)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-agents.sh >/dev/null
if (($# > 0)); then
  export DUET_KILLPOINTS="$1"
fi
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
cargo nextest run -p duet-cli --features failpoints --retries 0 --no-capture \
  -E 'binary(e2e_killpoints) & test(every_kill_point)' >"$out" 2>&1 || status=$?
# The table the test prints (also when a row failed).
sed -n '/^kill points:/,/^$/p' "$out"
grep -E '^kill points not survived' "$out" || true
if ((status != 0)) && ! grep -q '^kill points:' "$out"; then
  tail -50 "$out"
fi
exit "$status"
