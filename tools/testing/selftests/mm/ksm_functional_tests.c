// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM functional tests
 *
 * Copyright 2022, Red Hat, Inc.
 *
 * Author(s): David Hildenbrand <david@redhat.com>
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <poll.h>
#include <pthread.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "vm_util.h"

#define KiB 1024u
#define MiB (1024 * KiB)
#define FORK_EXEC_CHILD_PRG_NAME "ksm_fork_exec_child"

#define MAP_MERGE_FAIL ((void *)-1)
#define MAP_MERGE_SKIP ((void *)-2)

enum ksm_merge_mode {
	KSM_MERGE_PRCTL,
	KSM_MERGE_MADVISE,
	KSM_MERGE_NONE, /* PRCTL already set */
};

static int mem_fd;
static int ksm_fd;
static int ksm_full_scans_fd;
static int proc_self_ksm_stat_fd;
static int proc_self_ksm_merging_pages_fd;
static int ksm_use_zero_pages_fd;
static int pagemap_fd;
static size_t pagesize;

static bool range_maps_duplicates(char *addr, unsigned long size)
{
	unsigned long offs_a, offs_b, pfn_a, pfn_b;

	/*
	 * There is no easy way to check if there are KSM pages mapped into
	 * this range. We only check that the range does not map the same PFN
	 * twice by comparing each pair of mapped pages.
	 */
	for (offs_a = 0; offs_a < size; offs_a += pagesize) {
		pfn_a = pagemap_get_pfn(pagemap_fd, addr + offs_a);
		/* Page not present or PFN not exposed by the kernel. */
		if (pfn_a == -1ul || !pfn_a)
			continue;

		for (offs_b = offs_a + pagesize; offs_b < size;
		     offs_b += pagesize) {
			pfn_b = pagemap_get_pfn(pagemap_fd, addr + offs_b);
			if (pfn_b == -1ul || !pfn_b)
				continue;
			if (pfn_a == pfn_b)
				return true;
		}
	}
	return false;
}

static long get_my_ksm_zero_pages(void)
{
	char buf[200];
	char *substr_ksm_zero;
	size_t value_pos;
	ssize_t read_size;
	unsigned long my_ksm_zero_pages;

	if (!proc_self_ksm_stat_fd)
		return 0;

	read_size = pread(proc_self_ksm_stat_fd, buf, sizeof(buf) - 1, 0);
	if (read_size < 0)
		return -errno;

	buf[read_size] = 0;

	substr_ksm_zero = strstr(buf, "ksm_zero_pages");
	if (!substr_ksm_zero)
		return 0;

	value_pos = strcspn(substr_ksm_zero, "0123456789");
	my_ksm_zero_pages = strtol(substr_ksm_zero + value_pos, NULL, 10);

	return my_ksm_zero_pages;
}

static long get_my_merging_pages(void)
{
	char buf[10];
	ssize_t ret;

	if (proc_self_ksm_merging_pages_fd < 0)
		return proc_self_ksm_merging_pages_fd;

	ret = pread(proc_self_ksm_merging_pages_fd, buf, sizeof(buf) - 1, 0);
	if (ret <= 0)
		return -errno;
	buf[ret] = 0;

	return strtol(buf, NULL, 10);
}

static long ksm_get_full_scans(void)
{
	char buf[10];
	ssize_t ret;

	ret = pread(ksm_full_scans_fd, buf, sizeof(buf) - 1, 0);
	if (ret <= 0)
		return -errno;
	buf[ret] = 0;

	return strtol(buf, NULL, 10);
}

static int ksm_merge(void)
{
	long start_scans, end_scans;

	/* Wait for two full scans such that any possible merging happened. */
	start_scans = ksm_get_full_scans();
	if (start_scans < 0)
		return start_scans;
	if (write(ksm_fd, "1", 1) != 1)
		return -errno;
	do {
		end_scans = ksm_get_full_scans();
		if (end_scans < 0)
			return end_scans;
	} while (end_scans < start_scans + 2);

	return 0;
}

static int ksm_unmerge(void)
{
	if (write(ksm_fd, "2", 1) != 1)
		return -errno;
	return 0;
}

static char *__mmap_and_merge_range(char val, unsigned long size, int prot,
				  enum ksm_merge_mode mode)
{
	char *map;
	char *err_map = MAP_MERGE_FAIL;
	int ret;

	/* Stabilize accounting by disabling KSM completely. */
	if (ksm_unmerge()) {
		ksft_print_msg("Disabling (unmerging) KSM failed\n");
		return err_map;
	}

	if (get_my_merging_pages() > 0) {
		ksft_print_msg("Still pages merged\n");
		return err_map;
	}

	map = mmap(NULL, size, PROT_READ|PROT_WRITE,
		   MAP_PRIVATE|MAP_ANON, -1, 0);
	if (map == MAP_FAILED) {
		ksft_print_msg("mmap() failed\n");
		return err_map;
	}

	/* Don't use THP. Ignore if THP are not around on a kernel. */
	if (madvise(map, size, MADV_NOHUGEPAGE) && errno != EINVAL) {
		ksft_print_msg("MADV_NOHUGEPAGE failed\n");
		goto unmap;
	}

	/* Make sure each page contains the same values to merge them. */
	memset(map, val, size);

	if (mprotect(map, size, prot)) {
		ksft_print_msg("mprotect() failed\n");
		err_map = MAP_MERGE_SKIP;
		goto unmap;
	}

