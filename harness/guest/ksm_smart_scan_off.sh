#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# ksm_smart_scan_off.sh PROGRAM [ARG...]: run PROGRAM (in the guest, from
# tests.list) with smart_scan=0, then put back the value it found. Exits
# with PROGRAM's status.
#
# For upstream's "ksm_tests -N -m 1": it registers a page on one node,
# waits for two full scans, registers its copy on the other node and waits
# for two more, "since merging occurs only after 2 scans". With
# sleep_millisecs=0 ksmd makes hundreds of full scans in that time, and
# smart_scan (on by default since 6.7) then skips the first page in most
# of them: two scans rarely have both pages in the unstable tree, and half
# of the runs under QEMU TCG found nothing merged. With smart_scan=0 every
# run merged the pair.
k=/sys/kernel/mm/ksm
old=$(cat $k/smart_scan 2>/dev/null)
if [ -n "$old" ] && ! echo 0 > $k/smart_scan; then
	echo "ksm_smart_scan_off: cannot write 0 to smart_scan"
fi
"$@"
rc=$?
[ -z "$old" ] || echo "$old" > $k/smart_scan
exit $rc
