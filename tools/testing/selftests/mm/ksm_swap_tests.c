// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM under swap, memory pressure and compaction: KSM pages, KSM zero pages
 * and plain pages paged out with MADV_COLD and MADV_PAGEOUT and read back,
 * a fork while pages sit in the swap cache, a workload larger than its
 * memory cgroup allows, and compaction (which migrates KSM pages) while
 * ksmd merges at full speed. Every page is checked
 * against a record of what was written to it, and the KSM counters must be
 * back to 0 after run=2.
 *
 * The test swaps to /dev/zram0, which it sets up itself (with a swap header
 * of its own) when no swap is on, and takes down at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "vm_util.h"

#define AREA_BYTES	(16 << 20)	/* each test's memory */
#define MAX_PAGES	(AREA_BYTES / 4096)	/* of the smallest page size */
#define CGROUP		"/sys/fs/cgroup/"
#define TEST_CG		CGROUP "ksm-swap-test/"

#ifndef MADV_COLD
#define MADV_COLD	20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

static size_t pagesize;
static size_t nr_pages;		/* AREA_BYTES of pages */

static const char *const saved_knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"zero_pages_min_age", "smart_scan", "unstable_refresh_millisecs",
};

static long saved[ARRAY_SIZE(saved_knobs)];

/*
 * What page @i holds in generation @gen: zero, one of 8 patterns shared
 * with other pages, or unique. Every generation mixes the three.
 */
enum content { ZERO, DUP, UNIQUE };

static enum content content_of(size_t i, unsigned int gen)
{
	switch ((i + gen) % 4) {
	case 0:
	case 3:
		return ZERO;
	case 1:
		return DUP;
	default:
		return UNIQUE;
	}
}

static void fill_page(char *page, size_t i, unsigned int gen)
{
	uint64_t v = ((uint64_t)gen << 32) | i, *w = (uint64_t *)page;
	size_t j;

	switch (content_of(i, gen)) {
	case ZERO:
		memset(page, 0, pagesize);
		break;
	case DUP:
		memset(page, 'a' + (i / 4) % 8, pagesize);
		break;
	case UNIQUE:
		for (j = 0; j < pagesize / 8; j++)
			w[j] = v * 0x9e3779b97f4a7c15ULL + j;
		break;
	}
}

static bool page_ok(const char *page, size_t i, unsigned int gen)
{
	uint64_t v = ((uint64_t)gen << 32) | i;
	const uint64_t *w = (const uint64_t *)page;
	size_t j;

	switch (content_of(i, gen)) {
	case ZERO:
		for (j = 0; j < pagesize; j++)
			if (page[j])
				return false;
		return true;
	case DUP:
		for (j = 0; j < pagesize; j++)
			if (page[j] != 'a' + (char)((i / 4) % 8))
				return false;
		return true;
	default:
		for (j = 0; j < pagesize / 8; j++)
			if (w[j] != v * 0x9e3779b97f4a7c15ULL + j)
				return false;
		return true;
	}
}

/* Pages of [p, p + nr pages) whose content is not that of @gens. */
static size_t mismatches(const char *p, size_t nr, const unsigned int *gens)
{
	size_t i, bad = 0;

	for (i = 0; i < nr; i++)
		bad += !page_ok(p + i * pagesize, i, gens[i]);
	return bad;
}

static char *map_filled(size_t nr, unsigned int *gens, unsigned int gen)
{
	char *p = mmap(NULL, nr * pagesize, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, nr * pagesize, MADV_NOHUGEPAGE);
	for (i = 0; i < nr; i++) {
		gens[i] = gen;
		fill_page(p + i * pagesize, i, gen);
	}
	return p;
}

/* Pages of [p, p + nr pages) that sit in swap. */
static size_t swapped(char *p, size_t nr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t i, n = 0;

	if (fd < 0)
		return 0;
	for (i = 0; i < nr; i++)
		n += pagemap_is_swapped(fd, p + i * pagesize);
	close(fd);
	return n;
}

static bool write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok;
}

/* Pages swapped out since boot (pswpout of /proc/vmstat), -1 if unknown. */
static long vmstat_read_swpout(void)
{
	char line[128];
	long val = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "pswpout ", 8))
			val = strtol(line + 8, NULL, 10);
	if (f)
		fclose(f);
	return val;
}

