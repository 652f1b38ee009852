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
 *   (unregistered: reserved for reclaim of zero pages in memory that was
 *           never registered with KSM, once the series has it: processes
 *           holding zero pages among other data, share reclaimed and KSM
 *           metadata memory)
 * Kernel knobs a kernel does not have are left alone.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ksm_guest.h"

#define MIB (1UL << 20)

static long page_size;
static pid_t ksmd;

/* Knobs a kernel does not have are left alone. */
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

/* User space reading the same amount of zero-filled memory, for scale. */
static void user_zero_check(int run, unsigned long mib)
{
	unsigned long bytes = mib * MIB, words = page_size / 8, i, zero = 0;
	double c0, c1;
	char *p;

	p = map_pages(bytes);
	memset(p, 0, bytes);
	c0 = cpu_now();
	for (i = 0; i < bytes; i += page_size) {
		const uint64_t *w = (const uint64_t *)(p + i);
		unsigned long j;

		for (j = 0; j < words && !w[j]; j++)
			;
		zero += j == words;
	}
	c1 = cpu_now();
	csv("limit", run, "user_zero_pages_per_cpu_s", zero / (c1 - c0));
	munmap(p, bytes);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "";
	int run;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	ksmd = find_ksmd();
	if (!ksmd) {
		printf("ksm_bench: no ksmd\n");
		return 1;
	}
	ksm_write("smart_scan", 1);
	if (!*only || strstr(only, "zero"))
		for (run = 1; run <= 3; run++)
			zero_reclaim("zero", run, 256, 1000, 20, 600);
	if (!*only || strstr(only, "unique"))
		for (run = 1; run <= 3; run++)
			unique_cost(run);
	if (!*only || strstr(only, "mixed"))
		for (run = 1; run <= 3; run++)
			mixed(run);
	if (!*only || strstr(only, "limit"))
		for (run = 1; run <= 3; run++) {
			zero_reclaim("limit", run, 256, 100000, 0, 600);
			user_zero_check(run, 256);
		}
	if (!*only || strstr(only, "churn")) {
		bool refresh = ksm_read("unstable_refresh_millisecs") >= 0;

		for (run = 1; run <= 3; run++) {
			churn("churn-off", run, 0);
			if (refresh) {
				churn("churn-1000ms", run, 1000);
				churn("churn-200ms", run, 200);
			}
		}
	}
	printf("ksm_bench: done\n");
	return 0;
}
