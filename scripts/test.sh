#!/usr/bin/env bash
# The test command: installs what the tests need (tmux, cargo-nextest, the pinned agent CLIs),
# then runs every test of the workspace. Safe to run again: each step is idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

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
bash scripts/install-agents.sh

exec cargo nextest run --workspace --no-fail-fast "$@"
