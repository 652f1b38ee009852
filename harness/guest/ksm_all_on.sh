#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# ksm_all_on.sh PROGRAM [ARG...]: run PROGRAM (in the guest, from
# tests.list) while ksmd runs with every feature of the series on:
# use_zero_pages=1, zero_pages_scope=all, zero_pages_min_age=0,
# unstable_refresh_millisecs=1000, pages_to_scan=1000, sleep_millisecs=20,
# run=1. The values it found are written back afterwards, after a run=2
# that unmerges what ksmd merged meanwhile (zero_pages_scope goes back
# first). A knob that this kernel does not have (the base) is left out,
# and said so. Exits with PROGRAM's status.
k=/sys/kernel/mm/ksm
knobs="pages_to_scan sleep_millisecs use_zero_pages zero_pages_min_age
	unstable_refresh_millisecs"

# put KNOB VALUE: write VALUE to KNOB if this kernel has it.
put() {
	if [ ! -e "$k/$1" ]; then
		echo "ksm_all_on: no $1 on this kernel"
	elif ! echo "$2" > "$k/$1"; then
		echo "ksm_all_on: cannot write $2 to $1"
	fi
}

for n in $knobs run; do
	eval "old_$n=\$(cat $k/$n 2>/dev/null)"
done
# "[mergeable] all": the word in brackets.
old_scope=$(sed -n 's/.*\[\(.*\)\].*/\1/p' $k/zero_pages_scope 2>/dev/null)

put pages_to_scan 1000
put sleep_millisecs 20
put use_zero_pages 1
put zero_pages_min_age 0
put unstable_refresh_millisecs 1000
put zero_pages_scope all
put run 1
echo "ksm_all_on: $(cd $k && grep -H . run pages_to_scan sleep_millisecs \
	use_zero_pages zero_pages_min_age unstable_refresh_millisecs \
	zero_pages_scope 2>/dev/null |
	tr '\n' ' ')"

scans=$(cat $k/full_scans)
merged=$(cat $k/zero_pages_merged 2>/dev/null)
"$@"
rc=$?
echo "ksm_all_on: meanwhile $(($(cat $k/full_scans) - scans)) full scans${merged:+, $(($(cat $k/zero_pages_merged) - merged)) zero pages merged}"

[ -z "$old_scope" ] || put zero_pages_scope "$old_scope"
put run 2
for n in $knobs run; do
	eval "v=\$old_$n"
	[ -z "$v" ] || put "$n" "$v"
done
echo "ksm_all_on: $* exited with $rc; ksm_zero_pages $(cat $k/ksm_zero_pages 2>/dev/null), run $(cat $k/run)"
exit $rc
