# SPDX-License-Identifier: GPL-2.0
#
# merge.sh: the series' patches ($OUT/patches/series, from make patches)
# applied with a three-way merge onto another tree: a newer Debian 6.12.y
# (make rebase) or a user's own 6.12 tree (make apply). Sourced by
# rebase.sh and apply.sh.
#
# The merge happens in a scratch git repository that holds the series'
# files of that tree and every blob of the series' own repository
# ($OUT/patches/git), so that "git am -3" finds each patch's preimage, the
# pinned base, and merges the tree's own changes with the series'. The
# tree itself is only read.

# merge_series TREE WORK: WORK/git gets TREE's files (those of
# harness/base.manifest) as the commit tagged "base", then one commit per
# patch. Returns 0 when every patch applied; otherwise prints each
# conflicting hunk, with its patch, and returns 1.
merge_series() {
	local tree=$1 work=$2 f g patches=() rc=0
	g=$work/git
	rm -rf "$g"
	mkdir -p "$g"
	git init -q "$g"
	mgit() {
		GIT_AUTHOR_NAME=merge GIT_AUTHOR_EMAIL=merge@localhost \
		GIT_COMMITTER_NAME=merge GIT_COMMITTER_EMAIL=merge@localhost \
		GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z \
			git -C "$g" -c core.autocrlf=false -c user.useConfigOnly=false \
			-c merge.conflictStyle=merge "$@"
	}
	# The preimages of the patches: every object of the series' repository.
	mgit fetch -q --no-tags "$OUT/patches/git" 'refs/*:refs/series/*' ||
		{ echo "merge: no $OUT/patches/git (run make patches)" >&2; return 1; }
	for f in $(awk '!/^#/ && NF == 2 && ($1 == "absent" || length($1) == 64) { print $2 }' \
			"$top/harness/base.manifest"); do
		[ -e "$tree/$f" ] || continue
		mkdir -p "$g/$(dirname "$f")"
		cp -p "$tree/$f" "$g/$f"
	done
	mgit add -A -f
	mgit commit -q --allow-empty -m "base: the series' files of $tree"
	mgit tag base
	for f in "$OUT/patches/series"/0*.patch; do
		case $f in */0000-cover-letter.patch) ;; *) patches+=("$f") ;; esac
	done
	if ! mgit am -q -3 --keep-cr "${patches[@]}" > "$work/am.log" 2>&1; then
		merge_report "$work"
		mgit am --abort >/dev/null 2>&1 || true
		rc=1
	fi
	unset -f mgit
	return $rc
}

# merge_report WORK: the patch that did not apply, and each of its
# conflicting hunks (file, line in the merged file, the function around it
# and the conflict itself, shortened).
merge_report() {
	local work=$1 g=$1/git subject cur last files f
	cur=$(cat "$g/.git/rebase-apply/next" 2>/dev/null || echo '?')
	last=$(cat "$g/.git/rebase-apply/last" 2>/dev/null || echo '?')
	subject=$(git -C "$g" am --show-current-patch=raw 2>/dev/null |
		sed -n 's/^Subject: \[PATCH[^]]*\] //p' | head -n1)
	echo "merge: patch $cur of $last does not apply: $subject"
	files=$(git -C "$g" diff --name-only --diff-filter=U 2>/dev/null)
	if [ -z "$files" ]; then
		# No three-way merge was possible (a file the patch needs is
		# missing): git's own words.
		grep -E '^(error|fatal|Patch failed)' "$work/am.log" | sed 's/^/merge:   /'
		return
	fi
	for f in $files; do
		awk -v f="$f" '
			/^[a-zA-Z_].*\(/ && !/;[ \t]*$/ { fn = $0 }
			/^<<<<<<< / { start = NR; n = 0; in_c = 1
				sub(/[ \t]*\{?[ \t]*$/, "", fn)
				printf "merge:   %s:%d: conflicting hunk%s\n", f, NR,
					(fn != "" ? " in " fn : "")
				next }
			in_c && /^>>>>>>> / { in_c = 0
				if (n > 12) printf "merge:       ... (%d lines)\n", n
				next }
			in_c { if (++n <= 12) printf "merge:     | %s\n", $0 }
		' "$g/$f"
	done
	echo "merge: (the patches after it were not tried)"
}

# merge_states WORK OUT: the tree after each commit of WORK/git (the files
# of harness/base.manifest) in OUT/00 (base), OUT/01...
merge_states() {
	local g=$1/git out=$2 n=0 c f
	rm -rf "$out"
	for c in $(git -C "$g" rev-list --reverse HEAD); do
		mkdir -p "$out/$(printf %02d $n)"
		for f in $(awk '!/^#/ && NF == 2 && ($1 == "absent" || length($1) == 64) { print $2 }' \
				"$top/harness/base.manifest"); do
			git -C "$g" cat-file -e "$c:$f" 2>/dev/null || continue
			mkdir -p "$out/$(printf %02d $n)/$(dirname "$f")"
			git -C "$g" show "$c:$f" > "$out/$(printf %02d $n)/$f"
		done
		n=$((n + 1))
	done
}
