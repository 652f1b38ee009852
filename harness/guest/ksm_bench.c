// SPDX-License-Identifier: GPL-2.0
/*
 * ksm_bench: the workloads of "make bench", run in the guest of each kernel
 * (the pristine base and the base with the series) with the same settings.
 *
 * Output, one record a line, for the host to compare:
 *   csv,<workload>,<run>,<metric>,<value>
 *   ts,<workload>,<run>,<seconds>,<MiB reclaimed>
 *
 * Workloads:
 *   zero    256 MiB zero-filled: scans, pages visited, seconds and ksmd CPU
 *           until 99% is reclaimed (use_zero_pages=1, pages_to_scan=1000,
 *           sleep_millisecs=20)
 *   unique  64 MiB of unique pages, 3 full scans: ksmd CPU per page visited
 *           (what the zero test costs pages that are not zero)
 *   mixed   zero, duplicate, unique and constantly rewritten pages, 32 MiB
 *           each: MiB reclaimed after 4 full scans, ksmd CPU per page visited
 *   limit   ksmd's zero-page throughput at sleep_millisecs=0 against a user
 *           space loop that checks the same amount of memory for zeros
 *   churn   unique pages, half of them rewritten now and then in their first
 *           word (some after they entered the unstable tree), and later in
 *           the scan copies of the other half: merges after each of 4 full scans,
 *           pages_unshared, items dropped and ksmd CPU, with the unstable
 *           tree refresh off and at 1000 and 200 ms (where the kernel has
 *           it)
 *   pinned  32 MiB zero-filled, every page held by a pipe (vmsplice(), never
 *           read), next to 32 MiB of unique pages: after 3 settling full
 *           scans, ksmd CPU per full scan and per page visited over 3 more,
 *           and the pinned pages KSM replaced (must be none)
 *   sparse  32 MiB of pages zero but for one word, which a sample of words
 *           0, n/4, n/2, 3n/4 and n-1 misses: after 2 settling full scans,
 *           ksmd CPU per full scan and per page visited over 3 more (the
 *           table compares the latter with unique's), pages merged (none)
 *   zero-write-age0, zero-write-age1 (zero-write: both)
 *           a thread zeroes a 16 MiB ring 1 MiB at a time and writes data
 *           into each MiB 0.8 s after zeroing it, 100 MiB in 10 s, with
 *           zero_pages_min_age 0 and 1 (where the kernel has it): minor
 *           faults of the thread (a write to a page KSM merged faults),
 *           ksmd CPU, MiB mapped to the zero page on average
 *   thp-zero
 *           256 MiB zero-filled in THPs (2 MiB aligned, MADV_HUGEPAGE,
 *           written): seconds, ksmd CPU and full scans until 99% of it has
 *           left the process's RSS (the base maps zero subpages to the 4K
 *           zero page when it splits a THP, the series may map the huge
 *           zero page: either drops RSS); THP MiB before, THP splits, page
 *           table KiB, AnonHugePages after, ksm_zero_pages, THPs merged
 *           whole (zero_pages_thp_merged, where the kernel has it) and
 *           pages khugepaged collapsed meanwhile
 *   thp-half, thp-half-256 (thp-half: both)
 *           256 MiB in THPs, the even 4K pages of each unique, the odd ones
 *           zero: the same figures after 3 full scans or once 99% of the
 *           zero half has left RSS, with zero_pages_thp_split_min left
 *           alone and at 256 (where the kernel has it)
 *   thp-sparse
 *           64 MiB in THPs (MADV_HUGEPAGE), zero-filled but for one word a
 *           THP (word 1 of its page 100, where a sample of words 0, n/4,
 *           n/2, 3n/4 and n-1 of each page does not look), different from
 *           THP to THP, use_zero_pages=1: ksmd CPU per full scan over the
 *           first 5 full scans from run=1 and over the 5 after them (the
 *           steady state), pages visited per full scan in the latter, the
 *           owner's minor faults meanwhile (it only polls), RSS given back,
 *           AnonHugePages, THP splits, ksm_zero_pages, THPs merged whole;
 *           then, ksmd stopped, the faults the owner takes when it writes a
 *           word into every page (and, before registering, the same writes
 *           without KSM: none), and its words checked
 *   mthp-zero-64k, mthp-zero-16k (mthp-zero: both)
 *           256 MiB zero-filled in multi-size THPs of 64 KiB (16 KiB), that
 *           size alone enabled, use_zero_pages=1: seconds, ksmd CPU and
 *           full scans until 99% has left RSS, as thp-zero; the folios
 *           faulted in, those split, ksm_zero_pages, and those given back
 *           whole (zero_pages_mthp_merged, where the kernel has it)
 *   thp-unique
 *           thp-sparse's control: the same 64 MiB of THPs with a word of
 *           its own in every 4K page (no page zero-filled, none alike), the
 *           same figures: what a full scan costs on THPs that neither
 *           kernel can merge, and so keeps
 *   khugepaged-default, khugepaged-fast, khugepaged-fast-256 (khugepaged:
 *           the first two); only when asked for by name
 *           thp-half's memory (256 MiB of THPs, odd 4K pages zero, even
 *           ones unique) with ksmd running (pages_to_scan=1000,
 *           sleep_millisecs=20) for 600 s ("khugepaged-seconds=N" among
 *           the arguments changes that), khugepaged at its defaults
 *           (default) or with scan_sleep_millisecs=1000 (fast), and for
 *           fast-256 also zero_pages_thp_split_min=256, so that the series
 *           splits these THPs as the base does (not applicable without the
 *           knob). Every 30 s a "kh," line (columns on the "khcols," line):
 *           RSS given back, ksm_zero_pages, AnonHugePages and RSS in MiB,
 *           thp_split_page and thp_collapse_alloc (/proc/vmstat), ksmd and
 *           khugepaged CPU, full scans of both, all since run=1; totals
 *           and means on csv lines, and the data checked at the end
 *   unmerge-walk
 *           a process that never registered, with 4 MiB of KSM zero pages
 *           (zero_pages_scope=all) next to 1 GiB of data in small pages:
 *           seconds of run=2 (it reads every PTE of that memory), the
 *           longest wait of a thread on the writer's CPU meanwhile and,
 *           the control, while the writer spins for as long in user space;
 *           then the writer of run=2 killed a quarter of that time in: how
 *           long the kill takes to end it (only with zero_pages_scope)
 *   unregistered-none, unregistered-zram, unregistered-all (unregistered:
 *           the three)
 *           4 processes (exec()ed by the bench: never registered with KSM)
 *           each hold 80 MiB of 4K pages, 64 MiB zero-filled (written) with
 *           a page of unique data after every UNREG_ZERO_RUN of them. What
 *           each way of getting the zero pages back gives back and costs:
 *           none: KSM runs 10 s with the scope it has (the base's, or
 *           "mergeable"); zram: proactive reclaim of the processes' cgroup
 *           (memory.reclaim, "320M" a write) to a zram swap device until
 *           99% of the zero pages have left RSS, at most 30 s; all:
 *           zero_pages_scope "all" (where the kernel has it) until 99%, and
 *           again with the processes madvise(MADV_MERGEABLE)ing their memory
 *           under "mergeable" for the KSM metadata it costs. Then each
 *           process reads all of its memory once. RSS given back (statm),
 *           zero pages out of RSS and data pages swapped out (pagemap),
 *           seconds and CPU (the reclaim writer's thread, kswapd0, ksmd),
 *           faults and CPU of the read-back, RSS given back after it, zram
 *           memory (mm_stat), KSM slab (slabinfo) and rmap_items (ksm_stat).
 *           Mounts cgroup2 on /sys/fs/cgroup and puts a swap header on
 *           /dev/zram0 if needed (CONFIG_MEMCG, CONFIG_ZRAM, CONFIG_SWAP);
 *           without them, zram says so and is left out.
 *   scope-unique
 *           256 MiB of 4K pages of unique data in a process exec()ed by the
 *           bench, never registered: ksmd CPU per page visited over 3 full
 *           scans under zero_pages_scope "all" (1000 pages every 20 ms),
 *           then over 20 with sleep_millisecs 0 (scope-unique-nosleep),
 *           next to the CPU per page of a walk of the process over the
 *           same memory reading each page's first word (with its TLB warm,
 *           and emptied) and of the kernel's walk of its page tables
 *           (/proc/self/pagemap), just before (the least of 5 each).
 *           Kernels without zero_pages_scope: not applicable.
 *   scope-write
 *           latency of writing "all" to zero_pages_scope with SW_PROCS
 *           (2000) small sleeping processes, one of which has its mmap_lock
 *           held for reading for about 7 s from 0.3 s before the write (a
 *           MADV_POPULATE_READ of tens of GiB of address space, sized at
 *           run time; a thread of it times an mmap() meanwhile: the hold
 *           it saw), 3 runs, min/median/max; and 3 runs without the hold.
 *           The scope goes back to "mergeable", the processes are killed
 *           and run=2 is written after each run. A write that blocks is
 *           killed after SW_WRITE_LIMIT s; the holder ends on its own.
 *           Kernels without zero_pages_scope: not applicable.
 *   fork-exec
 *           fork+exec+exit+wait of a 129-byte static program in a loop,
 *           4 s rounds, 6 rounds each with zero_pages_scope "mergeable" and
 *           "all" alternated (ABBA), use_zero_pages=1, run=1: iterations a
 *           second per round, the median per setting and all/mergeable,
 *           and ksmd's share of a CPU per setting.
 *           Kernels without the scope run "mergeable" alone.
 *   pretouched-heap (all of the following), pretouched-heap-none,
 *   pretouched-heap-all-age0, -all-age1, -all-age3, -mergeable-age0,
 *   -mergeable-age3, -thp-all-age0
 *           a new process writes zeros into every page of a 256 MiB heap
 *           (4K pages; THPs for -thp-), then, with ksmd running
 *           (use_zero_pages=1, pages_to_scan=1000, sleep_millisecs=20),
 *           writes data into it 4 MiB at a time, in order, one chunk every
 *           312.5 ms for 20 s. The heap is not registered (none: scope
 *           "mergeable"; all-ageN: scope "all" and zero_pages_min_age N)
 *           or registered with MADV_MERGEABLE under "mergeable"
 *           (mergeable-ageN). Minor faults of the pre-touch and of the 20 s
 *           of writes, the process's CPU for the writes, MiB of its
 *           ksm_zero_pages (sampled every 100 ms: peak, mean, at the end),
 *           ksmd CPU, full scans, zero_pages_merged. Settings a kernel
 *           cannot have ("all") are not applicable there.
 * Kernel knobs a kernel does not have are left alone. THP is set to
 * "madvise" if it is "never" (the test kernels say "always").
 *
 * Arguments: workload names, separated by commas or spaces; none: all but
 * the khugepaged ones.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ksm_guest.h"

#define MIB (1UL << 20)

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

static long page_size;
static pid_t ksmd;

/* Knobs a kernel does not have are left alone. */
static bool write_str(const char *path, const char *s);

static void ksm_write(const char *knob, long val)
{
	ksm_try_write(knob, val);
}

static double ksmd_cpu(void)
{
	return task_cpu(ksmd);
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void csv(const char *w, int run, const char *metric, double v)
{
	printf("csv,%s,%d,%s,%.6g\n", w, run, metric, v);
}

static char *map_pages(unsigned long bytes)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, bytes, MADV_NOHUGEPAGE);
	return p;
}

static void fill_unique(char *p, unsigned long bytes, uint64_t seed)
{
	unsigned long i;

	for (i = 0; i < bytes; i += 8) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		memcpy(p + i, &seed, 8);
	}
}

static void ksm_reset(long pages_to_scan, long sleep_ms)
{
	ksm_write("run", 2);
	ksm_write("use_zero_pages", 1);
	ksm_write("pages_to_scan", pages_to_scan);
	ksm_write("sleep_millisecs", sleep_ms);
}

struct mark {
	double t, cpu;
	long scans, scanned;
};

static void mark(struct mark *m)
{
	m->t = now();
	m->cpu = ksmd_cpu();
	m->scans = ksm_read("full_scans");
	m->scanned = ksm_read("pages_scanned");
}

/* Reclaim a zero-filled area; stop at 99%. */
static void zero_reclaim(const char *w, int run, unsigned long mib,
			 long pages_to_scan, long sleep_ms, double limit_s)
{
	unsigned long bytes = mib * MIB, pages = bytes / page_size;
	long zero = 0, goal = pages * 99 / 100;
	struct mark a, b;
	double last_ts = -1, t;
	char *p;

	ksm_reset(pages_to_scan, sleep_ms);
	p = map_pages(bytes);
	memset(p, 0, bytes);
	madvise(p, bytes, MADV_MERGEABLE);
	mark(&a);
	ksm_write("run", 1);
	do {
		usleep(10000);
		zero = ksm_read("ksm_zero_pages");
		t = now() - a.t;
		if (t - last_ts >= 0.1) {
			printf("ts,%s,%d,%.2f,%.1f\n", w, run, t,
			       (double)zero * page_size / MIB);
			last_ts = t;
		}
	} while (zero < goal && t < limit_s);
	mark(&b);
	ksm_write("run", 0);
	printf("ts,%s,%d,%.2f,%.1f\n", w, run, b.t - a.t,
	       (double)zero * page_size / MIB);
	csv(w, run, "reached_99pct", zero >= goal);
	/*
	 * Full scans needed: the area is all ksmd scans, so each full scan
	 * visits each of its pages once (a merged page is not visited again).
	 */
	csv(w, run, "full_scans",
	    ceil((double)(b.scanned - a.scanned) / pages - 0.05));
	csv(w, run, "pages_visited_per_page",
	    (double)(b.scanned - a.scanned) / pages);
	csv(w, run, "seconds", b.t - a.t);
	csv(w, run, "ksmd_cpu_s", b.cpu - a.cpu);
	csv(w, run, "ksmd_us_per_reclaimed_page",
	    zero ? (b.cpu - a.cpu) * 1e6 / zero : 0);
	csv(w, run, "reclaimed_pages_per_cpu_s",
	    b.cpu > a.cpu ? zero / (b.cpu - a.cpu) : 0);
	munmap(p, bytes);
	ksm_write("run", 2);
}

/* Wait for @n more full scans, at most @limit_s seconds. */
static void wait_scans(long n, double limit_s)
{
	long start = ksm_read("full_scans");
	double t0 = now();

	while (ksm_read("full_scans") < start + n && now() - t0 < limit_s)
		usleep(20000);
}

static void unique_cost(int run)
{
	unsigned long bytes = 64 * MIB;
	struct mark a, b;
	char *p;

	ksm_reset(1000, 20);
	p = map_pages(bytes);
	fill_unique(p, bytes, 0x1234567 + run);
	madvise(p, bytes, MADV_MERGEABLE);
	mark(&a);
	ksm_write("run", 1);
	wait_scans(3, 300);
	mark(&b);
	ksm_write("run", 0);
	csv("unique", run, "pages_visited", b.scanned - a.scanned);
	csv("unique", run, "ksmd_us_per_page_visited",
	    b.scanned > a.scanned ?
	    (b.cpu - a.cpu) * 1e6 / (b.scanned - a.scanned) : 0);
	munmap(p, bytes);
	ksm_write("run", 2);
}

/*
 * Writers run as threads of the process that owns the area: a child
 * process would write its own copy, and would register that copy with KSM
 * too (ksm_fork()), merging with the parent's pages.
 */