static bool swap_is_on(void)
{
	char line[256];
	int n = 0;
	FILE *f = fopen("/proc/swaps", "r");

	while (f && fgets(line, sizeof(line), f))
		n++;
	if (f)
		fclose(f);
	return n > 1;	/* a header line, then one a device */
}

/* Whether the test set up /dev/zram0 as swap, to undo at the end. */
static bool zram_ours;

/* 256 MiB of zram swap, with a version 1 swap header written here. */
static bool zram_swap_on(void)
{
	uint32_t v;
	char *hdr;
	bool ok;
	int fd;

	if (!write_file("/sys/block/zram0/disksize", "256M"))
		return false;
	hdr = calloc(1, pagesize);
	fd = open("/dev/zram0", O_WRONLY);
	if (!hdr || fd < 0) {
		free(hdr);
		if (fd >= 0)
			close(fd);
		write_file("/sys/block/zram0/reset", "1");
		return false;
	}
	v = 1;					/* version */
	memcpy(hdr + 1024, &v, sizeof(v));
	v = (256 << 20) / pagesize - 1;		/* last page */
	memcpy(hdr + 1028, &v, sizeof(v));
	memcpy(hdr + pagesize - 10, "SWAPSPACE2", 10);
	ok = pwrite(fd, hdr, pagesize, 0) == (ssize_t)pagesize && !fsync(fd);
	close(fd);
	free(hdr);
	zram_ours = ok && !swapon("/dev/zram0", 0);
	if (!zram_ours)		/* free the disk for the next run */
		write_file("/sys/block/zram0/reset", "1");
	return zram_ours;
}

static bool ksm_start(void)
{
	return ksm_sysfs_write("run", 2) && ksm_sysfs_write("use_zero_pages", 1) &&
	       ksm_sysfs_write("pages_to_scan", 10000) &&
	       ksm_sysfs_write("sleep_millisecs", 10) &&
	       ksm_sysfs_write("run", 1);
}

/* After run=2, with nothing mapped any more: every counter at 0. */
static bool counters_zero(void)
{
	long zero, shared, sharing;

	if (!ksm_sysfs_write("run", 2))
		return false;
	zero = ksm_sysfs_read("ksm_zero_pages");
	shared = ksm_sysfs_read("pages_shared");
	sharing = ksm_sysfs_read("pages_sharing");
	if (zero || shared || sharing)
		ksft_print_msg("after run=2: ksm_zero_pages %ld, shared %ld, sharing %ld\n",
			       zero, shared, sharing);
	return !zero && !shared && !sharing;
}

/*
 * Merged pages paged out (after MADV_COLD when @cold) and read back: the
 * data, and the KSM zero pages, which stay mapped, are all there.
 */
static void test_pageout(bool cold)
{
	static unsigned int gens[MAX_PAGES];
	long zero_before, zero_after, sharing;
	size_t out = 0, bad = nr_pages;
	char *p = NULL;
	bool ok = false;

	ksft_print_msg("[RUN] %s%s\n", __func__, cold ? " after MADV_COLD" : "");
	p = map_filled(nr_pages, gens, 1);
	if (!p || !ksm_start() ||
	    madvise(p, nr_pages * pagesize, MADV_MERGEABLE) || !ksm_wait_full_scans(3, 120))
		goto out;
	zero_before = ksm_stat_read(getpid(), "ksm_zero_pages");
	sharing = ksm_sysfs_read("pages_sharing");
	if (cold)
		madvise(p, nr_pages * pagesize, MADV_COLD);
	if (madvise(p, nr_pages * pagesize, MADV_PAGEOUT)) {
		ksft_print_msg("MADV_PAGEOUT: %s\n", strerror(errno));
		goto out;
	}
	out = swapped(p, nr_pages);
	bad = mismatches(p, nr_pages, gens);
	zero_after = ksm_stat_read(getpid(), "ksm_zero_pages");
	ksft_print_msg("KSM zero pages %ld, pages_sharing %ld; paged out %zu pages\n",
		       zero_before, sharing, out);
	ksft_print_msg("after reading back: KSM zero pages %ld, %zu pages wrong\n",
		       zero_after, bad);
	ok = zero_before == nr_pages / 2 && sharing > 0 && out > 0 && !bad &&
	     zero_after == zero_before;
out:
	if (p)
		munmap(p, nr_pages * pagesize);
	ok = counters_zero() && ok;
	ksft_test_result(ok, "pageout%s of merged memory: data and zero pages intact\n",
			 cold ? " after MADV_COLD" : "");
}

