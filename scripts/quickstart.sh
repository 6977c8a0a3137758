#!/usr/bin/env bash
# Builds duet and walks through init / validate / status on a throw-away sample repository.
# Usage: scripts/quickstart.sh [DIR]   (default: a new temporary directory, kept for you to explore)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

command -v git >/dev/null || { echo "error: git is required" >&2; exit 1; }
echo "==> building duet (release)"
cargo build --quiet --release -p duet-cli --manifest-path "$root/Cargo.toml"
duet="$root/target/release/duet"

work="${1:-$(mktemp -d "${TMPDIR:-/tmp}/duet-quickstart.XXXXXX")}"
repo="$work/sample"
mkdir -p "$repo"
# A hermetic identity for the sample's commits; your own git config is not touched.
git_() { GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=duet GIT_AUTHOR_EMAIL=duet@example.invalid \
  GIT_COMMITTER_NAME=duet GIT_COMMITTER_EMAIL=duet@example.invalid git -C "$repo" "$@"; }
git_ init -q -b main
cat > "$repo/greet.py" <<'PY'
import sys

def greet(name: str) -> str:
    return f"Hello, {name}!"

if __name__ == "__main__":
    print(greet(sys.argv[1] if len(sys.argv) > 1 else "world"))
PY
git_ add greet.py && git_ commit -q -m "a small program"

run() { echo; echo "\$ duet $*"; "$duet" -C "$repo" "$@"; }
run init
cat > "$repo/backlog.toml" <<'TOML'
[[task]]
id = "greeting-flag"
title = "Add a --greeting flag"
prompt = "Add a --greeting TEXT option that replaces Hello."
proof = "python3 greet.py --greeting Hi Bob | grep -q 'Hi, Bob!'"
priority = 1

[[task]]
id = "tests"
title = "Add tests for greet()"
prompt = "Add unit tests for greet(), including the --greeting flag."
depends_on = ["greeting-flag"]
worker = "codex"
reviewer = "claude"
TOML
run validate
run status

echo; echo "==> now a backlog with mistakes: duet reports every one and exits 2"
cp "$repo/backlog.toml" "$repo/backlog.good.toml"
cat > "$repo/backlog.toml" <<'TOML'
[[task]]
id = "greeting flag"
prompt = "..."
depends_on = ["tests"]
priorty = 2

[[task]]
id = "tests"
prompt = "..."
depends_on = ["greeting-flag"]
reviewer = "claude"
worker = "claude"
TOML
set +e; run validate; code=$?; set -e
echo "(exit code $code)"
mv "$repo/backlog.good.toml" "$repo/backlog.toml"
echo; echo "The sample repository is at $repo"
