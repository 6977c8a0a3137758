#!/usr/bin/env bash
# The daemon's idle CPU and memory with live pairs (goal: under 1% of a core and under 100 MB
# with 20 pairs): `duet run --simulate` on a backlog of PAIRS independent tasks with
# max_parallel = PAIRS, real claude/codex CLIs whose scripted model answers each prompt with one
# line, so every agent answers its first prompt and then sits idle. Once all 2 x PAIRS agents
# have answered and the model log has been quiet for a while, samples the daemon's CPU time and
# RSS over SECONDS, and the agents' (everything under the tmux server) separately.
#
# Usage: scripts/bench/idle.sh [pairs (default 20)] [seconds (default 30)] [repo files (default 200)]
# Env:   BENCH_KEEP=1 keeps the scratch folder; BENCH_FORCE=1 skips the free-memory check;
#        DUET_BENCH_SMOKE=1: 1 pair, 3 seconds, 20 files, the dev build (the goal is not checked).
set -euo pipefail
source "$(dirname "$0")/common.sh"
if [[ $smoke == 1 ]]; then
  pairs=${1:-1} seconds=${2:-3} files=${3:-20}
else
  pairs=${1:-20} seconds=${2:-30} files=${3:-200}
fi

# About 550 MB per pair (claude ~265 MB, codex ~230 MB, helpers) plus headroom.
avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
need_mb=$((pairs * 550 + 1500))
if ((avail_mb < need_mb)) && [[ ${BENCH_FORCE:-0} != 1 ]]; then
  fit=$(((avail_mb - 1500) / 550))
  echo "warning: $pairs pairs need about $need_mb MB, $avail_mb MB available: measuring $fit pairs instead" >&2
  pairs=$fit
  ((pairs >= 1)) || { echo "error: not enough memory for even one pair" >&2; exit 1; }
fi

build_duet
make_work_dir
export DUET_TMUX_SOCKET="duet-bench-idle-$$"
daemon_pid=""
bench_cleanup() {
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    "$duet" -C "$repo" stop --agents >/dev/null 2>&1 || kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  tmux -L "$DUET_TMUX_SOCKET" kill-server 2>/dev/null || true
}

repo="$work/repo"
make_repo "$repo" "$files"
set_max_parallel "$repo" "$pairs"
write_backlog "$repo/backlog.toml" "$pairs" 0
write_idle_script "$work/idle.toml"
model_log="$repo/.duet/logs/simulated-model.jsonl"

echo "starting duet run --simulate with $pairs pairs ($((pairs * 2)) agents) on a repository of $files files..." >&2
started=$SECONDS
(cd "$repo" && exec "$duet" run --simulate "$work/idle.toml") >"$work/run.out" 2>&1 &
daemon_pid=$!

live_pairs() {
  "$duet" -C "$repo" status --json 2>/dev/null | jq '[.tasks[] | select(.running)] | length'
}
all_pairs_live() { [[ $(live_pairs) == "$pairs" ]]; }
wait_until 600 "$pairs running pairs" all_pairs_live
answers() { if [[ -f $model_log ]]; then grep -c '"kind":"fallback"' "$model_log" || true; else echo 0; fi; }
all_answered() { (($(answers) >= pairs * 2)); }
wait_until 900 "the first answers of all $((pairs * 2)) agents" all_answered
quiet=15
[[ $smoke == 1 ]] && quiet=2
echo "all agents answered after $((SECONDS - started)) s; waiting for the model log to stay quiet for $quiet s..." >&2
quiet_since() { local size; size=$(stat -c %s "$model_log"); sleep "$quiet"; [[ $(stat -c %s "$model_log") == "$size" ]]; }
wait_until 300 "the agents to go idle" quiet_since

tmux_pid=$(tmux -L "$DUET_TMUX_SOCKET" display-message -p '#{pid}')
turns=$(sqlite3 "file:$repo/.duet/state.db?mode=ro" "select count(*) from events where kind = 'turn_ended'" 2>/dev/null || echo "?")
states=$("$duet" -C "$repo" status --json | jq -r '[.tasks[].state] | group_by(.) | map("\(length) \(.[0])") | join(", ")')
echo "idle with $pairs pairs, $((pairs * 2)) agents (tasks: $states; turn_ended events: $turns; model answers: $(answers))"
python3 "$(dirname "$0")/procstat.py" "$daemon_pid" "$tmux_pid" "$seconds" | tee "$work/idle.txt"
python3 - "$work/idle.txt" "$pairs" <<'PY'
import json, sys
numbers = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
cpu, rss = numbers["daemon_cpu_pct"], numbers["daemon_rss_mb"]
print(f"goal with {sys.argv[2]} pairs: daemon CPU < 1% of a core: {'ok' if cpu < 1 else 'ABOVE GOAL'} ({cpu}%),"
      f" RSS < 100 MB: {'ok' if rss < 100 else 'ABOVE GOAL'} ({rss} MB)")
PY
"$duet" -C "$repo" stop --agents >/dev/null
wait "$daemon_pid" || true
daemon_pid=""
