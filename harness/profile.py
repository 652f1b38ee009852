#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Name the functions of a kernel profile (make bench PROFILE=1).

usage: profile.py RESULTS_LOG SYSTEM_MAP [TOP]

RESULTS_LOG holds ksm_bench's "profstep,STEP" line and its "prof,INDEX,TICKS"
lines: the buckets of /proc/profile that were hit, bucket INDEX covering
STEP bytes of kernel text from _stext + INDEX * STEP. SYSTEM_MAP is the
System.map of the kernel that ran. Prints the TOP (default 25) functions by
ticks, the idle loop left out, each with its share of the ticks that were
not idle; then the total.
"""
import bisect
import re
import sys

IDLE = re.compile(r'idle|halt|^mwait|^poll_idle|^cpu_startup_entry')


def main():
    log, smap = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    addrs, names, stext = [], [], None
    with open(smap) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[1] not in 'tTwW':
                continue
            addr = int(parts[0], 16)
            if parts[2] == '_stext':
                stext = addr
            addrs.append(addr)
            names.append(parts[2])
    if stext is None:
        sys.exit('profile.py: no _stext in ' + smap)
    order = sorted(range(len(addrs)), key=lambda i: addrs[i])
    addrs = [addrs[i] for i in order]
    names = [names[i] for i in order]
    step, ticks = None, {}
    with open(log) as f:
        for line in f:
            if line.startswith('profstep,'):
                step = int(line.split(',')[1])
            elif line.startswith('prof,'):
                _, idx, n = line.strip().split(',')
                pc = stext + int(idx) * step
                i = bisect.bisect_right(addrs, pc) - 1
                name = names[i] if i >= 0 else '?'
                ticks[name] = ticks.get(name, 0) + int(n)
    if step is None:
        sys.exit('profile.py: no profile in ' + log)
    busy = {k: v for k, v in ticks.items() if not IDLE.search(k)}
    total = sum(busy.values())
    idle = sum(ticks.values()) - total
    for name, n in sorted(busy.items(), key=lambda kv: -kv[1])[:top]:
        print(f'{n:8d} {100.0 * n / max(total, 1):5.1f}% {name}')
    print(f'{total:8d} ticks not idle ({idle} idle), {step}-byte buckets')


if __name__ == '__main__':
    main()