struct writer {
	pthread_t thread;
	char *p;
	unsigned long pages;
	long rate;		/* pages a second, 0: all pages every 20 ms */
	bool head;		/* write the first word, which orders the page */
	bool stop;		/* __atomic */
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	uint64_t x = 88172645463325252ULL;
	unsigned long i;

	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		for (i = 0; i < (w->rate ? 1 : w->pages); i++) {
			unsigned long page = w->rate ? 0 : i;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (w->rate)
				page = (x >> 8) % w->pages;
			memcpy(w->p + page * page_size +
			       (w->head ? 0 : (x % (page_size / 8)) * 8), &x, 8);
		}
		usleep(w->rate ? 1000000 / w->rate : 20000);
	}
	return NULL;
}

static void start_writer(struct writer *w, char *p, unsigned long pages,
			 long rate, bool head)
{
	w->p = p;
	w->pages = pages;
	w->rate = rate;
	w->head = head;
	w->stop = false;
	if (pthread_create(&w->thread, NULL, writer_thread, w)) {
		perror("pthread_create");
		exit(1);
	}
}

static void stop_writer(struct writer *w)
{
	__atomic_store_n(&w->stop, true, __ATOMIC_RELAXED);
	pthread_join(w->thread, NULL);
}

static void mixed(int run)
{
	unsigned long share = 32 * MIB, bytes = 4 * share, i;
	struct writer rewriter;
	struct mark a, b;
	char *p;

	ksm_reset(1000, 20);
	p = map_pages(bytes);
	memset(p, 0, share);
	for (i = 0; i < share; i += page_size)
		memset(p + share + i, 'a' + (i / page_size) % 16, page_size);
	fill_unique(p + 2 * share, 2 * share, 0xabcdef + run);
	madvise(p, bytes, MADV_MERGEABLE);
	start_writer(&rewriter, p + 3 * share, share / page_size, 0, false);
	mark(&a);
	ksm_write("run", 1);
	wait_scans(4, 600);
	mark(&b);
	ksm_write("run", 0);
	csv("mixed", run, "reclaimed_mib_after_4_scans",
	    (double)(ksm_read("pages_sharing") + ksm_read("ksm_zero_pages")) *
	    page_size / MIB);
	csv("mixed", run, "pages_visited", b.scanned - a.scanned);
	csv("mixed", run, "ksmd_us_per_page_visited",
	    b.scanned > a.scanned ?
	    (b.cpu - a.cpu) * 1e6 / (b.scanned - a.scanned) : 0);
	csv("mixed", run, "seconds", b.t - a.t);
	stop_writer(&rewriter);
	munmap(p, bytes);
	ksm_write("run", 2);
}

static void churn(const char *w, int run, long refresh_ms)
{
	const unsigned long half = 4096, bytes = 3 * half * page_size;
	long scans0, unshared_sum = 0, samples = 0, dropped0, refreshed0, k;
	struct writer churner;
	struct mark a, b;
	char *p;

	ksm_reset(200, 20);
	ksm_write("smart_scan", 0);
	ksm_write("use_zero_pages", 0);
	ksm_write("unstable_refresh_millisecs", refresh_ms);
	p = map_pages(bytes);
	/* [0, half): unique and stable; [half, 2 half): unique, churned;
	 * [2 half, 3 half): copies of the first half, later in the scan. */
	fill_unique(p, 2 * half * page_size, 0x5eed + run);
	memcpy(p + 2 * half * page_size, p, half * page_size);
	madvise(p, bytes, MADV_MERGEABLE);
	/*
	 * The churner rewrites the first word of a page: the unstable tree is
	 * ordered by memcmp(), so a changed node misleads the searches.
	 */
	start_writer(&churner, p + half * page_size, half, 2000, true);
	dropped0 = ksm_read("unstable_refresh_dropped");
	refreshed0 = ksm_read("unstable_refreshed");
	mark(&a);
	scans0 = a.scans;
	ksm_write("run", 1);
	for (k = 1; k <= 4; k++) {
		char metric[64];

		while (ksm_read("full_scans") < scans0 + k) {
			usleep(20000);
			unshared_sum += ksm_read("pages_unshared");
			samples++;
		}
		snprintf(metric, sizeof(metric), "merged_after_scan_%ld", k);
		csv(w, run, metric, ksm_read("pages_sharing"));
	}
	mark(&b);
	ksm_write("run", 0);
	csv(w, run, "pages_unshared_mean", samples ? unshared_sum / samples : 0);
	csv(w, run, "items_refreshed",
	    refreshed0 >= 0 ? ksm_read("unstable_refreshed") - refreshed0 : 0);
	csv(w, run, "items_dropped",
	    dropped0 >= 0 ? ksm_read("unstable_refresh_dropped") - dropped0 : 0);
	csv(w, run, "ksmd_cpu_s_per_full_scan", (b.cpu - a.cpu) / 4);
	stop_writer(&churner);
	munmap(p, bytes);
	ksm_write("unstable_refresh_millisecs", 0);
	ksm_write("smart_scan", 1);
	ksm_write("run", 2);
}

/* Pages of this process that KSM mapped to the zero page or to KSM pages. */
static long self_ksm_pages(void)
{
	long zero = ksm_stat(getpid(), "ksm_zero_pages");
	long ksm = ksm_stat(getpid(), "ksm_merging_pages");

	return (zero > 0 ? zero : 0) + (ksm > 0 ? ksm : 0);
}

/* Page frame of each page from @p on, 0 where none (or hidden from us). */
static void page_frames(const char *p, unsigned long pages, uint64_t *pfn)
{
	size_t len = pages * sizeof(*pfn);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	unsigned long i;

	if (fd < 0 ||
	    pread(fd, pfn, len, (uintptr_t)p / page_size * sizeof(*pfn)) != (ssize_t)len)
		memset(pfn, 0, len);
	if (fd >= 0)
		close(fd);
	for (i = 0; i < pages; i++)	/* bit 63: present; 0-54: frame */
		pfn[i] = pfn[i] >> 63 ? pfn[i] & ((1ULL << 55) - 1) : 0;
}

/*
 * settle_and_measure - run ksmd for @settle full scans, then measure @measure
 * more: ksmd CPU per full scan, per page visited, and pages visited per full
 * scan. A kernel that cannot finish them in @limit_s seconds each gets the
 * figures of the scans it did finish, and a line that says so.
 */
static void settle_and_measure(const char *w, int run, long settle,
			       long measure, double limit_s)
{
	struct mark a, b;
	long scans, visited;

	ksm_write("run", 1);
	wait_scans(settle, limit_s);
	mark(&a);
	wait_scans(measure, limit_s);
	mark(&b);
	ksm_write("run", 0);
	scans = b.scans - a.scans;
	visited = b.scanned - a.scanned;
	if (scans < measure)
		printf("ksm_bench: %s run %d: %ld of %ld full scans in %.1f s\n",
		       w, run, scans, measure, b.t - a.t);
	if (scans < 1)
		scans = 1;
	csv(w, run, "ksmd_cpu_s_per_full_scan", (b.cpu - a.cpu) / scans);
	csv(w, run, "ksmd_us_per_page_visited",
	    visited > 0 ? (b.cpu - a.cpu) * 1e6 / visited : 0);
	csv(w, run, "pages_visited_per_full_scan", (double)visited / scans);
}

/* Raise the limit of open files; false if it cannot go higher. */
static bool more_files(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return false;
	if (rl.rlim_cur >= 1 << 20)
		return false;
	rl.rlim_cur *= 2;
	if (rl.rlim_max < rl.rlim_cur)
		rl.rlim_max = rl.rlim_cur;	/* root may raise it */
	return !setrlimit(RLIMIT_NOFILE, &rl);
}

/* Pipes holding a reference on each page of an area: never read. */
struct pins {
	int *fd;
	int nfd;
};

static void pin_pages(struct pins *pins, char *p, unsigned long bytes)
{
	long max = read_long("/proc/sys/fs/pipe-max-size");
	unsigned long off = 0;

	pins->fd = NULL;
	pins->nfd = 0;
	while (off < bytes) {
		unsigned long in_pipe = 0;
		int fds[2];
		long size;

		if (pipe2(fds, O_NONBLOCK)) {
			if (errno == EMFILE && more_files())
				continue;
			perror("pipe2");
			exit(1);
		}
		pins->fd = realloc(pins->fd, (pins->nfd + 2) * sizeof(int));
		if (!pins->fd) {
			perror("realloc");
			exit(1);
		}
		pins->fd[pins->nfd++] = fds[0];
		pins->fd[pins->nfd++] = fds[1];
		size = max > 0 ? fcntl(fds[1], F_SETPIPE_SZ, max) : -1;
		if (size < 0)
			size = fcntl(fds[1], F_GETPIPE_SZ);
		if (size < page_size)
			size = page_size;
		/* One page a pipe buffer: the pipe takes size / page_size. */
		while (off < bytes) {
			struct iovec iov = {
				.iov_base = p + off,
				.iov_len = bytes - off < (unsigned long)size ?
					   bytes - off : (unsigned long)size,
			};
			ssize_t n = vmsplice(fds[1], &iov, 1, SPLICE_F_NONBLOCK);

			if (n < 0 && errno == EAGAIN && in_pipe)
				break;	/* full: next pipe */
			if (n <= 0) {
				perror("vmsplice");
				exit(1);
			}
			off += n;
			in_pipe += n;
		}
	}
}

static void unpin_pages(struct pins *pins)
{
	int i;

	for (i = 0; i < pins->nfd; i++)
		close(pins->fd[i]);
	free(pins->fd);
}

/*
 * Zero-filled pages that somebody holds a reference on (here pipes, as
 * vmsplice() leaves them; O_DIRECT and GUP users alike) must not be
 * replaced: the holder would no longer see what the process writes. KSM
 * finds them zero-filled on every scan and fails to merge them on every
 * scan; what matters is what that failure costs, next to the cost of as
 * many unique pages in the same process.
 */
static void pinned(int run)
{
	const unsigned long half = 32 * MIB, pages = half / page_size;
	uint64_t *pfn0 = calloc(pages, sizeof(*pfn0));
	uint64_t *pfn1 = calloc(pages, sizeof(*pfn1));
	long zero, replaced = 0;
	struct pins pins;
	unsigned long i;
	char *p;

	if (!pfn0 || !pfn1) {
		perror("calloc");
		exit(1);
	}
	ksm_reset(1000, 20);
	ksm_write("zero_pages_min_age", 0);
	p = map_pages(2 * half);
	memset(p, 0x5a, half);		/* real pages, then zero-filled */
	memset(p, 0, half);
	fill_unique(p + half, half, 0x91e5 + run);
	pin_pages(&pins, p, half);
	page_frames(p, pages, pfn0);
	madvise(p, 2 * half, MADV_MERGEABLE);
	/*
	 * Nothing here can merge: after 3 full scans both kernels are past
	 * the first visits (checksums, trees) and only fail again.
	 */
	settle_and_measure("pinned", run, 3, 3, 60);
	zero = ksm_stat(getpid(), "ksm_zero_pages");
	csv("pinned", run, "zero_merged_pages", zero);
	page_frames(p, pages, pfn1);
	if (pfn0[0]) {
		for (i = 0; i < pages; i++)
			replaced += pfn1[i] != pfn0[i];
		csv("pinned", run, "pinned_pages_replaced", replaced);
	}
	unpin_pages(&pins);
	munmap(p, 2 * half);
	free(pfn0);
	free(pfn1);
	ksm_write("run", 2);
}

/*
 * Pages that are zero but for one word, placed where a sample of words 0,
 * n/4, n/2, 3n/4 and n-1 does not look (n words a page), at a different
 * place from page to page; the word differs from page to page, so that no
 * two pages are the same either.
 */
static void sparse(int run)
{
	const unsigned long bytes = 32 * MIB, pages = bytes / page_size;
	const unsigned long n = page_size / 8;
	unsigned long i;
	char *p;

	ksm_reset(1000, 20);
	ksm_write("zero_pages_min_age", 0);
	p = map_pages(bytes);
	memset(p, 0, bytes);
	for (i = 0; i < pages; i++) {
		unsigned long word = i * 97 % (n - 2) + 1;
		uint64_t v = i + 1 + ((uint64_t)run << 32);

		if (word == n / 4 || word == n / 2 || word == 3 * n / 4)
			word++;
		memcpy(p + i * page_size + word * 8, &v, 8);
	}
	madvise(p, bytes, MADV_MERGEABLE);
	settle_and_measure("sparse", run, 2, 3, 60);
	csv("sparse", run, "pages_merged", self_ksm_pages());
	munmap(p, bytes);
	ksm_write("run", 2);
}

/*
 * Zero, then written within a second: a thread clears a ring of
 * ZW_CHUNKS MiB one MiB every tick, and ZW_LAG ticks later writes data
 * into that MiB, until it has cleared ZW_ZEROED MiB and written them all
 * again. The same work at the same times on every kernel: what differs is
 * how much of the cleared memory ksmd maps to the zero page meanwhile, at
 * what CPU, and how many faults the writes then take.
 */
#define ZW_CHUNKS	16
#define ZW_ZEROED	100
#define ZW_LAG		8
#define ZW_TICK_NS	100000000L	/* 100 ms: written 0.8 s after clearing */
#define ZW_TICKS	(ZW_ZEROED + ZW_LAG)

static void tick_sleep(struct timespec *next)
{
	next->tv_nsec += ZW_TICK_NS;
	if (next->tv_nsec >= 1000000000L) {
		next->tv_nsec -= 1000000000L;
		next->tv_sec++;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL) == EINTR)
		;
}

struct zero_writer {
	pthread_t thread;
	char *p;
	long minflt;
};

static void *zero_writer_thread(void *arg)
{
	struct zero_writer *z = arg;
	struct rusage r0, r1;
	struct timespec next;
	int t;

	getrusage(RUSAGE_THREAD, &r0);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (t = 0; t < ZW_TICKS; t++) {
		if (t < ZW_ZEROED)
			memset(z->p + (t % ZW_CHUNKS) * MIB, 0, MIB);
		if (t >= ZW_LAG)
			fill_unique(z->p + ((t - ZW_LAG) % ZW_CHUNKS) * MIB, MIB,
				    0x2b0 + t);
		tick_sleep(&next);
	}
	getrusage(RUSAGE_THREAD, &r1);
	z->minflt = r1.ru_minflt - r0.ru_minflt;
	return NULL;
}

static void zero_write(const char *w, int run, long min_age)
{
	const unsigned long bytes = ZW_CHUNKS * MIB;
	long merged0, zero_sum = 0, t;
	struct zero_writer z;
	struct timespec next;
	struct mark a, b;

	ksm_reset(1000, 20);
	ksm_write("zero_pages_min_age", min_age);
	z.p = map_pages(bytes);
	fill_unique(z.p, bytes, 0xfeed0000 + run);
	madvise(z.p, bytes, MADV_MERGEABLE);
	ksm_write("run", 1);
	wait_scans(2, 60);		/* every data page seen twice */
	merged0 = ksm_read("zero_pages_merged");
	mark(&a);
	if (pthread_create(&z.thread, NULL, zero_writer_thread, &z)) {
		perror("pthread_create");
		exit(1);
	}
	/* One sample a tick, half a tick after the writer's. */
	clock_gettime(CLOCK_MONOTONIC, &next);
	next.tv_nsec -= ZW_TICK_NS / 2;
	if (next.tv_nsec < 0) {
		next.tv_nsec += 1000000000L;
		next.tv_sec--;
	}
	for (t = 0; t < ZW_TICKS; t++) {
		tick_sleep(&next);
		zero_sum += ksm_read("ksm_zero_pages");
	}
	pthread_join(z.thread, NULL);
	mark(&b);
	ksm_write("run", 0);
	csv(w, run, "minor_faults", z.minflt);
	csv(w, run, "zero_mib_mean",
	    (double)zero_sum / ZW_TICKS * page_size / MIB);
	csv(w, run, "ksmd_cpu_s", b.cpu - a.cpu);
	csv(w, run, "full_scans", b.scans - a.scans);
	if (merged0 >= 0)
		csv(w, run, "zero_pages_merged",
		    ksm_read("zero_pages_merged") - merged0);
	munmap(z.p, bytes);
	ksm_write("zero_pages_min_age", 0);
	ksm_write("run", 2);
}

