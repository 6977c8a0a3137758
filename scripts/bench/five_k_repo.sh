# Shared by scripts/bench-worktree.sh and scripts/bench-merge.sh (sourced): the ~5,000-file
# repository both measure against.

# make_5k_repo DIR FILES: a packed repository on `main` with FILES generated source files in
# 100 folders, one commit.
make_5k_repo() {
  local repo=$1 files=$2
  git init --quiet --initial-branch=main "$repo"
  python3 - "$repo" "$files" <<'PY'
import os, sys, random
root, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
words = ["alpha", "beta", "gamma", "delta", "fn", "let", "match", "impl", "struct", "return"]
per_dir = 50
for i in range(count):
    d = os.path.join(root, f"src/mod{i // (per_dir * 10):02d}/sub{(i // per_dir) % 10:02d}")
    os.makedirs(d, exist_ok=True)
    lines = rng.randint(10, 80)
    with open(os.path.join(d, f"file{i:05d}.rs"), "w") as f:
        for n in range(lines):
            f.write(" ".join(rng.choice(words) for _ in range(8)) + f" // {i}:{n}\n")
PY
  git -C "$repo" add -A
  git -C "$repo" commit --quiet -m "5k files"
  git -C "$repo" gc --quiet # a packed repository, as a clone would have
}
