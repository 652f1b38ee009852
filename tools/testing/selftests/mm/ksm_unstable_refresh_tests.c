// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM unstable tree refresh tests: unstable_refresh_millisecs and the
 * unstable_refreshed and unstable_refresh_dropped counters.
 *
 * The tests need an unstable tree that lives much longer than a refresh
 * period. One mapping holds N unique pages followed by a filler of M
 * identical pages. ksmd first runs fast until the filler is merged (its
 * pages then cost little and never enter the unstable tree), then slowly:
 * each full scan inserts the N unique pages into a fresh unstable tree and
 * then crawls through the filler for many seconds before the tree is reset.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "vm_util.h"

#define KSM_PATH "/sys/kernel/mm/ksm/"
#define NR_UNIQUE 200
#define NR_FILLER 4000
#define SLOW_PAGES_TO_SCAN 50
#define SLOW_SLEEP_MS 200
#define REFRESH_MS 1000

static size_t pagesize;

static const char *const saved_knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"smart_scan", "unstable_refresh_millisecs",
};

static long saved[ARRAY_SIZE(saved_knobs)];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait until @knob reaches at least @val, at most @secs seconds. */
static bool wait_for(const char *knob, long val, double secs)
{
	double t0 = now();

	while (ksm_sysfs_read(knob) < val) {
		if (now() - t0 > secs) {
			ksft_print_msg("%s stayed at %ld, below %ld, for %.0f s\n",
				       knob, ksm_sysfs_read(knob), val, secs);
			return false;
		}
		usleep(10000);
	}
	return true;
}

/* Wait until @knob reads 0, at most @secs seconds. */
static bool wait_for_zero(const char *knob, double secs)
{
	double t0 = now();

	while (ksm_sysfs_read(knob) != 0) {
		if (now() - t0 > secs) {
			ksft_print_msg("%s stayed at %ld for %.0f s\n", knob,
				       ksm_sysfs_read(knob), secs);
			return false;
		}
		usleep(10000);
	}
	return true;
}

static void fill_unique(char *p, size_t size, uint64_t seed)
{
	size_t i;

	for (i = 0; i < size; i += sizeof(seed)) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		memcpy(p + i, &seed, sizeof(seed));
	}
}

/*
 * Map N unique pages and the filler, and leave ksmd running slowly just
 * after the unique pages entered a fresh unstable tree.
 */
static char *build_tree(long refresh_ms)
{
	size_t size = (NR_UNIQUE + NR_FILLER) * pagesize;
	char *p;
	size_t i;

	char buf[16];
	int err;

	if (!ksm_sysfs_write("run", 2) || !ksm_sysfs_write("use_zero_pages", 0) ||
	    !ksm_sysfs_write("smart_scan", 0))
		return NULL;
	/* A kernel without the knob (the base) is a kernel with it off. */
	snprintf(buf, sizeof(buf), "%ld", refresh_ms);
	err = ksm_sysfs_write_str("unstable_refresh_millisecs", buf);
	if (err && !(err == -ENOENT && !refresh_ms)) {
		ksft_print_msg("writing %s to unstable_refresh_millisecs: %s\n",
			       buf, strerror(-err));
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, size, MADV_NOHUGEPAGE);
	fill_unique(p, NR_UNIQUE * pagesize, 0x9e3779b97f4a7c15ULL ^ time(NULL));
	for (i = NR_UNIQUE; i < NR_UNIQUE + NR_FILLER; i++)
		memset(p + i * pagesize, 0x6b, pagesize);
	if (madvise(p, size, MADV_MERGEABLE))
		goto fail;

	/* Fast, until the filler is merged and the unique pages settled. */
	if (!ksm_sysfs_write("pages_to_scan", NR_UNIQUE + NR_FILLER + 100) ||
	    !ksm_sysfs_write("sleep_millisecs", 20) || !ksm_sysfs_write("run", 1) ||
	    !wait_for("full_scans", ksm_sysfs_read("full_scans") + 3, 300) ||
	    !wait_for("pages_sharing", NR_FILLER - NR_FILLER / 128, 300))
		goto fail;

	/*
	 * Slow, and wait for a fresh tree that holds the unique pages: the
	 * next full scan visits them first. pages_unshared cannot tell, as
	 * it counts the items of the old tree until they are visited again.
	 */
	if (!ksm_sysfs_write("pages_to_scan", SLOW_PAGES_TO_SCAN) ||
	    !ksm_sysfs_write("sleep_millisecs", SLOW_SLEEP_MS) ||
	    !wait_for("full_scans", ksm_sysfs_read("full_scans") + 1, 300) ||
	    !wait_for("pages_scanned", ksm_sysfs_read("pages_scanned") + NR_UNIQUE +
		      SLOW_PAGES_TO_SCAN, 60) ||
	    !wait_for("pages_unshared", NR_UNIQUE, 60))
		goto fail;
	return p;
fail:
	ksm_sysfs_write("run", 0);
	munmap(p, size);
	return NULL;
}