	switch (mode) {
	case KSM_MERGE_PRCTL:
		ret = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
		if (ret < 0 && errno == EINVAL) {
			ksft_print_msg("PR_SET_MEMORY_MERGE not supported\n");
			err_map = MAP_MERGE_SKIP;
			goto unmap;
		} else if (ret) {
			ksft_print_msg("PR_SET_MEMORY_MERGE=1 failed\n");
			goto unmap;
		}
		break;
	case KSM_MERGE_MADVISE:
		if (madvise(map, size, MADV_MERGEABLE)) {
			ksft_print_msg("MADV_MERGEABLE failed\n");
			goto unmap;
		}
		break;
	case KSM_MERGE_NONE:
		break;
	}

	/* Run KSM to trigger merging and wait. */
	if (ksm_merge()) {
		ksft_print_msg("Running KSM failed\n");
		goto unmap;
	}

	/*
	 * Check if anything was merged at all. Ignore the zero page that is
	 * accounted differently (depending on kernel support).
	 */
	if (val && !get_my_merging_pages()) {
		ksft_print_msg("No pages got merged\n");
		goto unmap;
	}

	return map;
unmap:
	munmap(map, size);
	return err_map;
}

static char *mmap_and_merge_range(char val, unsigned long size, int prot,
				  enum ksm_merge_mode mode)
{
	char *map;
	char *ret = MAP_FAILED;

	map = __mmap_and_merge_range(val, size, prot, mode);
	if (map == MAP_MERGE_FAIL)
		ksft_test_result_fail("Merging memory failed");
	else if (map == MAP_MERGE_SKIP)
		ksft_test_result_skip("Merging memory skipped");
	else
		ret = map;

	return ret;
}

static void test_unmerge(void)
{
	const unsigned int size = 2 * MiB;
	char *map;

	ksft_print_msg("[RUN] %s\n", __func__);

	map = mmap_and_merge_range(0xcf, size, PROT_READ | PROT_WRITE, KSM_MERGE_MADVISE);
	if (map == MAP_FAILED)
		return;

	if (madvise(map, size, MADV_UNMERGEABLE)) {
		ksft_test_result_fail("MADV_UNMERGEABLE failed\n");
		goto unmap;
	}

	ksft_test_result(!range_maps_duplicates(map, size),
			 "Pages were unmerged\n");
unmap:
	munmap(map, size);
}

static void test_unmerge_zero_pages(void)
{
	const unsigned int size = 2 * MiB;
	char *map;
	unsigned int offs;
	unsigned long pages_expected;

	ksft_print_msg("[RUN] %s\n", __func__);

	if (proc_self_ksm_stat_fd < 0) {
		ksft_test_result_skip("open(\"/proc/self/ksm_stat\") failed\n");
		return;
	}
	if (ksm_use_zero_pages_fd < 0) {
		ksft_test_result_skip("open \"/sys/kernel/mm/ksm/use_zero_pages\" failed\n");
		return;
	}
	if (write(ksm_use_zero_pages_fd, "1", 1) != 1) {
		ksft_test_result_skip("write \"/sys/kernel/mm/ksm/use_zero_pages\" failed\n");
		return;
	}

	/* Let KSM deduplicate zero pages. */
	map = mmap_and_merge_range(0x00, size, PROT_READ | PROT_WRITE, KSM_MERGE_MADVISE);
	if (map == MAP_FAILED)
		return;

	/* Check if ksm_zero_pages is updated correctly after KSM merging */
	pages_expected = size / pagesize;
	if (pages_expected != get_my_ksm_zero_pages()) {
		ksft_test_result_fail("'ksm_zero_pages' updated after merging\n");
		goto unmap;
	}

	/* Try to unmerge half of the region */
	if (madvise(map, size / 2, MADV_UNMERGEABLE)) {
		ksft_test_result_fail("MADV_UNMERGEABLE failed\n");
		goto unmap;
	}

	/* Check if ksm_zero_pages is updated correctly after unmerging */
	pages_expected /= 2;
	if (pages_expected != get_my_ksm_zero_pages()) {
		ksft_test_result_fail("'ksm_zero_pages' updated after unmerging\n");
		goto unmap;
	}

	/* Trigger unmerging of the other half by writing to the pages. */
	for (offs = size / 2; offs < size; offs += pagesize)
		*((unsigned int *)&map[offs]) = offs;

	/* Now we should have no zeropages remaining. */
	if (get_my_ksm_zero_pages()) {
		ksft_test_result_fail("'ksm_zero_pages' updated after write fault\n");
		goto unmap;
	}

	/* Check if ksm zero pages are really unmerged */
	ksft_test_result(!range_maps_duplicates(map, size),
			"KSM zero pages were unmerged\n");
unmap:
	munmap(map, size);
}

static long ksm_get_global_zero_pages(void)
{
	char buf[32];
	ssize_t ret;
	int fd = open("/sys/kernel/mm/ksm/ksm_zero_pages", O_RDONLY);

	if (fd < 0)
		return -errno;
	ret = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (ret <= 0)
		return -1;
	buf[ret] = 0;
	return strtol(buf, NULL, 10);
}

/* The ksm_zero_pages of process @pid (0 if it has no mm), -1 on error. */
static long ksm_get_zero_pages_of(pid_t pid)
{
	char path[64], buf[200], *field;
	ssize_t ret;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ksm_stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ret = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (ret < 0)
		return -1;
	buf[ret] = 0;
	field = strstr(buf, "ksm_zero_pages");
	return field ? strtol(field + strcspn(field, "0123456789"), NULL, 10) : 0;
}

