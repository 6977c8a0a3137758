#!/usr/bin/env bash
# Installs the claude and codex CLIs the tests, the demo and `--simulate` run, idempotently.
#
#   scripts/install-agents.sh            the pinned versions into .agents/ (git-ignored)
#   scripts/install-agents.sh --latest   the newest npm releases into .agents-latest/ (git-ignored);
#                                        run the real-CLI tests on them with `scripts/test.sh --agents latest`
#
# The CLIs end up at <folder>/node_modules/.bin/{claude,codex}. It works whether npm runs the
# packages' install scripts or not (newer npm versions may skip them): claude's postinstall, which
# puts the native binary in place of a stub, is run here when npm did not. Each CLI must answer
# `--version`, or the script fails saying which one and why.
set -euo pipefail

# The versions duet is tested against (README: "Tested agent versions").
CLAUDE_VERSION="2.1.332"
CODEX_VERSION="0.171.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.agents"
case "${1:-}" in
  "") ;;
  --latest)
    dest="$root/.agents-latest"
    CLAUDE_VERSION="latest"
    CODEX_VERSION="latest"
    ;;
  *)
    echo "usage: scripts/install-agents.sh [--latest]" >&2
    exit 2
    ;;
esac

command -v npm >/dev/null || { echo "error: npm not found; install Node.js 20+ first" >&2; exit 1; }

if [[ "$CLAUDE_VERSION" == latest ]]; then
  # "latest" is resolved now, so the stamp below says which versions the folder holds and a new
  # release is installed the next time this runs.
  CLAUDE_VERSION="$(npm view @anthropic-ai/claude-code@latest version)"
  CODEX_VERSION="$(npm view @openai/codex@latest version)"
fi

bin="$dest/node_modules/.bin"
stamp="$dest/.installed"
want="claude-code@$CLAUDE_VERSION codex@$CODEX_VERSION"

# `--version` of one CLI; on failure says which and how it failed.
check_cli() {
  local name="$1" out
  if [[ ! -e "$bin/$name" ]]; then
    echo "error: $bin/$name is missing after npm install" >&2
    return 1
  fi
  if ! out="$("$bin/$name" --version 2>&1)"; then
    echo "error: $name cannot start ($bin/$name --version failed):" >&2
    printf '%s\n' "$out" | head -n 20 | sed 's/^/  /' >&2
    return 1
  fi
  echo "$name: $out"
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && check_cli claude >/dev/null 2>&1 && check_cli codex >/dev/null 2>&1; then
  echo "agents already installed in $dest ($want)"
  exit 0
fi

mkdir -p "$dest"
[[ -f "$dest/package.json" ]] || echo '{"name":"duet-agents","private":true}' > "$dest/package.json"
echo "installing @anthropic-ai/claude-code@$CLAUDE_VERSION and @openai/codex@$CODEX_VERSION into $dest"
npm install --prefix "$dest" --no-audit --no-fund --loglevel=error \
  "@anthropic-ai/claude-code@$CLAUDE_VERSION" "@openai/codex@$CODEX_VERSION"

# claude ships a stub at bin/claude.exe that its postinstall (install.cjs) replaces with the
# platform's native binary. When npm skipped install scripts, the stub is still there: run the
# postinstall ourselves (it is idempotent).
claude_pkg="$dest/node_modules/@anthropic-ai/claude-code"
if ! "$bin/claude" --version >/dev/null 2>&1 && [[ -f "$claude_pkg/install.cjs" ]]; then
  echo "claude's postinstall did not run (npm skipped install scripts); running it"
  (cd "$claude_pkg" && node install.cjs) || true
fi

check_cli claude
check_cli codex
echo "$want" > "$stamp"