/*
 * User space reading the same amount of zero-filled memory, for scale: the
 * best of three passes, as the emulated CPU's speed varies by a quarter
 * from one pass to the next.
 */
static void user_zero_check(int run, unsigned long mib)
{
	unsigned long bytes = mib * MIB, words = page_size / 8, i, zero;
	double c0, c1, best = 0;
	int pass;
	char *p;

	p = map_pages(bytes);
	memset(p, 0, bytes);
	for (pass = 0; pass < 3; pass++) {
		zero = 0;
		c0 = cpu_now();
		for (i = 0; i < bytes; i += page_size) {
			const uint64_t *w = (const uint64_t *)(p + i);
			unsigned long j;

			for (j = 0; j < words && !w[j]; j++)
				;
			zero += j == words;
		}
		c1 = cpu_now();
		if (c1 > c0 && zero / (c1 - c0) > best)
			best = zero / (c1 - c0);
	}
	csv("limit", run, "user_zero_pages_per_cpu_s", best);
	munmap(p, bytes);
}

#define THP "/sys/kernel/mm/transparent_hugepage/"

static unsigned long thp_size;

/*
 * The number after "@key:" or "@key " on a line of a /proc file (KiB in
 * meminfo and smaps_rollup), -1 if there is none.
 */
static long proc_field(const char *path, const char *key)
{
	size_t len = strlen(key);
	char line[256];
	long v = -1;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) &&
		    (line[len] == ':' || line[len] == ' ')) {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Pages of this process in its RSS (statm: file, anon and shmem). */
static long rss_pages(void)
{
	long size, res;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res;
}

/* MiB of this process mapped by anonymous THPs (the huge zero page not). */
static double anon_huge_mib(void)
{
	return proc_field("/proc/self/smaps_rollup", "AnonHugePages") / 1024.0;
}

/*
 * PMD-sized THPs split since boot: thp_split_page of /proc/vmstat, or
 * without CONFIG_VM_EVENT_COUNTERS (the bench kernels) the same count in the
 * PMD size's stats/split; -1 if neither is there.
 */
static long thp_splits(void)
{
	long v = proc_field("/proc/vmstat", "thp_split_page");
	char path[128];

	if (v >= 0)
		return v;
	snprintf(path, sizeof(path), THP "hugepages-%lukB/stats/split",
		 thp_size / 1024);
	return read_long(path);
}

/* THP on for MADV_HUGEPAGE areas at least; the PMD size. */
static void thp_setup(void)
{
	char buf[128] = "";
	long size = read_long(THP "hpage_pmd_size");
	FILE *f;

	thp_size = size > 0 ? (unsigned long)size : 2 * MIB;
	f = fopen(THP "enabled", "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	if (!strstr(buf, "[never]"))
		return;
	f = fopen(THP "enabled", "w");
	if (f) {
		bool ok = fputs("madvise", f) >= 0;

		if (!fclose(f) && ok)
			return;
	}
	printf("ksm_bench: THP is off and stays off\n");
}

/* @bytes aligned to the PMD size, MADV_HUGEPAGE. */
static char *map_thp(unsigned long bytes)
{
	unsigned long len = bytes + thp_size;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	a = (char *)(((uintptr_t)p + thp_size - 1) & ~(uintptr_t)(thp_size - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + bytes, p + len - (a + bytes));
	madvise(a, bytes, MADV_HUGEPAGE);
	return a;
}

/*
 * Start ksmd and wait until @goal pages have left the process's RSS (or,
 * with @scans, that many full scans have passed), at most 600 s; print
 * the MiB given back every 0.1 s ("ts," lines) and the figures of the run:
 * MiB given back, seconds, ksmd CPU and full scans.
 */
static void reclaim_run(const char *w, int run, long goal, long scans_max)
{
	long rss0 = rss_pages(), rss, scans, prev, full;
	double last_ts = -1, t;
	struct mark a, b;

	mark(&a);
	scans = a.scans;
	ksm_write("run", 1);
	do {
		prev = scans;
		usleep(10000);
		rss = rss_pages();
		scans = ksm_read("full_scans");
		t = now() - a.t;
		if (t - last_ts >= 0.1) {
			printf("ts,%s,%d,%.2f,%.1f\n", w, run, t,
			       (double)(rss0 - rss) * page_size / MIB);
			last_ts = t;
		}
	} while (rss0 - rss < goal && (!scans_max || scans < a.scans + scans_max) &&
		 t < 600);
	mark(&b);
	ksm_write("run", 0);
	printf("ts,%s,%d,%.2f,%.1f\n", w, run, b.t - a.t,
	       (double)(rss0 - rss) * page_size / MIB);
	/*
	 * The full scans it took: those done, and the one under way if the
	 * goal was reached in it. A batch of ksmd never runs past the end of
	 * a full scan, and a poll every 10 ms falls between two batches
	 * 20 ms apart: a scan that ended since the last poll did the rest.
	 */
	full = scans - a.scans;
	if (rss0 - rss >= goal && scans == prev)
		full++;
	csv(w, run, "reclaimed_mib", (double)(rss0 - rss) * page_size / MIB);
	csv(w, run, "seconds", b.t - a.t);
	csv(w, run, "ksmd_cpu_s", b.cpu - a.cpu);
	csv(w, run, "full_scans", full);
}

/*
 * 256 MiB in THPs, zero-filled (@half false) or with the odd 4K pages of
 * each THP zero and the even ones unique (@half true). KSM runs until 99%
 * of the zero-filled memory has left the process's RSS, or for @half after
 * 3 full scans, at most 600 s. RSS (statm) drops on every kernel: a THP
 * split maps the zero subpages to the zero page (6.12 does that on every
 * split of an anonymous THP), KSM may map them or the huge zero page, and
 * none of these counts in RSS.
 */
static void thp_reclaim(const char *w, int run, bool half)
{
	/* Two THPs where one is 512 MiB (arm64 with 64K pages). */
	const unsigned long bytes = thp_size > 128 * MIB ? 2 * thp_size :
							   256 * MIB;
	const long goal = (half ? bytes / 2 : bytes) / page_size * 99 / 100;
	long pt0, splits0, collapsed0, merged0;
	unsigned long i;
	double thp_mib;
	char *p;

	ksm_reset(1000, 20);
	/*
	 * Free blocks of a PMD's size for the THPs, which the runs before
	 * leave scattered: 512 MiB each with arm64's 64K pages.
	 */
	write_str("/proc/sys/vm/compact_memory", "1");
	pt0 = proc_field("/proc/meminfo", "PageTables");
	splits0 = thp_splits();
	p = map_thp(bytes);
	if (half) {
		fill_unique(p, bytes, 0x7f1e0000 + run);
		for (i = page_size; i < bytes; i += 2 * page_size)
			memset(p + i, 0, page_size);
	} else {
		memset(p, 0, bytes);
	}
	thp_mib = anon_huge_mib();
	csv(w, run, "thp_mib_before", thp_mib);
	if (thp_mib < bytes / MIB * 0.99)
		printf("ksm_bench: %s run %d: %.0f of %lu MiB in THPs\n",
		       w, run, thp_mib, bytes / MIB);
	madvise(p, bytes, MADV_MERGEABLE);
	collapsed0 = read_long(THP "khugepaged/pages_collapsed");
	merged0 = ksm_read("zero_pages_thp_merged");
	reclaim_run(w, run, goal, half ? 3 : 0);
	if (splits0 >= 0)
		csv(w, run, "thp_split_page", thp_splits() - splits0);
	csv(w, run, "pagetables_kib",
	    proc_field("/proc/meminfo", "PageTables") - pt0);
	csv(w, run, "anon_huge_mib_after", anon_huge_mib());
	if (ksm_read("ksm_zero_pages") >= 0)
		csv(w, run, "ksm_zero_pages_mib",
		    (double)ksm_read("ksm_zero_pages") * page_size / MIB);
	if (merged0 >= 0)
		csv(w, run, "zero_pages_thp_merged",
		    ksm_read("zero_pages_thp_merged") - merged0);
	if (collapsed0 >= 0)
		csv(w, run, "khugepaged_collapsed",
		    read_long(THP "khugepaged/pages_collapsed") - collapsed0);
	munmap(p, bytes);
	ksm_write("run", 2);
}

/* hugepages-<kb>kB/<name> of the THP directory, -1 if there is none. */
static long mthp_read(unsigned long kb, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), THP "hugepages-%lukB/%s", kb, name);
	return read_long(path);
}

/*
 * Only the @kb mTHP size on "always" (the PMD size too: "never"), or with
 * @kb 0 the settings of @saved back; @saved holds one word a size.
 */
static void mthp_only(unsigned long kb, char saved[][16], unsigned long *sizes,
		      int n)
{
	char path[128];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), THP "hugepages-%lukB/enabled",
			 sizes[i]);
		write_str(path, kb ? (sizes[i] == kb ? "always" : "never") :
				     saved[i]);
	}
}

/*
 * mthp-zero-<kb>k: 256 MiB zero-filled in mTHPs of @kb KiB (that size
 * alone enabled, aligned, written), use_zero_pages=1: seconds, ksmd CPU
 * and full scans until 99% has left RSS, as thp-zero; the folios faulted
 * in, those split (the size's stats/split), ksm_zero_pages, and those given
 * back whole (zero_pages_mthp_merged, where the kernel has it).
 */
