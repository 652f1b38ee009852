#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# zram_swap.sh PROGRAM [ARG...]: run PROGRAM (in the guest, from
# tests.list) with 256 MiB of swap on /dev/zram0, set up here and taken
# down afterwards, unless some swap is already on. Exits with PROGRAM's
# status.
#
# For upstream's cow test: a third of its cases page memory out with
# MADV_PAGEOUT and skip when nothing was swapped out.
z=/sys/block/zram0
ours=
if [ "$(grep -c . /proc/swaps)" -le 1 ] && [ -e $z/disksize ]; then
	if echo 256M > $z/disksize && mkswap /dev/zram0 >/dev/null &&
		swapon /dev/zram0; then
		ours=1
	else
		echo "zram_swap: cannot swap to /dev/zram0"
		echo 1 > $z/reset
	fi
fi
"$@"
rc=$?
if [ -n "$ours" ]; then
	swapoff /dev/zram0 || echo "zram_swap: swapoff /dev/zram0 failed"
	echo 1 > $z/reset
fi
exit $rc
