#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# rebase.sh VERSION: move the series to another Debian linux-source-6.12
# version (make rebase VERSION=...).
#
#  1. the series as patches on the pinned base (make patches' generation);
#  2. the new version's tree, fetched with apt-get download;
#  3. git am -3 of the patches onto the new tree's files (merge.sh): on a
#     conflict, each conflicting hunk is listed with its patch, and the
#     repository is left as it was;
#  4. in a scratch copy of the repository: the whole files of the series,
#     harness/base.manifest (version, tarball, checksums) and the split of
#     harness/series re-recorded from the merged patches, then make
#     patches there (checkpatch, git am onto the new base);
#  5. only if all of that passed, those files are copied into the
#     repository. Review them with git diff, run make test and commit.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
h=$top/harness
OUT=${OUT:-$top/out}
export OUT
# shellcheck source=harness/debsrc.sh
. "$h/debsrc.sh"
# shellcheck source=harness/merge.sh
. "$h/merge.sh"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'rebase: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] ||
	die "usage: make rebase VERSION=<Debian version of linux-source-6.12, e.g. 6.12.118-1~deb12u1>"
new=$1
old=$(awk '$1 == "package" { print $3 }' "$h/base.manifest")
[ "$new" != "$old" ] || die "the series is already on $new"
[ -z "$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
	die "the repository has uncommitted changes; commit or stash them first"

w=$OUT/rebase
mkdir -p "$w"
log "the series as patches on $old"
"$h/run.sh" gen-patches >&2

log "fetching and unpacking linux-source-6.12 $new"
if [ "$(cat "$w/tree.version" 2>/dev/null)" != "$new" ]; then
	rm -f "$w/tree.version"
	debsrc_unpack "$new" "$w/tree" || die "no linux-source-6.12 $new in the package archive"
	echo "$new" > "$w/tree.version"
fi
tarball=$(debsrc_tarball "$new")

log "git am -3 of the series onto $new"
if ! merge_series "$w/tree" "$w"; then
	echo "rebase: the series does not apply to $new; nothing in the repository was changed" >&2
	exit 1
fi
merge_states "$w" "$w/states"

log "a scratch copy of the repository, moved to $new"
rm -rf "$w/repo"
mkdir -p "$w/repo"
(cd "$top" && git ls-files -z | xargs -0 cp --parents -p -t "$w/repo")
(cd "$w/repo" && git init -q && git add -A && git -c user.name=rebase \
	-c user.email=rebase@localhost commit -q -m "before the rebase")
final=$w/states/$(ls "$w/states" | tail -n 1)
python3 - "$w/repo/harness/base.manifest" "$w/tree" "$new" \
	"$(sha256sum "$tarball" | cut -d' ' -f1)" <<'PY'
import hashlib, os, sys
path, tree, version, tarsum = sys.argv[1:]
out = []
for line in open(path).read().split("\n"):
    parts = line.split()
    if line.startswith("package "):
        line = "package linux-source-6.12 " + version
    elif line.startswith("tarball "):
        line = "tarball linux-source-6.12.tar.xz " + tarsum
    elif len(parts) == 2 and len(parts[0]) == 64:
        f = os.path.join(tree, parts[1])
        if not os.path.exists(f):
            sys.exit("rebase: %s is not in the new tree" % parts[1])
        line = hashlib.sha256(open(f, "rb").read()).hexdigest() + "  " + parts[1]
    out.append(line)
open(path, "w").write("\n".join(out))
PY
# The whole files of the series, and the two partial ones.
for f in $(cd "$w/repo" && git ls-files -- mm include tools Documentation fs arch kernel lib); do
	[ -e "$final/$f" ] && cp "$final/$f" "$w/repo/$f"
done
if [ -s "$w/repo/Kconfig.patch" ]; then
	(cd "$w" && diff -u --label a/mm/Kconfig --label b/mm/Kconfig \
		tree/mm/Kconfig "states/$(basename "$final")/mm/Kconfig" |
		sed '1,2s/\t.*//') > "$w/repo/Kconfig.patch" || true
fi
# The README names the pinned version where it says what the base is.
re() { printf '%s' "$1" | sed 's/[.~]/\\&/g'; }
sed -i -e "s/$(re "$old")/$new/g" -e "s/Linux $(re "${old%%-*}")/Linux ${new%%-*}/g" \
	-e "s/\`v$(re "${old%%-*}")\`/\`v${new%%-*}\`/g" "$w/repo/README.md"
log "re-recording the split (harness/series) from the merged patches"
n=$(($(ls "$w/states" | wc -l) - 1))
for ((i = 1; i <= n; i++)); do
	python3 "$w/repo/harness/series.py" record "$i" \
		"$w/states/$(printf %02d $((i - 1)))" "$w/states/$(printf %02d "$i")" ||
		die "could not record patch $i; nothing in the repository was changed"
done

log "make patches in the scratch copy"
mkdir -p "$w/out"
ln -sfn "$OUT/debs" "$w/out/debs"
if ! (cd "$w/repo" && OUT=$w/out ./harness/run.sh patches) > "$w/patches.log" 2>&1; then
	tail -n 30 "$w/patches.log" >&2
	die "make patches fails on $new (log: $w/patches.log); nothing in the repository was changed"
fi
grep -E '^(git am|maintainers):' "$w/patches.log" >&2 || true

log "writing the rebased files into the repository"
(cd "$w/repo" && git add -A && git diff --cached --name-only -z) |
	while IFS= read -r -d '' f; do
		mkdir -p "$top/$(dirname "$f")"
		cp -p "$w/repo/$f" "$top/$f"
		echo "rebase: $f"
	done
echo "rebase: the series is on linux-source-6.12 $new; see git diff, then run make test and commit"
