#!/usr/bin/env bash
# Assemble the files of a Hugging Face Docker Space from this repository's last commit.
#
# A Space reads its settings from the front matter of README.md at its root, so the Space gets
# deploy/space/README.md as its README.md; everything else is the committed tree without the parts the
# image does not use (tests, benchmarks, CI and these scripts).
#
# Usage: bash scripts/assemble_space.sh DEST
#   DEST: an empty folder, or a clone of the Space's repository (its files are replaced, its .git is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:?usage: bash scripts/assemble_space.sh DEST}
mkdir -p "$dest"
root=$(pwd -P)
target=$(cd "$dest" && pwd -P)
case "$root/" in
  "$target"/*) echo "refusing: $dest contains this repository" >&2; exit 2 ;;
esac
if [ -n "$(ls -A "$target")" ] && [ ! -d "$target/.git" ]; then
  echo "refusing: $dest is neither empty nor a git clone of a Space" >&2
  exit 2
fi
# Start from a clean tree but keep the Space's own git history.
find "$dest" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
git archive --format=tar HEAD | tar -x -C "$dest"
rm -rf "$dest/tests" "$dest/bench" "$dest/.ci" "$dest/scripts" "$dest/deploy"
cp deploy/space/README.md "$dest/README.md"
echo "Space files written to $dest (commit $(git rev-parse --short HEAD))."
echo "Next: cd $dest && git add -A && git commit -m 'featviz $(git rev-parse --short HEAD)' && git push"
