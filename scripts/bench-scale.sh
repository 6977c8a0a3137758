#!/usr/bin/env bash
# The scale benchmarks of issue 5. Each part prints its numbers next to its goal.
#
#   scripts/bench-scale.sh backlog  # 10,000-task backlog: validate_files, parse, scheduler
#                                   #   (cargo bench -p duet-core --bench backlog_scale)
#   scripts/bench-scale.sh store    # the store side of a status with 1,000 tasks
#                                   #   (cargo bench -p duet-daemon --bench status_store)
#   scripts/bench-scale.sh status [TASKS RUNS]         # `duet status` latency, 1,000 tasks,
#                                   #   no daemon and with a daemon answering (goal < 50 ms)
#   scripts/bench-scale.sh idle [PAIRS SECONDS FILES]  # daemon idle CPU / RSS with 20 live
#                                   #   pairs of real CLIs (goal < 1% of a core, < 100 MB)
#   scripts/bench-scale.sh all      # every part with its defaults
#   scripts/bench-scale.sh --smoke [PART]  # smoke mode (or DUET_BENCH_SMOKE=1): the dev build,
#                                   #   small sizes, few runs; fails when a part fails
#
# status and idle run the real claude / codex CLIs (scripts/install-agents.sh) against the
# simulated model, in a private tmux server; see scripts/bench/*.sh for their options.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ ${1:-} == --smoke ]]; then
  export DUET_BENCH_SMOKE=1
  shift
fi
part=${1:-all}
[[ $# -gt 0 ]] && shift
profile=release
smoke_arg=()
if [[ ${DUET_BENCH_SMOKE:-0} == 1 ]]; then
  profile=dev smoke_arg=(--smoke)
fi

case $part in
  backlog) cargo bench --profile "$profile" -p duet-core --bench backlog_scale --manifest-path "$here/../Cargo.toml" -- "${smoke_arg[@]}" "$@" ;;
  store) cargo bench --profile "$profile" -p duet-daemon --bench status_store --manifest-path "$here/../Cargo.toml" -- "${smoke_arg[@]}" ;;
  status) "$here/bench/status.sh" "$@" ;;
  idle) "$here/bench/idle.sh" "$@" ;;
  all)
    for p in backlog store status idle; do
      echo "== $p"
      "$0" "$p"
    done
    ;;
  *)
    echo "usage: $0 [backlog|store|status|idle|all] [options of the part]" >&2
    exit 2
    ;;
esac
