// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM zero-page tests: zero-filled pages merged with the shared zero page
 * at first sight (use_zero_pages=1, zero_pages_min_age=0), the
 * zero_pages_min_age knob and the zero_pages_merged counter.
 *
 * Counting ksmd's visits: a new mm is put behind the scan cursor, so the
 * pass in progress may or may not visit it. The tests therefore stop ksmd
 * (run=0), register the area under test and then, in a helper process, a
 * marker area of two identical pages, and start ksmd again. Both mms sit
 * next to each other in the scan list, the area under test first. The
 * marker's rmap_items appear when it has been visited once, so the area
 * under test has been visited exactly once; its two pages merge on its
 * second visit, so the area under test has been visited twice. ksmd sleeps
 * a second between batches and a batch never crosses the end of a full
 * scan, which leaves time to look before the next visit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "vm_util.h"

#define KSM_PATH "/sys/kernel/mm/ksm/"
#define NR_PAGES 1024
#define MARKER_PAGES 2

static size_t pagesize;

/* The KSM settings the tests change, restored at exit. */
static const char *const saved_knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"zero_pages_min_age", "smart_scan",
};

static long saved[ARRAY_SIZE(saved_knobs)];

/*
 * Fresh anonymous pages sit in a per-CPU LRU batch, holding a reference
 * that keeps KSM from merging them until ksmd drains the batches at the
 * start of its next full scan. Run on one CPU and fault in more pages than
 * a batch holds, so that the pages under test are out of it.
 */
static void push_out_of_lru_batch(void)
{
	size_t size = 64 * pagesize;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		return;
	madvise(p, size, MADV_NOHUGEPAGE);
	for (i = 0; i < size; i += pagesize)
		p[i] = 1;
	munmap(p, size);
}

static char *map_area(size_t nr_pages)
{
	char *p = mmap(NULL, nr_pages * pagesize, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		ksft_print_msg("mmap: %s\n", strerror(errno));
		return NULL;
	}
	/* Small pages: the run path works on page tables of small pages. */
	madvise(p, nr_pages * pagesize, MADV_NOHUGEPAGE);
	return p;
}

/* The marker: a helper process that registers two identical pages. */
struct marker {
	pid_t pid;
	int cmd;	/* parent writes: register now */
	int ack;	/* child writes: registered */
};