static void unmap_tree(char *p)
{
	ksm_sysfs_write("run", 0);
	munmap(p, (NR_UNIQUE + NR_FILLER) * pagesize);
}

/*
 * Change half of the unstable pages: with the pass on, they are dropped
 * from the tree within a few periods, before the full scan ends; with it
 * off, nothing happens until the tree is reset.
 */
static void test_drop_changed(bool on)
{
	long scans, unshared0, dropped0, unshared, dropped;
	char *p;
	bool ok;
	int i;

	ksft_print_msg("[RUN] %s refresh %s\n", __func__, on ? "on" : "off");
	p = build_tree(on ? REFRESH_MS : 0);
	if (!p) {
		ksft_test_result_fail("refresh %s: could not build the tree\n",
				      on ? "on" : "off");
		return;
	}
	scans = ksm_sysfs_read("full_scans");
	unshared0 = ksm_sysfs_read("pages_unshared");
	dropped0 = ksm_sysfs_read("unstable_refresh_dropped");
	for (i = 0; i < NR_UNIQUE; i += 2)
		p[i * pagesize + 100] ^= 0x5a;
	sleep(3 * REFRESH_MS / 1000);
	unshared = ksm_sysfs_read("pages_unshared");
	dropped = ksm_sysfs_read("unstable_refresh_dropped");
	ksft_print_msg("unshared %ld -> %ld, dropped %ld -> %ld, full_scans %ld -> %ld\n",
		       unshared0, unshared, dropped0, dropped, scans,
		       ksm_sysfs_read("full_scans"));
	ok = ksm_sysfs_read("full_scans") == scans;
	if (!ok)
		ksft_print_msg("the full scan ended too early: slow ksmd down\n");
	if (on)
		ok = ok && dropped - dropped0 == NR_UNIQUE / 2 &&
		     unshared0 - unshared == NR_UNIQUE / 2;
	else
		ok = ok && dropped == dropped0 && unshared == unshared0;
	unmap_tree(p);
	ksft_test_result(ok, "refresh %s: %s\n", on ? "on" : "off",
			 on ? "changed unstable pages are dropped" :
			      "the unstable tree is left alone");
}

/* Over two periods, every item of the tree is re-checked. */
static void test_fair(void)
{
	long refreshed0, refreshed, size;
	char *p;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	p = build_tree(REFRESH_MS);
	if (!p) {
		ksft_test_result_fail("fairness: could not build the tree\n");
		return;
	}
	size = ksm_sysfs_read("pages_unshared");
	refreshed0 = ksm_sysfs_read("unstable_refreshed");
	usleep(2 * REFRESH_MS * 1000 + SLOW_SLEEP_MS * 1000);
	refreshed = ksm_sysfs_read("unstable_refreshed") - refreshed0;
	ksft_print_msg("tree of %ld items, %ld re-checked in two periods\n",
		       size, refreshed);
	/* Once each at least; about twice; never many times over. */
	ok = refreshed >= size && refreshed <= 3 * size + SLOW_PAGES_TO_SCAN;
	unmap_tree(p);
	ksft_test_result(ok, "every unstable item is re-checked within two periods\n");
}

/*
 * With an eager pass, duplicates still merge and unmerge, and pages that
 * change and come back to duplicate content merge again.
 */