/*
 * Fork while half of the swapped-out pages are back in the swap cache: the
 * child and the parent each see their data, also after both write, and
 * ksmd merges again meanwhile.
 */
static void test_fork_swapcache(void)
{
	static unsigned int gens[MAX_PAGES];
	size_t i, bad_parent = nr_pages;
	char *p = NULL;
	bool ok = false;
	int status = -1;
	pid_t pid;

	ksft_print_msg("[RUN] %s\n", __func__);
	p = map_filled(nr_pages, gens, 2);
	if (!p || !ksm_start() ||
	    madvise(p, nr_pages * pagesize, MADV_MERGEABLE) || !ksm_wait_full_scans(3, 120) ||
	    madvise(p, nr_pages * pagesize, MADV_PAGEOUT))
		goto out;
	/* Read every other page: swapped in, they stay in the swap cache. */
	for (i = 0; i < nr_pages; i += 2)
		if (!page_ok(p + i * pagesize, i, gens[i]))
			goto out;
	pid = fork();
	if (pid < 0)
		goto out;
	if (!pid) {
		size_t bad = mismatches(p, nr_pages, gens);

		for (i = 0; i < nr_pages; i += 3) {
			gens[i] = 3;
			fill_page(p + i * pagesize, i, gens[i]);
		}
		ksm_wait_full_scans(2, 120);
		bad += mismatches(p, nr_pages, gens);
		_exit(bad ? 1 : 0);
	}
	for (i = 1; i < nr_pages; i += 5) {
		gens[i] = 4;
		fill_page(p + i * pagesize, i, gens[i]);
	}
	waitpid(pid, &status, 0);
	bad_parent = mismatches(p, nr_pages, gens);
	ksft_print_msg("child exit status %d, %zu pages of the parent wrong\n",
		       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		       bad_parent);
	ok = WIFEXITED(status) && !WEXITSTATUS(status) && !bad_parent;
out:
	if (p)
		munmap(p, nr_pages * pagesize);
	ok = counters_zero() && ok;
	ksft_test_result(ok, "fork with pages in the swap cache: both see their data\n");
}

/*
 * The memory cgroup allows half of what the child uses: its pages go to
 * swap and come back while ksmd merges and the child rewrites and checks
 * them for @secs seconds.
 */
static int pressure_child(unsigned int secs)
{
	static unsigned int gens[2 * MAX_PAGES];
	const size_t nr = 2 * nr_pages;
	unsigned int gen = 10, rounds = 0;
	time_t end = time(NULL) + secs;
	uint64_t seed = getpid();
	size_t i, bad = 0;
	char *p;

	p = map_filled(nr, gens, gen);
	if (!p || madvise(p, nr * pagesize, MADV_MERGEABLE))
		return 2;
	while (time(NULL) < end && !bad) {
		gen++;
		for (i = 0; i < nr / 16; i++) {
			size_t k;

			seed = seed * 6364136223846793005ULL + 1;
			k = (seed >> 33) % nr;
			if (!page_ok(p + k * pagesize, k, gens[k]))
				bad++;
			gens[k] = gen;
			fill_page(p + k * pagesize, k, gen);
		}
		if (rounds++ % 8 == 0)
			madvise(p, nr * pagesize, MADV_PAGEOUT);
	}
	bad += mismatches(p, nr, gens);
	printf("# pressure: %u rounds, %zu pages wrong\n", rounds, bad);
	return bad ? 1 : 0;
}