static bool marker_start(struct marker *m)
{
	int cmd[2], ack[2];
	char c;

	m->pid = 0;
	if (pipe(cmd) || pipe(ack))
		return false;
	m->pid = fork();
	if (m->pid < 0)
		return false;
	if (!m->pid) {
		uint64_t seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^ time(NULL);
		char *p;
		size_t i;

		if (read(cmd[0], &c, 1) != 1)
			_exit(1);
		p = map_area(MARKER_PAGES);
		if (!p)
			_exit(1);
		for (i = 0; i < pagesize; i += sizeof(seed)) {
			seed = seed * 6364136223846793005ULL + 1;
			memcpy(p + i, &seed, sizeof(seed));
		}
		memcpy(p + pagesize, p, pagesize);
		if (madvise(p, MARKER_PAGES * pagesize, MADV_MERGEABLE))
			_exit(1);
		if (write(ack[1], "", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	m->cmd = cmd[1];
	m->ack = ack[0];
	close(cmd[0]);
	close(ack[1]);
	return true;
}

static bool marker_register(struct marker *m)
{
	char c = 0;

	return write(m->cmd, &c, 1) == 1 && read(m->ack, &c, 1) == 1;
}

static void marker_stop(struct marker *m)
{
	kill(m->pid, SIGKILL);
	waitpid(m->pid, NULL, 0);
	close(m->cmd);
	close(m->ack);
}

/* Wait until the marker has been visited @visits (1 or 2) times. */
static bool marker_wait(struct marker *m, int visits)
{
	int i;

	for (i = 0; i < 120 * 200; i++) {
		if (visits == 1 &&
		    ksm_stat_read(m->pid, "ksm_rmap_items") >= MARKER_PAGES)
			return true;
		if (visits == 2 &&
		    ksm_stat_read(m->pid, "ksm_merging_pages") >= MARKER_PAGES)
			return true;
		usleep(5000);
	}
	ksft_print_msg("ksmd did not visit the marker %d times in 120 s\n",
		       visits);
	return false;
}

/*
 * Stop ksmd, register @area and then the marker, restart ksmd slowed down
 * so that one batch covers both areas and the next visit is a second away.
 */
static bool register_and_start(char *area, size_t nr_pages, struct marker *m)
{
	if (!ksm_sysfs_write("run", 0) ||
	    !ksm_sysfs_write("pages_to_scan", 4 * (nr_pages + MARKER_PAGES)) ||
	    !ksm_sysfs_write("sleep_millisecs", 1000))
		return false;
	push_out_of_lru_batch();
	if (madvise(area, nr_pages * pagesize, MADV_MERGEABLE)) {
		ksft_print_msg("madvise: %s\n", strerror(errno));
		return false;
	}
	if (!marker_register(m)) {
		ksft_print_msg("marker did not register\n");
		return false;
	}
	return ksm_sysfs_write("run", 1);
}

/*
 * Start from nothing merged, with the zero-page settings of a test. A kernel
 * without zero_pages_min_age (the base) is tested as it is, so that the
 * tests show how it differs.
 */
static bool setup(int use_zero_pages, int min_age)
{
	char buf[16];
	int err;

	if (!ksm_sysfs_write("run", 2) ||
	    !ksm_sysfs_write("use_zero_pages", use_zero_pages))
		return false;
	snprintf(buf, sizeof(buf), "%d", min_age);
	err = ksm_sysfs_write_str("zero_pages_min_age", buf);
	if (err == -ENOENT)
		ksft_print_msg("no zero_pages_min_age: testing the kernel as it is\n");
	else if (err)
		ksft_print_msg("writing %s to zero_pages_min_age: %s\n", buf,
			       strerror(-err));
	return !err || err == -ENOENT;
}

/* An area under test and its marker (see the comment at the top). */
struct visit_case {
	struct marker m;
	char *area;
	size_t nr_pages;
};

/* Start the marker, map @nr_pages, set the zero-page knobs. */
static bool case_begin(struct visit_case *c, size_t nr_pages, int min_age)
{
	c->area = NULL;
	c->nr_pages = nr_pages;
	if (!marker_start(&c->m)) {
		ksft_print_msg("could not start the marker\n");
		return false;
	}
	c->area = map_area(nr_pages);
	return c->area && setup(1, min_age);
}

/* Register the area and the marker, and start ksmd (register_and_start). */
static bool case_start(struct visit_case *c)
{
	return register_and_start(c->area, c->nr_pages, &c->m);
}

/* Stop ksmd and the marker, unmap the area. */
static void case_end(struct visit_case *c)
{
	ksm_sysfs_write("run", 0);
	if (c->m.pid > 0)
		marker_stop(&c->m);
	if (c->area)
		munmap(c->area, c->nr_pages * pagesize);
}

static bool all_zero(const char *p, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * One visit of ksmd merges a zero-filled area when zero_pages_min_age is 0;
 * with zero_pages_min_age=1 one visit merges nothing and the second all.
 */
static void test_zero_merge_visits(int min_age)
{
	const size_t size = NR_PAGES * pagesize;
	long zero0, merged0, zero1, merged1, mine1, mine2;
	struct visit_case c;
	bool ok;

	ksft_print_msg("[RUN] %s zero_pages_min_age=%d\n", __func__, min_age);
	if (!case_begin(&c, NR_PAGES, min_age))
		goto fail;
	memset(c.area, 0, size);
	zero0 = ksm_sysfs_read("ksm_zero_pages");
	merged0 = ksm_sysfs_read("zero_pages_merged");
	if (!case_start(&c) || !marker_wait(&c.m, 1))
		goto fail;

	mine1 = ksm_stat_read(getpid(), "ksm_zero_pages");
	zero1 = ksm_sysfs_read("ksm_zero_pages") - zero0;
	merged1 = ksm_sysfs_read("zero_pages_merged") - merged0;
	ksft_print_msg("one visit: own %ld, ksm_zero_pages +%ld, merged +%ld\n",
		       mine1, zero1, merged1);
	if (min_age == 0) {
		ok = mine1 == NR_PAGES && zero1 == NR_PAGES &&
		     merged1 == NR_PAGES;
	} else {
		ok = mine1 == 0 && zero1 == 0 && merged1 == 0;
		if (ok && !marker_wait(&c.m, 2))
			goto fail;
		mine2 = ksm_stat_read(getpid(), "ksm_zero_pages");
		ksft_print_msg("two visits: own %ld, merged +%ld\n", mine2,
			       ksm_sysfs_read("zero_pages_merged") - merged0);
		ok = ok && mine2 == NR_PAGES;
	}
	ok = ok && all_zero(c.area, size);
	case_end(&c);
	ksft_test_result(ok, "zero_pages_min_age=%d: merged on visit %d\n",
			 min_age, min_age + 1);
	return;
fail:
	case_end(&c);
	ksft_test_result_fail("zero_pages_min_age=%d: setup failed\n", min_age);
}

/*
 * The byte of page @i of @nr that test_nonzero_byte() sets: from the first
 * to the last, in steps of pagesize / @nr, each step on (4 KiB pages: byte
 * i * 8 + i % 8, 0 to 4095; 64 KiB pages: i * 128 + i % 8).
 */
static size_t nonzero_off(size_t i, size_t nr)
{
	return (i * (pagesize / nr) + i % 8) % pagesize;
}

/* A single non-zero byte anywhere keeps a page from the zero page. */
static void test_nonzero_byte(void)
{
	const size_t nr = 512, size = nr * pagesize;
	struct visit_case c;
	size_t i;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!case_begin(&c, nr, 0))
		goto fail;
	memset(c.area, 0, size);
	for (i = 0; i < nr; i++)
		c.area[i * pagesize + nonzero_off(i, nr)] = 1 + i % 255;
	if (!case_start(&c) || !marker_wait(&c.m, 2))
		goto fail;

	ok = ksm_stat_read(getpid(), "ksm_zero_pages") == 0;
	for (i = 0; ok && i < nr; i++) {
		size_t off = nonzero_off(i, nr);
		char *page = c.area + i * pagesize;

		ok = page[off] == (char)(1 + i % 255) &&
		     all_zero(page, off) &&
		     all_zero(page + off + 1, pagesize - off - 1);
	}
	case_end(&c);
	ksft_test_result(ok, "pages with one non-zero byte are not merged with the zero page\n");
	return;
fail:
	case_end(&c);
	ksft_test_result_fail("non-zero byte: setup failed\n");
}

/* Writing to a merged page gives a private copy of what was written. */
static void test_write_after_merge(void)
{
	const size_t size = NR_PAGES * pagesize;
	long zero1, mine1, merged1;
	struct visit_case c;
	size_t page, off;
	char *area;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!case_begin(&c, NR_PAGES, 0))
		goto fail;
	area = c.area;
	memset(area, 0, size);
	if (!case_start(&c) || !marker_wait(&c.m, 1))
		goto fail;
	ksm_sysfs_write("run", 0);

	mine1 = ksm_stat_read(getpid(), "ksm_zero_pages");
	zero1 = ksm_sysfs_read("ksm_zero_pages");
	merged1 = ksm_sysfs_read("zero_pages_merged");
	if (mine1 != NR_PAGES) {
		ksft_print_msg("only %ld of %d pages merged\n", mine1, NR_PAGES);
		goto fail;
	}
	page = NR_PAGES / 3;
	off = pagesize / 2 + 5;
	area[page * pagesize + off] = 0x5a;

	ok = area[page * pagesize + off] == 0x5a &&
	     all_zero(area, page * pagesize + off) &&
	     all_zero(area + page * pagesize + off + 1,
		      size - page * pagesize - off - 1);
	ksft_print_msg("own %ld -> %ld, ksm_zero_pages %ld -> %ld, merged %ld -> %ld\n",
		       mine1, ksm_stat_read(getpid(), "ksm_zero_pages"), zero1,
		       ksm_sysfs_read("ksm_zero_pages"), merged1,
		       ksm_sysfs_read("zero_pages_merged"));
	ok = ok && ksm_stat_read(getpid(), "ksm_zero_pages") == mine1 - 1 &&
	     ksm_sysfs_read("ksm_zero_pages") == zero1 - 1 &&
	     ksm_sysfs_read("zero_pages_merged") == merged1;
	case_end(&c);
	ksft_test_result(ok, "a write to a merged page makes a private copy\n");
	return;
fail:
	case_end(&c);
	ksft_test_result_fail("write after merge: setup failed\n");
}

/* mlocked memory is never given the zero page. */
static void test_mlock(void)
{
	const size_t size = 256 * pagesize;
	struct visit_case c;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!case_begin(&c, 256, 0))
		goto fail;
	if (mlock(c.area, size)) {
		ksft_print_msg("mlock: %s\n", strerror(errno));
		case_end(&c);
		ksft_test_result_skip("mlock failed\n");
		return;
	}
	memset(c.area, 0, size);
	if (!case_start(&c) || !marker_wait(&c.m, 2))
		goto fail;
	ok = ksm_stat_read(getpid(), "ksm_zero_pages") == 0 &&
	     all_zero(c.area, size);
	case_end(&c);
	ksft_test_result(ok, "mlocked zero-filled pages are not mapped to the zero page\n");
	return;
fail:
	case_end(&c);
	ksft_test_result_fail("mlock: setup failed\n");
}

struct writer {
	char *area;
	char *shadow;
	size_t nr_pages;
	bool stop;		/* __atomic */
	unsigned long writes;
	unsigned long bad;
};

/*
 * Write random values into random pages, and now and then clear a whole
 * page again so that ksmd keeps finding zero-filled pages to merge; check
 * every value read back against the shadow copy.
 */
static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	uint64_t x = 0x2545f4914f6cdd1dULL ^ (uint64_t)time(NULL);

	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		size_t page, off;
		char *p, *s;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		page = x % w->nr_pages;
		off = (x >> 20) % pagesize;
		p = w->area + page * pagesize;
		s = w->shadow + page * pagesize;

		if ((x >> 40) % 4 == 0) {
			memset(p, 0, pagesize);
			memset(s, 0, pagesize);
		} else {
			char v = (char)(x >> 32);

			p[off] = v;
			s[off] = v;
		}
		if (p[off] != s[off] || memcmp(p, s, pagesize))
			w->bad++;
		w->writes++;
	}
	return NULL;
}