/*
 * Does the global ksm_zero_pages equal the sum of every process's? Other
 * processes may map or unmap KSM zero pages between the reads: a few
 * tries, and the last figures in *@global and *@sum.
 */
static bool ksm_zero_pages_add_up(long *global, long *sum)
{
	struct dirent *d;
	int try;

	for (try = 0; try < 5; try++) {
		DIR *proc = opendir("/proc");

		if (!proc)
			return false;
		*sum = 0;
		*global = ksm_get_global_zero_pages();
		while ((d = readdir(proc))) {
			long n;

			if (d->d_name[0] < '1' || d->d_name[0] > '9')
				continue;
			n = ksm_get_zero_pages_of(atoi(d->d_name));
			if (n > 0)
				*sum += n;
		}
		closedir(proc);
		if (*global >= 0 && *global == *sum)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * Fork copies no PTE of MADV_DONTFORK and MADV_WIPEONFORK areas: a child
 * counts as its own only the KSM zero pages it maps (read by the parent
 * while the child waits), and the global count is the sum of every
 * process's count after each fork. ksmd is stopped (run=0) while counting.
 * The parent may have more KSM zero pages than those of the range (with
 * zero_pages_scope "all"): the child has those too.
 */
static void test_fork_ksm_zero_pages(void)
{
	const unsigned int size = 4 * MiB, quarter = size / 4;
	long mine, child_pages = -1, child, global = -1, sum = -1;
	int i, status, bad = 0, unbalanced = 0;
	char *map;

	ksft_print_msg("[RUN] %s\n", __func__);

	if (proc_self_ksm_stat_fd < 0) {
		ksft_test_result_skip("open(\"/proc/self/ksm_stat\") failed\n");
		return;
	}
	if (ksm_use_zero_pages_fd < 0 ||
	    write(ksm_use_zero_pages_fd, "1", 1) != 1) {
		ksft_test_result_skip("use_zero_pages cannot be set\n");
		return;
	}
	map = mmap_and_merge_range(0x00, size, PROT_READ | PROT_WRITE, KSM_MERGE_MADVISE);
	if (map == MAP_FAILED)
		return;
	if (write(ksm_fd, "0", 1) != 1) {
		ksft_test_result_fail("run=0 failed\n");
		goto unmap;
	}
	mine = get_my_ksm_zero_pages();
	if (mine < size / pagesize) {
		ksft_test_result_fail("zero pages not merged\n");
		goto unmap;
	}
	if (madvise(map, quarter, MADV_DONTFORK) ||
	    madvise(map + quarter, quarter, MADV_WIPEONFORK)) {
		ksft_test_result_skip("MADV_DONTFORK or MADV_WIPEONFORK failed\n");
		goto unmap;
	}
	child_pages = mine - 2 * quarter / pagesize;
	for (i = 0; i < 10; i++) {
		int go[2];
		pid_t pid;
		char c;

		if (pipe(go))
			break;
		pid = fork();
		if (pid < 0)
			break;
		if (!pid) {
			close(go[1]);
			/* Wait, touching nothing, while the parent reads. */
			_exit(read(go[0], &c, 1) < 0);
		}
		close(go[0]);
		child = ksm_get_zero_pages_of(pid);
		if (child != child_pages)
			bad++;
		close(go[1]);
		if (waitpid(pid, &status, 0) != pid)
			bad++;
		if (!ksm_zero_pages_add_up(&global, &sum))
			unbalanced++;
	}
	ksft_print_msg("10 forks: %d child counts not %ld\n", bad, child_pages);
	ksft_print_msg("%d times global %ld != sum of ksm_stat %ld\n",
		       unbalanced, global, sum);
	ksft_test_result(i == 10 && !bad && !unbalanced,
			 "KSM zero pages counted where fork copies them\n");
unmap:
	munmap(map, size);
}

/*
 * A fork that fails half-way (killed while it copies many vmas) leaves the
 * counts exact: the child's count is what it mapped, and its exit gives
 * that back. The forking processes are killed after various delays; this
 * process reaps their children too (a child subreaper).
 */
static void test_fork_killed_ksm_zero_pages(void)
{
	const unsigned int size = 8 * MiB;
	long global = -1, sum = -1;
	unsigned long offs;
	int i, unbalanced = 0;
	char *map;

	ksft_print_msg("[RUN] %s\n", __func__);

	if (proc_self_ksm_stat_fd < 0 || ksm_use_zero_pages_fd < 0 ||
	    write(ksm_use_zero_pages_fd, "1", 1) != 1) {
		ksft_test_result_skip("no ksm_stat or use_zero_pages\n");
		return;
	}
	map = mmap_and_merge_range(0x00, size, PROT_READ | PROT_WRITE, KSM_MERGE_MADVISE);
	if (map == MAP_FAILED)
		return;
	if (write(ksm_fd, "0", 1) != 1 ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
		ksft_test_result_fail("run=0 or PR_SET_CHILD_SUBREAPER failed\n");
		goto unmap;
	}
	/* A vma per 2 pages: each fork takes a while to copy them. */
	for (offs = 0; offs < size; offs += 4 * pagesize)
		mprotect(map + offs, 2 * pagesize, PROT_READ);
	for (i = 0; i < 20; i++) {
		pid_t pid = fork();

		if (pid < 0)
			break;
		if (!pid) {
			/* Fork until killed; the grandchildren exit at once. */
			for (;;) {
				pid_t gc = fork();

				if (!gc)
					_exit(0);
				if (gc > 0)
					waitpid(gc, NULL, 0);
			}
		}
		usleep(1000 + (i * 7919) % 20000);
		kill(pid, SIGKILL);
		/* The killed child, and any grandchild it left to us. */
		while (waitpid(-1, NULL, 0) > 0)
			;
		if (!ksm_zero_pages_add_up(&global, &sum))
			unbalanced++;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
	ksft_print_msg("20 kills: %d times global %ld != sum of ksm_stat %ld\n",
		       unbalanced, global, sum);
	ksft_test_result(i == 20 && !unbalanced,
			 "KSM zero pages counted across killed forks\n");
unmap:
	munmap(map, size);
}

static void test_unmerge_discarded(void)
{
	const unsigned int size = 2 * MiB;
	char *map;

	ksft_print_msg("[RUN] %s\n", __func__);

	map = mmap_and_merge_range(0xcf, size, PROT_READ | PROT_WRITE, KSM_MERGE_MADVISE);
	if (map == MAP_FAILED)
		return;

	/* Discard half of all mapped pages so we have pte_none() entries. */
	if (madvise(map, size / 2, MADV_DONTNEED)) {
		ksft_test_result_fail("MADV_DONTNEED failed\n");
		goto unmap;
	}

	if (madvise(map, size, MADV_UNMERGEABLE)) {
		ksft_test_result_fail("MADV_UNMERGEABLE failed\n");
		goto unmap;
	}

	ksft_test_result(!range_maps_duplicates(map, size),
			 "Pages were unmerged\n");
unmap:
	munmap(map, size);
}

#ifdef __NR_userfaultfd
/*
 * A userfaultfd that reports write-protect faults, or -1 once the test
 * result says why there is none.
 */
static int uffd_open_wp(void)
{
	struct uffdio_api uffdio_api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP,
	};
	int uffd;

	/* See if UFFD is around. */
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) {
		ksft_test_result_skip("__NR_userfaultfd failed\n");
		return -1;
	}

	/* See if UFFD-WP is around. */
	if (ioctl(uffd, UFFDIO_API, &uffdio_api) < 0) {
		ksft_test_result_fail("UFFDIO_API failed\n");
		close(uffd);
		return -1;
	}
	if (!(uffdio_api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		ksft_test_result_skip("UFFD_FEATURE_PAGEFAULT_FLAG_WP not available\n");
		close(uffd);
		return -1;
	}
	return uffd;
}

static void test_unmerge_uffd_wp(void)
{
	struct uffdio_writeprotect uffd_writeprotect;
	const unsigned int size = 2 * MiB;
	char *map;
	int uffd;

	ksft_print_msg("[RUN] %s\n", __func__);

	map = mmap_and_merge_range(0xcf, size, PROT_READ | PROT_WRITE, KSM_MERGE_MADVISE);
	if (map == MAP_FAILED)
		return;

	uffd = uffd_open_wp();
	if (uffd < 0)
		goto unmap;

	/* Register UFFD-WP, no need for an actual handler. */
	if (uffd_register(uffd, map, size, false, true, false)) {
		ksft_test_result_fail("UFFDIO_REGISTER_MODE_WP failed\n");
		goto close_uffd;
	}

	/* Write-protect the range using UFFD-WP. */
	uffd_writeprotect.range.start = (unsigned long) map;
	uffd_writeprotect.range.len = size;
	uffd_writeprotect.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &uffd_writeprotect)) {
		ksft_test_result_fail("UFFDIO_WRITEPROTECT failed\n");
		goto close_uffd;
	}

	if (madvise(map, size, MADV_UNMERGEABLE)) {
		ksft_test_result_fail("MADV_UNMERGEABLE failed\n");
		goto close_uffd;
	}

	ksft_test_result(!range_maps_duplicates(map, size),
			 "Pages were unmerged\n");
close_uffd:
	close(uffd);
unmap:
	munmap(map, size);
}

