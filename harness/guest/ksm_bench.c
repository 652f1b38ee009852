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
 *   (unregistered: reserved for reclaim of zero pages in memory that was
 *           never registered with KSM, once the series has it: processes
 *           holding zero pages among other data, share reclaimed and KSM
 *           metadata memory)
 * Kernel knobs a kernel does not have are left alone.
 *
 * Arguments: workload names, separated by commas or spaces; none: all.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
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

static const char *const workloads[] = {
	"zero", "unique", "mixed", "limit", "churn", "pinned", "sparse",
	"zero-write", "zero-write-age0", "zero-write-age1",
};
static int nwanted;
static char *wanted[64];

/* Is workload @name asked for? None asked for: all of them are. */
static bool want(const char *name)
{
	int i;

	for (i = 0; i < nwanted; i++)
		if (!strcmp(wanted[i], name))
			return true;
	return !nwanted;
}

/* The workload names of the arguments, separated by commas or spaces. */
static void parse_args(int argc, char **argv)
{
	unsigned int k;
	int i;

	for (i = 1; i < argc; i++) {
		char *save, *name;

		for (name = strtok_r(argv[i], ", ", &save); name;
		     name = strtok_r(NULL, ", ", &save)) {
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

int main(int argc, char **argv)
{
	bool age0, age1;
	int run;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	page_size = sysconf(_SC_PAGESIZE);
	ksmd = find_ksmd();
	if (!ksmd) {
		printf("ksm_bench: no ksmd\n");
		return 1;
	}
	ksm_write("smart_scan", 1);
	if (want("zero"))
		for (run = 1; run <= 3; run++)
			zero_reclaim("zero", run, 256, 1000, 20, 600);
	if (want("unique"))
		for (run = 1; run <= 3; run++)
			unique_cost(run);
	if (want("mixed"))
		for (run = 1; run <= 3; run++)
			mixed(run);
	if (want("limit"))
		for (run = 1; run <= 3; run++) {
			zero_reclaim("limit", run, 256, 100000, 0, 600);
			user_zero_check(run, 256);
		}
	if (want("churn")) {
		bool refresh = ksm_read("unstable_refresh_millisecs") >= 0;

		for (run = 1; run <= 3; run++) {
			churn("churn-off", run, 0);
			if (refresh) {
				churn("churn-1000ms", run, 1000);
				churn("churn-200ms", run, 200);
			}
		}
	}
	if (want("pinned"))
		for (run = 1; run <= 3; run++)
			pinned(run);
	if (want("sparse"))
		for (run = 1; run <= 3; run++)
			sparse(run);
	/* On a kernel without zero_pages_min_age both are the same. */
	age0 = want("zero-write") || want("zero-write-age0");
	age1 = want("zero-write") || want("zero-write-age1");
	for (run = 1; run <= 3 && (age0 || age1); run++) {
		if (age0)
			zero_write("zero-write-age0", run, 0);
		if (age1)
			zero_write("zero-write-age1", run, 1);
	}
	printf("ksm_bench: done\n");
	return 0;
}
