#!/usr/bin/env bash
# The test command: installs what the tests need (tmux, cargo-nextest, the pinned agent CLIs),
# then runs every test of the workspace. Safe to run again: each step is idempotent.
#
#   scripts/test.sh [NEXTEST ARGS...]                 every test, real-CLI ones on the pinned CLIs (.agents/)
#   scripts/test.sh --agents latest [NEXTEST ARGS...] the real-CLI tests only, on the newest npm
#                                                     releases (installed into .agents-latest/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

agents=pinned
if [[ "${1:-}" == "--agents" ]]; then
  agents="${2:-}"
  shift 2 || { echo "usage: scripts/test.sh [--agents pinned|latest] [NEXTEST ARGS...]" >&2; exit 2; }
fi
case "$agents" in
  pinned | latest) ;;
  *) echo "error: --agents takes pinned or latest, not '$agents'" >&2; exit 2 ;;
esac

need_apt=()
command -v tmux >/dev/null || need_apt+=(tmux)
command -v git >/dev/null || need_apt+=(git)
command -v npm >/dev/null || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "error: missing ${need_apt[*]}; install them (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked

if [[ "$agents" == latest ]]; then
  bash scripts/install-agents.sh --latest
  # The tests find the CLIs through DUET_AGENTS_DIR (duet_testkit::agents) and pass that path on
  # to what they start. Without nextest filters: the tests that run the real CLIs.
  if (($# == 0)); then
    set -- -E 'binary(/^e2e_/) | binary(/^proof_/) | binary(/_smoke$/) | binary(claude_permission)'
  fi
  echo "real-CLI tests against $(cat .agents-latest/.installed)"
  DUET_AGENTS_DIR="$root/.agents-latest" exec cargo nextest run --workspace --no-fail-fast "$@"
fi

bash scripts/install-agents.sh
if (($# > 0)); then
  exec cargo nextest run --workspace --no-fail-fast "$@"
fi
status=0
cargo nextest run --workspace --no-fail-fast || status=$?
# The kill-point tests need the engine built with its failpoints (a feature, off in every other
# build): duet run aborted at each protocol step and started again. Here the first hit of each
# point; the later hits (the same steps later in the round) run with scripts/killpoints.sh.
# Only that test binary is built with the feature (`--test`), not all of duet-cli's.
DUET_KILLPOINTS=first-hits cargo nextest run -p duet-cli --features failpoints --no-fail-fast \
  --test e2e_killpoints || status=$?
exit "$status"