/* A thread that writes one byte and then says so through a pipe. */
struct uffd_wp_write {
	char *addr;
	char val;
	int done_fd;
};

static void *uffd_wp_writer(void *arg)
{
	struct uffd_wp_write *w = arg;

	__atomic_store_n(w->addr, w->val, __ATOMIC_RELAXED);
	if (write(w->done_fd, "", 1) != 1)
		ksft_print_msg("writer: write() to the pipe failed\n");
	return NULL;
}

/*
 * Write to @addr from a second thread and wait for the userfaultfd monitor
 * to see the write fault: 1 if a write-protect fault on the page of @addr
 * was reported (and resolved), 0 if the write went through unreported,
 * -1 on any other error.
 */
static int uffd_wp_write_reported(int uffd, char *addr, char val)
{
	struct uffdio_writeprotect wp;
	int done[2], reported = -1;
	struct uffd_wp_write w;
	struct pollfd pfd[2];
	struct uffd_msg msg;
	pthread_t thread;
	char c;

	if (pipe(done))
		return -1;
	w.addr = addr;
	w.val = val;
	w.done_fd = done[1];
	if (pthread_create(&thread, NULL, uffd_wp_writer, &w)) {
		close(done[0]);
		close(done[1]);
		return -1;
	}

	pfd[0].fd = uffd;
	pfd[0].events = POLLIN;
	pfd[1].fd = done[0];
	pfd[1].events = POLLIN;
	if (poll(pfd, 2, 5000) <= 0) {
		ksft_print_msg("neither a fault nor the write in 5 s\n");
		goto out_unprotect;
	}
	if (!(pfd[0].revents & POLLIN)) {
		/* The write completed and the monitor saw nothing. */
		reported = 0;
		goto out_unprotect;
	}
	if (read(uffd, &msg, sizeof(msg)) != sizeof(msg)) {
		ksft_print_msg("reading the uffd message failed\n");
		goto out_unprotect;
	}
	if (msg.event != UFFD_EVENT_PAGEFAULT ||
	    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ||
	    (msg.arg.pagefault.address & ~(pagesize - 1)) !=
	    ((unsigned long)addr & ~(pagesize - 1))) {
		ksft_print_msg("unexpected event %u, flags 0x%llx at 0x%llx\n",
			       msg.event, (unsigned long long)msg.arg.pagefault.flags,
			       (unsigned long long)msg.arg.pagefault.address);
		goto out_unprotect;
	}
	reported = 1;

out_unprotect:
	/* Resolve the fault (if any) so that the writer finishes. */
	wp.range.start = (unsigned long)addr & ~(pagesize - 1);
	wp.range.len = pagesize;
	wp.mode = 0;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp)) {
		ksft_print_msg("UFFDIO_WRITEPROTECT (unprotect) failed\n");
		reported = -1;
	}
	if (read(done[0], &c, 1) != 1)
		reported = -1;
	pthread_join(thread, NULL);
	close(done[0]);
	close(done[1]);
	return reported;
}

