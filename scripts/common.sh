# Shared by the scripts: the repository root and a cargo target directory
# outside the work tree, reused between runs to save build time.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME}/.cache/sightline/target}"
cd "$repo_root"