static void mthp_reclaim(int run, unsigned long kb)
{
	const unsigned long bytes = 256 * MIB, folio = kb * 1024;
	const long goal = bytes / page_size * 99 / 100;
	unsigned long sizes[16];
	char saved[16][16], w[32], buf[128], *raw, *p;
	long alloc0, split0, merged0;
	struct dirent *e;
	int n = 0, i;
	DIR *d;

	snprintf(w, sizeof(w), "mthp-zero-%luk", kb);
	if (mthp_read(kb, "stats/split") < 0) {
		printf("ksm_bench: %s: no %lu kB mTHP size here\n", w, kb);
		return;
	}
	d = opendir(THP);
	while (d && (e = readdir(d)) && n < 16) {
		FILE *f;

		if (sscanf(e->d_name, "hugepages-%lukB", &sizes[n]) != 1)
			continue;
		snprintf(buf, sizeof(buf), THP "hugepages-%lukB/enabled",
			 sizes[n]);
		f = fopen(buf, "r");
		if (!f || !fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		if (f)
			fclose(f);
		/* The bracketed word: "always [inherit] madvise never". */
		for (i = 0; buf[i] && buf[i] != '['; i++)
			;
		snprintf(saved[n], sizeof(saved[n]), "%.*s",
			 buf[i] ? (int)strcspn(buf + i + 1, "]") : 0,
			 buf[i] ? buf + i + 1 : "");
		n++;
	}
	if (d)
		closedir(d);
	mthp_only(kb, saved, sizes, n);
	ksm_reset(1000, 20);
	alloc0 = mthp_read(kb, "stats/anon_fault_alloc");
	split0 = mthp_read(kb, "stats/split");
	raw = mmap(NULL, bytes + folio, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	p = (char *)(((uintptr_t)raw + folio - 1) & ~(uintptr_t)(folio - 1));
	memset(p, 0, bytes);
	csv(w, run, "folios", mthp_read(kb, "stats/anon_fault_alloc") - alloc0);
	madvise(p, bytes, MADV_MERGEABLE);
	merged0 = ksm_read("zero_pages_mthp_merged");
	reclaim_run(w, run, goal, 0);
	csv(w, run, "splits", mthp_read(kb, "stats/split") - split0);
	if (ksm_read("ksm_zero_pages") >= 0)
		csv(w, run, "ksm_zero_pages_mib",
		    (double)ksm_read("ksm_zero_pages") * page_size / MIB);
	if (merged0 >= 0)
		csv(w, run, "zero_pages_mthp_merged",
		    ksm_read("zero_pages_mthp_merged") - merged0);
	munmap(raw, bytes + folio);
	ksm_write("run", 2);
	mthp_only(0, saved, sizes, n);
}

/* thp-half with zero_pages_thp_split_min at @split_min, then as it was. */
static void thp_half_at(const char *w, int run, long split_min)
{
	long old = ksm_read("zero_pages_thp_split_min");

	if (!ksm_try_write("zero_pages_thp_split_min", split_min))
		printf("ksm_bench: %s: zero_pages_thp_split_min refuses %ld\n",
		       w, split_min);
	thp_reclaim(w, run, true);
	ksm_write("zero_pages_thp_split_min", old);
}

/*
 * unregistered: zero pages in memory that nobody registered with KSM.
 * UNREG_PROCS processes, exec()ed from the bench (so that they do not
 * inherit its registration with KSM at fork), each fill UNREG_MIB of 4K
 * pages: UNREG_ZERO_RUN zero-filled pages, then a page of unique data, and
 * so on. They take commands from the bench on fd UNREG_CMD_FD, answer on
 * UNREG_REP_FD.
 */
#define UNREG_PROCS	4
#define UNREG_MIB	80		/* 64 MiB zero, 16 MiB data */
#define UNREG_ZERO_RUN	4
#define UNREG_CHILD	"--unregistered-child"
#define UNREG_CMD_FD	100
#define UNREG_REP_FD	101
#define CGROOT		"/sys/fs/cgroup/"
#define UNREG_CG	CGROOT "ksm-unreg/"
#define ZRAM		"/sys/block/zram0/"

/* What a process reports of its read of all its memory. */
struct unreg_use {
	long minflt, majflt;
	double cpu_s;
};

struct unreg_proc {
	pid_t pid;
	int cmd, rep;
	uintptr_t addr;		/* of its area, in its address space */
};

static bool unreg_is_data(unsigned long page)
{
	return page % (UNREG_ZERO_RUN + 1) == UNREG_ZERO_RUN;
}

static double tv_s(const struct timeval *tv)
{
	return tv->tv_sec + tv->tv_usec / 1e6;
}

static bool read_full(int fd, void *buf, size_t len)
{
	return read(fd, buf, len) == (ssize_t)len;
}

/* Write a string to a file; false if it is missing or refuses. */
static bool write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok;
}

/* The child: fill, report the address, then obey until told to quit. */
static int unreg_child(int idx, bool mergeable)
{
	const unsigned long bytes = UNREG_MIB * MIB, pages = bytes / page_size;
	volatile uint64_t sink;
	struct unreg_use use;
	struct rusage r0, r1;
	unsigned long i;
	uintptr_t addr;
	char cmd, *p;

	p = map_pages(bytes);
	for (i = 0; i < pages; i++)
		if (unreg_is_data(i))
			fill_unique(p + i * page_size, page_size,
				    ((uint64_t)(idx + 1) << 32) + i + 1);
		else
			memset(p + i * page_size, 0, page_size);
	if (mergeable)
		madvise(p, bytes, MADV_MERGEABLE);
	addr = (uintptr_t)p;
	if (write(UNREG_REP_FD, &addr, sizeof(addr)) != (ssize_t)sizeof(addr))
		return 1;
	while (read(UNREG_CMD_FD, &cmd, 1) == 1 && cmd == 'r') {
		const uint64_t *w = (const uint64_t *)p;
		uint64_t sum = 0;

		getrusage(RUSAGE_SELF, &r0);
		for (i = 0; i < bytes / 8; i++)
			sum += w[i];
		sink = sum;
		getrusage(RUSAGE_SELF, &r1);
		(void)sink;
		use.minflt = r1.ru_minflt - r0.ru_minflt;
		use.majflt = r1.ru_majflt - r0.ru_majflt;
		use.cpu_s = tv_s(&r1.ru_utime) + tv_s(&r1.ru_stime) -
			    tv_s(&r0.ru_utime) - tv_s(&r0.ru_stime);
		if (write(UNREG_REP_FD, &use, sizeof(use)) != (ssize_t)sizeof(use))
			return 1;
	}
	return 0;
}

/*
 * Start the processes, in the cgroup UNREG_CG if there is one, and wait
 * until each has filled its memory.
 */
static void unreg_spawn(struct unreg_proc *pr, bool mergeable)
{
	int i;

	for (i = 0; i < UNREG_PROCS; i++) {
		int cmd[2], rep[2];

		if (pipe2(cmd, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
			perror("pipe2");
			exit(1);
		}
		pr[i].pid = fork();
		if (pr[i].pid < 0) {
			perror("fork");
			exit(1);
		}
		if (!pr[i].pid) {
			char idx[16];

			write_str(UNREG_CG "cgroup.procs", "0");
			if (dup2(cmd[0], UNREG_CMD_FD) < 0 ||
			    dup2(rep[1], UNREG_REP_FD) < 0 ||
			    fcntl(UNREG_CMD_FD, F_SETFD, 0) ||
			    fcntl(UNREG_REP_FD, F_SETFD, 0))
				_exit(1);
			snprintf(idx, sizeof(idx), "%d", i);
			execl("/proc/self/exe", "ksm_bench", UNREG_CHILD, idx,
			      mergeable ? "1" : "0", (char *)NULL);
			_exit(1);
		}
		close(cmd[0]);
		close(rep[1]);
		pr[i].cmd = cmd[1];
		pr[i].rep = rep[0];
	}
	for (i = 0; i < UNREG_PROCS; i++)
		if (!read_full(pr[i].rep, &pr[i].addr, sizeof(pr[i].addr))) {
			printf("ksm_bench: unregistered: process %d failed\n", i);
			exit(1);
		}
}

static void unreg_quit(struct unreg_proc *pr)
{
	int i;

	for (i = 0; i < UNREG_PROCS; i++) {
		if (write(pr[i].cmd, "q", 1) != 1)
			kill(pr[i].pid, SIGKILL);
		close(pr[i].cmd);
		close(pr[i].rep);
		waitpid(pr[i].pid, NULL, 0);
	}
}

/* Each process in turn reads all its memory once: the sum of their use. */
static void unreg_read_back(struct unreg_proc *pr, struct unreg_use *sum)
{
	struct unreg_use use;
	int i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < UNREG_PROCS; i++) {
		if (write(pr[i].cmd, "r", 1) != 1 ||
		    !read_full(pr[i].rep, &use, sizeof(use))) {
			printf("ksm_bench: unregistered: process %d failed\n", i);
			exit(1);
		}
		sum->minflt += use.minflt;
		sum->majflt += use.majflt;
		sum->cpu_s += use.cpu_s;
	}
}

/* Resident pages of the processes (statm: file, anon and shmem). */
static long unreg_rss(const struct unreg_proc *pr)
{
	long size, res, sum = 0;
	char path[64];
	FILE *f;
	int i;

	for (i = 0; i < UNREG_PROCS; i++) {
		snprintf(path, sizeof(path), "/proc/%d/statm", pr[i].pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%ld %ld", &size, &res) == 2)
			sum += res;
		fclose(f);
	}
	return sum;
}

/* Sum of a "Key: N kB" line of /proc/<pid>/status over the processes. */
static long unreg_status_kib(const struct unreg_proc *pr, const char *key)
{
	char path[64];
	long v, sum = 0;
	int i;

	for (i = 0; i < UNREG_PROCS; i++) {
		snprintf(path, sizeof(path), "/proc/%d/status", pr[i].pid);
		v = proc_field(path, key);
		sum += v > 0 ? v : 0;
	}
	return sum;
}

/* Sum of the processes' ksm_stat @key, 0 where it has none. */
static long unreg_ksm_stat(const struct unreg_proc *pr, const char *key)
{
	long v, sum = 0;
	int i;

	for (i = 0; i < UNREG_PROCS; i++) {
		v = ksm_stat(pr[i].pid, key);
		sum += v > 0 ? v : 0;
	}
	return sum;
}

/* The page frame of the zero page: what a read fault maps. */
static uint64_t zero_pfn(void)
{
	volatile char *p = (volatile char *)map_pages(page_size);
	uint64_t pfn;

	(void)p[0];
	page_frames((const char *)p, 1, &pfn);
	munmap((void *)p, page_size);
	return pfn;
}

/*
 * From the page tables of the processes (pagemap): their zero-filled pages
 * that are out of their RSS (swapped out, or mapped to the zero page), and
 * their data pages swapped out.
 */
static void unreg_pagemap(const struct unreg_proc *pr, uint64_t zpfn,
			  long *zero_out, long *data_out)
{
	const unsigned long pages = UNREG_MIB * MIB / page_size;
	uint64_t *e = malloc(pages * sizeof(*e));
	unsigned long i;
	char path[64];
	int k, fd;

	if (!e) {
		perror("malloc");
		exit(1);
	}
	*zero_out = *data_out = 0;
	for (k = 0; k < UNREG_PROCS; k++) {
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pr[k].pid);
		fd = open(path, O_RDONLY);
		if (fd < 0 ||
		    pread(fd, e, pages * sizeof(*e),
			  pr[k].addr / page_size * sizeof(*e)) !=
		    (ssize_t)(pages * sizeof(*e))) {
			printf("ksm_bench: unregistered: no pagemap of %d\n",
			       pr[k].pid);
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		/* bit 63: present, 62: swapped, 0-54: frame */
		for (i = 0; i < pages; i++) {
			bool present = e[i] >> 63;
			bool swapped = (e[i] >> 62) & 1;
			uint64_t pfn = e[i] & ((1ULL << 55) - 1);

			if (unreg_is_data(i))
				*data_out += swapped;
			else
				*zero_out += !present || pfn == zpfn;
		}
	}
	free(e);
}

/* KiB of slab that ksm_rmap_item and ksm_mm_slot hold (active_objs). */
static long ksm_slab_kib(void)
{
	char line[512], name[64];
	long active, num, size, bytes = 0;
	bool found = false;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld %ld %ld", name, &active, &num,
			   &size) == 4 &&
		    (!strcmp(name, "ksm_rmap_item") ||
		     !strcmp(name, "ksm_mm_slot"))) {
			bytes += active * size;
			found = true;
		}
	fclose(f);
	return found ? bytes / 1024 : -1;
}

/*
 * The cgroup of the processes, with the memory controller: cgroup2
 * mounted if it is not. False if there is no memory.reclaim to use.
 */
static bool unreg_cgroup(void)
{
	if (access(CGROOT "cgroup.controllers", F_OK) &&
	    mount("cgroup2", CGROOT, "cgroup2", 0, NULL))
		return false;
	write_str(CGROOT "cgroup.subtree_control", "+memory");
	if (mkdir(UNREG_CG, 0755) && errno != EEXIST)
		return false;
	return !access(UNREG_CG "memory.reclaim", W_OK);
}

/* Is /dev/zram0 a swap device in use? */
static bool zram_swapping(void)
{
	char line[256];
	bool on = false;
	FILE *f = fopen("/proc/swaps", "r");

	while (f && fgets(line, sizeof(line), f))
		on |= !strncmp(line, "/dev/zram0 ", 11);
	if (f)
		fclose(f);
	return on;
}

/*
 * Swap on /dev/zram0 (1 GiB, more than the processes hold), with a swap
 * header of our own (version 1, no bad pages): the guest has no mkswap.
 */
static bool zram_swap_on(void)
{
	unsigned long disksize;
	uint32_t v;
	char *hdr;
	bool ok;
	int fd;

	if (zram_swapping())
		return true;
	if (read_long(ZRAM "disksize") <= 0 && !write_str(ZRAM "disksize", "1G"))
		return false;
	disksize = read_long(ZRAM "disksize");
	hdr = calloc(1, page_size);
	fd = open("/dev/zram0", O_WRONLY);
	if (!hdr || fd < 0) {
		free(hdr);
		if (fd >= 0)
			close(fd);
		return false;
	}
	v = 1;				/* version */
	memcpy(hdr + 1024, &v, 4);
	v = disksize / page_size - 1;	/* last_page */
	memcpy(hdr + 1028, &v, 4);
	memcpy(hdr + page_size - 10, "SWAPSPACE2", 10);
	ok = pwrite(fd, hdr, page_size, 0) == page_size && !fsync(fd);
	close(fd);
	free(hdr);
	if (ok && swapon("/dev/zram0", 0)) {
		perror("swapon /dev/zram0");
		ok = false;
	}
	return ok;
}

/*
 * zram's mm_stat: orig_data_size, compr_data_size, mem_used_total,
 * mem_limit, mem_used_max, same_pages, ...: the first 6.
 */
static bool zram_mm_stat(long *st)
{
	FILE *f = fopen(ZRAM "mm_stat", "r");
	bool ok;

	if (!f)
		return false;
	ok = fscanf(f, "%ld %ld %ld %ld %ld %ld", &st[0], &st[1], &st[2],
		    &st[3], &st[4], &st[5]) == 6;
	fclose(f);
	return ok;
}

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double thread_sys_cpu(void)
{
	struct rusage r;

	getrusage(RUSAGE_THREAD, &r);
	return tv_s(&r.ru_stime);
}

static double pages_mib(long pages)
{
	return (double)pages * page_size / MIB;
}

/* What the strategies report alike: the given back and the read-back. */
static void unreg_finish(const char *w, int run, struct unreg_proc *pr,
			 long rss0, uint64_t zpfn)
{
	long rss = unreg_rss(pr), zero_out, data_out;
	struct unreg_use use;

	unreg_pagemap(pr, zpfn, &zero_out, &data_out);
	csv(w, run, "reclaimed_mib", pages_mib(rss0 - rss));
	csv(w, run, "zero_out_mib", pages_mib(zero_out));
	csv(w, run, "data_swapped_mib", pages_mib(data_out));
	unreg_read_back(pr, &use);
	csv(w, run, "read_minor_faults", use.minflt);
	csv(w, run, "read_major_faults", use.majflt);
	csv(w, run, "read_cpu_s", use.cpu_s);
	csv(w, run, "reclaimed_mib_after_read",
	    pages_mib(rss0 - unreg_rss(pr)));
}

/* KSM runs 10 s with the scope the kernel has by default. */
static void unreg_none(int run, uint64_t zpfn)
{
	struct unreg_proc pr[UNREG_PROCS];
	struct mark a, b;
	long rss0;

	ksm_reset(1000, 20);
	write_str(KSM "zero_pages_scope", "mergeable");
	unreg_spawn(pr, false);
	rss0 = unreg_rss(pr);
	mark(&a);
	ksm_write("run", 1);
	sleep(10);
	mark(&b);
	ksm_write("run", 0);
	csv("unregistered-none", run, "full_scans", b.scans - a.scans);
	unreg_finish("unregistered-none", run, pr, rss0, zpfn);
	unreg_quit(pr);
	ksm_write("run", 2);
}

/*
 * Proactive reclaim of the processes' cgroup to zram, as a user space
 * agent (senpai, oomd) would: "320M" at a time until 99% of the zero pages
 * are out of RSS, at most 30 s. The reclaim, and zram's compression, run
 * in the writing thread; kswapd0 should have nothing to do.
 */
static void unreg_zram(int run, uint64_t zpfn)
{
	const char *w = "unregistered-zram";
	const long goal = UNREG_PROCS * (UNREG_MIB * MIB / page_size) *
			  UNREG_ZERO_RUN / (UNREG_ZERO_RUN + 1) * 99 / 100;
	long rss0, zero_out = 0, data_out = 0, writes = 0, st0[6], st1[6];
	double t0, t = 0, cpu0, sys0, kswapd0;
	struct unreg_proc pr[UNREG_PROCS];
	pid_t kswapd = find_comm("kswapd0");
	int fd;

	if (!zram_swap_on() || !zram_mm_stat(st0)) {
		printf("ksm_bench: %s: no swap on zram\n", w);
		return;
	}
	unreg_spawn(pr, false);
	rss0 = unreg_rss(pr);
	fd = open(UNREG_CG "memory.reclaim", O_WRONLY);
	if (fd < 0) {
		perror(UNREG_CG "memory.reclaim");
		exit(1);
	}
	kswapd0 = kswapd ? task_cpu(kswapd) : 0;
	cpu0 = thread_cpu();
	sys0 = thread_sys_cpu();
	t0 = now();
	do {
		/* EAGAIN: less than asked for was reclaimed. */
		if (write(fd, "320M", 4) < 0 && errno != EAGAIN) {
			perror("memory.reclaim");
			break;
		}
		writes++;
		unreg_pagemap(pr, zpfn, &zero_out, &data_out);
		t = now() - t0;
	} while (zero_out < goal && t < 30);
	csv(w, run, "writer_cpu_s", thread_cpu() - cpu0);
	csv(w, run, "writer_sys_cpu_s", thread_sys_cpu() - sys0);
	if (kswapd)
		csv(w, run, "kswapd_cpu_s", task_cpu(kswapd) - kswapd0);
	close(fd);
	csv(w, run, "reached_99pct", zero_out >= goal);
	csv(w, run, "seconds", t);
	csv(w, run, "reclaim_writes", writes);
	csv(w, run, "vmswap_mib", unreg_status_kib(pr, "VmSwap") / 1024.0);
	if (zram_mm_stat(st1)) {
		/*
		 * zram stores same-filled pages as a mark (same_pages); 6.12's
		 * swap core keeps zero-filled ones off the device altogether
		 * (its zeromap), so expect none there: what zram holds is the
		 * data, incompressible here (stored whole).
		 */
		csv(w, run, "zram_same_mib", pages_mib(st1[5] - st0[5]));
		csv(w, run, "zram_data_mib",
		    (double)(st1[0] - st0[0]) / MIB -
		    pages_mib(st1[5] - st0[5]));
		csv(w, run, "zram_mem_used_mib",
		    (double)(st1[2] - st0[2]) / MIB);
		csv(w, run, "net_reclaimed_mib",
		    pages_mib(rss0 - unreg_rss(pr)) -
		    (double)(st1[2] - st0[2]) / MIB);
	}
	unreg_finish(w, run, pr, rss0, zpfn);
	unreg_quit(pr);
	if (swapoff("/dev/zram0"))
		perror("swapoff /dev/zram0");
}

/* A record whose metric is @name then @sfx. */
static void csv_sfx(const char *w, int run, const char *name, const char *sfx,
		    double v)
{
	char metric[64];

	snprintf(metric, sizeof(metric), "%s%s", name, sfx);
	csv(w, run, metric, v);
}

/*
 * Run KSM (use_zero_pages, pages_to_scan 1000, sleep_millisecs 20, as
 * "zero") until 99% of the zero pages of the processes are KSM zero
 * pages, at most 600 s: with zero_pages_scope "all" if @all, else as the
 * processes registered their memory. Seconds, ksmd CPU and full scans go
 * to @w's records with @sfx after their names; the rmap_items of the
 * processes (ksm_stat) and the slab of ksm_rmap_item and ksm_mm_slot
 * (slabinfo, all processes) with @msfx. False if "all" is refused.
 */