/*
 * Pages write-protected with uffd-wp and then merged by KSM must stay
 * write-protected: replace_page() must carry the uffd-wp bit of the old
 * PTE over to the PTE of the KSM page (or of the zero page), or a write to
 * the merged page is no longer reported to the monitor.
 */
static void __test_merge_uffd_wp(bool zero)
{
	const unsigned int nr_pages = 8;
	const char val = zero ? 0 : 0xcf;
	struct uffdio_writeprotect uffd_writeprotect;
	unsigned long size = nr_pages * pagesize;
	int uffd, missed = 0, reported, merged, i;
	char saved_zero_pages = 0;
	char *map;

	if (zero) {
		if (proc_self_ksm_stat_fd < 0) {
			ksft_test_result_skip("open(\"/proc/self/ksm_stat\") failed\n");
			return;
		}
		if (ksm_use_zero_pages_fd < 0 ||
		    pread(ksm_use_zero_pages_fd, &saved_zero_pages, 1, 0) != 1) {
			ksft_test_result_skip("reading use_zero_pages failed\n");
			return;
		}
		if (pwrite(ksm_use_zero_pages_fd, "1", 1, 0) != 1) {
			ksft_test_result_skip("writing use_zero_pages failed\n");
			return;
		}
	}

	uffd = uffd_open_wp();
	if (uffd < 0)
		goto restore;

	/* Stabilize accounting by disabling KSM completely. */
	if (ksm_unmerge()) {
		ksft_test_result_fail("Disabling (unmerging) KSM failed\n");
		goto close_uffd;
	}

	map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANON, -1, 0);
	if (map == MAP_FAILED) {
		ksft_test_result_fail("mmap() failed\n");
		goto close_uffd;
	}
	if (madvise(map, size, MADV_NOHUGEPAGE) && errno != EINVAL) {
		ksft_test_result_fail("MADV_NOHUGEPAGE failed\n");
		goto unmap;
	}
	/* Identical pages, all populated (also when zero-filled). */
	memset(map, val, size);

	/* Write-protect the range using UFFD-WP before KSM merges it. */
	if (uffd_register(uffd, map, size, false, true, false)) {
		ksft_test_result_fail("UFFDIO_REGISTER_MODE_WP failed\n");
		goto unmap;
	}
	uffd_writeprotect.range.start = (unsigned long)map;
	uffd_writeprotect.range.len = size;
	uffd_writeprotect.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &uffd_writeprotect)) {
		ksft_test_result_fail("UFFDIO_WRITEPROTECT failed\n");
		goto unmap;
	}

	if (madvise(map, size, MADV_MERGEABLE)) {
		ksft_test_result_fail("MADV_MERGEABLE failed\n");
		goto unmap;
	}
	/*
	 * Zero-filled pages are mapped to the zero page or, where the kernel
	 * keeps uffd-wp ranges away from the zero page, to a KSM page.
	 */
	for (i = 0; i < 3; i++) {
		if (ksm_merge()) {
			ksft_test_result_fail("Running KSM failed\n");
			goto unmap;
		}
		merged = get_my_merging_pages();
		if (zero)
			merged += get_my_ksm_zero_pages();
		if (merged >= nr_pages)
			break;
	}
	ksft_print_msg("%d of %u pages merged (%ld KSM, %ld zero page)\n",
		       merged, nr_pages, get_my_merging_pages(),
		       zero ? get_my_ksm_zero_pages() : 0);
	if (merged < nr_pages) {
		ksft_test_result_fail("Not all pages got merged\n");
		goto unmap;
	}

	/* Every write to a merged page must be reported to the monitor. */
	for (i = 0; i < nr_pages; i++) {
		reported = uffd_wp_write_reported(uffd, map + i * pagesize + 7,
						  0x5a + i);
		if (reported < 0) {
			ksft_test_result_fail("Writing page %d failed\n", i);
			goto unmap;
		}
		missed += !reported;
	}
	if (missed)
		ksft_print_msg("%d of %u writes were not reported\n", missed,
			       nr_pages);

	for (i = 0; i < size; i++) {
		char expected = i % pagesize == 7 ? 0x5a + i / pagesize : val;

		if (map[i] != expected) {
			ksft_print_msg("byte %d reads 0x%x, not 0x%x\n", i,
				       (unsigned char)map[i],
				       (unsigned char)expected);
			missed = -1;
			break;
		}
	}
	ksft_test_result(!missed, "uffd-wp survives KSM merging (%s pages)\n",
			 zero ? "zero-filled" : "identical");
