# Shared by scripts/bench/*.sh (sourced): hermetic git, the release build, a scratch folder,
# a git repository with a duet.toml and a generated backlog.

# cargo (through rustup) still finds its toolchains after HOME is moved below.
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup} CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo_root/Cargo.toml" \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
# Smoke mode (DUET_BENCH_SMOKE=1, what .ci/run sets): the dev build (no release compile in CI)
# and small sizes; each script still checks what it measured and exits non-zero on a failure.
smoke=${DUET_BENCH_SMOKE:-0}
if [[ $smoke == 1 ]]; then
  cargo_profile=dev profile_dir=debug
else
  cargo_profile=release profile_dir=release
fi
duet="$target_dir/$profile_dir/duet"

build_duet() {
  echo "building duet ($cargo_profile)..." >&2
  cargo build --quiet --profile "$cargo_profile" -p duet-cli --bin duet --manifest-path "$repo_root/Cargo.toml"
}

# A fresh scratch folder ($work), removed on exit unless BENCH_KEEP=1; runs `bench_cleanup`
# (if the sourcing script defines it) first.
make_work_dir() {
  mkdir -p "${BENCH_DIR:-${TMPDIR:-/tmp}}"
  work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/duet-bench.XXXXXX")
  trap 'status=$?; declare -F bench_cleanup >/dev/null && bench_cleanup; [[ ${BENCH_KEEP:-0} == 1 ]] && echo "kept $work" >&2 || rm -rf "$work"; exit $status' EXIT
  export HOME="$work/home" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
  export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
  export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
  mkdir -p "$HOME"
}

# make_repo DIR FILES: a repository on `main` with FILES small source files, `duet init` done.
make_repo() {
  local dir=$1 files=$2
  git init --quiet --initial-branch=main "$dir"
  python3 - "$dir" "$files" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
with open(os.path.join(root, "README.md"), "w") as f:
    f.write("bench repository\n")
for i in range(count):
    d = os.path.join(root, f"src/mod{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file{i:05d}.rs"), "w") as f:
        f.write("".join(f"pub fn f{i}_{n}() -> u32 {{ {n} }}\n" for n in range(30)))
PY
  git -C "$dir" add -A
  git -C "$dir" commit --quiet -m "initial"
  (cd "$dir" && "$duet" init >/dev/null)
  # duet's own state stays out of `git status`.
  printf '.duet/\n' >>"$dir/.git/info/exclude"
}

# set_max_parallel DIR N
set_max_parallel() {
  sed -i "s/^max_parallel = .*/max_parallel = $2/" "$1/duet.toml"
  grep -q "^max_parallel = $2\$" "$1/duet.toml"
}

# write_backlog FILE COUNT WITH_DEPS(0|1): COUNT tasks `task-00000`...; with deps, each depends
# on up to 3 of the 20 tasks before it.
write_backlog() {
  python3 - "$@" <<'PY'
import random, sys
path, count, with_deps = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
rng = random.Random(5)
with open(path, "w") as f:
    for i in range(count):
        deps = []
        if with_deps and i > 0:
            deps = sorted({i - rng.randint(1, min(20, i)) for _ in range(rng.randint(0, 3))})
        f.write(f'[[task]]\nid = "task-{i:05d}"\ntitle = "Task number {i}"\n')
        f.write(f'prompt = "Implement part {i} of the feature and keep the tests green."\n')
        f.write("depends_on = [" + ", ".join(f'"task-{d:05d}"' for d in deps) + "]\n")
        f.write(f"priority = {rng.randint(-2, 2)}\n\n")
PY
}

# A simulation script under which every agent answers every prompt with one line and then
# sits idle: fallbacks never run out, so it fits any backlog.
write_idle_script() {
  cat >"$1" <<'TOML'
title = "idle pairs"

[[fallback]]
match.api = "anthropic"
reply.text = "Waiting."

[[fallback]]
match.api = "openai"
reply.text = "Ready."
TOML
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every half second.
wait_until() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "error: timed out after ${timeout}s waiting for $what" >&2
      return 1
    fi
    sleep 0.5
  done
}
