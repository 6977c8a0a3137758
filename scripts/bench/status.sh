#!/usr/bin/env bash
# `duet status` latency with a 1,000-task backlog (goal: under 50 ms): a repository whose
# backlog has 1,000 tasks with dependencies and whose store holds their history (40% done),
# timed with no daemon (read from the store) and with a daemon answering on the control socket
# (`duet run --simulate` with two idle pairs of real claude/codex CLIs, max_parallel = 2).
#
# Usage: scripts/bench/status.sh [tasks (default 1000)] [runs (default 30)]
# Env:   BENCH_KEEP=1 keeps the scratch folder; BENCH_NO_DAEMON=1 skips the daemon part;
#        DUET_BENCH_SMOKE=1: 100 tasks, 3 runs, the dev build.
set -euo pipefail
source "$(dirname "$0")/common.sh"
if [[ $smoke == 1 ]]; then
  tasks=${1:-100} runs=${2:-3}
else
  tasks=${1:-1000} runs=${2:-30}
fi

build_duet
echo "building the store filler (cargo bench -p duet-daemon --bench status_store)..." >&2
cargo bench --quiet --profile "$cargo_profile" -p duet-daemon --bench status_store --no-run --manifest-path "$repo_root/Cargo.toml" 2>/dev/null
make_work_dir
export DUET_TMUX_SOCKET="duet-bench-status-$$"
daemon_pid=""
bench_cleanup() {
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    "$duet" -C "$repo" stop --agents >/dev/null 2>&1 || kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  tmux -L "$DUET_TMUX_SOCKET" kill-server 2>/dev/null || true
}

repo="$work/repo"
make_repo "$repo" 20
set_max_parallel "$repo" 2
write_backlog "$repo/backlog.toml" "$tasks" 1
"$duet" -C "$repo" validate >/dev/null
cargo bench --quiet --profile "$cargo_profile" -p duet-daemon --bench status_store --manifest-path "$repo_root/Cargo.toml" -- fill "$repo" >&2

# time_commands LABEL: times `duet status` and `duet status --json`, prints median / p95.
time_commands() {
  local label=$1
  # Both must work and agree on the number of tasks.
  local n
  n=$("$duet" -C "$repo" status --json | jq '.tasks | length')
  [[ $n == "$tasks" ]] || { echo "error: duet status --json lists $n tasks, not $tasks" >&2; exit 1; }
  echo "duet status --json: live = $("$duet" -C "$repo" status --json | jq .live)" >&2
  if command -v hyperfine >/dev/null; then
    hyperfine --shell=none --warmup 3 --runs "$runs" --style none \
      --export-json "$work/$label.json" \
      -n "duet status" "$duet -C $repo status" \
      -n "duet status --json" "$duet -C $repo status --json" >/dev/null
  else
    python3 - "$work/$label.json" "$runs" "$duet" "$repo" <<'PY'
import json, subprocess, sys, time
out, runs, duet, repo = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
results = []
for name, args in [("duet status", []), ("duet status --json", ["--json"])]:
    cmd = [duet, "-C", repo, "status", *args]
    for _ in range(3):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    results.append({"command": name, "times": times})
json.dump({"results": results}, open(out, "w"))
PY
  fi
  python3 - "$work/$label.json" "$label" "$tasks" <<'PY'
import json, sys
data, label, tasks = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
for r in data["results"]:
    t = sorted(r["times"])
    q = lambda p: t[round((len(t) - 1) * p)] * 1000
    verdict = "ok" if q(0.5) < 50 else "ABOVE GOAL"
    print(f"  {r['command']:<20} {label:<32} median {q(0.5):7.1f} ms  p95 {q(0.95):7.1f} ms"
          f"  ({len(t)} runs, {tasks} tasks; goal < 50 ms: {verdict})")
PY
}

echo "duet status latency, $tasks tasks:"
time_commands "no daemon (store read)"

if [[ ${BENCH_NO_DAEMON:-0} != 1 ]]; then
  write_idle_script "$work/idle.toml"
  (cd "$repo" && exec "$duet" run --simulate "$work/idle.toml") >"$work/run.out" 2>&1 &
  daemon_pid=$!
  echo "daemon pid $daemon_pid; waiting for its two pairs to start and go idle..." >&2
  two_live_pairs() {
    [[ $("$duet" -C "$repo" status --json 2>/dev/null | jq '[.tasks[] | select(.running)] | length') == 2 ]]
  }
  wait_until 120 "two running pairs" two_live_pairs
  four_answers() {
    [[ -f $repo/.duet/logs/simulated-model.jsonl ]] &&
      (($(grep -c '"kind":"fallback"' "$repo/.duet/logs/simulated-model.jsonl") >= 4))
  }
  wait_until 180 "all four agents' first answers" four_answers
  sleep 5 # the agents finish their turns
  time_commands "daemon answering (2 idle pairs)"
  "$duet" -C "$repo" stop --agents >/dev/null
  wait "$daemon_pid" || true
  daemon_pid=""
fi