unmap:
	munmap(map, size);
close_uffd:
	close(uffd);
restore:
	if (zero && pwrite(ksm_use_zero_pages_fd, &saved_zero_pages, 1, 0) != 1)
		ksft_print_msg("restoring use_zero_pages failed\n");
}

static void test_merge_uffd_wp(void)
{
	ksft_print_msg("[RUN] %s\n", __func__);
	__test_merge_uffd_wp(false);
}

static void test_merge_uffd_wp_zero_pages(void)
{
	ksft_print_msg("[RUN] %s\n", __func__);
	__test_merge_uffd_wp(true);
}
#endif

/*
 * How many of @nr pages from @map are soft-dirty: among the even pages
 * (*@sd_written: written after clear_refs) and among the odd ones
 * (*@sd_clean: left untouched).
 */
static void count_soft_dirty(char *map, unsigned int nr,
			     unsigned int *sd_written, unsigned int *sd_clean)
{
	unsigned int i;

	*sd_written = 0;
	*sd_clean = 0;
	for (i = 0; i < nr; i++) {
		if (!pagemap_is_softdirty(pagemap_fd, map + i * pagesize))
			continue;
		if (i % 2)
			(*sd_clean)++;
		else
			(*sd_written)++;
	}
}

#define SOFT_DIRTY_FMT \
	"%u of %u written pages soft-dirty, %u of %u clean pages soft-dirty\n"

static const char *const soft_dirty_knobs[] = {
	"use_zero_pages", "pages_to_scan", "sleep_millisecs",
	"zero_pages_min_age", "run",
};

/*
 * A merge is not a write: the soft-dirty bit of a page that KSM merges,
 * into a KSM page (replace_page()) or into the zero page (use_zero_pages=1,
 * where KSM marks its zero pages with the dirty bit, which sets soft-dirty
 * too on x86), must stay as it was. With ksmd stopped, clear_refs clears
 * the bits, the even pages are written again with the same content and the
 * odd ones are left alone; once everything is merged, the even pages must
 * all be soft-dirty and the odd ones all clean.
 */
static void __test_merge_soft_dirty(bool zero)
{
	const unsigned int nr_pages = 1024, half = nr_pages / 2;
	const char val = zero ? 0 : 0xcf;
	long saved[ARRAY_SIZE(soft_dirty_knobs)];
	unsigned long size = nr_pages * pagesize;
	unsigned int i, sd_written, sd_clean;
	const char *what = zero ? "zero-filled" : "identical";
	long merged = 0;
	char *map;

	if (access("/proc/self/clear_refs", W_OK) || !softdirty_supported()) {
		ksft_test_result_skip("no soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY)\n");
		return;
	}
	if (zero && proc_self_ksm_stat_fd < 0) {
		ksft_test_result_skip("open(\"/proc/self/ksm_stat\") failed\n");
		return;
	}
	if (!zero && proc_self_ksm_merging_pages_fd < 0) {
		ksft_test_result_skip("open(\"/proc/self/ksm_merging_pages\") failed\n");
		return;
	}

	ksm_sysfs_save(soft_dirty_knobs, saved, ARRAY_SIZE(soft_dirty_knobs));
	/* Nothing merged, ksmd stopped until everything is in place. */
	if (!ksm_sysfs_write("run", 2) || !ksm_sysfs_write("run", 0) ||
	    !ksm_sysfs_write("use_zero_pages", zero) ||
	    !ksm_sysfs_write("pages_to_scan", 1000) ||
	    !ksm_sysfs_write("sleep_millisecs", 10) ||
	    (ksm_sysfs_read("zero_pages_min_age") >= 0 &&
	     !ksm_sysfs_write("zero_pages_min_age", 0))) {
		ksft_test_result_fail("setting the KSM knobs failed\n");
		goto restore;
	}

	map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANON, -1, 0);
	if (map == MAP_FAILED) {
		ksft_test_result_fail("mmap() failed\n");
		goto restore;
	}
	if (madvise(map, size, MADV_NOHUGEPAGE) && errno != EINVAL) {
		ksft_test_result_fail("MADV_NOHUGEPAGE failed\n");
		goto unmap;
	}
	memset(map, val, size);
	/* Registered before clear_refs: no vma change after it. */
	if (madvise(map, size, MADV_MERGEABLE)) {
		ksft_test_result_fail("MADV_MERGEABLE failed\n");
		goto unmap;
	}

	clear_softdirty();
	for (i = 0; i < nr_pages; i += 2)
		memset(map + i * pagesize, val, pagesize);
	count_soft_dirty(map, nr_pages, &sd_written, &sd_clean);
	if (!sd_written && !sd_clean) {
		ksft_test_result_skip("no page reads as soft-dirty after a write\n");
		goto unmap;
	}
	if (sd_written != half || sd_clean) {
		ksft_test_result_fail("before merging: " SOFT_DIRTY_FMT,
				      sd_written, half, sd_clean, half);
		goto unmap;
	}

	/* Without zero_pages_min_age, zero pages merge at their second visit. */
	if (!ksm_sysfs_write("run", 1)) {
		ksft_test_result_fail("Running KSM failed\n");
		goto unmap;
	}
	for (i = 0; i < 5; i++) {
		if (!ksm_wait_full_scans(2, 120)) {
			ksft_test_result_fail("Running KSM failed\n");
			goto unmap;
		}
		merged = zero ? get_my_ksm_zero_pages() : get_my_merging_pages();
		if (merged >= nr_pages)
			break;
	}
	ksm_sysfs_write("run", 0);
	if (merged < nr_pages) {
		ksft_test_result_fail("%ld of %u %s pages merged\n", merged,
				      nr_pages, what);
		goto unmap;
	}

	count_soft_dirty(map, nr_pages, &sd_written, &sd_clean);
	ksft_print_msg("%ld %s pages merged: " SOFT_DIRTY_FMT, merged, what,
		       sd_written, half, sd_clean, half);
	ksft_test_result(sd_written == half && !sd_clean,
			 "soft-dirty survives KSM merging exactly (%s pages)\n",
			 what);
