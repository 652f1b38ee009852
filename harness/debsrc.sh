# SPDX-License-Identifier: GPL-2.0
#
# debsrc.sh: Debian's linux-source-6.12, by version, for the harness (sourced
# by run.sh, rebase.sh and apply.sh). Each version's tarball is kept in
# $OUT/debs/VERSION/, fetched with apt-get download: several versions live
# side by side (make rebase needs two), and nothing is installed.

# debsrc_tarball VERSION: print the path of that version's tarball, after
# fetching it if needed.
debsrc_tarball() {
	local v=$1 d=$OUT/debs/$1 deb
	local t=$d/linux-source-6.12.tar.xz
	if [ ! -s "$t" ]; then
		mkdir -p "$d"
		rm -f "$d"/*.deb
		(cd "$d" && apt-get download -q "linux-source-6.12=$v" >/dev/null 2>&1) ||
			{ debsrc_apt_update &&
			  (cd "$d" && apt-get download -q "linux-source-6.12=$v" >/dev/null); } ||
			{ echo "debsrc: apt-get cannot download linux-source-6.12=$v" >&2; return 1; }
		deb=$(ls "$d"/linux-source-6.12_*.deb)
		dpkg-deb --fsys-tarfile "$deb" |
			tar -xO ./usr/src/linux-source-6.12.tar.xz > "$t.tmp"
		mv -f "$t.tmp" "$t"
		rm -f "$deb"
	fi
	echo "$t"
}

debsrc_apt_update() {
	if [ "$(id -u)" = 0 ]; then apt-get update -q >/dev/null; else sudo apt-get update -q >/dev/null; fi
}

# debsrc_unpack VERSION DEST: the tree of that version in DEST (a new
# directory).
debsrc_unpack() {
	local t
	t=$(debsrc_tarball "$1") || return 1
	rm -rf "$2" "$2.unpack"
	mkdir -p "$2.unpack"
	tar -xJf "$t" -C "$2.unpack"
	mv "$2.unpack/linux-source-6.12" "$2"
	rmdir "$2.unpack"
}

# debsrc_newest: the newest version of linux-source-6.12 that the package
# archive offers (from the last apt-get update), or nothing.
debsrc_newest() {
	apt-cache madison linux-source-6.12 2>/dev/null |
		awk -F'|' '{ gsub(/ /, "", $2); print $2 }' |
		sort -u | sort -V | tail -n 1
}