static void test_merge_with_refresh(void)
{
	const int pairs = 64;
	size_t size = 2 * pairs * pagesize;
	long merging;
	char *p;
	bool ok;
	int i;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!ksm_sysfs_write("run", 2) || !ksm_sysfs_write("smart_scan", 0) ||
	    !ksm_sysfs_write("unstable_refresh_millisecs", 100) ||
	    !ksm_sysfs_write("pages_to_scan", 1000) ||
	    !ksm_sysfs_write("sleep_millisecs", 20)) {
		ksft_test_result_fail("merge with refresh: setup failed\n");
		return;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		ksft_test_result_fail("mmap: %s\n", strerror(errno));
		return;
	}
	madvise(p, size, MADV_NOHUGEPAGE);
	for (i = 0; i < 2 * pairs; i++)
		memset(p + i * pagesize, 1 + i / 2, pagesize);
	ok = !madvise(p, size, MADV_MERGEABLE) && ksm_sysfs_write("run", 1) &&
	     wait_for("pages_sharing", pairs, 120);

	/* Unmerge, then merge again after changing one page of each pair
	 * and putting its content back.
	 */
	ok = ok && !madvise(p, size, MADV_UNMERGEABLE) &&
	     wait_for_zero("pages_sharing", 120);
	for (i = 0; ok && i < 2 * pairs; i += 2)
		p[i * pagesize] = 0;
	ok = ok && !madvise(p, size, MADV_MERGEABLE) &&
	     wait_for("full_scans", ksm_sysfs_read("full_scans") + 2, 120);
	for (i = 0; ok && i < 2 * pairs; i += 2)
		p[i * pagesize] = 1 + i / 2;
	ok = ok && wait_for("pages_sharing", pairs, 120);
	merging = ksm_sysfs_read("pages_sharing");
	for (i = 0; ok && i < 2 * pairs; i++)
		ok = p[i * pagesize] == 1 + i / 2 &&
		     p[i * pagesize + pagesize - 1] == 1 + i / 2;
	ksm_sysfs_write("run", 0);
	munmap(p, size);
	ksft_test_result(ok, "refresh on: duplicates merge, unmerge, merge again (%ld)\n",
			 merging);
}

#define INTR_PAGES (18 * 256)	/* 18 MiB of 4 KiB pages, of which ... */
#define INTR_DUP_EVERY 9	/* ... every 9th is a duplicate ... */
#define INTR_DUP (INTR_PAGES / INTR_DUP_EVERY)
#define INTR_UNIQUE (INTR_PAGES - INTR_DUP)
#define INTR_PATTERNS 16	/* ... of one of 16 pages */
#define INTR_ROUNDS 3

/* Child: write 2 to run, after telling the parent it is about to. */
static void unmerge_child(int ready)
{
	int fd = open(KSM_PATH "run", O_WRONLY);

	if (fd < 0 || write(ready, "", 1) != 1)
		_exit(1);
	_exit(write(fd, "2", 1) == 1 ? 0 : 2);
}

/*
 * Start a child that writes 2 to run; SIGKILL it @delay_us after it
 * started the write (never, if @delay_us is negative). Returns its wait
 * status, or -1; *@secs is how long it took.
 */
static int unmerge_and_kill(long delay_us, double *secs)
{
	int ready[2], status;
	double t0;
	pid_t pid;
	char c;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid)
		unmerge_child(ready[1]);
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		waitpid(pid, NULL, 0);
		return -1;
	}
	close(ready[0]);
	t0 = now();
	if (delay_us >= 0) {
		usleep(delay_us);
		kill(pid, SIGKILL);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	*secs = now() - t0;
	return status;
}

/* Unique pages, and every INTR_DUP_EVERY-th page a duplicate. */
static void fill_intr(char *p, uint64_t seed)
{
	size_t i;

	fill_unique(p, INTR_PAGES * pagesize, seed);
	for (i = INTR_DUP_EVERY - 1; i < INTR_PAGES; i += INTR_DUP_EVERY)
		memset(p + i * pagesize, 1 + i / INTR_DUP_EVERY % INTR_PATTERNS,
		       pagesize);
}

