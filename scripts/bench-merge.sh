#!/usr/bin/env bash
# Times the merge queue's git side (crates/duet-git, example `land_bench`) landing 20 finished,
# non-conflicting branches one after another on the ~5,000-file repository of
# scripts/bench-worktree.sh, against the same steps by hand with git, and prints the medians
# and the ratio duet / git (goal: at most 1.5). CI is excluded (no ci.command).
#
# Per branch, duet: candidate rebased onto the newest main in the object database (with the
#   Duet-Task trailer), main advanced by compare-and-swap with the checked-out main updated,
#   branch deleted.
# Per branch, by hand: `git rebase main B` (checks B out and rebases it), `git checkout main`,
#   `git merge --ff-only B`, `git branch -D B`.
# Both start from the same main and the same 20 branch tips each run, alternating which goes
# first, and must end with the same tree on main.
#
# Also printed, without a goal: duet with each candidate checked out in a scratch worktree
# under .duet/merge/, which is what the queue adds when ci.command is set (CI not run).
#
# Usage: scripts/bench-merge.sh [runs (default 5)] [files (default 5000)] [branches (default 20)]
# Env:   BENCH_KEEP=1 keeps the temporary directory; BENCH_DIR=<dir> works under <dir>.
set -euo pipefail

runs=${1:-5}
files=${2:-5000}
branches=${3:-20}
repo_root=$(cd "$(dirname "$0")/.." && pwd)
source "$repo_root/scripts/bench/five_k_repo.sh"

echo "building duet land_bench (release)..." >&2
cargo build --quiet --release -p duet-git --example land_bench --manifest-path "$repo_root/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo_root/Cargo.toml" \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
duet_bin="$target_dir/release/examples/land_bench"

mkdir -p "${BENCH_DIR:-${TMPDIR:-/tmp}}"
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/duet-bench.XXXXXX")
cleanup() { [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$work"; }
trap cleanup EXIT

# Hermetic git: no user or system config, fixed identity (also for libgit2, which reads the
# repository's config rather than these variables).
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 HOME="$work/home"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
mkdir -p "$HOME"

repo="$work/repo"
echo "creating a repository of $files files in $repo..." >&2
make_5k_repo "$repo" "$files"
git -C "$repo" config user.name bench
git -C "$repo" config user.email bench@example.invalid
printf '/.duet/\n' >>"$repo/.git/info/exclude"
echo "tracked files: $(git -C "$repo" ls-files | wc -l)" >&2

# The finished branches: each from the same main, one commit changing its own existing file
# and adding one, so none conflicts with another.
start=$(git -C "$repo" rev-parse main)
mapfile -t tracked < <(git -C "$repo" ls-files | awk 'NR % 97 == 1' | head -n "$branches")
tasks=() tips=()
for ((i = 1; i <= branches; i++)); do
  id=$(printf 't%02d' "$i")
  git -C "$repo" switch --quiet -c "seed/$id" "$start"
  printf 'changed by %s\n' "$id" >>"$repo/${tracked[i - 1]}"
  printf 'new in %s\n' "$id" >"$repo/src/new_$id.rs"
  git -C "$repo" add -A
  git -C "$repo" commit --quiet -m "$id: change ${tracked[i - 1]}"
  tasks+=("$id") tips+=("$(git -C "$repo" rev-parse HEAD)")
done
git -C "$repo" switch --quiet main

# reset PREFIX: main (checked out, clean) back at the start, branches PREFIX/tNN at the tips.
reset() {
  git -C "$repo" switch --quiet main
  git -C "$repo" reset --quiet --hard "$start"
  for ((i = 0; i < branches; i++)); do
    git -C "$repo" branch --quiet -f "$1/${tasks[i]}" "${tips[i]}"
  done
}

by_hand() {
  for id in "${tasks[@]}"; do
    git -C "$repo" rebase --quiet main "g/$id"
    git -C "$repo" checkout --quiet main
    git -C "$repo" merge --quiet --ff-only "g/$id"
    git -C "$repo" branch --quiet -D "g/$id"
  done
}

now_ns() { date +%s%N; }
duet_times=() git_times=() scratch_times=()

# One untimed round of each to warm the page cache (and to check both land everything).
reset duet; "$duet_bin" "$repo" main rebase "${tasks[@]}" >/dev/null
expected_tree=$(git -C "$repo" rev-parse 'main^{tree}')
reset g; by_hand
[[ $(git -C "$repo" rev-parse 'main^{tree}') == "$expected_tree" ]] || {
  echo "error: duet and git landed different trees" >&2; exit 1; }

for ((run = 1; run <= runs; run++)); do
  for tool in $( ((run % 2)) && echo "duet git scratch" || echo "git scratch duet"); do
    if [[ $tool == git ]]; then reset g; else reset duet; fi
    begin=$(now_ns)
    case $tool in
      duet) "$duet_bin" "$repo" main rebase "${tasks[@]}" >/dev/null ;;
      scratch) "$duet_bin" "$repo" main rebase --scratch "${tasks[@]}" >/dev/null ;;
      git) by_hand ;;
    esac
    elapsed=$(($(now_ns) - begin))
    case $tool in
      duet) duet_times+=("$elapsed") ;;
      scratch) scratch_times+=("$elapsed") ;;
      git) git_times+=("$elapsed") ;;
    esac
    # Every variant lands all branches: the same tree, a clean checkout, no branch left.
    [[ $(git -C "$repo" rev-parse 'main^{tree}') == "$expected_tree" ]] || {
      echo "error: $tool landed a different tree in run $run" >&2; exit 1; }
    [[ -z $(git -C "$repo" status --porcelain) ]] || {
      echo "error: $tool left the checkout dirty in run $run" >&2; exit 1; }
    landed=$(git -C "$repo" rev-list --count "$start..main")
    [[ $landed == "$branches" ]] || { echo "error: $tool landed $landed commits" >&2; exit 1; }
  done
done
[[ -z $(git -C "$repo" branch --list 'duet/*') ]] || { echo "error: branches left" >&2; exit 1; }
[[ $(git -C "$repo" log -1 --format='%(trailers:key=Duet-Task,valueonly)' main) == "t$(printf '%02d' "$branches")" ]] || {
  echo "error: the landed commit has no Duet-Task trailer" >&2; exit 1; }

median_ms() {
  printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END {
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1e6 }'
}
duet_ms=$(median_ms "${duet_times[@]}")
git_ms=$(median_ms "${git_times[@]}")
scratch_ms=$(median_ms "${scratch_times[@]}")
ratio=$(awk -v d="$duet_ms" -v g="$git_ms" 'BEGIN { printf "%.2f", d / g }')

echo "landing $branches branches one after another, $files files, $runs runs each (median):"
printf '  duet (build, CAS advance, checkout update, branch deleted)  %8s ms\n' "$duet_ms"
printf '  by hand (git rebase, checkout, merge --ff-only, branch -D)  %8s ms\n' "$git_ms"
printf '  ratio duet / git                                             %8s   (goal <= 1.5)\n' "$ratio"
printf '  duet with a scratch checkout per candidate (for CI, not run) %7s ms\n' "$scratch_ms"
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.5) }' || { echo "ratio above goal" >&2; exit 3; }