/* A writer racing with ksmd at full speed never reads a foreign value. */
static void test_writer_race(void)
{
	const size_t nr = 512, size = nr * pagesize;
	struct writer w = { .nr_pages = nr };
	long merged0, merged;
	pthread_t thread;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	w.area = map_area(nr);
	w.shadow = malloc(size);
	if (!w.area || !w.shadow || !setup(1, 0))
		goto fail;
	memset(w.area, 0, size);
	memset(w.shadow, 0, size);
	if (madvise(w.area, size, MADV_MERGEABLE) ||
	    !ksm_sysfs_write("pages_to_scan", 10000) ||
	    !ksm_sysfs_write("sleep_millisecs", 0))
		goto fail;
	merged0 = ksm_sysfs_read("zero_pages_merged");
	if (!ksm_sysfs_write("run", 1) ||
	    pthread_create(&thread, NULL, writer_thread, &w))
		goto fail;
	sleep(5);
	__atomic_store_n(&w.stop, true, __ATOMIC_RELAXED);
	pthread_join(thread, NULL);
	ksm_sysfs_write("run", 0);
	merged = ksm_sysfs_read("zero_pages_merged") - merged0;

	ok = !w.bad && !memcmp(w.area, w.shadow, size);
	ksft_print_msg("%lu writes, %lu bad reads, %ld pages merged meanwhile\n",
		       w.writes, w.bad, merged);
	/* The race must have been run: ksmd merged pages under the writer. */
	ok = ok && merged > 0 && w.writes > 0;
	munmap(w.area, size);
	free(w.shadow);
	ksft_test_result(ok, "a writer racing with ksmd reads back only what it wrote\n");
	return;
fail:
	ksm_sysfs_write("run", 0);
	if (w.area)
		munmap(w.area, size);
	free(w.shadow);
	ksft_test_result_fail("writer race: setup failed\n");
}