static bool unreg_ksm(const char *w, int run, const char *sfx,
		      const char *msfx, struct unreg_proc *pr, bool all)
{
	const long goal = UNREG_PROCS * (UNREG_MIB * MIB / page_size) *
			  UNREG_ZERO_RUN / (UNREG_ZERO_RUN + 1) * 99 / 100;
	long zero, scans, prev, full, slab0, slab;
	double t, last_ts = -1;
	struct mark a, b;

	slab0 = ksm_slab_kib();
	mark(&a);
	scans = a.scans;
	if (all && !write_str(KSM "zero_pages_scope", "all")) {
		printf("ksm_bench: %s: zero_pages_scope refuses all\n", w);
		return false;
	}
	ksm_write("run", 1);
	do {
		prev = scans;
		usleep(10000);
		zero = unreg_ksm_stat(pr, "ksm_zero_pages");
		scans = ksm_read("full_scans");
		t = now() - a.t;
		if (all && t - last_ts >= 0.1) {
			printf("ts,%s,%d,%.2f,%.1f\n", w, run, t,
			       pages_mib(zero));
			last_ts = t;
		}
	} while (zero < goal && t < 600);
	mark(&b);
	ksm_write("run", 0);
	slab = ksm_slab_kib();
	/* As thp_reclaim(): a scan that ended since the last poll did it. */
	full = scans - a.scans;
	if (zero >= goal && scans == prev)
		full++;
	csv_sfx(w, run, "reached_99pct", sfx, zero >= goal);
	csv_sfx(w, run, "seconds", sfx, b.t - a.t);
	csv_sfx(w, run, "ksmd_cpu_s", sfx, b.cpu - a.cpu);
	csv_sfx(w, run, "full_scans", sfx, full);
	csv_sfx(w, run, "rmap_items", msfx, unreg_ksm_stat(pr, "ksm_rmap_items"));
	if (slab >= 0)
		csv_sfx(w, run, "metadata_kib", msfx, slab - slab0);
	return true;
}

/*
 * zero_pages_scope "all", then for comparison the processes registering
 * their memory with MADV_MERGEABLE under "mergeable".
 */
static void unreg_all(int run, uint64_t zpfn)
{
	const char *w = "unregistered-all";
	struct unreg_proc pr[UNREG_PROCS];
	long rss0;

	ksm_reset(1000, 20);
	unreg_spawn(pr, false);
	rss0 = unreg_rss(pr);
	if (unreg_ksm(w, run, "", "_all", pr, true))
		unreg_finish(w, run, pr, rss0, zpfn);
	unreg_quit(pr);
	write_str(KSM "zero_pages_scope", "mergeable");
	ksm_write("run", 2);

	ksm_reset(1000, 20);
	unreg_spawn(pr, true);
	rss0 = unreg_rss(pr);
	unreg_ksm(w, run, "_madvised", "_madvised", pr, false);
	csv(w, run, "reclaimed_mib_madvised", pages_mib(rss0 - unreg_rss(pr)));
	unreg_quit(pr);
	ksm_write("run", 2);
}

/* The median of @n values (sorts them). */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The helpers of scope-write, fork-exec and pretouched-heap: this program
 * exec()ed again in a new process (whose mm KSM has never seen, whatever
 * the bench registered), with @role and @arg as arguments, commands on
 * UNREG_CMD_FD and answers on UNREG_REP_FD, as for "unregistered".
 */
struct helper {
	pid_t pid;
	int cmd, rep;
};

static void helper_start(struct helper *h, const char *role, const char *arg)
{
	int cmd[2], rep[2];

	if (pipe2(cmd, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
		perror("pipe2");
		exit(1);
	}
	h->pid = fork();
	if (h->pid < 0) {
		perror("fork");
		exit(1);
	}
	if (!h->pid) {
		if (dup2(cmd[0], UNREG_CMD_FD) < 0 ||
		    dup2(rep[1], UNREG_REP_FD) < 0 ||
		    fcntl(UNREG_CMD_FD, F_SETFD, 0) ||
		    fcntl(UNREG_REP_FD, F_SETFD, 0))
			_exit(1);
		execl("/proc/self/exe", "ksm_bench", role, arg, (char *)NULL);
		_exit(1);
	}
	close(cmd[0]);
	close(rep[1]);
	h->cmd = cmd[1];
	h->rep = rep[0];
}

/* Wait for the helper to exit, after it is told to ('q') or killed. */
static void helper_end(struct helper *h, bool kill_it)
{
	if (kill_it || write(h->cmd, "q", 1) != 1)
		kill(h->pid, SIGKILL);
	close(h->cmd);
	close(h->rep);
	waitpid(h->pid, NULL, 0);
}

/*
 * Can @fd be read within @ms milliseconds? poll() again when a signal
 * interrupts it.
 */
static bool readable_within(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	double end = now() + ms / 1e3;
	int left, n;

	do {
		left = (int)((end - now()) * 1e3);
		n = poll(&pfd, 1, left > 0 ? left : 0);
	} while (n < 0 && errno == EINTR);
	return n > 0;
}

/*
 * scope-write: how long "echo all > zero_pages_scope" takes on a guest
 * with SW_PROCS processes, one of which (the holder) has its mmap_lock
 * held for reading for SW_HOLD_S seconds while the write runs.
 *
 * The hold: MADV_POPULATE_READ of a large PROT_READ area of 4K pages
 * (MADV_NOHUGEPAGE), which maps the zero page into every PTE with the
 * mmap_lock held for reading from the first page to the last (a read fault
 * of anonymous memory never drops it), and costs page tables only.
 * migrate_pages(2) would not do on 6.12: migrate_to_node() holds the lock
 * only while it isolates the pages and drops it before copying them.
 * A thread of the holder measures the hold: it maps and unmaps a page every
 * 2 ms, which needs the mmap_lock for writing, and reports the longest it
 * waited.
 */
#define SW_PROCS	2000
#define SW_RUNS		3
#define SW_HOLD_S	7.0	/* aimed at: 5 s at least after the write */
#define SW_MIN_AFTER_S	5.0
#define SW_DELAY_MS	300	/* from the start of the hold to the write */
#define SW_CAL_PAGES	65536	/* 256 MiB of address space to time */
#define SW_WRITE_LIMIT	300	/* seconds before the writer is killed */
#define SW_SPAWNER	"--scope-spawner"

struct sw_cmd {
	char op;		/* 'c' calibrate, 'h' hold, 'q' quit */
	long pages;
};

struct sw_hold {
	double t0, t1;		/* CLOCK_MONOTONIC, around the populate */
	double probe_max;	/* longest mmap()+munmap() meanwhile */
	long probes;
	int err;		/* errno of the populate, 0 if it worked */
};

struct sw_probe {
	int armed;		/* __atomic */
	int idle;		/* __atomic: seen disarmed, not in a probe */
	double max;
	long n;
};

static void *sw_probe_thread(void *arg)
{
	struct sw_probe *pr = arg;

	for (;;) {
		double t0, dt;
		void *p;

		if (!__atomic_load_n(&pr->armed, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&pr->idle, 1, __ATOMIC_RELEASE);
			usleep(1000);
			continue;
		}
		__atomic_store_n(&pr->idle, 0, __ATOMIC_RELEASE);
		t0 = now();
		p = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			munmap(p, page_size);
		dt = now() - t0;
		if (dt > pr->max)
			pr->max = dt;
		pr->n++;
		usleep(2000);
	}
	return NULL;
}

/* Populate @pages of a new area with the zero page: the hold. */
static int sw_populate(long pages, double *t0, double *t1)
{
	size_t len = (size_t)pages * page_size;
	int err = 0;
	char *p;

	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	madvise(p, len, MADV_NOHUGEPAGE);
	*t0 = now();
	if (madvise(p, len, MADV_POPULATE_READ))
		err = errno;
	*t1 = now();
	munmap(p, len);
	return err;
}

/* The holder: a child of the spawner, obeys the bench. */
static int sw_holder(void)
{
	struct sw_probe pr = { 0 };
	struct sw_hold r;
	struct sw_cmd c;
	pthread_t th;

	if (pthread_create(&th, NULL, sw_probe_thread, &pr))
		return 1;
	while (read_full(UNREG_CMD_FD, &c, sizeof(c)) && c.op != 'q') {
		memset(&r, 0, sizeof(r));
		if (c.op == 'h') {
			pr.max = 0;
			pr.n = 0;
			__atomic_store_n(&pr.armed, 1, __ATOMIC_RELEASE);
			if (write(UNREG_REP_FD, "g", 1) != 1)
				return 1;
		}
		r.err = sw_populate(c.pages, &r.t0, &r.t1);
		if (c.op == 'h') {
			__atomic_store_n(&pr.armed, 0, __ATOMIC_RELEASE);
			/* Its last probe may wait behind the write. */
			while (!__atomic_load_n(&pr.idle, __ATOMIC_ACQUIRE))
				usleep(1000);
			r.probe_max = pr.max;
			r.probes = pr.n;
		}
		if (write(UNREG_REP_FD, &r, sizeof(r)) != (ssize_t)sizeof(r))
			return 1;
	}
	return 0;
}

/*
 * The spawner, exec()ed by the bench: forks the holder, then sleepers up
 * to SW_PROCS processes (small: a copy of this static program that never
 * runs again), tells the bench how many it has, and once the holder is
 * told to quit kills and reaps the sleepers.
 */
static int sw_spawner(void)
{
	pid_t *kids = calloc(SW_PROCS, sizeof(*kids));
	long n;

	if (!kids)
		return 1;
	kids[0] = fork();
	if (kids[0] < 0)
		return 1;
	if (!kids[0])
		return sw_holder();
	for (n = 1; n < SW_PROCS; n++) {
		kids[n] = fork();
		if (kids[n] < 0)
			break;
		if (!kids[n]) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(UNREG_CMD_FD);
			close(UNREG_REP_FD);
			for (;;)
				pause();
		}
	}
	close(UNREG_CMD_FD);
	if (write(UNREG_REP_FD, &n, sizeof(n)) != (ssize_t)sizeof(n))
		n = 0;		/* the bench is gone: clean up */
	close(UNREG_REP_FD);
	waitpid(kids[0], NULL, 0);
	while (--n > 0)
		kill(kids[n], SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	free(kids);
	return 0;
}

/*
 * Write "all" to zero_pages_scope from a child process, so that a write
 * that blocks can be killed (the store is killable) instead of hanging the
 * bench. Milliseconds it took, or -1 if it failed or was killed after
 * SW_WRITE_LIMIT seconds; *@t0 is when it began.
 */
static double sw_write_all(double *t0)
{
	double t[2] = { -1, -1 };
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC)) {
		perror("pipe2");
		exit(1);
	}
	*t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (!pid) {
		t[0] = now();
		if (!write_str(KSM "zero_pages_scope", "all"))
			t[0] = -1;
		t[1] = now();
		_exit(write(fds[1], t, sizeof(t)) != sizeof(t));
	}
	close(fds[1]);
	if (!readable_within(fds[0], SW_WRITE_LIMIT * 1000) ||
	    !read_full(fds[0], t, sizeof(t))) {
		printf("ksm_bench: scope-write: the write of \"all\" took over %d s: killed\n",
		       SW_WRITE_LIMIT);
		kill(pid, SIGKILL);
		t[0] = -1;
	}
	close(fds[0]);
	waitpid(pid, NULL, 0);
	if (t[0] < 0)
		return -1;
	*t0 = t[0];
	return (t[1] - t[0]) * 1e3;
}

/* Pages whose populate takes about SW_HOLD_S seconds, 0 if it fails. */
static long sw_pages;

/*
 * One run: SW_PROCS processes, "all" written with the holder's mmap_lock
 * held (@hold) or not. Returns the write's latency in ms, -1 on failure.
 */
static double scope_write_run(int run, bool hold)
{
	const char *w = "scope-write";
	double wt0, write_ms, cal_s;
	struct sw_hold r = { 0 };
	struct sw_cmd c = { 0 };
	struct helper h;
	long procs;
	char g;

	ksm_reset(1000, 20);
	write_str(KSM "zero_pages_scope", "mergeable");
	ksm_write("run", 1);
	helper_start(&h, SW_SPAWNER, "");
	if (!read_full(h.rep, &procs, sizeof(procs))) {
		printf("ksm_bench: %s: the spawner failed\n", w);
		helper_end(&h, true);
		return -1;
	}
	if (procs < SW_PROCS)
		printf("ksm_bench: %s: only %ld processes\n", w, procs);
	/* Time populates of 4 times more pages until one takes 0.5 s. */
	for (c.pages = SW_CAL_PAGES; hold && !sw_pages; c.pages *= 4) {
		c.op = 'c';
		if (write(h.cmd, &c, sizeof(c)) != (ssize_t)sizeof(c) ||
		    !read_full(h.rep, &r, sizeof(r)) || r.err) {
			printf("ksm_bench: %s: MADV_POPULATE_READ fails (%s)\n",
			       w, strerror(r.err));
			helper_end(&h, true);
			return -1;
		}
		cal_s = r.t1 - r.t0;
		if (cal_s < 0.5 && c.pages < (1L << 26))
			continue;
		sw_pages = (long)(c.pages * SW_HOLD_S / cal_s);
		printf("ksm_bench: %s: %ld pages populated in %.3f s: %ld pages (%.1f GiB) to hold %.1f s\n",
		       w, c.pages, cal_s, sw_pages,
		       (double)sw_pages * page_size / (1UL << 30), SW_HOLD_S);
	}
	if (hold) {
		c.op = 'h';
		c.pages = sw_pages;
		if (write(h.cmd, &c, sizeof(c)) != (ssize_t)sizeof(c) ||
		    !read_full(h.rep, &g, 1)) {
			printf("ksm_bench: %s: the holder failed\n", w);
			helper_end(&h, true);
			return -1;
		}
		usleep(SW_DELAY_MS * 1000);
	}
	write_ms = sw_write_all(&wt0);
	if (hold) {
		/* The holder finishes on its own, whatever the write did. */
		if (!read_full(h.rep, &r, sizeof(r)) || r.err) {
			printf("ksm_bench: %s: the hold failed\n", w);
			helper_end(&h, true);
			return -1;
		}
		csv(w, run, "write_ms", write_ms);
		csv(w, run, "hold_s", r.t1 - r.t0);
		csv(w, run, "hold_after_write_s", r.t1 - wt0);
		csv(w, run, "probe_block_s", r.probe_max);
		printf("ksm_bench: %s run %d: write %.0f ms; mmap_lock held %.2f s, %.2f s of it after the write began; longest mmap() in the holder %.2f s (%ld probes)\n",
		       w, run, write_ms, r.t1 - r.t0, r.t1 - wt0,
		       r.probe_max, r.probes);
		if (r.t1 - wt0 < SW_MIN_AFTER_S)
			printf("ksm_bench: %s run %d: held less than %.0f s after the write began\n",
			       w, run, SW_MIN_AFTER_S);
		/* The next hold as long as aimed at. */
		sw_pages = (long)(sw_pages * SW_HOLD_S /
				  (r.t1 - r.t0 > 0.1 ? r.t1 - r.t0 : 0.1));
	} else {
		csv(w, run, "write_ms_nohold", write_ms);
		printf("ksm_bench: %s run %d: write %.0f ms without a hold\n",
		       w, run, write_ms);
	}
	csv(w, run, "processes", procs);
	write_str(KSM "zero_pages_scope", "mergeable");
	helper_end(&h, false);
	ksm_write("run", 2);
	return write_ms;
}