unmap:
	munmap(map, size);
restore:
	ksm_sysfs_restore(soft_dirty_knobs, saved,
			  ARRAY_SIZE(soft_dirty_knobs));
}

static void test_merge_soft_dirty(void)
{
	ksft_print_msg("[RUN] %s\n", __func__);
	__test_merge_soft_dirty(false);
}

static void test_merge_soft_dirty_zero_pages(void)
{
	ksft_print_msg("[RUN] %s\n", __func__);
	__test_merge_soft_dirty(true);
}

/* Verify that KSM can be enabled / queried with prctl. */
static void test_prctl(void)
{
	int ret;

	ksft_print_msg("[RUN] %s\n", __func__);

	ret = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
	if (ret < 0 && errno == EINVAL) {
		ksft_test_result_skip("PR_SET_MEMORY_MERGE not supported\n");
		return;
	} else if (ret) {
		ksft_test_result_fail("PR_SET_MEMORY_MERGE=1 failed\n");
		return;
	}

	ret = prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0);
	if (ret < 0) {
		ksft_test_result_fail("PR_GET_MEMORY_MERGE failed\n");
		return;
	} else if (ret != 1) {
		ksft_test_result_fail("PR_SET_MEMORY_MERGE=1 not effective\n");
		return;
	}

	ret = prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0);
	if (ret) {
		ksft_test_result_fail("PR_SET_MEMORY_MERGE=0 failed\n");
		return;
	}

	ret = prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0);
	if (ret < 0) {
		ksft_test_result_fail("PR_GET_MEMORY_MERGE failed\n");
		return;
	} else if (ret != 0) {
		ksft_test_result_fail("PR_SET_MEMORY_MERGE=0 not effective\n");
		return;
	}

	ksft_test_result_pass("Setting/clearing PR_SET_MEMORY_MERGE works\n");
}

static int test_child_ksm(void)
{
	const unsigned int size = 2 * MiB;
	char *map;

	/* Test if KSM is enabled for the process. */
	if (prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) != 1)
		return -1;

	/* Test if merge could really happen. */
	map = __mmap_and_merge_range(0xcf, size, PROT_READ | PROT_WRITE, KSM_MERGE_NONE);
	if (map == MAP_MERGE_FAIL)
		return -2;
	else if (map == MAP_MERGE_SKIP)
		return -3;

	munmap(map, size);
	return 0;
}

static void test_child_ksm_err(int status)
{
	if (status == -1)
		ksft_test_result_fail("unexpected PR_GET_MEMORY_MERGE result in child\n");
	else if (status == -2)
		ksft_test_result_fail("Merge in child failed\n");
	else if (status == -3)
		ksft_test_result_skip("Merge in child skipped\n");
}

/* Verify that prctl ksm flag is inherited. */
static void test_prctl_fork(void)
{
	int ret, status;
	pid_t child_pid;

	ksft_print_msg("[RUN] %s\n", __func__);

	ret = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
	if (ret < 0 && errno == EINVAL) {
		ksft_test_result_skip("PR_SET_MEMORY_MERGE not supported\n");
		return;
	} else if (ret) {
		ksft_test_result_fail("PR_SET_MEMORY_MERGE=1 failed\n");
		return;
	}

	child_pid = fork();
	if (!child_pid) {
		exit(test_child_ksm());
	} else if (child_pid < 0) {
		ksft_test_result_fail("fork() failed\n");
		return;
	}

	if (waitpid(child_pid, &status, 0) < 0) {
		ksft_test_result_fail("waitpid() failed\n");
		return;
	}

	status = WEXITSTATUS(status);
	if (status) {
		test_child_ksm_err(status);
		return;
	}

	if (prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0)) {
		ksft_test_result_fail("PR_SET_MEMORY_MERGE=0 failed\n");
		return;
	}

	ksft_test_result_pass("PR_SET_MEMORY_MERGE value is inherited\n");
}