#define NR_PINNED 64
#define PIPE_PAGES 16	/* what a pipe holds by default */
#define NR_PIPES (NR_PINNED / PIPE_PAGES)

/* Wait for @scans more full scans of ksmd, at most @secs seconds. */
static bool wait_full_scans(long scans, int secs)
{
	long target = ksm_sysfs_read("full_scans") + scans;
	int i;

	for (i = 0; i < secs * 100; i++) {
		if (ksm_sysfs_read("full_scans") >= target)
			return true;
		usleep(10000);
	}
	ksft_print_msg("ksmd did not finish %ld full scans in %d s\n", scans,
		       secs);
	return false;
}

/*
 * Does pipe @fd hold the contents of @p now? Its buffers are duplicated
 * with tee() and the copy read, so that the pipe keeps its references.
 */
static bool pipe_matches(int fd, const char *p, size_t size)
{
	char *buf = malloc(size);
	bool ok = false;
	int copy[2];
	size_t got;
	ssize_t n;

	if (!buf || pipe(copy))
		goto out;
	if (tee(fd, copy[1], size, SPLICE_F_NONBLOCK) != size) {
		ksft_print_msg("tee: %s\n", strerror(errno));
		goto out_close;
	}
	for (got = 0; got < size; got += n) {
		n = read(copy[0], buf + got, size - got);
		if (n <= 0)
			goto out_close;
	}
	ok = !memcmp(buf, p, size);
out_close:
	close(copy[0]);
	close(copy[1]);
out:
	free(buf);
	return ok;
}