static void scope_write(void)
{
	const char *w = "scope-write";
	double held[SW_RUNS], free_[SW_RUNS];
	int run, nh = 0, nf = 0;

	if (access(KSM "zero_pages_scope", F_OK)) {
		printf("ksm_bench: %s: not applicable: no zero_pages_scope\n", w);
		return;
	}
	for (run = 1; run <= SW_RUNS; run++) {
		double v = scope_write_run(run, true);

		if (v >= 0)
			held[nh++] = v;
		v = scope_write_run(run, false);
		if (v >= 0)
			free_[nf++] = v;
	}
	if (nh) {
		double med = median(held, nh);

		csv(w, 0, "write_ms_min", held[0]);
		csv(w, 0, "write_ms_median", med);
		csv(w, 0, "write_ms_max", held[nh - 1]);
		printf("ksm_bench: %s: with the mmap_lock held: min %.0f, median %.0f, max %.0f ms\n",
		       w, held[0], med, held[nh - 1]);
	}
	if (nf) {
		double med = median(free_, nf);

		csv(w, 0, "write_ms_nohold_median", med);
		printf("ksm_bench: %s: without a hold: min %.0f, median %.0f, max %.0f ms\n",
		       w, free_[0], med, free_[nf - 1]);
	}
}

/*
 * fork-exec: a process (new, exec()ed by the bench) forks, its child
 * execs a tiny static program that exits at once, and it waits for it,
 * for FE_SECS seconds: iterations a second. With zero_pages_scope
 * "mergeable" and "all" (use_zero_pages=1, run=1), FE_ROUNDS times each,
 * alternating (ABBA) against the drift of the emulation; on a kernel
 * without the scope "mergeable" only.
 */
#define FE_ROUNDS	6
#define FE_SECS		4
#define FE_LOOP		"--fork-exec-loop"
#define FE_EXE		"/tmp/ksm_bench_exit"

struct fe_result {
	long n, failed;
	double secs;
};

/*
 * The smallest static program: an ELF header, one PT_LOAD and
 * "exit(0)". Elsewhere than on x86_64, this program with --exit.
 */
static bool fe_write_exe(void)
{
#ifdef __x86_64__
	static const unsigned char code[] = {
		0x31, 0xff,			/* xor %edi,%edi */
		0xb8, 0x3c, 0, 0, 0,		/* mov $60,%eax (exit) */
		0x0f, 0x05,			/* syscall */
	};
	const unsigned long base = 0x400000;
	unsigned char img[sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + sizeof(code)];
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };
	bool ok;
	int fd;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = base + sizeof(eh) + sizeof(ph);
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_X;
	ph.p_vaddr = ph.p_paddr = base;
	ph.p_filesz = ph.p_memsz = sizeof(img);
	ph.p_align = 0x1000;
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), &ph, sizeof(ph));
	memcpy(img + sizeof(eh) + sizeof(ph), code, sizeof(code));
	fd = open(FE_EXE, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0)
		return false;
	ok = write(fd, img, sizeof(img)) == (ssize_t)sizeof(img);
	return !close(fd) && ok;
#else
	return false;
#endif
}

static const char *fe_exe;

/* The loop, in its own process: @secs seconds of fork+exec+wait. */
static int fe_loop(const char *exe, double secs)
{
	char *const argv_exe[] = { (char *)"ksm_bench", (char *)"--exit", NULL };
	char *const envp[] = { NULL };
	struct fe_result r = { 0 };
	double t0 = now();
	int status;
	pid_t pid;

	do {
		pid = fork();
		if (pid < 0) {
			r.failed++;
			continue;
		}
		if (!pid) {
			execve(exe, argv_exe, envp);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			r.failed++;
		r.n++;
	} while ((r.secs = now() - t0) < secs);
	return write(UNREG_REP_FD, &r, sizeof(r)) != (ssize_t)sizeof(r);
}

/* One round with the scope as it is: iterations a second, -1 on failure. */
static double fe_round(const char *w, long *iterations)
{
	struct fe_result r;
	struct helper h;
	char arg[300];

	snprintf(arg, sizeof(arg), "%s:%d", fe_exe, FE_SECS);
	helper_start(&h, FE_LOOP, arg);
	if (!readable_within(h.rep, (FE_SECS + 120) * 1000) ||
	    !read_full(h.rep, &r, sizeof(r)) || r.failed || r.secs <= 0) {
		printf("ksm_bench: %s: the loop failed\n", w);
		helper_end(&h, true);
		return -1;
	}
	helper_end(&h, true);
	*iterations += r.n;
	return r.n / r.secs;
}

static void fork_exec(void)
{
	static const char *const scope[2] = { "mergeable", "all" };
	const char *w = "fork-exec";
	bool has_all = !access(KSM "zero_pages_scope", F_OK);
	double rate[2][FE_ROUNDS], med[2], ksmd_s[2] = { 0, 0 }, wall[2] = { 0, 0 };
	long iterations[2] = { 0, 0 };
	int n[2] = { 0, 0 }, run, i, s;
	char metric[64];

	fe_exe = fe_write_exe() ? FE_EXE : "/proc/self/exe";
	if (!has_all)
		printf("ksm_bench: %s: no zero_pages_scope: \"all\" not applicable, \"mergeable\" only\n",
		       w);
	ksm_reset(1000, 20);
	ksm_write("run", 1);
	for (run = 1; run <= FE_ROUNDS; run++) {
		for (i = 0; i < 2; i++) {
			double v, c0, t0;

			s = run % 2 ? i : 1 - i;	/* ABBA */
			if (s && !has_all)
				continue;
			if (has_all && !write_str(KSM "zero_pages_scope", scope[s])) {
				printf("ksm_bench: %s: zero_pages_scope refuses %s\n",
				       w, scope[s]);
				continue;
			}
			c0 = ksmd_cpu();
			t0 = now();
			v = fe_round(w, &iterations[s]);
			ksmd_s[s] += ksmd_cpu() - c0;
			wall[s] += now() - t0;
			if (v < 0)
				continue;
			rate[s][n[s]++] = v;
			snprintf(metric, sizeof(metric), "per_s_%s", scope[s]);
			csv(w, run, metric, v);
		}
	}
	if (has_all)
		write_str(KSM "zero_pages_scope", "mergeable");
	ksm_write("run", 2);
	for (s = 0; s < 2; s++) {
		if (!n[s])
			continue;
		med[s] = median(rate[s], n[s]);
		snprintf(metric, sizeof(metric), "per_s_%s_median", scope[s]);
		csv(w, 0, metric, med[s]);
		snprintf(metric, sizeof(metric), "iterations_%s", scope[s]);
		csv(w, 0, metric, iterations[s]);
		/* What ksmd took of one CPU meanwhile. */
		snprintf(metric, sizeof(metric), "ksmd_cpu_pct_%s", scope[s]);
		csv(w, 0, metric, 100 * ksmd_s[s] / wall[s]);
		printf("ksm_bench: %s: %s: median %.1f/s (min %.1f, max %.1f), %ld iterations, ksmd %.1f%% of a CPU\n",
		       w, scope[s], med[s], rate[s][0], rate[s][n[s] - 1],
		       iterations[s], 100 * ksmd_s[s] / wall[s]);
	}
	if (n[0] && n[1] && med[0] > 0) {
		csv(w, 0, "all_over_mergeable", med[1] / med[0]);
		printf("ksm_bench: %s: all/mergeable %.4f\n", w, med[1] / med[0]);
	}
}

/*
 * pretouched-heap: a process (new, exec()ed by the bench, not registered
 * unless asked) writes zeros into every page of a PH_MIB heap at start
 * (4K pages, MADV_NOHUGEPAGE; or THPs), then, with ksmd running, writes
 * data into it PH_CHUNK_MIB at a time in order, one chunk every
 * PH_SECS / chunks seconds. Write faults of the process meanwhile (those
 * of the pre-touch apart), MiB of its heap on the zero page (its ksm_stat,
 * sampled every 100 ms: peak, mean, at the end) and ksmd's CPU.
 */
#define PH_MIB		256
#define PH_CHUNK_MIB	4
#define PH_SECS		20
#define PH_CHILD	"--pretouch-child"

struct ph_ready {
	long minflt;
	double secs;
};

struct ph_done {
	long minflt;
	double cpu_s, late_max;
};

static double rusage_cpu(const struct rusage *r)
{
	return tv_s(&r->ru_utime) + tv_s(&r->ru_stime);
}

/* @how: "<thp 0/1><mergeable 0/1>". */
static int ph_child(const char *how)
{
	const unsigned long bytes = PH_MIB * MIB, chunk = PH_CHUNK_MIB * MIB;
	const long chunks = PH_MIB / PH_CHUNK_MIB;
	const double period = (double)PH_SECS / chunks;
	bool thp = how[0] == '1', mergeable = how[0] && how[1] == '1';
	struct ph_ready ready;
	struct ph_done done = { 0 };
	struct rusage r0, r1;
	struct timespec next;
	unsigned long i;
	double t0, start;
	long k;
	char c, *p;

	if (thp) {
		thp_setup();
		p = map_thp(bytes);
	} else {
		p = map_pages(bytes);
	}
	if (mergeable)
		madvise(p, bytes, MADV_MERGEABLE);
	getrusage(RUSAGE_SELF, &r0);
	t0 = now();
	for (i = 0; i < bytes; i += page_size)
		memset(p + i, 0, page_size);
	getrusage(RUSAGE_SELF, &r1);
	ready.minflt = r1.ru_minflt - r0.ru_minflt;
	ready.secs = now() - t0;
	if (write(UNREG_REP_FD, &ready, sizeof(ready)) != (ssize_t)sizeof(ready) ||
	    !read_full(UNREG_CMD_FD, &c, 1) || c != 'g')
		return 1;
	getrusage(RUSAGE_SELF, &r0);
	clock_gettime(CLOCK_MONOTONIC, &next);
	start = next.tv_sec + next.tv_nsec / 1e9;
	for (k = 0; k <= chunks; k++) {
		double at = start + k * period, late;

		next.tv_sec = (time_t)at;
		next.tv_nsec = (long)((at - next.tv_sec) * 1e9);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
				       NULL) == EINTR)
			;
		late = now() - at;
		if (late > done.late_max)
			done.late_max = late;
		if (k == chunks)
			break;		/* the end of the last period */
		/* Data, a different first word in every page. */
		for (i = k * chunk; i < (k + 1) * chunk; i += page_size) {
			uint64_t v = i / page_size + 1;

			memset(p + i, 0x5a, page_size);
			memcpy(p + i, &v, sizeof(v));
		}
	}
	getrusage(RUSAGE_SELF, &r1);
	done.minflt = r1.ru_minflt - r0.ru_minflt;
	done.cpu_s = rusage_cpu(&r1) - rusage_cpu(&r0);
	if (write(UNREG_REP_FD, &done, sizeof(done)) != (ssize_t)sizeof(done))
		return 1;
	/* Stay, for the bench to read our ksm_stat, until told to go. */
	return !read_full(UNREG_CMD_FD, &c, 1);
}

/*
 * One setting: zero_pages_scope @scope (NULL: left as the kernel has it),
 * zero_pages_min_age @min_age (left alone where the kernel has none).
 */
static void pretouched(const char *w, bool thp, bool mergeable,
		       const char *scope, long min_age)
{
	const int run = 1;
	long zero, peak = 0, samples = 0, merged0, thp0;
	double zero_sum = 0;
	struct ph_ready ready;
	struct ph_done done;
	struct helper h;
	struct mark a, b;
	char how[3] = { thp ? '1' : '0', mergeable ? '1' : '0', 0 };

	ksm_reset(1000, 20);
	if (!write_str(KSM "zero_pages_scope", scope ? scope : "mergeable") &&
	    scope) {
		printf("ksm_bench: %s: not applicable: no zero_pages_scope %s\n",
		       w, scope);
		return;
	}
	if (!ksm_try_write("zero_pages_min_age", min_age) && min_age)
		printf("ksm_bench: %s: no zero_pages_min_age (the kernel's own behaviour)\n",
		       w);
	helper_start(&h, PH_CHILD, how);
	if (!read_full(h.rep, &ready, sizeof(ready))) {
		printf("ksm_bench: %s: the heap process failed\n", w);
		helper_end(&h, true);
		return;
	}
	merged0 = ksm_read("zero_pages_merged");
	thp0 = ksm_read("zero_pages_thp_merged");
	mark(&a);
	ksm_write("run", 1);
	if (write(h.cmd, "g", 1) != 1) {
		printf("ksm_bench: %s: the heap process failed\n", w);
		helper_end(&h, true);
		return;
	}
	for (;;) {
		bool end = readable_within(h.rep, 100);

		zero = ksm_stat(h.pid, "ksm_zero_pages");
		zero = zero > 0 ? zero : 0;
		if (zero > peak)
			peak = zero;
		zero_sum += zero;
		samples++;
		if (end)
			break;
	}
	mark(&b);
	ksm_write("run", 0);
	if (!read_full(h.rep, &done, sizeof(done))) {
		printf("ksm_bench: %s: the heap process failed\n", w);
		helper_end(&h, true);
		return;
	}
	csv(w, run, "pretouch_minor_faults", ready.minflt);
	csv(w, run, "write_minor_faults", done.minflt);
	csv(w, run, "writer_cpu_s", done.cpu_s);
	csv(w, run, "zero_mib_peak", pages_mib(peak));
	csv(w, run, "zero_mib_mean", pages_mib(zero_sum) / samples);
	csv(w, run, "zero_mib_end", pages_mib(zero));
	csv(w, run, "ksmd_cpu_s", b.cpu - a.cpu);
	csv(w, run, "full_scans", b.scans - a.scans);
	if (merged0 >= 0)
		csv(w, run, "zero_pages_merged",
		    ksm_read("zero_pages_merged") - merged0);
	if (thp && thp0 >= 0)
		csv(w, run, "zero_pages_thp_merged",
		    ksm_read("zero_pages_thp_merged") - thp0);
	if (done.late_max > 0.1)
		printf("ksm_bench: %s: a chunk was written %.0f ms late\n",
		       w, done.late_max * 1e3);
	helper_end(&h, false);
	write_str(KSM "zero_pages_scope", "mergeable");
	ksm_write("zero_pages_min_age", 0);
	ksm_write("run", 2);
}

/*
 * thp-sparse: TS_MIB of THPs zero-filled but for one word in each, word
 * TS_WORD of its page TS_PAGE, where the sample of page_maybe_zero()-like
 * checks (words 0, n/4, n/2, 3n/4 and n-1 of each page) does not look: each
 * THP looks zero-filled throughout to a sample, and is not. The word differs
 * from THP to THP, so that no two of those pages are the same either.
 */
#define TS_MIB		64
#define TS_PAGE		100
#define TS_WORD		1
#define TS_FIRST	5	/* full scans measured from run=1 on */
#define TS_STEADY	5	/* and after those */

static uint64_t ts_word(unsigned long thp, int run)
{
	return thp + 1 + ((uint64_t)run << 32);
}

/* The page that holds word @i of thp-sparse (@unique false) or thp-unique. */
static char *ts_page(char *p, unsigned long i, bool unique)
{
	if (unique)
		return p + i * page_size;
	return p + i * thp_size + TS_PAGE * page_size;
}

/* Minor faults of the calling thread. */
static long thread_minflt(void)
{
	struct rusage r;

	getrusage(RUSAGE_THREAD, &r);
	return r.ru_minflt;
}

/*
 * Write zero into word 2 of every page from @p on (already zero: the
 * content stays), as the owner of the memory would write into it; the
 * minor faults it took.
 */
static long write_each_page(char *p, unsigned long bytes)
{
	long f0 = thread_minflt();
	unsigned long i;

	for (i = 0; i < bytes; i += page_size)
		*(volatile uint64_t *)(p + i + 2 * sizeof(uint64_t)) = 0;
	return thread_minflt() - f0;
}

/*
 * thp-unique, the control of thp-sparse: the same THPs with a word of its
 * own in every 4K page, so that no page is zero-filled, nothing can be
 * merged and both kernels keep every THP and scan its pages as any
 * registered memory: what a full scan of 64 MiB of THPs costs when the
 * zero path is never entered.
 */
