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
 *
 * Two tests need two NUMA nodes with memory (the harness boots its guest
 * with numa=fake=2) and skip otherwise: merge_across_nodes switched while
 * ksmd, the refresh pass and the zero-page path run, and the refresh pass
 * over the unstable trees of both nodes. Pages go to a node with mbind().
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/mempolicy.h>

#include "../kselftest.h"
#include "vm_util.h"

#define KSM_PATH "/sys/kernel/mm/ksm/"
#define NR_UNIQUE 200
#define NR_FILLER 4000
#define SLOW_PAGES_TO_SCAN 50
#define SLOW_SLEEP_MS 200
#define REFRESH_MS 1000

static size_t pagesize;

/*
 * merge_across_nodes first: ksm_sysfs_restore() writes it right after
 * run=2, while no page is shared (the only time it may change).
 */
static const char *const saved_knobs[] = {
	"merge_across_nodes", "run", "pages_to_scan", "sleep_millisecs",
	"use_zero_pages", "smart_scan", "unstable_refresh_millisecs",
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

/*
 * Pages the kernel migrated or swapped out since boot (/proc/vmstat). The
 * refresh pass drops an item whose page it does not find mapped: a page
 * under migration (compaction, which a guest under load runs on its own)
 * or swapped out is not found, and its item dropped although its content
 * stayed the same. Those drops are allowed, as many as the system moved.
 */
static long pages_moved(void)
{
	static const char *const keys[] = { "pgmigrate_success", "pswpout" };
	char line[128];
	long moved = 0, v;
	unsigned int i;
	FILE *f;

	f = fopen("/proc/vmstat", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		for (i = 0; i < ARRAY_SIZE(keys); i++)
			if (!strncmp(line, keys[i], strlen(keys[i])) &&
			    line[strlen(keys[i])] == ' ' &&
			    sscanf(line + strlen(keys[i]), "%ld", &v) == 1)
				moved += v;
	fclose(f);
	return moved;
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
 * The first two NUMA nodes with memory, from sysfs, in @nodes: returns how
 * many there are (0, 1 or 2).
 */
static int two_mem_nodes(int nodes[2])
{
	char buf[256], *s = buf, *end;
	int n = 0;
	long a, b;
	FILE *f;

	f = fopen("/sys/devices/system/node/has_memory", "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	/* A list of ranges: "0-1", "0,2-3". */
	while (n < 2) {
		a = strtol(s, &end, 10);
		if (end == s)
			break;
		b = a;
		s = end;
		if (*s == '-') {
			b = strtol(s + 1, &end, 10);
			s = end;
		}
		for (; a <= b && n < 2; a++)
			nodes[n++] = a;
		if (*s++ != ',')
			break;
	}
	return n;
}

/* Allocate the pages of [@p, @p + @npages pages) on @node only (mbind). */
static bool bind_range(char *p, size_t npages, int node)
{
	unsigned long mask;

	if (node < 0 || node >= 8 * (int)sizeof(mask)) {
		ksft_print_msg("node %d: beyond the mask\n", node);
		return false;
	}
	mask = 1UL << node;
	/* maxnode counts one bit more than the mask has, as libnuma's. */
	if (syscall(SYS_mbind, p, npages * pagesize, MPOL_BIND, &mask,
		    8 * sizeof(mask) + 1, 0)) {
		ksft_print_msg("mbind to node %d: %s\n", node, strerror(errno));
		return false;
	}
	return true;
}

/* How many of the @npages pages at @p are on @node, or -1. */
static long pages_on_node(char *p, size_t npages, int node)
{
	long n = 0;
	size_t i;
	int nid;

	for (i = 0; i < npages; i++) {
		if (syscall(SYS_get_mempolicy, &nid, NULL, 0, p + i * pagesize,
			    MPOL_F_NODE | MPOL_F_ADDR)) {
			ksft_print_msg("get_mempolicy: %s\n", strerror(errno));
			return -1;
		}
		n += nid == node;
	}
	return n;
}

/* Are the @npages pages at @p all on @node? Says so if not. */
static bool placed_on(char *p, size_t npages, int node)
{
	long n = pages_on_node(p, npages, node);

	if (n != (long)npages)
		ksft_print_msg("%ld of %zu pages on node %d\n", n, npages, node);
	return n == (long)npages;
}

/*
 * Map N unique pages and the filler, and leave ksmd running slowly just
 * after the unique pages entered a fresh unstable tree. With @nodes, the
 * first half of the unique pages and of the filler is on nodes[0], the
 * second half on nodes[1].
 */
static char *build_tree_on(long refresh_ms, const int *nodes)
{
	size_t size = (NR_UNIQUE + NR_FILLER) * pagesize;
	long scanned;
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
	if (nodes &&
	    (!bind_range(p, NR_UNIQUE / 2, nodes[0]) ||
	     !bind_range(p + NR_UNIQUE / 2 * pagesize, NR_UNIQUE / 2, nodes[1]) ||
	     !bind_range(p + NR_UNIQUE * pagesize, NR_FILLER / 2, nodes[0]) ||
	     !bind_range(p + (NR_UNIQUE + NR_FILLER / 2) * pagesize,
			 NR_FILLER / 2, nodes[1])))
		goto fail;
	fill_unique(p, NR_UNIQUE * pagesize, 0x9e3779b97f4a7c15ULL ^ time(NULL));
	for (i = NR_UNIQUE; i < NR_UNIQUE + NR_FILLER; i++)
		memset(p + i * pagesize, 0x6b, pagesize);
	if (nodes &&
	    (!placed_on(p, NR_UNIQUE / 2, nodes[0]) ||
	     !placed_on(p + NR_UNIQUE / 2 * pagesize, NR_UNIQUE / 2, nodes[1]) ||
	     !placed_on(p + NR_UNIQUE * pagesize, NR_FILLER / 2, nodes[0]) ||
	     !placed_on(p + (NR_UNIQUE + NR_FILLER / 2) * pagesize,
			NR_FILLER / 2, nodes[1])))
		goto fail;
	if (madvise(p, size, MADV_MERGEABLE))
		goto fail;

	/* Fast, until the filler is merged and the unique pages settled. */
	if (!ksm_sysfs_write("pages_to_scan", NR_UNIQUE + NR_FILLER + 100) ||
	    !ksm_sysfs_write("sleep_millisecs", 20) || !ksm_sysfs_write("run", 1) ||
	    !wait_for("full_scans", ksm_sysfs_read("full_scans") + 3, 300) ||
	    !wait_for("pages_sharing", NR_FILLER - NR_FILLER / 128, 300))
		goto fail;

	/*
	 * Slow, from a fresh tree that holds the unique pages: the next full
	 * scan visits them first. A fast batch covers a whole full scan and
	 * ends with it, and run=0 waits for the batch in progress (it takes
	 * ksm_thread_mutex): the first slow batch starts a new full scan, no
	 * need to wait for the end of a slow one (17 s). pages_unshared
	 * cannot tell, as it counts the items of the old tree until they are
	 * visited again.
	 */
	if (!ksm_sysfs_write("run", 0) ||
	    !ksm_sysfs_write("pages_to_scan", SLOW_PAGES_TO_SCAN) ||
	    !ksm_sysfs_write("sleep_millisecs", SLOW_SLEEP_MS))
		goto fail;
	scanned = ksm_sysfs_read("pages_scanned");
	if (!ksm_sysfs_write("run", 1) ||
	    !wait_for("pages_scanned", scanned + NR_UNIQUE + SLOW_PAGES_TO_SCAN,
		      60) ||
	    !wait_for("pages_unshared", NR_UNIQUE, 60))
		goto fail;
	return p;
fail:
	ksm_sysfs_write("run", 0);
	munmap(p, size);
	return NULL;
}

static char *build_tree(long refresh_ms)
{
	return build_tree_on(refresh_ms, NULL);
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

#define INTR_PAGES (18 * 256)	/* rmap_items (18 MiB of 4 KiB pages): ... */
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

#define NUMA_UNIQUE 256		/* unique pages on each node, ... */
#define NUMA_ZERO 256		/* ... zero-filled pages, ... */
#define NUMA_DUP 64		/* ... pages that have a copy on the other */
#define NUMA_SWITCHES 16	/* switches while ksmd runs, an even number */
#define NUMA_REZERO 16		/* zero pages written again before each */

/* The kernel log from now on: /dev/kmsg at its end, or -1. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Did the kernel warn or report a bug since kmsg_open()? Says the first
 * such line, and closes @fd. A VM_WARN_ON_ONCE() of the refresh pass (an
 * item of an older scan in a tree) or a KASAN report is not seen in the
 * counters.
 */
static bool kmsg_splat(int fd)
{
	static const char *const splat[] = {
		"WARNING:", "BUG:", "Oops", "KASAN", "UBSAN",
		"general protection fault",
	};
	bool found = false;
	char rec[1024];
	unsigned int i;
	ssize_t n;

	if (fd < 0)
		return false;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		/* EPIPE: records were overwritten, the next one follows. */
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = 0;
		for (i = 0; !found && i < ARRAY_SIZE(splat); i++) {
			if (strstr(rec, splat[i])) {
				ksft_print_msg("kernel: %s", strchr(rec, ';') ?
					       strchr(rec, ';') + 1 : rec);
				found = true;
			}
		}
	}
	close(fd);
	return found;
}

/* run=2, then merge_across_nodes as it was before the tests. */
static void put_back_merge_across_nodes(void)
{
	unsigned int i;

	ksm_sysfs_write("run", 2);
	for (i = 0; i < ARRAY_SIZE(saved_knobs); i++)
		if (!strcmp(saved_knobs[i], "merge_across_nodes") && saved[i] >= 0)
			ksm_sysfs_write("merge_across_nodes", saved[i]);
}

/*
 * Why the NUMA tests cannot run here, or NULL; @nodes gets the first two
 * nodes with memory.
 */
static const char *numa_skip_reason(int nodes[2])
{
	if (ksm_sysfs_read("merge_across_nodes") < 0)
		return "no merge_across_nodes (a kernel without CONFIG_NUMA)";
	if (ksm_sysfs_read("unstable_refresh_millisecs") < 0)
		return "no unstable_refresh_millisecs";
	if (two_mem_nodes(nodes) < 2)
		return "fewer than 2 NUMA nodes with memory";
	return NULL;
}

/*
 * Wait for @scans full scans, then until the counters read what is mapped:
 * @shared, @sharing, @unshared and @zero (ksm_zero_pages, which must also
 * be this process's own count), at most @secs seconds in all.
 */
static bool wait_counters(long shared, long sharing, long unshared, long zero,
			  int scans, double secs)
{
	double t0 = now();
	long c[4];

	if (!wait_for("full_scans", ksm_sysfs_read("full_scans") + scans, secs))
		return false;
	for (;;) {
		c[0] = ksm_sysfs_read("pages_shared");
		c[1] = ksm_sysfs_read("pages_sharing");
		c[2] = ksm_sysfs_read("pages_unshared");
		c[3] = ksm_sysfs_read("ksm_zero_pages");
		if (c[0] == shared && c[1] == sharing && c[2] == unshared &&
		    c[3] == zero && ksm_stat_read(getpid(), "ksm_zero_pages") == zero)
			return true;
		if (now() - t0 > secs)
			break;
		usleep(10000);
	}
	ksft_print_msg("shared %ld, sharing %ld, unshared %ld, ksm_zero_pages %ld (own %ld)\n",
		       c[0], c[1], c[2], c[3],
		       ksm_stat_read(getpid(), "ksm_zero_pages"));
	ksft_print_msg("expected %ld, %ld, %ld, %ld\n", shared, sharing, unshared, zero);
	return false;
}

/* Unique pages, then zero-filled pages, on each node in turn. */
static void fill_nodes(char *p, uint64_t seed)
{
	const size_t half = (NUMA_UNIQUE + NUMA_ZERO) * pagesize;
	int k;

	for (k = 0; k < 2; k++) {
		fill_unique(p + k * half, NUMA_UNIQUE * pagesize, seed + k);
		memset(p + k * half + NUMA_UNIQUE * pagesize, 0,
		       NUMA_ZERO * pagesize);
	}
}

/* Unique pages on the first node, the same ones on the second. */
static void fill_copies(char *d, uint64_t seed)
{
	fill_unique(d, NUMA_DUP * pagesize, seed);
	memcpy(d + NUMA_DUP * pagesize, d, NUMA_DUP * pagesize);
}

/*
 * merge_across_nodes switched back and forth while ksmd scans, with the
 * refresh pass and the zero-page path on and pages on two nodes. Each
 * switch resets the refresh cursor; the trees of every node keep the items
 * of the current scan, which the next scan resets, all of them. While
 * nothing is shared the knob may change in the middle of a full scan: the
 * test does that many times, at random points. Then pages with a copy on
 * the other node are added: they must stay apart in per-node trees,
 * merge after a switch to 1, keep the knob from changing back, unmerge
 * with run=2, which brings every counter to 0, and stay apart again once
 * the knob is back to 0 (the tree of the second node then is in use again,
 * and must hold nothing of before). After each step the counters must say
 * what is mapped, the refresh pass must go on re-checking and must drop
 * nothing (no page changes; only pages that the kernel migrated or swapped
 * out meanwhile may be dropped, see pages_moved()). KASAN and DEBUG_VM in the test kernel watch
 * for walks through items left in a tree.
 */
static void test_merge_across_nodes(void)
{
	const size_t half = NUMA_UNIQUE + NUMA_ZERO;
	const size_t size = 2 * half * pagesize, dsize = 2 * NUMA_DUP * pagesize;
	uint64_t seed = 0xda942042e4dd58b5ULL ^ time(NULL);
	long refreshed0, dropped0, merged0, scans, refreshed, dropped, merged;
	long moved0, moved;
	double t0 = now();
	char *p = MAP_FAILED, *d = MAP_FAILED, *q = NULL;
	const char *why;
	int nodes[2], i, k, err, kmsg;
	bool ok = false;

	ksft_print_msg("[RUN] %s\n", __func__);
	why = numa_skip_reason(nodes);
	if (why) {
		ksft_test_result_skip("merge_across_nodes switches: %s\n", why);
		return;
	}
	kmsg = kmsg_open();
	ksft_print_msg("nodes %d and %d\n", nodes[0], nodes[1]);
	if (!ksm_sysfs_write("run", 2) || !ksm_sysfs_write("merge_across_nodes", 0) ||
	    !ksm_sysfs_write("use_zero_pages", 1) || !ksm_sysfs_write("smart_scan", 0) ||
	    !ksm_sysfs_write("unstable_refresh_millisecs", 100) ||
	    !ksm_sysfs_write("pages_to_scan", 64) ||
	    !ksm_sysfs_write("sleep_millisecs", 20)) {
		put_back_merge_across_nodes();
		close(kmsg);
		ksft_test_result_fail("merge_across_nodes switches: setup failed\n");
		return;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	d = mmap(NULL, dsize, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	q = malloc(size > dsize ? size : dsize);
	if (p == MAP_FAILED || d == MAP_FAILED || !q) {
		ksft_print_msg("mmap: %s\n", strerror(errno));
		goto out;
	}
	madvise(p, size, MADV_NOHUGEPAGE);
	madvise(d, dsize, MADV_NOHUGEPAGE);
	if (!bind_range(p, half, nodes[0]) ||
	    !bind_range(p + half * pagesize, half, nodes[1]) ||
	    !bind_range(d, NUMA_DUP, nodes[0]) ||
	    !bind_range(d + NUMA_DUP * pagesize, NUMA_DUP, nodes[1]))
		goto out;
	fill_nodes(p, seed);
	if (!placed_on(p, half, nodes[0]) ||
	    !placed_on(p + half * pagesize, half, nodes[1]))
		goto out;

	/* Unique and zero-filled pages: nothing is ever shared. */
	if (madvise(p, size, MADV_MERGEABLE) || !ksm_sysfs_write("run", 1) ||
	    !wait_counters(0, 0, 2 * NUMA_UNIQUE, 2 * NUMA_ZERO, 3, 120)) {
		ksft_print_msg("unique and zero pages: not as mapped\n");
		goto out;
	}

	/*
	 * Switch while ksmd runs, at random points of its scans. Before each
	 * switch, some zero pages of each node are written (with zeroes):
	 * ksmd maps the zero page into them again meanwhile.
	 */
	refreshed0 = ksm_sysfs_read("unstable_refreshed");
	dropped0 = ksm_sysfs_read("unstable_refresh_dropped");
	merged0 = ksm_sysfs_read("zero_pages_merged");
	moved0 = pages_moved();
	scans = ksm_sysfs_read("full_scans");
	srand(seed);
	for (i = 0; i < NUMA_SWITCHES; i++) {
		for (k = 0; k < 2; k++)
			memset(p + (k * half + NUMA_UNIQUE +
				    i * NUMA_REZERO % NUMA_ZERO) * pagesize,
			       0, NUMA_REZERO * pagesize);
		usleep(30000 + rand() % 270000);
		err = ksm_sysfs_write_str("merge_across_nodes", i % 2 ? "0" : "1");
		if (err || ksm_sysfs_read("merge_across_nodes") != !(i % 2)) {
			ksft_print_msg("switch %d to %d: %s, reads %ld\n", i,
				       !(i % 2), err ? strerror(-err) : "done",
				       ksm_sysfs_read("merge_across_nodes"));
			goto out;
		}
	}
	ksft_print_msg("%d switches in %ld full scans\n", NUMA_SWITCHES,
		       ksm_sysfs_read("full_scans") - scans);
	if (!wait_counters(0, 0, 2 * NUMA_UNIQUE, 2 * NUMA_ZERO, 3, 120)) {
		ksft_print_msg("after the switches: not as mapped\n");
		goto out;
	}
	refreshed = ksm_sysfs_read("unstable_refreshed") - refreshed0;
	dropped = ksm_sysfs_read("unstable_refresh_dropped") - dropped0;
	merged = ksm_sysfs_read("zero_pages_merged") - merged0;
	moved = pages_moved() - moved0;
	ksft_print_msg("unstable_refreshed +%ld, unstable_refresh_dropped +%ld\n",
		       refreshed, dropped);
	ksft_print_msg("zero_pages_merged +%ld, pages migrated or swapped out +%ld\n",
		       merged, moved);
	if (refreshed < 2 * NUMA_UNIQUE || dropped > moved) {
		ksft_print_msg("the refresh pass stopped, or dropped unchanged pages\n");
		goto out;
	}
	/* The zero pages written were all merged again. */
	if (merged < 2 * NUMA_SWITCHES * NUMA_REZERO) {
		ksft_print_msg("fewer zero pages merged than written\n");
		goto out;
	}

	/* Copies on both nodes: apart in per-node trees with 0. */
	fill_copies(d, ~seed);
	if (!placed_on(d, NUMA_DUP, nodes[0]) ||
	    !placed_on(d + NUMA_DUP * pagesize, NUMA_DUP, nodes[1]))
		goto out;
	if (madvise(d, dsize, MADV_MERGEABLE) ||
	    !wait_counters(0, 0, 2 * NUMA_UNIQUE + 2 * NUMA_DUP, 2 * NUMA_ZERO,
			   3, 120)) {
		ksft_print_msg("copies on two nodes with merge_across_nodes=0: not as mapped\n");
		goto out;
	}
	/* Nothing shared yet: 1 while ksmd runs, and the copies merge. */
	if (!ksm_sysfs_write("merge_across_nodes", 1) ||
	    !wait_counters(NUMA_DUP, NUMA_DUP, 2 * NUMA_UNIQUE, 2 * NUMA_ZERO,
			   3, 120)) {
		ksft_print_msg("copies on two nodes with merge_across_nodes=1: not as mapped\n");
		goto out;
	}
	/* Pages are shared: the knob may not change. */
	err = ksm_sysfs_write_str("merge_across_nodes", "0");
	if (err != -EBUSY || ksm_sysfs_read("merge_across_nodes") != 1) {
		ksft_print_msg("merge_across_nodes=0 with pages shared: %s, reads %ld\n",
			       err ? strerror(-err) : "accepted",
			       ksm_sysfs_read("merge_across_nodes"));
		goto out;
	}
	/* run=2: every counter back to 0, every rmap_item freed. */
	if (!ksm_sysfs_write("run", 2))
		goto out;
	if (ksm_sysfs_read("pages_shared") || ksm_sysfs_read("pages_sharing") ||
	    ksm_sysfs_read("pages_unshared") || ksm_sysfs_read("ksm_zero_pages") ||
	    ksm_stat_read(getpid(), "ksm_rmap_items") ||
	    ksm_stat_read(getpid(), "ksm_zero_pages") ||
	    ksm_stat_read(getpid(), "ksm_merging_pages")) {
		ksft_print_msg("run=2: shared %ld, sharing %ld, unshared %ld, ksm_zero_pages %ld\n",
			       ksm_sysfs_read("pages_shared"),
			       ksm_sysfs_read("pages_sharing"),
			       ksm_sysfs_read("pages_unshared"),
			       ksm_sysfs_read("ksm_zero_pages"));
		ksft_print_msg("run=2: own rmap_items %ld, zero pages %ld, merging pages %ld\n",
			       ksm_stat_read(getpid(), "ksm_rmap_items"),
			       ksm_stat_read(getpid(), "ksm_zero_pages"),
			       ksm_stat_read(getpid(), "ksm_merging_pages"));
		goto out;
	}
	/* Back to per-node trees: the copies stay apart again. */
	refreshed0 = ksm_sysfs_read("unstable_refreshed");
	if (!ksm_sysfs_write("merge_across_nodes", 0) || !ksm_sysfs_write("run", 1) ||
	    !wait_counters(0, 0, 2 * NUMA_UNIQUE + 2 * NUMA_DUP, 2 * NUMA_ZERO,
			   3, 120)) {
		ksft_print_msg("copies on two nodes, merge_across_nodes=0 again: not as mapped\n");
		goto out;
	}
	refreshed = ksm_sysfs_read("unstable_refreshed") - refreshed0;
	dropped = ksm_sysfs_read("unstable_refresh_dropped") - dropped0;
	moved = pages_moved() - moved0;
	ksft_print_msg("unstable_refreshed +%ld since run=2, unstable_refresh_dropped +%ld\n",
		       refreshed, dropped);
	ksft_print_msg("pages migrated or swapped out +%ld\n", moved);
	if (!refreshed || dropped > moved) {
		ksft_print_msg("the refresh pass stopped, or dropped unchanged pages\n");
		goto out;
	}

	/* The memory reads back as it was written. */
	fill_nodes(q, seed);
	if (memcmp(p, q, size)) {
		ksft_print_msg("the memory changed\n");
		goto out;
	}
	fill_copies(q, ~seed);
	if (memcmp(d, q, dsize)) {
		ksft_print_msg("the copies changed\n");
		goto out;
	}
	ok = true;
out:
	put_back_merge_across_nodes();
	ksm_sysfs_write("run", 0);
	if (p != MAP_FAILED)
		munmap(p, size);
	if (d != MAP_FAILED)
		munmap(d, dsize);
	free(q);
	if (kmsg_splat(kmsg))
		ok = false;
	ksft_print_msg("%s in %.0f s\n", __func__, now() - t0);
	ksft_test_result(ok, "merge_across_nodes switches: per-node trees, counters consistent\n");
}

/*
 * The refresh pass walks the unstable tree of every node, after the knob
 * changed: with merge_across_nodes=0, pages changed on the second node,
 * then on the first, are dropped within a few periods, before the full
 * scan ends. A cursor that stays in one tree, or is left in a tree of an
 * older layout, misses one half.
 */
static void test_refresh_nodes(void)
{
	long scans, unshared[3], dropped[3];
	double t0 = now();
	const char *why;
	int nodes[2], i, k, kmsg;
	bool ok;
	char *p;

	ksft_print_msg("[RUN] %s\n", __func__);
	why = numa_skip_reason(nodes);
	if (why) {
		ksft_test_result_skip("refresh of per-node trees: %s\n", why);
		return;
	}
	kmsg = kmsg_open();
	/* Switch to 1 and back, and build the trees in per-node layout. */
	if (!ksm_sysfs_write("run", 2) || !ksm_sysfs_write("merge_across_nodes", 1) ||
	    !ksm_sysfs_write("merge_across_nodes", 0)) {
		put_back_merge_across_nodes();
		close(kmsg);
		ksft_test_result_fail("refresh of per-node trees: setup failed\n");
		return;
	}
	p = build_tree_on(REFRESH_MS, nodes);
	if (!p) {
		put_back_merge_across_nodes();
		close(kmsg);
		ksft_test_result_fail("refresh of per-node trees: could not build the trees\n");
		return;
	}
	scans = ksm_sysfs_read("full_scans");
	unshared[0] = ksm_sysfs_read("pages_unshared");
	dropped[0] = ksm_sysfs_read("unstable_refresh_dropped");
	/* Half of the unique pages of the second node, then of the first. */
	for (k = 1; k >= 0; k--) {
		for (i = 0; i < NR_UNIQUE / 2; i += 2)
			p[(k * NR_UNIQUE / 2 + i) * pagesize + 100] ^= 0x5a;
		sleep(3 * REFRESH_MS / 1000);
		unshared[2 - k] = ksm_sysfs_read("pages_unshared");
		dropped[2 - k] = ksm_sysfs_read("unstable_refresh_dropped");
	}
	ksft_print_msg("unshared %ld, %ld, %ld; dropped %ld, %ld, %ld; full_scans %ld -> %ld\n",
		       unshared[0], unshared[1], unshared[2], dropped[0],
		       dropped[1], dropped[2], scans, ksm_sysfs_read("full_scans"));
	ok = ksm_sysfs_read("full_scans") == scans;
	if (!ok)
		ksft_print_msg("the full scan ended too early: slow ksmd down\n");
	for (k = 1; k < 3; k++)
		ok = ok && dropped[k] - dropped[k - 1] == NR_UNIQUE / 4 &&
		     unshared[k - 1] - unshared[k] == NR_UNIQUE / 4;
	unmap_tree(p);
	put_back_merge_across_nodes();
	if (kmsg_splat(kmsg))
		ok = false;
	ksft_print_msg("%s in %.0f s\n", __func__, now() - t0);
	ksft_test_result(ok, "changed pages are dropped from the unstable trees of both nodes\n");
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
	ksft_set_plan(9);
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
	test_merge_across_nodes();
	test_refresh_nodes();

	ksm_sysfs_restore(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	ksft_finished();
}