static void test_pressure(unsigned int secs)
{
	char limit[32], pid_s[32];
	long swapped_out = -1;
	int status = -1;
	bool ok = false;
	pid_t pid;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (access(CGROUP "cgroup.controllers", F_OK) &&
	    mount("none", CGROUP, "cgroup2", 0, NULL)) {
		ksft_test_result_skip("no cgroup v2: %s\n", strerror(errno));
		return;
	}
	write_file(CGROUP "cgroup.subtree_control", "+memory");
	mkdir(TEST_CG, 0755);
	snprintf(limit, sizeof(limit), "%zu", nr_pages * pagesize);
	if (!write_file(TEST_CG "memory.max", limit)) {
		ksft_test_result_skip("no memory.max in %s\n", TEST_CG);
		rmdir(TEST_CG);
		return;
	}
	if (!ksm_start() ||
	    !ksm_sysfs_write("unstable_refresh_millisecs", 200))
		ksft_print_msg("(no unstable_refresh_millisecs)\n");
	pid = fork();
	if (!pid) {
		snprintf(pid_s, sizeof(pid_s), "%d", getpid());
		if (!write_file(TEST_CG "cgroup.procs", pid_s))
			_exit(3);
		fflush(stdout);
		_exit(pressure_child(secs));
	}
	if (pid > 0) {
		waitpid(pid, &status, 0);
		swapped_out = vmstat_read_swpout();
	}
	ksft_print_msg("child exit status %d, pswpout %ld\n",
		       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		       swapped_out);
	ok = pid > 0 && WIFEXITED(status) && !WEXITSTATUS(status) &&
	     swapped_out > 0;
	ksm_sysfs_write("unstable_refresh_millisecs", 0);
	ok = counters_zero() && ok;
	rmdir(TEST_CG);
	ksft_test_result(ok, "%u s over its memory cgroup's limit: data intact\n",
			 secs);
}

/*
 * Compaction migrates KSM pages and the pages around KSM zero pages and
 * huge zero pages: after it, merged memory still holds its data, and the
 * counters have not moved.
 */
static void test_compaction(void)
{
	static unsigned int gens[MAX_PAGES];
	long zero0 = -1, sharing0 = -1, zero1 = -1, sharing1 = -1;
	size_t bad = nr_pages;
	char *p = NULL;
	bool ok = false;
	int i;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (access("/proc/sys/vm/compact_memory", W_OK)) {
		ksft_test_result_skip("no /proc/sys/vm/compact_memory\n");
		return;
	}
	p = map_filled(nr_pages, gens, 5);
	if (!p || !ksm_start() ||
	    madvise(p, nr_pages * pagesize, MADV_MERGEABLE) || !ksm_wait_full_scans(3, 120))
		goto out;
	ksm_sysfs_write("run", 0);
	zero0 = ksm_stat_read(getpid(), "ksm_zero_pages");
	sharing0 = ksm_sysfs_read("pages_sharing");
	for (i = 0; i < 3; i++)
		if (!write_file("/proc/sys/vm/compact_memory", "1"))
			goto out;
	bad = mismatches(p, nr_pages, gens);
	zero1 = ksm_stat_read(getpid(), "ksm_zero_pages");
	sharing1 = ksm_sysfs_read("pages_sharing");
	ok = !bad && zero0 == nr_pages / 2 && zero1 == zero0 &&
	     sharing0 > 0 && sharing1 == sharing0;
out:
	ksft_print_msg("KSM zero pages %ld -> %ld, pages_sharing %ld -> %ld, %zu pages wrong\n",
		       zero0, zero1, sharing0, sharing1, bad);
	if (p)
		munmap(p, nr_pages * pagesize);
	ok = counters_zero() && ok;
	ksft_test_result(ok, "compaction of merged memory: data and counters intact\n");
}

static void restore(void)
{
	ksm_sysfs_write("run", 2);
	ksm_sysfs_restore(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	/* Leave behind no swap that the test set up. */
	if (zram_ours) {
		if (swapoff("/dev/zram0"))
			ksft_print_msg("swapoff /dev/zram0: %s\n", strerror(errno));
		else
			write_file("/sys/block/zram0/reset", "1");
	}
}

int main(int argc, char **argv)
{
	unsigned int secs = argc > 1 ? atoi(argv[1]) : 10;

	ksft_print_header();
	pagesize = getpagesize();
	nr_pages = AREA_BYTES / pagesize;
	if (ksm_sysfs_read("run") < 0)
		ksft_exit_skip("no KSM\n");
	if (!swap_is_on() && !zram_swap_on())
		ksft_exit_skip("no swap, and no zram to swap to\n");
	ksft_set_plan(5);
	ksm_sysfs_save(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	ksm_sysfs_write("smart_scan", 0);
	ksm_sysfs_write("zero_pages_min_age", 0);

	test_pageout(false);
	test_pageout(true);
	test_fork_swapcache();
	test_compaction();
	test_pressure(secs);

	restore();
	ksft_finished();
}
