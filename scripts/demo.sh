#!/usr/bin/env bash
# The demo on a fresh machine: installs what it needs (git, tmux, python3, Node.js/npm and the
# pinned claude and codex CLIs into .agents/), builds duet, then runs `duet demo`: a sample
# Python project with a backlog of three tasks, worked by real claude/codex pairs against a
# simulated model (no account, no tokens). Usage: scripts/demo.sh [DIR] [duet demo options]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v python3 >/dev/null || need_apt+=(python3)
command -v npm >/dev/null || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "==> installing ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "error: missing ${need_apt[*]}; install them (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi
command -v cargo >/dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

echo "==> agent CLIs"
bash scripts/install-agents.sh

echo "==> building duet (release)"
cargo build --quiet --release -p duet-cli

# Each run gets its own tmux server, so your own tmux sessions are untouched.
export DUET_TMUX_SOCKET="${DUET_TMUX_SOCKET:-duet-demo}"
exec "$root/target/release/duet" demo "$@"