/* How many duplicates map the same page as another duplicate. */
static long count_shared(int pagemap_fd, char *p)
{
	static unsigned long pfn[INTR_DUP];
	long shared = 0;
	size_t i, j;

	for (i = 0; i < INTR_DUP; i++)
		pfn[i] = pagemap_get_pfn(pagemap_fd,
					 p + (i * INTR_DUP_EVERY + INTR_DUP_EVERY - 1) * pagesize);
	for (i = 0; i < INTR_DUP; i++)
		for (j = i % INTR_PATTERNS; j < INTR_DUP; j += INTR_PATTERNS)
			if (j != i && pfn[j] == pfn[i] && pfn[i] != -1ul) {
				shared++;
				break;
			}
	return shared;
}

/*
 * Merged and in the trees: duplicates shared, unique pages unstable, those
 * of fill_intr() and @unique more of other areas.
 */
static bool wait_trees_built(long unique)
{
	unique += INTR_UNIQUE;
	return wait_for("full_scans", ksm_sysfs_read("full_scans") + 2, 300) &&
	       wait_for("pages_sharing", INTR_DUP - INTR_PATTERNS - INTR_DUP / 64,
			300) &&
	       wait_for("pages_unshared", unique - unique / 64, 300);
}

/*
 * time_unmerge - how long an uninterrupted run=2 takes, in microseconds, or
 * -1 if it failed. ksmd is stopped first: the write to run would otherwise
 * wait for the batch in progress, and a signal in that time would stop the
 * unmerge before it starts.
 */
static long time_unmerge(void)
{
	double secs;
	int status;

	if (!ksm_sysfs_write("run", 0))
		return -1;
	status = unmerge_and_kill(-1, &secs);
	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		ksft_print_msg("run=2 failed: status 0x%x\n", status);
		return -1;
	}
	ksft_print_msg("run=2 took %.1f ms\n", secs * 1000);
	return secs * 1e6;
}

/*
 * run=2 interrupted by a signal leaves part of the rmap_items and of the
 * unstable tree behind, and ksmd picks up from there after run=1. With the
 * refresh pass on, its cursor must not be left on an item that the
 * interrupted unmerge freed (KASAN in the test kernel watches), and ksmd
 * must go on merging and counting right.
 */