static void test_prctl_fork_exec(void)
{
	int ret, status;
	pid_t child_pid;

	ksft_print_msg("[RUN] %s\n", __func__);

	ret = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
	if (ret < 0 && errno == EINVAL) {
		ksft_test_result_skip("PR_SET_MEMORY_MERGE not supported\n");
		return;
	} else if (ret) {
		ksft_test_result_fail("PR_SET_MEMORY_MERGE=1 failed\n");
		return;
	}

	child_pid = fork();
	if (child_pid == -1) {
		ksft_test_result_skip("fork() failed\n");
		return;
	} else if (child_pid == 0) {
		char *prg_name = "./ksm_functional_tests";
		char *const argv_for_program[] = { prg_name, FORK_EXEC_CHILD_PRG_NAME, NULL };

		execv(prg_name, argv_for_program);
		return;
	}

	if (waitpid(child_pid, &status, 0) > 0) {
		if (WIFEXITED(status)) {
			status = WEXITSTATUS(status);
			if (status) {
				test_child_ksm_err(status);
				return;
			}
		} else {
			ksft_test_result_fail("program didn't terminate normally\n");
			return;
		}
	} else {
		ksft_test_result_fail("waitpid() failed\n");
		return;
	}

	if (prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0)) {
		ksft_test_result_fail("PR_SET_MEMORY_MERGE=0 failed\n");
		return;
	}

	ksft_test_result_pass("PR_SET_MEMORY_MERGE value is inherited\n");
}

static void test_prctl_unmerge(void)
{
	const unsigned int size = 2 * MiB;
	char *map;

	ksft_print_msg("[RUN] %s\n", __func__);

	map = mmap_and_merge_range(0xcf, size, PROT_READ | PROT_WRITE, KSM_MERGE_PRCTL);
	if (map == MAP_FAILED)
		return;

	if (prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0)) {
		ksft_test_result_fail("PR_SET_MEMORY_MERGE=0 failed\n");
		goto unmap;
	}

	ksft_test_result(!range_maps_duplicates(map, size),
			 "Pages were unmerged\n");
unmap:
	munmap(map, size);
}

static void test_prot_none(void)
{
	const unsigned int size = 2 * MiB;
	char *map;
	int i;

	ksft_print_msg("[RUN] %s\n", __func__);

	map = mmap_and_merge_range(0x11, size, PROT_NONE, KSM_MERGE_MADVISE);
	if (map == MAP_FAILED)
		goto unmap;

	/* Store a unique value in each page on one half using ptrace */
	for (i = 0; i < size / 2; i += pagesize) {
		lseek(mem_fd, (uintptr_t) map + i, SEEK_SET);
		if (write(mem_fd, &i, sizeof(i)) != sizeof(i)) {
			ksft_test_result_fail("ptrace write failed\n");
			goto unmap;
		}
	}

	/* Trigger unsharing on the other half. */
	if (madvise(map + size / 2, size / 2, MADV_UNMERGEABLE)) {
		ksft_test_result_fail("MADV_UNMERGEABLE failed\n");
		goto unmap;
	}

	ksft_test_result(!range_maps_duplicates(map, size),
			 "Pages were unmerged\n");
unmap:
	munmap(map, size);
}

static void init_global_file_handles(void)
{
	mem_fd = open("/proc/self/mem", O_RDWR);
	if (mem_fd < 0)
		ksft_exit_fail_msg("opening /proc/self/mem failed\n");
	ksm_fd = open("/sys/kernel/mm/ksm/run", O_RDWR);
	if (ksm_fd < 0)
		ksft_exit_skip("open(\"/sys/kernel/mm/ksm/run\") failed\n");
	ksm_full_scans_fd = open("/sys/kernel/mm/ksm/full_scans", O_RDONLY);
	if (ksm_full_scans_fd < 0)
		ksft_exit_skip("open(\"/sys/kernel/mm/ksm/full_scans\") failed\n");
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap_fd < 0)
		ksft_exit_skip("open(\"/proc/self/pagemap\") failed\n");
	proc_self_ksm_stat_fd = open("/proc/self/ksm_stat", O_RDONLY);
	proc_self_ksm_merging_pages_fd = open("/proc/self/ksm_merging_pages",
						O_RDONLY);
	ksm_use_zero_pages_fd = open("/sys/kernel/mm/ksm/use_zero_pages", O_RDWR);
}

int main(int argc, char **argv)
{
	unsigned int tests = 12;
	int err;

	if (argc > 1 && !strcmp(argv[1], FORK_EXEC_CHILD_PRG_NAME)) {
		init_global_file_handles();
		exit(test_child_ksm());
	}

#ifdef __NR_userfaultfd
	tests += 3;
#endif

	ksft_print_header();
	ksft_set_plan(tests);

	pagesize = getpagesize();

	init_global_file_handles();

	test_unmerge();
	test_unmerge_zero_pages();
	test_fork_ksm_zero_pages();
	test_fork_killed_ksm_zero_pages();
	test_unmerge_discarded();
#ifdef __NR_userfaultfd
	test_unmerge_uffd_wp();
	test_merge_uffd_wp();
	test_merge_uffd_wp_zero_pages();
#endif

	test_merge_soft_dirty();
	test_merge_soft_dirty_zero_pages();

	test_prot_none();

	test_prctl();
	test_prctl_fork();
	test_prctl_fork_exec();
	test_prctl_unmerge();

	err = ksft_get_fail_cnt();
	if (err)
		ksft_exit_fail_msg("%d out of %d tests failed\n",
				   err, ksft_test_num());
	ksft_exit_pass();
}