/*
 * Zero-filled pages that someone else holds a reference on (here pipe
 * buffers of vmsplice(), which is what O_DIRECT or a GUP pin also look
 * like to KSM) are never replaced by the zero page: they stay mapped,
 * and writes to them stay visible through the references. An unpinned
 * zero-filled area next to them is merged, so the test cannot pass on a
 * kernel that merges nothing.
 */
static void test_pinned(void)
{
	const size_t nr = NR_PINNED, size = 2 * nr * pagesize;
	int pipes[NR_PIPES][2], nr_pipes = 0, pagemap_fd = -1;
	unsigned long pfn[NR_PINNED];
	long mine, merged0, moved = 0;
	char *area, *pinned, *control;
	bool ok = false;
	size_t i;

	ksft_print_msg("[RUN] %s\n", __func__);
	area = map_area(2 * nr);
	if (!area || !setup(1, 0))
		goto out;
	pinned = area;
	control = area + nr * pagesize;
	/* Real anonymous pages, zero-filled. */
	memset(area, 0x5a, size);
	memset(area, 0, size);

	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap_fd < 0)
		goto out;
	for (i = 0; i < nr; i++) {
		pfn[i] = pagemap_get_pfn(pagemap_fd, pinned + i * pagesize);
		if (pfn[i] == -1ul || !pfn[i]) {
			ksft_print_msg("no PFN for page %zu in pagemap\n", i);
			goto out;
		}
	}

	/* Pin: every page goes into a pipe buffer that is never read. */
	for (nr_pipes = 0; nr_pipes < NR_PIPES; nr_pipes++) {
		struct iovec iov = {
			.iov_base = pinned + nr_pipes * PIPE_PAGES * pagesize,
			.iov_len = PIPE_PAGES * pagesize,
		};

		if (pipe(pipes[nr_pipes]))
			goto out;
		if (vmsplice(pipes[nr_pipes][1], &iov, 1, SPLICE_F_NONBLOCK) !=
		    iov.iov_len) {
			ksft_print_msg("vmsplice: %s\n", strerror(errno));
			close(pipes[nr_pipes][0]);
			close(pipes[nr_pipes][1]);
			goto out;
		}
	}

	if (!ksm_sysfs_write("pages_to_scan", 1000) ||
	    !ksm_sysfs_write("sleep_millisecs", 20))
		goto out;
	merged0 = ksm_sysfs_read("zero_pages_merged");
	if (madvise(area, size, MADV_MERGEABLE) || !ksm_sysfs_write("run", 1))
		goto out;
	/* Until the control area is merged (two visits on older kernels)... */
	for (i = 0; i < 10; i++) {
		if (ksm_stat_read(getpid(), "ksm_zero_pages") >= nr)
			break;
		if (!wait_full_scans(1, 60))
			goto out;
	}
	/* ... and then two more full scans. */
	if (!wait_full_scans(2, 60))
		goto out;
	ksm_sysfs_write("run", 0);

	mine = ksm_stat_read(getpid(), "ksm_zero_pages");
	for (i = 0; i < nr; i++)
		moved += pagemap_get_pfn(pagemap_fd, pinned + i * pagesize) != pfn[i];
	ksft_print_msg("ksm_zero_pages %ld (control: %zu), pinned pages moved: %ld\n",
		       mine, nr, moved);
	ksft_print_msg("zero_pages_merged +%ld\n",
		       ksm_sysfs_read("zero_pages_merged") - merged0);
	if (mine != nr || moved || !all_zero(area, size))
		goto out;

	/* The pipes hold what the memory holds: zeroes... */
	for (i = 0; i < NR_PIPES; i++) {
		if (!pipe_matches(pipes[i][0], pinned + i * PIPE_PAGES * pagesize,
				  PIPE_PAGES * pagesize)) {
			ksft_print_msg("pipe %zu does not hold zeroes\n", i);
			goto out;
		}
	}
	/* ... and, as they hold the same pages, what is written now. */
	for (i = 0; i < nr * pagesize; i++)
		pinned[i] = (char)(i * 7 + i / pagesize);
	for (i = 0; i < NR_PIPES; i++) {
		if (!pipe_matches(pipes[i][0], pinned + i * PIPE_PAGES * pagesize,
				  PIPE_PAGES * pagesize)) {
			ksft_print_msg("pipe %zu does not see what was written\n", i);
			goto out;
		}
	}
	for (i = 0; i < nr; i++)
		moved += pagemap_get_pfn(pagemap_fd, pinned + i * pagesize) != pfn[i];
	ok = !moved && all_zero(control, nr * pagesize);