static void thp_sparse(const char *name, int run, bool unique)
{
	const unsigned long bytes = TS_MIB * MIB, thps = bytes / thp_size;
	const unsigned long per_thp = unique ? thp_size / page_size : 1;
	long rss0, rss, splits0, merged0, f0, bad = 0;
	struct mark a, b, c;
	unsigned long i;
	char *p;

	ksm_reset(1000, 20);
	ksm_write("zero_pages_min_age", 0);
	p = map_thp(bytes);
	memset(p, 0, bytes);
	for (i = 0; i < thps * per_thp; i++) {
		uint64_t v = ts_word(i, run);

		memcpy(ts_page(p, i, unique) + TS_WORD * sizeof(v), &v,
		       sizeof(v));
	}
	csv(name, run, "thp_mib_before", anon_huge_mib());
	/* The control: PMD-mapped and writable, a write takes no fault. */
	csv(name, run, "owner_write_faults_without_ksm",
	    write_each_page(p, bytes));
	madvise(p, bytes, MADV_MERGEABLE);
	splits0 = thp_splits();
	merged0 = ksm_read("zero_pages_thp_merged");
	rss0 = rss_pages();
	f0 = thread_minflt();
	mark(&a);
	ksm_write("run", 1);
	wait_scans(TS_FIRST, 300);
	mark(&b);
	wait_scans(TS_STEADY, 300);
	mark(&c);
	ksm_write("run", 0);
	/* This thread only polled sysfs meanwhile. */
	csv(name, run, "owner_idle_minor_faults", thread_minflt() - f0);
	if (b.scans - a.scans < TS_FIRST || c.scans - b.scans < TS_STEADY)
		printf("ksm_bench: %s run %d: %ld and %ld full scans\n",
		       name, run, b.scans - a.scans, c.scans - b.scans);
	csv(name, run, "ksmd_cpu_s_per_full_scan_first5",
	    (b.cpu - a.cpu) / (b.scans > a.scans ? b.scans - a.scans : 1));
	csv(name, run, "ksmd_cpu_s_per_full_scan_steady",
	    (c.cpu - b.cpu) / (c.scans > b.scans ? c.scans - b.scans : 1));
	csv(name, run, "pages_visited_per_full_scan_steady",
	    (double)(c.scanned - b.scanned) /
	    (c.scans > b.scans ? c.scans - b.scans : 1));
	rss = rss_pages();
	csv(name, run, "reclaimed_mib",
	    (double)(rss0 - rss) * page_size / MIB);
	csv(name, run, "anon_huge_mib_after", anon_huge_mib());
	if (splits0 >= 0)
		csv(name, run, "thp_split_page", thp_splits() - splits0);
	if (ksm_read("ksm_zero_pages") >= 0)
		csv(name, run, "ksm_zero_pages_mib",
		    (double)ksm_read("ksm_zero_pages") * page_size / MIB);
	if (merged0 >= 0)
		csv(name, run, "zero_pages_thp_merged",
		    ksm_read("zero_pages_thp_merged") - merged0);
	/* ksmd stopped: what the scans left the owner to pay. */
	csv(name, run, "owner_write_faults",
	    write_each_page(p, bytes));
	for (i = 0; i < thps * per_thp; i++) {
		uint64_t v;

		memcpy(&v, ts_page(p, i, unique) + TS_WORD * sizeof(v),
		       sizeof(v));
		bad += v != ts_word(i, run);
	}
	csv(name, run, "data_mismatches", bad);
	munmap(p, bytes);
	ksm_write("run", 2);
}

/*
 * khugepaged: thp-half's memory (256 MiB of THPs, the odd 4K pages of each
 * zero-filled, the even ones unique) with ksmd running for kh_seconds
 * (default 600) and khugepaged at its defaults or scanning every second:
 * does khugepaged collapse what a split left half zero, and take the
 * memory back? A record every KH_SAMPLE s on "kh," lines (KH_COLUMNS),
 * totals on csv lines.
 */
#define KH_SAMPLE	30
#define KH_COLUMNS	"t_s,given_back_mib,ksm_zero_mib,anon_huge_mib,rss_mib," \
			"thp_split_page,thp_collapse_alloc,ksmd_cpu_s," \
			"khugepaged_cpu_s,full_scans,khugepaged_full_scans"
#define KH_HALF_MIB	256

static long kh_seconds = 600;

struct kh_sample {
	double t, ksmd_cpu, kh_cpu;
	long rss, zero, splits, collapses, scans, kh_scans;
	double huge_mib;
};

static void kh_take(struct kh_sample *s, pid_t khugepaged)
{
	s->t = now();
	s->ksmd_cpu = ksmd_cpu();
	s->kh_cpu = khugepaged ? task_cpu(khugepaged) : 0;
	s->rss = rss_pages();
	s->zero = ksm_read("ksm_zero_pages");
	s->splits = proc_field("/proc/vmstat", "thp_split_page");
	s->collapses = proc_field("/proc/vmstat", "thp_collapse_alloc");
	s->scans = ksm_read("full_scans");
	s->kh_scans = read_long(THP "khugepaged/full_scans");
	s->huge_mib = anon_huge_mib();
}

static double kh_given_back(const struct kh_sample *s0,
			    const struct kh_sample *s)
{
	return (double)(s0->rss - s->rss) * page_size / MIB;
}

static void kh_print(const char *w, const struct kh_sample *s0,
		     const struct kh_sample *s)
{
	printf("kh,%s,%.0f,%.1f,%.1f,%.0f,%.1f,%ld,%ld,%.3f,%.3f,%ld,%ld\n",
	       w, s->t - s0->t, kh_given_back(s0, s),
	       s->zero >= 0 ? (double)s->zero * page_size / MIB : 0,
	       s->huge_mib, (double)s->rss * page_size / MIB,
	       s->splits - s0->splits, s->collapses - s0->collapses,
	       s->ksmd_cpu - s0->ksmd_cpu, s->kh_cpu - s0->kh_cpu,
	       s->scans - s0->scans, s->kh_scans - s0->kh_scans);
}

/*
 * @sleep_ms: khugepaged/scan_sleep_millisecs, -1 to leave it alone;
 * @split_min: zero_pages_thp_split_min, -1 to leave it alone.
 */
static void khugepaged_half(const char *w, long sleep_ms, long split_min)
{
	const unsigned long bytes = KH_HALF_MIB * MIB;
	long old_sleep = read_long(THP "khugepaged/scan_sleep_millisecs");
	long old_min = ksm_read("zero_pages_thp_split_min");
	pid_t khugepaged = find_comm("khugepaged");
	struct kh_sample s0, s, end;
	double sum = 0, sum_late = 0;
	int n = 0, n_late = 0, k;
	long bad = 0;
	unsigned long i;
	uint64_t x;
	char *p;

	if (split_min >= 0 &&
	    !ksm_try_write("zero_pages_thp_split_min", split_min)) {
		printf("ksm_bench: %s: not applicable (no zero_pages_thp_split_min %ld)\n",
		       w, split_min);
		return;
	}
	if (!khugepaged || old_sleep < 0)
		printf("ksm_bench: %s: no khugepaged\n", w);
	ksm_reset(1000, 20);
	ksm_write("zero_pages_min_age", 0);
	if (sleep_ms >= 0) {
		char s_ms[32];

		snprintf(s_ms, sizeof(s_ms), "%ld", sleep_ms);
		if (!write_str(THP "khugepaged/scan_sleep_millisecs", s_ms))
			printf("ksm_bench: %s: scan_sleep_millisecs refused\n", w);
	}
	printf("ksm_bench: %s: khugepaged %ld ms, %ld pages, max_ptes_none %ld; split_min %ld; %ld s\n",
	       w, read_long(THP "khugepaged/scan_sleep_millisecs"),
	       read_long(THP "khugepaged/pages_to_scan"),
	       read_long(THP "khugepaged/max_ptes_none"),
	       ksm_read("zero_pages_thp_split_min"), kh_seconds);
	p = map_thp(bytes);
	fill_unique(p, bytes, 0x6b680000);
	for (i = page_size; i < bytes; i += 2 * page_size)
		memset(p + i, 0, page_size);
	csv(w, 1, "thp_mib_before", anon_huge_mib());
	madvise(p, bytes, MADV_MERGEABLE);
	kh_take(&s0, khugepaged);
	printf("khcols," KH_COLUMNS "\n");
	kh_print(w, &s0, &s0);
	ksm_write("run", 1);
	for (k = 1; k * KH_SAMPLE <= kh_seconds; k++) {
		double left = s0.t + k * KH_SAMPLE - now();

		if (left > 0)
			usleep(left * 1e6);
		kh_take(&s, khugepaged);
		kh_print(w, &s0, &s);
		sum += kh_given_back(&s0, &s);
		n++;
		if (k * KH_SAMPLE > kh_seconds / 2) {
			sum_late += kh_given_back(&s0, &s);
			n_late++;
		}
	}
	kh_take(&end, khugepaged);
	ksm_write("run", 0);
	csv(w, 1, "given_back_mib_mean", n ? sum / n : 0);
	csv(w, 1, "given_back_mib_mean_2nd_half", n_late ? sum_late / n_late : 0);
	csv(w, 1, "given_back_mib_end", kh_given_back(&s0, &end));
	csv(w, 1, "anon_huge_mib_end", end.huge_mib);
	csv(w, 1, "thp_split_page", end.splits - s0.splits);
	csv(w, 1, "thp_collapse_alloc", end.collapses - s0.collapses);
	csv(w, 1, "full_scans", end.scans - s0.scans);
	csv(w, 1, "khugepaged_full_scans", end.kh_scans - s0.kh_scans);
	csv(w, 1, "ksmd_cpu_s", end.ksmd_cpu - s0.ksmd_cpu);
	csv(w, 1, "khugepaged_cpu_s", end.kh_cpu - s0.kh_cpu);
	/* Splits and collapses move data: it must be where it was written. */
	x = 0x6b680000;
	for (i = 0; i < bytes; i += 8) {
		uint64_t v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&v, p + i, 8);
		bad += v != ((i / page_size) % 2 ? 0 : x);
	}
	csv(w, 1, "data_mismatches", bad);
	munmap(p, bytes);
	ksm_write("run", 2);
	if (old_sleep >= 0) {
		char s_old[32];

		snprintf(s_old, sizeof(s_old), "%ld", old_sleep);
		write_str(THP "khugepaged/scan_sleep_millisecs", s_old);
	}
	if (split_min >= 0)
		ksm_write("zero_pages_thp_split_min", old_min);
}

/* The settings of pretouched-heap, each a workload of its own. */
static const struct {
	const char *name;
	bool thp, mergeable;
	const char *scope;	/* NULL: "mergeable" where there is a scope */
	long min_age;
} ph_settings[] = {
	{ "pretouched-heap-none", false, false, NULL, 0 },
	{ "pretouched-heap-all-age0", false, false, "all", 0 },
	{ "pretouched-heap-all-age1", false, false, "all", 1 },
	{ "pretouched-heap-all-age3", false, false, "all", 3 },
	{ "pretouched-heap-mergeable-age0", false, true, NULL, 0 },
	{ "pretouched-heap-mergeable-age3", false, true, NULL, 3 },
	{ "pretouched-heap-thp-all-age0", true, false, "all", 0 },
};

/*
 * unmerge-walk: run=2 where a process that never registered holds KSM zero
 * pages (zero_pages_scope=all) next to UW_MIB of data in small pages: to
 * find them, run=2 reads every PTE of its populated anonymous memory. How
 * long run=2 takes, and the longest a thread on the CPU of its writer waits
 * meanwhile (the walk gives way once a page table), against the same thread
 * while the writer spins in user space for as long (the control); then run=2
 * again, written by a child killed a quarter of that time after it began:
 * how long the kill takes to end it (the walk stops at a signal). Only on a
 * kernel with zero_pages_scope.
 */
#define UW_MIB		1024
#define UW_ZERO_MIB	4

struct uw_probe {
	pthread_t thread;
	int stop;
	double max;	/* the longest gap between two of its clock reads */
};

static void *uw_probe_thread(void *arg)
{
	struct uw_probe *pr = arg;
	double t, last = now();

	while (!__atomic_load_n(&pr->stop, __ATOMIC_ACQUIRE)) {
		t = now();
		if (t - last > pr->max)
			pr->max = t - last;
		last = t;
	}
	return NULL;
}

/* The longest wait of a thread on the caller's CPU while @fn(@arg) runs. */
static double uw_probed(void (*fn)(void *), void *arg)
{
	struct uw_probe pr = { .max = 0 };

	if (pthread_create(&pr.thread, NULL, uw_probe_thread, &pr)) {
		perror("pthread_create");
		exit(1);
	}
	usleep(50000);
	pr.max = 0;
	fn(arg);
	__atomic_store_n(&pr.stop, 1, __ATOMIC_RELEASE);
	pthread_join(pr.thread, NULL);
	return pr.max;
}

static void uw_run2(void *arg)
{
	double *t = arg;

	t[0] = now();
	ksm_write("run", 2);
	t[1] = now();
}

static void uw_spin(void *arg)
{
	double *t = arg, end = now() + (t[1] - t[0]);

	while (now() < end)
		;
}

/* The holder: data, then zero-filled pages; waits for EOF on @fd. */
static void uw_holder(int ready, int fd)
{
	char *data = map_pages(UW_MIB * MIB), *zero;
	unsigned long i;
	char c = 0;

	for (i = 0; i < UW_MIB * MIB; i += page_size)
		data[i] = 1;
	zero = map_pages(UW_ZERO_MIB * MIB);
	memset(zero, 0, UW_ZERO_MIB * MIB);
	if (write(ready, &c, 1) != 1)
		_exit(1);
	while (read(fd, &c, 1) > 0)
		;
	_exit(0);
}

/* run=1 until the holder's zero-filled pages are all KSM zero pages. */
static bool uw_merge(pid_t holder)
{
	long goal = UW_ZERO_MIB * MIB / page_size;
	double t0 = now();

	ksm_write("run", 1);
	while (ksm_stat(holder, "ksm_zero_pages") < goal) {
		if (now() - t0 > 300)
			return false;
		usleep(20000);
	}
	ksm_write("run", 0);
	return true;
}

