#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# apply.sh [--reset-from BASE] KSRC: put the series onto the kernel tree KSRC.
#
# Every file the series touches is checked against harness/base.manifest
# before anything is written. When each is either still the pinned base (it
# is then replaced or patched) or already what the series makes of it (left
# alone, so applying twice is harmless), and the tree is the pinned
# version, the series' whole files are written.
#
# Any other 6.12.y tree (a newer stable update, a distribution's tree, a
# local change) never gets a whole file: the patches of make patches are
# merged into its files with git am -3 (harness/merge.sh), so that its own
# fixes stay; if a hunk conflicts, each is named with its patch and the
# tree is left untouched.
#
# Whole files are written only when their content changes, through a
# temporary file and rename, so that timestamps of untouched files (and
# hard links into a pristine tree) survive.
#
# --reset-from BASE is for trees the harness owns (out/src/series): a file
# that holds an older state of the series is first put back from the
# pristine tree BASE, then the series is applied as usual.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
manifest=$top/harness/base.manifest
OUT=${OUT:-$top/out}

die() { echo "apply: $*" >&2; exit 1; }

reset_from=
if [ "${1:-}" = --reset-from ]; then
	reset_from=$(cd "${2:-}" 2>/dev/null && pwd) || die "--reset-from: no such directory"
	shift 2
fi
[ $# -eq 1 ] || die "usage: apply.sh [--reset-from BASE] /path/to/linux-6.12"
ksrc=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
[ -f "$ksrc/Makefile" ] && [ -f "$ksrc/mm/ksm.c" ] ||
	die "$ksrc does not look like a kernel tree (no Makefile or mm/ksm.c)"

version=$(awk '$1 == "package" { print $3 }' "$manifest")
# The tree's version, as "make kernelversion" forms it, read from the head
# of its Makefile: a make run from another make would print "Entering
# directory" lines (inherited MAKEFLAGS, MAKELEVEL) into its output.
kver=$(awk '
	/^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)[ \t]*=/ {
		key = val = $0
		sub(/[ \t]*=.*/, "", key)
		sub(/^[A-Z]+[ \t]*=[ \t]*/, "", val)
		sub(/[ \t]+$/, "", val)
		v[key] = val
		if (++n == 4)
			exit
	}
	END {
		if (v["VERSION"] == "")
			exit
		s = v["VERSION"]
		if (v["PATCHLEVEL"] != "") {
			s = s "." v["PATCHLEVEL"]
			if (v["SUBLEVEL"] != "")
				s = s "." v["SUBLEVEL"]
		}
		print s v["EXTRAVERSION"]
	}' "$ksrc/Makefile")
case $kver in
6.12.*) ;;
*) die "$ksrc is Linux ${kver:-unknown}; the series is for 6.12.y (pinned: Debian linux-source-6.12 $version)" ;;
esac

# Files of the series that are whole kernel files (all but the harness,
# the docs of this repository and the two partial files).
series_files() {
	(cd "$top" && git ls-files --cached --others --exclude-standard 2>/dev/null || find . -type f | sed 's|^\./||') |
		grep -E '^(mm|include|tools|Documentation|arch|kernel|lib|fs)/' | sort -u
}

base_sum() { awk -v p="$1" '!/^#/ && $2 == p { print $1 }' "$manifest"; }

sum() { sha256sum "$1" | cut -d' ' -f1; }

# The KSM entry of MAINTAINERS: this repository holds the entry alone; it is
# inserted into the tree's MAINTAINERS in alphabetical order of section
# titles (a title is a line after a blank line, followed by "X:<tab>").
maintainers_with_entry() {
	local entry=$top/MAINTAINERS
	local title
	title=$(head -n1 "$entry")
	awk -v title="$title" -v entry="$entry" '
		function flush_entry(  l) {
			while ((getline l < entry) > 0)
				print l
			print ""
			done = 1
		}
		{ lines[NR] = $0 }
		END {
			for (i = 1; i <= NR; i++) {
				is_title = (i > 1 && lines[i - 1] == "" &&
					    lines[i] ~ /^[A-Z0-9]/ &&
					    lines[i + 1] ~ /^[A-Z]:\t/)
				if (!done && is_title && lines[i] > title &&
				    seen_mm)
					flush_entry()
				if (is_title && lines[i] ~ /^MEMORY MANAGEMENT/)
					seen_mm = 1
				print lines[i]
			}
		}' "$1"
}

# The tree's section of the entry's title, up to the next blank line.
maintainers_entry_of() {
	awk -v title="$(head -n1 "$top/MAINTAINERS")" '
		$0 == title { on = 1 }
		on && $0 == "" { exit }
		on { print }' "$1"
}

# put_back F: restore F from the pristine tree (--reset-from only).
put_back() {
	[ -n "$reset_from" ] || return 1
	if [ -e "$reset_from/$1" ]; then
		cp "$reset_from/$1" "$ksrc/$1.apply-tmp"
		mv -f "$ksrc/$1.apply-tmp" "$ksrc/$1"
	else
		rm -f "$ksrc/$1"
	fi
}

