#!/usr/bin/env bash
# Times duet's worktree creation (crates/duet-git, example `worktree_add`) against
# `git worktree add -b` on a repository of about 5,000 files, alternating the two in one run,
# and prints the medians and the ratio duet / git (goal: at most 1.2).
#
# A plain loop rather than hyperfine: hyperfine runs all of one command before the other,
# while alternating them spreads background load (other builds on the machine) evenly.
#
# Usage: scripts/bench-worktree.sh [--smoke] [runs (default 15)] [files (default 5000)]
# Smoke mode (--smoke or DUET_BENCH_SMOKE=1): 2 runs on 300 files with the dev build; the two
# checkouts are still compared, the ratio is printed but not held to the goal (too few files).
# Env:   BENCH_KEEP=1 keeps the temporary directory; BENCH_DIR=<dir> works in a fresh folder under <dir>
#        (e.g. /dev/shm, to take the disk out of the measurement) instead of $TMPDIR.
set -euo pipefail

smoke=${DUET_BENCH_SMOKE:-0}
if [[ ${1:-} == --smoke ]]; then
  smoke=1
  shift
fi
if [[ $smoke == 1 ]]; then
  runs=${1:-2} files=${2:-300} profile=dev profile_dir=debug
else
  runs=${1:-15} files=${2:-5000} profile=release profile_dir=release
fi
repo_root=$(cd "$(dirname "$0")/.." && pwd)
source "$repo_root/scripts/bench/five_k_repo.sh"

echo "building duet worktree_add ($profile)..." >&2
cargo build --quiet --profile "$profile" -p duet-git --example worktree_add --manifest-path "$repo_root/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo_root/Cargo.toml" \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
duet_bin="$target_dir/$profile_dir/examples/worktree_add"

mkdir -p "${BENCH_DIR:-${TMPDIR:-/tmp}}"
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/duet-bench.XXXXXX")
cleanup() { [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$work"; }
trap cleanup EXIT

# Hermetic git: no user or system config, fixed identity.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 HOME="$work/home"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
mkdir -p "$HOME"

repo="$work/repo"
echo "creating a repository of $files files in $repo..." >&2
make_5k_repo "$repo" "$files"
echo "tracked files: $(git -C "$repo" ls-files | wc -l)" >&2

now_ns() { date +%s%N; }
duet_times=() git_times=()

remove_both() {
  rm -rf "$repo/.duet/worktrees/d$1" "$repo/.git-wt/g$1"
  git -C "$repo" worktree prune
  git -C "$repo" branch --quiet -D "duet/d$1" "g$1" 2>/dev/null || true
}

# One untimed round of each to warm the page cache.
"$duet_bin" "$repo" .duet/worktrees d0 main >/dev/null
git -C "$repo" worktree add --quiet -b g0 "$repo/.git-wt/g0" main
remove_both 0

for ((i = 1; i <= runs; i++)); do
  # Alternate which one goes first so that neither always profits from the other's caching.
  for tool in $( ((i % 2)) && echo "duet git" || echo "git duet"); do
    start=$(now_ns)
    if [[ $tool == duet ]]; then
      "$duet_bin" "$repo" .duet/worktrees "d$i" main >/dev/null
      duet_times+=($(($(now_ns) - start)))
    else
      git -C "$repo" worktree add --quiet -b "g$i" "$repo/.git-wt/g$i" main
      git_times+=($(($(now_ns) - start)))
    fi
  done
  # Both must have produced the same checkout.
  if ! diff -rq -x .git "$repo/.duet/worktrees/d$i" "$repo/.git-wt/g$i" >/dev/null; then
    echo "error: duet's and git's worktrees differ in run $i" >&2
    exit 1
  fi
  remove_both "$i"
done

median_ms() {
  printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END {
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1e6 }'
}
duet_ms=$(median_ms "${duet_times[@]}")
git_ms=$(median_ms "${git_times[@]}")
ratio=$(awk -v d="$duet_ms" -v g="$git_ms" 'BEGIN { printf "%.2f", d / g }')

echo "worktree creation, $files files, $runs runs each (median):"
printf '  duet (git2)          %8s ms\n' "$duet_ms"
printf '  git worktree add     %8s ms\n' "$git_ms"
printf '  ratio duet / git     %8s   (goal <= 1.2)\n' "$ratio"
[[ $smoke == 1 ]] && exit 0
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.2) }' || { echo "ratio above goal" >&2; exit 3; }