static void unmerge_walk(int run)
{
	int ready[2], hold[2], status;
	double t[2], gap, ctl, tk;
	pid_t holder, writer;
	cpu_set_t cpus;
	char c;

	ksm_reset(10000, 0);
	write_str(KSM "zero_pages_scope", "all");
	if (pipe(ready) || pipe(hold)) {
		perror("pipe");
		exit(1);
	}
	holder = fork();
	if (!holder) {
		close(ready[0]);
		close(hold[1]);
		uw_holder(ready[1], hold[0]);
	}
	close(ready[1]);
	close(hold[0]);
	if (read(ready[0], &c, 1) != 1 || !uw_merge(holder)) {
		printf("ksm_bench: unmerge-walk run %d: the zero pages did not merge\n",
		       run);
		goto out;
	}
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	gap = uw_probed(uw_run2, t);
	ctl = uw_probed(uw_spin, t);
	CPU_SET(1, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	csv("unmerge-walk", run, "run2_seconds", t[1] - t[0]);
	csv("unmerge-walk", run, "ptes_walked_k",
	    (double)UW_MIB * MIB / page_size / 1000);
	csv("unmerge-walk", run, "probe_max_wait_ms_run2", gap * 1e3);
	csv("unmerge-walk", run, "probe_max_wait_ms_spin", ctl * 1e3);

	if (!uw_merge(holder)) {
		printf("ksm_bench: unmerge-walk run %d: no second merge\n", run);
		goto out;
	}
	writer = fork();
	if (!writer) {
		ksm_write("run", 2);
		_exit(0);
	}
	usleep((t[1] - t[0]) * 1e6 / 4);
	tk = now();
	kill(writer, SIGKILL);
	waitpid(writer, &status, 0);
	csv("unmerge-walk", run, "killed_during_run2",
	    WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	csv("unmerge-walk", run, "kill_to_exit_ms", (now() - tk) * 1e3);
out:
	close(hold[1]);
	waitpid(holder, NULL, 0);
	close(ready[0]);
	write_str(KSM "zero_pages_scope", "mergeable");
	ksm_write("run", 2);
}

/*
 * scope-unique: what zero_pages_scope "all" costs on memory that is not
 * zero. A process exec()ed from the bench (KSM has never seen its mm)
 * fills SU_MIB of 4K pages with unique data and measures three references
 * in the same guest right before ksmd's run, each the least of SU_WALKS:
 *   - a walk reading the first word of each page (user_us_per_page_first_word);
 *   - the same walk with the TLB emptied before it by an mprotect() round
 *     trip over the area (user_us_per_page_first_word_cold): under TCG,
 *     QEMU's software TLB keeps all 65536 translations from one walk to the
 *     next, which no hardware TLB does, and ksmd's batches are apart;
 *   - the kernel's own walk of the same page tables, reading
 *     /proc/self/pagemap (pagemap_us_per_page): a PTE, its page's struct
 *     page, the lock of each table, mmap_lock every 512 pages.
 * Then ksmd scans them under the scope for SU_SCANS full scans after one
 * to settle, in batches of 1000 pages every 20 ms: ksmd CPU per page
 * visited, and its ratio to the references. Then again SU_SCANS_NOSLEEP
 * full scans with sleep_millisecs 0 ("scope-unique-nosleep"): ksmd's walk
 * without the cost of waking it 50 times a second (a timer, a context
 * switch, under TCG an IPI to a halted vCPU), which is the same on memory
 * that ksmd scans without the scope. ksmd's own work on such a page is a
 * page-table lookup and a read up to the first word that is not zero;
 * the rest is the cost of its scan.
 */
#define SU_CHILD	"--scope-unique-child"
#define SU_MIB		256
#define SU_SCANS	3
#define SU_SCANS_NOSLEEP	20
#define SU_WALKS	5

/* CPU per page of a walk reading each page's first word. */
static double su_walk(const char *p, unsigned long bytes, bool cold)
{
	volatile uint64_t sink = 0;
	unsigned long i;
	double t0;

	if (cold && (mprotect((void *)p, bytes, PROT_READ) ||
		     mprotect((void *)p, bytes, PROT_READ | PROT_WRITE)))
		return -1;
	t0 = cpu_now();
	for (i = 0; i < bytes; i += page_size)
		sink += *(volatile const uint64_t *)(p + i);
	return (cpu_now() - t0) * 1e6 / (bytes / page_size);
}

/* CPU per page of the kernel's walk of the area's page tables. */
static double su_pagemap(const char *p, unsigned long bytes)
{
	unsigned long n = bytes / page_size;
	uint64_t *buf = malloc(n * sizeof(*buf));
	int fd = open("/proc/self/pagemap", O_RDONLY);
	double t0, us = -1;

	if (fd >= 0 && buf) {
		t0 = cpu_now();
		if (pread(fd, buf, n * sizeof(*buf),
			  (uintptr_t)p / page_size * sizeof(*buf)) ==
		    (ssize_t)(n * sizeof(*buf)))
			us = (cpu_now() - t0) * 1e6 / n;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return us;
}

static int su_child(void)
{
	const unsigned long bytes = SU_MIB * MIB;
	double ref[3] = { -1, -1, -1 };
	int walk, r;
	char c, *p;

	p = map_pages(bytes);
	fill_unique(p, bytes, 0x5c09e0000ULL + getpid());
	for (walk = 0; walk < SU_WALKS; walk++) {
		double us[3];

		us[0] = su_walk(p, bytes, false);
		us[1] = su_walk(p, bytes, true);
		us[2] = su_pagemap(p, bytes);
		for (r = 0; r < 3; r++)
			if (us[r] >= 0 && (ref[r] < 0 || us[r] < ref[r]))
				ref[r] = us[r];
	}
	if (write(UNREG_REP_FD, ref, sizeof(ref)) != sizeof(ref))
		return 1;
	/* Stay, untouched, until told to go. */
	if (!read_full(UNREG_CMD_FD, &c, 1))
		return 1;
	return 0;
}

static void scope_unique(int run)
{
	const char *w = "scope-unique";
	struct helper h;
	double ref[3];

	ksm_reset(1000, 20);
	if (!write_str(KSM "zero_pages_scope", "all")) {
		if (run == 1)
			printf("ksm_bench: %s: no zero_pages_scope\n", w);
		return;
	}
	helper_start(&h, SU_CHILD, "-");
	if (!read_full(h.rep, ref, sizeof(ref))) {
		printf("ksm_bench: %s: the helper failed\n", w);
		helper_end(&h, true);
		write_str(KSM "zero_pages_scope", "mergeable");
		return;
	}
	/* A reference that could not be measured is left out (-1). */
	if (ref[0] >= 0)
		csv(w, run, "user_us_per_page_first_word", ref[0]);
	if (ref[1] >= 0)
		csv(w, run, "user_us_per_page_first_word_cold", ref[1]);
	if (ref[2] >= 0)
		csv(w, run, "pagemap_us_per_page", ref[2]);
	settle_and_measure(w, run, 1, SU_SCANS, 120);
	ksm_write("sleep_millisecs", 0);
	settle_and_measure("scope-unique-nosleep", run, 1, SU_SCANS_NOSLEEP, 120);
	helper_end(&h, false);
	write_str(KSM "zero_pages_scope", "mergeable");
	ksm_write("run", 2);
}

static const char *const workloads[] = {
	"zero", "unique", "mixed", "limit", "churn", "pinned", "sparse",
	"zero-write", "zero-write-age0", "zero-write-age1",
	"thp-zero", "thp-half", "thp-half-256", "thp-sparse", "thp-unique",
	"mthp-zero", "mthp-zero-64k", "mthp-zero-16k",
	"khugepaged", "khugepaged-default", "khugepaged-fast",
	"khugepaged-fast-256",
	"unregistered", "unregistered-none", "unregistered-zram",
	"unregistered-all", "scope-write", "fork-exec", "pretouched-heap",
	"pretouched-heap-none", "pretouched-heap-all-age0",
	"pretouched-heap-all-age1", "pretouched-heap-all-age3",
	"pretouched-heap-mergeable-age0", "pretouched-heap-mergeable-age3",
	"pretouched-heap-thp-all-age0", "unmerge-walk", "scope-unique",
};
static int nwanted;
static char *wanted[64];

/* Is workload @name asked for by name? */
static bool named(const char *name)
{
	int i;

	for (i = 0; i < nwanted; i++)
		if (!strcmp(wanted[i], name))
			return true;
	return false;
}

/* Is workload @name asked for? None asked for: all of them are. */
static bool want(const char *name)
{
	return named(name) || !nwanted;
}

/* The workload names of the arguments, separated by commas or spaces. */
/* Runs of each workload (runs=N): the table shows their median. */
static int nruns = 5;

static void parse_args(int argc, char **argv)
{
	unsigned int k;
	int i;

	for (i = 1; i < argc; i++) {
		char *save, *name;

		for (name = strtok_r(argv[i], ", ", &save); name;
		     name = strtok_r(NULL, ", ", &save)) {
			if (!strncmp(name, "runs=", 5)) {
				nruns = atoi(name + 5);
				if (nruns < 1) {
					printf("ksm_bench: %s: at least 1\n", name);
					exit(1);
				}
				continue;
			}
			if (!strncmp(name, "khugepaged-seconds=", 19)) {
				kh_seconds = atol(name + 19);
				if (kh_seconds < KH_SAMPLE) {
					printf("ksm_bench: %s: at least %d\n",
					       name, KH_SAMPLE);
					exit(1);
				}
				continue;
			}
			for (k = 0; k < sizeof(workloads) / sizeof(*workloads); k++)
				if (!strcmp(name, workloads[k]))
					break;
			if (k == sizeof(workloads) / sizeof(*workloads)) {
				printf("ksm_bench: no workload %s\n", name);
				exit(1);
			}
			if (nwanted < (int)(sizeof(wanted) / sizeof(*wanted)))
				wanted[nwanted++] = name;
		}
	}
}

/*
 * make bench PROFILE=1 boots the kernels with profile=2: the kernel counts
 * the timer ticks that find a CPU in kernel mode, per 4 bytes of its text,
 * in /proc/profile (a word with the bucket size, then a word a bucket).
 * Counted from the first workload to the last; the buckets that were hit
 * are printed as "prof,INDEX,TICKS", and run.sh names their functions.
 */
#define PROFILE "/proc/profile"

static void profile_reset(void)
{
	if (access(PROFILE, F_OK))
		return;
	/* Any write empties the counters. */
	if (!write_str(PROFILE, "0"))
		printf("ksm_bench: could not reset " PROFILE "\n");
}

static void profile_dump(void)
{
	FILE *f = fopen(PROFILE, "r");
	uint32_t step, ticks;
	unsigned long i;

	if (!f)
		return;
	if (fread(&step, sizeof(step), 1, f) == 1) {
		printf("profstep,%u\n", step);
		for (i = 0; fread(&ticks, sizeof(ticks), 1, f) == 1; i++)
			if (ticks)
				printf("prof,%lu,%u\n", i, ticks);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	bool age0, age1, half, half256, un_none, un_zram, un_all;
	bool kh_default, kh_fast;
	uint64_t zpfn = 0;
	unsigned int i;
	int run;

	if (argc == 2 && !strcmp(argv[1], "--exit"))
		return 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	if (argc == 4 && !strcmp(argv[1], UNREG_CHILD))
		return unreg_child(atoi(argv[2]), argv[3][0] == '1');
	if (argc == 3 && !strcmp(argv[1], SW_SPAWNER))
		return sw_spawner();
	if (argc == 3 && !strcmp(argv[1], FE_LOOP)) {
		char *secs = strrchr(argv[2], ':');

		if (!secs)
			return 1;
		*secs++ = 0;
		return fe_loop(argv[2], atof(secs));
	}
	if (argc == 3 && !strcmp(argv[1], PH_CHILD))
		return ph_child(argv[2]);
	if (argc == 3 && !strcmp(argv[1], SU_CHILD))
		return su_child();
	parse_args(argc, argv);
	ksmd = find_ksmd();
	if (!ksmd) {
		printf("ksm_bench: no ksmd\n");
		return 1;
	}
	ksm_write("smart_scan", 1);
	profile_reset();
	if (want("zero"))
		for (run = 1; run <= nruns; run++)
			zero_reclaim("zero", run, 256, 1000, 20, 600);
	if (want("unique"))
		for (run = 1; run <= nruns; run++)
			unique_cost(run);
	if (want("mixed"))
		for (run = 1; run <= nruns; run++)
			mixed(run);
	if (want("limit"))
		for (run = 1; run <= nruns; run++) {
			zero_reclaim("limit", run, 256, 100000, 0, 600);
			user_zero_check(run, 256);
		}
	if (want("churn")) {
		bool refresh = ksm_read("unstable_refresh_millisecs") >= 0;

		for (run = 1; run <= nruns; run++) {
			churn("churn-off", run, 0);
			if (refresh) {
				churn("churn-1000ms", run, 1000);
				churn("churn-200ms", run, 200);
			}
		}
	}
	if (want("pinned"))
		for (run = 1; run <= nruns; run++)
			pinned(run);
	if (want("sparse"))
		for (run = 1; run <= nruns; run++)
			sparse(run);
	/* On a kernel without zero_pages_min_age both are the same. */
	age0 = want("zero-write") || want("zero-write-age0");
	age1 = want("zero-write") || want("zero-write-age1");
	for (run = 1; run <= nruns && (age0 || age1); run++) {
		if (age0)
			zero_write("zero-write-age0", run, 0);
		if (age1)
			zero_write("zero-write-age1", run, 1);
	}
	half = want("thp-half");
	half256 = (want("thp-half") || want("thp-half-256")) &&
		  ksm_read("zero_pages_thp_split_min") >= 0;
	if (want("thp-zero") || want("thp-sparse") || want("thp-unique") ||
	    half || half256)
		thp_setup();
	if (want("thp-zero"))
		for (run = 1; run <= nruns; run++)
			thp_reclaim("thp-zero", run, false);
	for (run = 1; run <= nruns && (half || half256); run++) {
		if (half)
			thp_reclaim("thp-half", run, true);
		if (half256)
			thp_half_at("thp-half-256", run, 256);
	}
	for (run = 1; run <= nruns; run++) {
		if (want("mthp-zero") || want("mthp-zero-64k"))
			mthp_reclaim(run, 64);
		if (want("mthp-zero") || want("mthp-zero-16k"))
			mthp_reclaim(run, 16);
	}
	for (run = 1; run <= nruns; run++) {
		if (want("thp-sparse"))
			thp_sparse("thp-sparse", run, false);
		if (want("thp-unique"))
			thp_sparse("thp-unique", run, true);
	}
	/* 10 minutes each: only when asked for by name. */
	kh_default = named("khugepaged") || named("khugepaged-default");
	kh_fast = named("khugepaged") || named("khugepaged-fast");
	if (kh_default || kh_fast || named("khugepaged-fast-256"))
		thp_setup();
	if (kh_default)
		khugepaged_half("khugepaged-default", -1, -1);
	if (kh_fast)
		khugepaged_half("khugepaged-fast", 1000, -1);
	if (named("khugepaged-fast-256"))
		khugepaged_half("khugepaged-fast-256", 1000, 256);
	un_none = want("unregistered") || want("unregistered-none");
	un_zram = want("unregistered") || want("unregistered-zram");
	un_all = want("unregistered") || want("unregistered-all");
	if (un_none || un_zram || un_all) {
		/* Also where zram is left out: the processes all in it. */
		if (!unreg_cgroup() && un_zram) {
			printf("ksm_bench: unregistered-zram: no cgroup v2 memory.reclaim\n");
			un_zram = false;
		}
		if (un_zram && access(ZRAM "disksize", F_OK)) {
			printf("ksm_bench: unregistered-zram: no zram\n");
			un_zram = false;
		}
		if (un_all && access(KSM "zero_pages_scope", F_OK)) {
			printf("ksm_bench: unregistered-all: no zero_pages_scope\n");
			un_all = false;
		}
		zpfn = zero_pfn();
	}
	for (run = 1; run <= nruns && (un_none || un_zram || un_all); run++) {
		if (un_none)
			unreg_none(run, zpfn);
		if (un_zram)
			unreg_zram(run, zpfn);
		if (un_all)
			unreg_all(run, zpfn);
	}
	if (want("scope-write"))
		scope_write();
	if (want("fork-exec"))
		fork_exec();
	for (i = 0; i < sizeof(ph_settings) / sizeof(*ph_settings); i++) {
		if (!want("pretouched-heap") && !want(ph_settings[i].name))
			continue;
		if (ph_settings[i].thp)
			thp_setup();
		pretouched(ph_settings[i].name, ph_settings[i].thp,
			   ph_settings[i].mergeable, ph_settings[i].scope,
			   ph_settings[i].min_age);
	}
	if (want("scope-unique"))
		for (run = 1; run <= nruns; run++)
			scope_unique(run);
	if (want("unmerge-walk")) {
		if (access(KSM "zero_pages_scope", F_OK))
			printf("ksm_bench: unmerge-walk: no zero_pages_scope\n");
		else
			for (run = 1; run <= nruns; run++)
				unmerge_walk(run);
	}
	profile_dump();
	printf("ksm_bench: done\n");
	return 0;
}
