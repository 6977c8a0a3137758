#!/usr/bin/env bash
# Installs the pinned claude and codex CLIs into .agents/ (git-ignored), idempotently.
# The end-to-end tests and `duet demo` find them at .agents/node_modules/.bin/.
set -euo pipefail

CLAUDE_VERSION="2.1.197"
CODEX_VERSION="0.169.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.agents"
stamp="$dest/.installed"
want="claude-code@$CLAUDE_VERSION codex@$CODEX_VERSION"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" \
      && -x "$dest/node_modules/.bin/claude" && -x "$dest/node_modules/.bin/codex" ]]; then
  echo "agents already installed in $dest ($want)"
  exit 0
fi

command -v npm >/dev/null || { echo "error: npm not found; install Node.js 20+ first" >&2; exit 1; }

mkdir -p "$dest"
[[ -f "$dest/package.json" ]] || echo '{"name":"duet-agents","private":true}' > "$dest/package.json"
echo "installing @anthropic-ai/claude-code@$CLAUDE_VERSION and @openai/codex@$CODEX_VERSION into $dest"
npm install --prefix "$dest" --no-audit --no-fund --loglevel=error \
  "@anthropic-ai/claude-code@$CLAUDE_VERSION" "@openai/codex@$CODEX_VERSION"

"$dest/node_modules/.bin/claude" --version
"$dest/node_modules/.bin/codex" --version
echo "$want" > "$stamp"