static void test_interrupted_unmerge(void)
{
	const size_t size = INTR_PAGES * pagesize;
	uint64_t seed = 0x2545f4914f6cdd1dULL ^ time(NULL);
	double secs, t0 = now();
	long delay_us, full_us, scans, refreshed, unshared, sharing;
	long shared0, shared;
	int status, tries = 0, interrupted = 0, partial = 0;
	int pagemap_fd = -1;
	bool ok = false;
	char *p, *q = NULL;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (ksm_sysfs_read("unstable_refresh_millisecs") < 0) {
		ksft_test_result_skip("no unstable_refresh_millisecs\n");
		return;
	}
	if (!ksm_sysfs_write("run", 2) || !ksm_sysfs_write("use_zero_pages", 0) ||
	    !ksm_sysfs_write("smart_scan", 0) ||
	    !ksm_sysfs_write("unstable_refresh_millisecs", 100) ||
	    !ksm_sysfs_write("pages_to_scan", 4000) ||
	    !ksm_sysfs_write("sleep_millisecs", 20)) {
		ksft_test_result_fail("interrupted unmerge: setup failed\n");
		return;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		ksft_test_result_fail("interrupted unmerge: mmap: %s\n",
				      strerror(errno));
		return;
	}
	q = malloc(size);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (!q || pagemap_fd < 0)
		goto out;
	madvise(p, size, MADV_NOHUGEPAGE);
	/* The children that write to run do not need a copy of the area. */
	madvise(p, size, MADV_DONTFORK);
	fill_intr(p, seed);
	if (madvise(p, size, MADV_MERGEABLE) || !ksm_sysfs_write("run", 1) ||
	    !wait_trees_built(0)) {
		ksft_print_msg("the trees were not built\n");
		goto out;
	}

	full_us = time_unmerge();
	if (full_us < 0)
		goto out;
	delay_us = full_us / 8;

	/* Kill it at a fraction of that, until it was interrupted. */
	ok = true;
	while (ok && interrupted < INTR_ROUNDS && tries < 4 * INTR_ROUNDS) {
		if (!ksm_sysfs_write("run", 1) || !wait_trees_built(0)) {
			ok = false;
			break;
		}
		shared0 = count_shared(pagemap_fd, p);
		if (!ksm_sysfs_write("run", 0)) {
			ok = false;
			break;
		}
		status = unmerge_and_kill(delay_us, &secs);
		tries++;
		if (status < 0) {
			ok = false;
			break;
		}
		shared = count_shared(pagemap_fd, p);
		ksft_print_msg("kill after %ld us: %s, run=%ld, duplicates merged %ld -> %ld\n",
			       delay_us, WIFSIGNALED(status) ? "killed" : "finished",
			       ksm_sysfs_read("run"), shared0, shared);
		/* 1/8, 2/8, ... 7/8 of an uninterrupted run=2, and again. */
		delay_us = full_us * (1 + tries % 7) / 8;
		/* run_store() leaves run=0 when the unmerge was interrupted. */
		if (!WIFSIGNALED(status) || ksm_sysfs_read("run") != 0)
			continue;
		interrupted++;
		partial += shared > 0 && shared < shared0;

		/* ksmd goes on from what the unmerge left behind. */
		scans = ksm_sysfs_read("full_scans");
		refreshed = ksm_sysfs_read("unstable_refreshed");
		if (!ksm_sysfs_write("run", 1) ||
		    !wait_for("full_scans", scans + 3, 300)) {
			ok = false;
			break;
		}
		unshared = ksm_sysfs_read("pages_unshared");
		sharing = ksm_sysfs_read("pages_sharing");
		ksft_print_msg("run=1: full_scans +%ld, unstable_refreshed +%ld\n",
			       ksm_sysfs_read("full_scans") - scans,
			       ksm_sysfs_read("unstable_refreshed") - refreshed);
		ksft_print_msg("pages_unshared %ld, pages_sharing %ld, pages_shared %ld\n",
			       unshared, sharing, ksm_sysfs_read("pages_shared"));
		ok = ksm_sysfs_read("unstable_refreshed") > refreshed &&
		     unshared >= 0 && unshared <= INTR_PAGES &&
		     sharing >= 0 && sharing <= INTR_DUP &&
		     ksm_sysfs_read("pages_shared") <= INTR_DUP;
	}
	ksft_print_msg("%d of %d kills interrupted run=2, %d of them half way, in %.0f s\n",
		       interrupted, tries, partial, now() - t0);

	/* Everything unmerges and the counters come back to zero. */
	status = unmerge_and_kill(-1, &secs);
	if (status || ksm_sysfs_read("pages_sharing") ||
	    ksm_sysfs_read("pages_shared") || ksm_sysfs_read("pages_unshared")) {
		ksft_print_msg("run=2: 0x%x, shared %ld, sharing %ld, unshared %ld\n",
			       status, ksm_sysfs_read("pages_shared"),
			       ksm_sysfs_read("pages_sharing"),
			       ksm_sysfs_read("pages_unshared"));
		ok = false;
	}

	/* The memory reads back as it was written. */
	fill_intr(q, seed);
	if (memcmp(p, q, size)) {
		ksft_print_msg("the memory changed\n");
		ok = false;
	}
out:
	ksm_sysfs_write("run", 0);
	if (pagemap_fd >= 0)
		close(pagemap_fd);
	munmap(p, size);
	free(q);
	if (ok && !interrupted)
		ksft_test_result_skip("interrupted unmerge: run=2 never interrupted in %d tries\n",
				      tries);
	else
		ksft_test_result(ok, "interrupted unmerge, then run=1 with the refresh pass on\n");
}

#define BETWEEN_FIRST 1024	/* unique pages of the first mm */
#define BETWEEN_ALL (BETWEEN_FIRST + INTR_PAGES)
#define BETWEEN_ROUNDS 3	/* unmerges to stop in the second mm */
#define BETWEEN_MAX_INTR 7	/* unmerges to stop in all */
#define BETWEEN_MAX_TRIES 16
#define BETWEEN_MAX_SECS 30	/* no new try after that */