# three_way_apply: the patches of make patches, merged with git am -3 onto
# the files of $ksrc (merge.sh); the merged files are written into $ksrc
# only when every patch applied. The tree's own changes, and the fixes of
# a newer 6.12.y, are kept; nothing is copied whole.
three_way_apply() {
	local w=$OUT/apply f n=0
	OUT=${OUT:-$top/out}
	export OUT
	# shellcheck source=harness/merge.sh
	. "$top/harness/merge.sh"
	"$top/harness/run.sh" gen-patches > "$OUT/apply-patches.log" 2>&1 || {
		tail -n 20 "$OUT/apply-patches.log" >&2
		die "could not make the patches (log: $OUT/apply-patches.log)"
	}
	mkdir -p "$w"
	if ! merge_series "$ksrc" "$w" >&2; then
		echo "apply: refusing: the series does not merge with $ksrc; the tree is untouched" >&2
		return 1
	fi
	for f in $(git -C "$w/git" diff --name-only base HEAD); do
		if [ -e "$w/git/$f" ]; then
			mkdir -p "$(dirname "$ksrc/$f")"
			cp -p "$w/git/$f" "$ksrc/$f.apply-tmp"
			mv -f "$ksrc/$f.apply-tmp" "$ksrc/$f"
		else
			rm -f "$ksrc/$f"
		fi
		echo "apply: $f (three-way merge)"
		n=$((n + 1))
	done
	echo "apply: $ksrc carries the series ($n files merged)"
}

errors=()
todo=()

check_whole_file() {
	local f=$1 want have
	want=$(base_sum "$f")
	if [ ! -e "$ksrc/$f" ]; then
		[ "$want" = absent ] && { todo+=("$f"); return; }
		errors+=("$f: missing from the tree")
		return
	fi
	if cmp -s "$top/$f" "$ksrc/$f"; then
		return			# already applied
	fi
	[ -n "$want" ] || { errors+=("$f: not listed in harness/base.manifest"); return; }
	have=$(sum "$ksrc/$f")
	if [ "$have" != "$want" ] && put_back "$f"; then
		todo+=("$f")
		return
	fi
	if [ "$have" != "$want" ]; then
		errors+=("$f: sha256 $have is not the base's $want (a different version or a local change)")
		return
	fi
	todo+=("$f")
}

for f in $(series_files); do
	check_whole_file "$f"
done

# mm/Kconfig through Kconfig.patch
kconfig_state=none
if [ -s "$top/Kconfig.patch" ]; then
	if [ "$(sum "$ksrc/mm/Kconfig")" = "$(base_sum mm/Kconfig)" ]; then
		patch -s --dry-run -p1 -d "$ksrc" < "$top/Kconfig.patch" >/dev/null ||
			errors+=("mm/Kconfig: Kconfig.patch does not apply")
		kconfig_state=apply
	elif patch -s -R --dry-run -p1 -d "$ksrc" < "$top/Kconfig.patch" >/dev/null 2>&1; then
		kconfig_state=applied
	elif put_back mm/Kconfig; then
		kconfig_state=apply
	else
		errors+=("mm/Kconfig: sha256 $(sum "$ksrc/mm/Kconfig") is neither the base's nor the base with Kconfig.patch")
	fi
fi

# MAINTAINERS through the KSM entry
maint_state=none
if [ -s "$top/MAINTAINERS" ]; then
	if [ "$(sum "$ksrc/MAINTAINERS")" = "$(base_sum MAINTAINERS)" ]; then
		maint_state=apply
	elif [ "$(maintainers_entry_of "$ksrc/MAINTAINERS")" = "$(cat "$top/MAINTAINERS")" ]; then
		maint_state=applied
	elif put_back MAINTAINERS; then
		maint_state=apply
	else
		errors+=("MAINTAINERS: sha256 $(sum "$ksrc/MAINTAINERS") is not the base's")
	fi
fi

if [ ${#errors[@]} -gt 0 ] || [ "$kver" != "${version%%-*}" ]; then
	[ -z "$reset_from" ] || {
		printf 'apply:   %s\n' "${errors[@]}" >&2
		die "$ksrc is a tree of the harness but not the pinned base"
	}
	# Not the pinned base: never whole files, a three-way merge of the
	# patches or nothing.
	echo "apply: $ksrc is Linux $kver, not the pinned base (Debian linux-source-6.12 $version):" >&2
	[ ${#errors[@]} -eq 0 ] || printf 'apply:   %s\n' "${errors[@]}" >&2
	echo "apply: applying the patches with a three-way merge instead" >&2
	three_way_apply
	exit $?
fi

write_file() {		# write_file SRC DST, by rename
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2.apply-tmp"
	mv -f "$2.apply-tmp" "$2"
}

for f in "${todo[@]}"; do
	write_file "$top/$f" "$ksrc/$f"
	echo "apply: $f"
done
if [ $kconfig_state = apply ]; then
	# Break a hard link to a pristine tree before patch edits the file.
	write_file "$ksrc/mm/Kconfig" "$ksrc/mm/Kconfig.unlinked"
	mv -f "$ksrc/mm/Kconfig.unlinked" "$ksrc/mm/Kconfig"
	patch -s -p1 -d "$ksrc" < "$top/Kconfig.patch"
	echo "apply: mm/Kconfig (Kconfig.patch)"
fi
if [ $maint_state = apply ]; then
	maintainers_with_entry "$ksrc/MAINTAINERS" > "$ksrc/MAINTAINERS.apply-tmp"
	mv -f "$ksrc/MAINTAINERS.apply-tmp" "$ksrc/MAINTAINERS"
	echo "apply: MAINTAINERS (KSM entry)"
fi
echo "apply: $ksrc carries the series"