out:
	ksm_sysfs_write("run", 0);
	while (nr_pipes-- > 0) {
		close(pipes[nr_pipes][0]);
		close(pipes[nr_pipes][1]);
	}
	if (pagemap_fd >= 0)
		close(pagemap_fd);
	if (area)
		munmap(area, size);
	ksft_test_result(ok, "pinned zero-filled pages are left alone, the rest merged\n");
}

/* zero_pages_min_age takes 0..255 and refuses anything else. */
static void test_min_age_knob(void)
{
	static const char *const good[] = { "0", "1", "7\n", "255" };
	static const long good_val[] = { 0, 1, 7, 255 };
	static const char *const bad[] = {
		"256", "-1", "abc", "\n", "1x", "4294967296", " ",
	};
	bool ok = true;
	unsigned int i;
	long before;
	int err;

	ksft_print_msg("[RUN] %s\n", __func__);
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		err = ksm_sysfs_write_str("zero_pages_min_age", good[i]);
		if (err || ksm_sysfs_read("zero_pages_min_age") != good_val[i]) {
			ksft_print_msg("writing \"%s\": %s, reads %ld\n", good[i],
				       strerror(-err), ksm_sysfs_read("zero_pages_min_age"));
			ok = false;
		}
	}
	ksm_sysfs_write("zero_pages_min_age", 3);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		before = ksm_sysfs_read("zero_pages_min_age");
		err = ksm_sysfs_write_str("zero_pages_min_age", bad[i]);
		if (err != -EINVAL || ksm_sysfs_read("zero_pages_min_age") != before) {
			ksft_print_msg("writing \"%s\": %s, reads %ld (was %ld)\n",
				       bad[i], err ? strerror(-err) : "accepted",
				       ksm_sysfs_read("zero_pages_min_age"), before);
			ok = false;
		}
	}
	ksm_sysfs_write("zero_pages_min_age", 0);
	ksft_test_result(ok, "zero_pages_min_age takes 0..255, EINVAL otherwise\n");
}

/* zero_pages_merged is a read-only counter. */
static void test_merged_read_only(void)
{
	long before;
	int err;

	ksft_print_msg("[RUN] %s\n", __func__);
	before = ksm_sysfs_read("zero_pages_merged");
	err = ksm_sysfs_write_str("zero_pages_merged", "0");
	ksft_test_result(before >= 0 && err && ksm_sysfs_read("zero_pages_merged") >= before,
			 "zero_pages_merged is readable and refuses writes\n");
}

int main(void)
{
	cpu_set_t cpu0;

	ksft_print_header();
	ksft_set_plan(9);
	pagesize = getpagesize();

	if (geteuid())
		ksft_exit_skip("needs root to drive /sys/kernel/mm/ksm\n");
	if (access(KSM_PATH "run", W_OK))
		ksft_exit_skip("KSM is not available\n");
	if (access("/proc/self/ksm_stat", R_OK))
		ksft_exit_skip("/proc/self/ksm_stat is not available\n");

	/* One CPU: see push_out_of_lru_batch(). */
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	sched_setaffinity(0, sizeof(cpu0), &cpu0);

	ksm_sysfs_save(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	ksm_sysfs_write("smart_scan", 0);

	test_min_age_knob();
	test_merged_read_only();
	test_zero_merge_visits(0);
	test_zero_merge_visits(1);
	test_nonzero_byte();
	test_write_after_merge();
	test_mlock();
	test_writer_race();
	test_pinned();

	ksm_sysfs_restore(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	ksft_finished();
}