/*
 * Child of test_unmerge_between_scans(): map an area of its own, so that
 * fork() shares nothing with the parent, fill it and register it with KSM:
 * unique pages in the first child, fill_intr() in the second. Then wait for
 * the parent: a byte asks to check that the area still holds what was
 * written (exit status 0), end of file to give up.
 */
static void between_child(bool second, uint64_t seed, int ready, int go)
{
	size_t size = (second ? INTR_PAGES : BETWEEN_FIRST) * pagesize;
	char *p, *q, c;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	q = malloc(size);
	if (p == MAP_FAILED || !q)
		_exit(1);
	madvise(p, size, MADV_NOHUGEPAGE);
	if (second)
		fill_intr(p, seed);
	else
		fill_unique(p, size, seed);
	if (madvise(p, size, MADV_MERGEABLE) || write(ready, "", 1) != 1 ||
	    read(go, &c, 1) != 1)
		_exit(1);
	if (second)
		fill_intr(q, seed);
	else
		fill_unique(q, size, seed);
	_exit(memcmp(p, q, size) ? 2 : 0);
}

/* Fork a between_child() and wait until its area is registered with KSM. */
static pid_t start_between_child(bool second, uint64_t seed, int go[2])
{
	int ready[2];
	pid_t pid;
	char c;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (!pid) {
		close(ready[0]);
		close(go[1]);
		between_child(second, seed, ready[1], go[0]);
	}
	close(ready[1]);
	if (pid > 0 && read(ready[0], &c, 1) != 1) {
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(ready[0]);
	return pid;
}

/*
 * run=2 interrupted while ksmd rests between two full scans: with
 * pages_to_scan above all the pages registered, every batch ends a full
 * scan. The unstable tree then holds the previous generation, and the
 * unmerge frees the rmap_items of the mms it got through without taking
 * them out of the tree: the next run=1 must start a new scan, which resets
 * the tree, not resume at the mm where the unmerge stopped. Two mms, each
 * of its own child: unique pages first, then unique and duplicate pages.
 * run=2 is killed part-way until it stopped in the second mm (the first
 * one has no rmap_items left) a few times, each time followed by run=1 and
 * a few full scans with the refresh pass on: in batches that end full
 * scans, or in smaller ones, after which refresh rounds run (they never do
 * between two full scans). KASAN in the test kernel sees a walk through
 * freed items; here the counters must stay sane, a last run=2 must bring
 * them to 0 and the memory must read back as written.
 */
static void test_unmerge_between_scans(void)
{
	const long merged = INTR_DUP - INTR_PATTERNS - INTR_DUP / 64;
	uint64_t seed = 0x853c49e6748fea9bULL ^ time(NULL);
	long delay_us, full_us, scans, refreshed, shared, sharing, unshared;
	int status, tries = 0, interrupted = 0, in_second = 0, i;
	bool ok = false, checked = false, small;
	pid_t pid[2] = { -1, -1 };
	int go[2] = { -1, -1 };
	double secs, t0 = now();
	long items[2];

	ksft_print_msg("[RUN] %s\n", __func__);
	if (ksm_sysfs_read("unstable_refresh_millisecs") < 0) {
		ksft_test_result_skip("no unstable_refresh_millisecs\n");
		return;
	}
	if (!ksm_sysfs_write("run", 2) || !ksm_sysfs_write("use_zero_pages", 0) ||
	    !ksm_sysfs_write("smart_scan", 0) ||
	    !ksm_sysfs_write("unstable_refresh_millisecs", 100) ||
	    !ksm_sysfs_write("pages_to_scan", 4 * BETWEEN_ALL) ||
	    !ksm_sysfs_write("sleep_millisecs", 20) || pipe(go)) {
		ksft_test_result_fail("unmerge between scans: setup failed\n");
		return;
	}
	/* The mm with unique pages only comes first on the KSM list. */
	pid[0] = start_between_child(false, seed, go);
	if (pid[0] > 0)
		pid[1] = start_between_child(true, ~seed, go);
	if (pid[1] < 0) {
		ksft_print_msg("could not start the children\n");
		goto out;
	}
	if (!ksm_sysfs_write("run", 1) || !wait_trees_built(BETWEEN_FIRST)) {
		ksft_print_msg("the trees were not built\n");
		goto out;
	}

	/* run=0 returns when ksmd's batch, and a full scan, is over. */
	full_us = time_unmerge();
	if (full_us < 0)
		goto out;
	delay_us = full_us / 4;

	ok = true;
	while (ok && in_second < BETWEEN_ROUNDS &&
	       interrupted < BETWEEN_MAX_INTR && tries < BETWEEN_MAX_TRIES &&
	       now() - t0 < BETWEEN_MAX_SECS) {
		if (!ksm_sysfs_write("pages_to_scan", 4 * BETWEEN_ALL) ||
		    !ksm_sysfs_write("run", 1) ||
		    !wait_trees_built(BETWEEN_FIRST) ||
		    !ksm_sysfs_write("run", 0)) {
			ok = false;
			break;
		}
		status = unmerge_and_kill(delay_us, &secs);
		tries++;
		if (status < 0) {
			ok = false;
			break;
		}
		for (i = 0; i < 2; i++)
			items[i] = ksm_stat_read(pid[i], "ksm_rmap_items");
		ksft_print_msg("kill after %ld us: %s, run=%ld, rmap_items %ld and %ld\n",
			       delay_us, WIFSIGNALED(status) ? "killed" : "finished",
			       ksm_sysfs_read("run"), items[0], items[1]);
		/* run_store() leaves run=0 when the unmerge was interrupted. */
		if (!WIFSIGNALED(status) || ksm_sysfs_read("run") != 0) {
			/* Too late: kill earlier. */
			delay_us = delay_us * 2 / 3;
			if (delay_us < full_us / 64)
				delay_us = full_us / 64;
			continue;
		}
		interrupted++;
		if (!items[0] && items[1] > 0) {
			/* Next time a little further into it. */
			in_second++;
			delay_us += full_us / 16;
		} else {
			/* Stopped before the second mm: kill later. */
			delay_us = delay_us * 3 / 2;
			if (delay_us > full_us)
				delay_us = full_us;
		}

		/*
		 * ksmd goes on from what the unmerge left behind, every
		 * other time in batches of a quarter of the pages.
		 */
		small = !(interrupted % 2);
		scans = ksm_sysfs_read("full_scans");
		refreshed = ksm_sysfs_read("unstable_refreshed");
		if (!ksm_sysfs_write("pages_to_scan",
				     small ? BETWEEN_ALL / 4 : 4 * BETWEEN_ALL) ||
		    !ksm_sysfs_write("run", 1) ||
		    !wait_for("full_scans", scans + 3, 300) ||
		    !ksm_sysfs_write("run", 0)) {
			ok = false;
			break;
		}
		shared = ksm_sysfs_read("pages_shared");
		sharing = ksm_sysfs_read("pages_sharing");
		unshared = ksm_sysfs_read("pages_unshared");
		for (i = 0; i < 2; i++)
			items[i] = ksm_stat_read(pid[i], "ksm_rmap_items");
		ksft_print_msg("run=1 in %s batches: full_scans +%ld, unstable_refreshed +%ld\n",
			       small ? "small" : "large",
			       ksm_sysfs_read("full_scans") - scans,
			       ksm_sysfs_read("unstable_refreshed") - refreshed);
		ksft_print_msg("shared %ld, sharing %ld, unshared %ld, rmap_items %ld and %ld\n",
			       shared, sharing, unshared, items[0], items[1]);
		/* Every page has its rmap_item again, duplicates are merged. */
		ok = (!small || ksm_sysfs_read("unstable_refreshed") > refreshed) &&
		     shared >= 0 && sharing >= merged && unshared >= 0 &&
		     shared + sharing + unshared <= BETWEEN_ALL &&
		     items[0] == BETWEEN_FIRST && items[1] == INTR_PAGES;
	}
	ksft_print_msg("%d of %d kills interrupted run=2, %d in the second mm, in %.0f s\n",
		       interrupted, tries, in_second, now() - t0);

	/* Everything unmerges and the counters come back to zero. */
	status = unmerge_and_kill(-1, &secs);
	shared = ksm_sysfs_read("pages_shared");
	sharing = ksm_sysfs_read("pages_sharing");
	unshared = ksm_sysfs_read("pages_unshared");
	if (status || shared || sharing || unshared) {
		ksft_print_msg("run=2: 0x%x, shared %ld, sharing %ld, unshared %ld\n",
			       status, shared, sharing, unshared);
		ok = false;
	}

	/* Each child checks that its memory reads back as it was written. */
	checked = write(go[1], "xx", 2) == 2;
out:
	ksm_sysfs_write("run", 0);
	close(go[0]);
	close(go[1]);
	for (i = 0; i < 2; i++) {
		if (pid[i] <= 0)
			continue;
		if (!checked)
			kill(pid[i], SIGKILL);
		if (waitpid(pid[i], &status, 0) == pid[i] && checked &&
		    (!WIFEXITED(status) || WEXITSTATUS(status))) {
			ksft_print_msg("child %d: the memory changed (0x%x)\n",
				       i + 1, status);
			ok = false;
		}
	}
	ok = ok && checked;
	if (ok && !in_second)
		ksft_test_result_skip("run=2 never stopped in the second mm (%d tries)\n",
				      tries);
	else
		ksft_test_result(ok,
				 "run=2 interrupted between full scans, then run=1 with refresh on\n");
}

/* unstable_refresh_millisecs takes 0 or 100..3600000. */
static void test_knob(void)
{
	static const char *const good[] = { "0", "100", "1000\n", "3600000" };
	static const long good_val[] = { 0, 100, 1000, 3600000 };
	static const char *const bad[] = {
		"1", "99", "3600001", "-1", "abc", "\n", "100x", "4294967396",
	};
	static const char *const counters[] = {
		"unstable_refreshed", "unstable_refresh_dropped",
	};
	const char *knob = "unstable_refresh_millisecs";
	bool ok = true;
	unsigned int i;
	long before;
	int err;

	ksft_print_msg("[RUN] %s\n", __func__);
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		err = ksm_sysfs_write_str(knob, good[i]);
		if (err || ksm_sysfs_read(knob) != good_val[i]) {
			ksft_print_msg("writing \"%s\": %s, reads %ld\n",
				       good[i], strerror(-err), ksm_sysfs_read(knob));
			ok = false;
		}
	}
	ksm_sysfs_write(knob, 500);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		before = ksm_sysfs_read(knob);
		err = ksm_sysfs_write_str(knob, bad[i]);
		if (err != -EINVAL || ksm_sysfs_read(knob) != before) {
			ksft_print_msg("writing \"%s\": %s, reads %ld (was %ld)\n",
				       bad[i], err ? strerror(-err) : "accepted",
				       ksm_sysfs_read(knob), before);
			ok = false;
		}
	}
	for (i = 0; i < ARRAY_SIZE(counters); i++) {
		before = ksm_sysfs_read(counters[i]);
		if (before < 0 || !ksm_sysfs_write_str(counters[i], "0")) {
			ksft_print_msg("%s: reads %ld, a write was not refused\n",
				       counters[i], before);
			ok = false;
		}
	}
	ksm_sysfs_write(knob, 0);
	ksft_test_result(ok, "refresh knob takes 0 or 100..3600000, counters read-only\n");
}

int main(void)
{
	ksft_print_header();
	ksft_set_plan(7);
	pagesize = getpagesize();

	if (geteuid())
		ksft_exit_skip("needs root to drive /sys/kernel/mm/ksm\n");
	if (access(KSM_PATH "run", W_OK))
		ksft_exit_skip("KSM is not available\n");
	ksm_sysfs_save(saved_knobs, saved, ARRAY_SIZE(saved_knobs));

	test_knob();
	test_drop_changed(false);
	test_drop_changed(true);
	test_fair();
	test_merge_with_refresh();
	test_interrupted_unmerge();
	test_unmerge_between_scans();

	ksm_sysfs_restore(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	ksft_finished();
}
