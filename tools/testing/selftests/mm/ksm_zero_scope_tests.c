// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM zero_pages_scope: with "all" (and use_zero_pages=1), ksmd maps the
 * zero page into the zero-filled pages of processes that never registered
 * with KSM, and does nothing else there; with "mergeable" it leaves them
 * alone. Each test runs the memory under test in a helper process that
 * never calls madvise(MADV_MERGEABLE) nor prctl(PR_SET_MEMORY_MERGE), and
 * asks it, over a pipe, how many of its pages map the zero page
 * (/proc/self/pagemap and /proc/kpageflags) and whether its data is intact.
 * The zero pages that "all" maps keep the soft-dirty bits of the pages they
 * replace, which this process reads in the helper's /proc/<pid>/pagemap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "vm_util.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE	67
#define PR_GET_MEMORY_MERGE	68
#endif

#define KPF_ZERO_PAGE	24
#define NR_ZERO		512	/* zero-filled pages of a helper */
#define NR_DUP		64	/* pages of data, two copies of each half */

enum area_kind {
	AREA_PLAIN, AREA_MLOCKED, AREA_UFFD, AREA_MADVISED, AREA_UFFD_WP,
	AREA_REFUSED,	/* plain, in a process that set PR_SET_MEMORY_MERGE 0 */
};

static size_t pagesize;
static const char *self_exe;
static bool has_scope;	/* false on a kernel without zero_pages_scope */

static const char *const saved_knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"zero_pages_min_age", "smart_scan",
};

static long saved[ARRAY_SIZE(saved_knobs)];

/* How many pages of [p, p + nr pages) map the zero page. */
static long count_zero_mapped(const char *p, size_t nr)
{
	int pm = open("/proc/self/pagemap", O_RDONLY);
	int kf = open("/proc/kpageflags", O_RDONLY);
	long n = 0;
	size_t i;

	if (pm < 0 || kf < 0) {
		n = -1;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		unsigned long pfn = pagemap_get_pfn(pm, (char *)p + i * pagesize);
		uint64_t flags = 0;

		if (pfn == -1UL)
			continue;
		if (pread(kf, &flags, sizeof(flags), pfn * sizeof(flags)) ==
		    sizeof(flags) && flags & (1ULL << KPF_ZERO_PAGE))
			n++;
	}
out:
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return n;
}

/* In a helper: its userfaultfd (AREA_UFFD_WP) and its memory. */
static int helper_uffd = -1;
static char *helper_area;

/*
 * The helper's memory: NR_ZERO zero-filled pages, then NR_DUP pages of
 * data whose second half repeats the first (KSM would merge them if it
 * merged anything but zero pages there).
 */
static char *helper_map(enum area_kind kind)
{
	size_t size = (NR_ZERO + NR_DUP) * pagesize, i;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, size, MADV_NOHUGEPAGE);
	memset(p, 0, NR_ZERO * pagesize);
	for (i = 0; i < NR_DUP; i++)
		memset(p + (NR_ZERO + i) * pagesize, 0x40 + i % (NR_DUP / 2),
		       pagesize);
	if (kind == AREA_MLOCKED && mlock(p, size))
		return NULL;
	if (kind == AREA_MADVISED && madvise(p, size, MADV_MERGEABLE))
		return NULL;
	if (kind == AREA_UFFD) {
		struct uffdio_api api = { .api = UFFD_API };
		int uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
		    uffd_register(uffd, p, size, true, false, false))
			return NULL;
		/* The descriptor stays open: the area stays armed. */
	}
	if (kind == AREA_UFFD_WP) {
		struct uffdio_api api = {
			.api = UFFD_API,
			.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP,
		};
		struct uffdio_writeprotect wp = {
			.range = { .start = (unsigned long)p, .len = size },
			.mode = UFFDIO_WRITEPROTECT_MODE_WP,
		};

		helper_uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (helper_uffd < 0 || ioctl(helper_uffd, UFFDIO_API, &api) ||
		    uffd_register(helper_uffd, p, size, false, true, false) ||
		    ioctl(helper_uffd, UFFDIO_WRITEPROTECT, &wp))
			return NULL;
	}
	return p;
}

/* A thread of the helper that writes 7 into its first page. */
static void *helper_writer(void *arg)
{
	int *done = arg;

	__atomic_store_n((char *)helper_area, 7, __ATOMIC_RELAXED);
	if (write(*done, "", 1) != 1)
		_exit(1);
	return NULL;
}

/*
 * Write 7 into the first page of the uffd-wp area from a second thread:
 * '1' if the write-protect fault was reported to the helper's userfaultfd
 * (and then resolved), '0' if the write went through unreported, 'e' on
 * any other error.
 */
static char helper_wp_write(void)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (unsigned long)helper_area, .len = pagesize },
	};
	struct pollfd pfd[2];
	struct uffd_msg msg;
	pthread_t thread;
	char ret = 'e', c;
	int done[2];

	if (helper_uffd < 0 || pipe(done))
		return 'e';
	if (pthread_create(&thread, NULL, helper_writer, &done[1])) {
		close(done[0]);
		close(done[1]);
		return 'e';
	}
	pfd[0].fd = helper_uffd;
	pfd[0].events = POLLIN;
	pfd[1].fd = done[0];
	pfd[1].events = POLLIN;
	if (poll(pfd, 2, 5000) <= 0)
		goto out;
	if (!(pfd[0].revents & POLLIN)) {
		ret = '0';
		goto out;
	}
	if (read(helper_uffd, &msg, sizeof(msg)) == sizeof(msg) &&
	    msg.event == UFFD_EVENT_PAGEFAULT &&
	    msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP &&
	    (msg.arg.pagefault.address & ~(pagesize - 1)) ==
	    (unsigned long)helper_area)
		ret = '1';
out:
	/* Resolve the fault (if any) so that the writer finishes. */
	if (ioctl(helper_uffd, UFFDIO_WRITEPROTECT, &wp))
		ret = 'e';
	if (read(done[0], &c, 1) != 1)
		ret = 'e';
	pthread_join(thread, NULL);
	close(done[0]);
	close(done[1]);
	return ret;
}

/* The zero-filled pages hold zeroes but for a 7 that "w" may have put. */
static bool helper_data_ok(const char *p)
{
	size_t i, j;

	for (i = 0; i < NR_ZERO + NR_DUP; i++) {
		const char *q = p + i * pagesize;
		char want = i < NR_ZERO ? 0 : 0x40 + (i - NR_ZERO) % (NR_DUP / 2);

		for (j = 0; j < pagesize; j++)
			if (q[j] != want && (i || j || q[j] != 7))
				return false;
	}
	return true;
}

/*
 * The helper: maps its memory, says "r" (ready) or "e" (error), then
 * answers commands: "c" the number of its zero-filled pages that map the
 * zero page, as text, and whether its data is intact; "w" writes 7 into
 * its first page; "a" the address of its memory, as text; "z" writes
 * zeroes again into its even zero-filled pages; "f" writes 7 into its
 * first page from a thread, and says whether the userfaultfd of an
 * AREA_UFFD_WP helper saw the write fault ('1') or not ('0'); "u" and "m"
 * madvise the first half of its zero-filled pages MADV_UNMERGEABLE and
 * MADV_MERGEABLE; "p" sets PR_SET_MEMORY_MERGE 0; "g" answers what
 * PR_GET_MEMORY_MERGE says ('0' or '1'); "q" quits.
 */
static void helper_loop(int cmd, int ack, enum area_kind kind)
{
	char *p = helper_map(kind);
	char c, buf[32];
	size_t i;
	int n;

	helper_area = p;

	if (write(ack, p ? "r" : "e", 1) != 1 || !p)
		_exit(1);
	while (read(cmd, &c, 1) == 1) {
		switch (c) {
		case 'c':
			n = snprintf(buf, sizeof(buf), "%ld %d\n",
				     count_zero_mapped(p, NR_ZERO),
				     helper_data_ok(p));
			if (write(ack, buf, n) != n)
				_exit(1);
			break;
		case 'w':
			p[0] = 7;
			if (write(ack, p[0] == 7 ? "r" : "e", 1) != 1)
				_exit(1);
			break;
		case 'a':
			n = snprintf(buf, sizeof(buf), "%lx\n", (unsigned long)p);
			if (write(ack, buf, n) != n)
				_exit(1);
			break;
		case 'z':
			for (i = 0; i < NR_ZERO; i += 2)
				memset(p + i * pagesize, 0, pagesize);
			if (write(ack, "r", 1) != 1)
				_exit(1);
			break;
		case 'f':
			c = helper_wp_write();
			if (write(ack, &c, 1) != 1)
				_exit(1);
			break;
		case 'u':
		case 'm':
			n = madvise(p, NR_ZERO / 2 * pagesize, c == 'u' ?
				    MADV_UNMERGEABLE : MADV_MERGEABLE);
			if (write(ack, n ? "e" : "r", 1) != 1)
				_exit(1);
			break;
		case 'p':
			n = prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0);
			if (write(ack, n ? "e" : "r", 1) != 1)
				_exit(1);
			break;
		case 'g':
			c = '0' + prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0);
			if (write(ack, &c, 1) != 1)
				_exit(1);
			break;
		default:
			_exit(0);
		}
	}
	_exit(0);
}

struct helper {
	pid_t pid;
	int cmd, ack;
};

/* Start a helper by fork(), or by fork() and exec() of this program. */
static bool helper_start(struct helper *h, enum area_kind kind, bool exec)
{
	int cmd[2], ack[2];
	char c;

	h->pid = -1;
	if (pipe(cmd) || pipe(ack))
		return false;
	h->pid = fork();
	if (h->pid < 0)
		return false;
	if (!h->pid) {
		close(cmd[1]);
		close(ack[0]);
		/* Before exec: the exec()ed helper inherits it. */
		if (kind == AREA_REFUSED && prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0))
			_exit(1);
		if (exec) {
			char a[16], b[16], k[16];

			snprintf(a, sizeof(a), "%d", cmd[0]);
			snprintf(b, sizeof(b), "%d", ack[1]);
			snprintf(k, sizeof(k), "%d", kind);
			execl(self_exe, self_exe, "helper", a, b, k, NULL);
			_exit(1);
		}
		helper_loop(cmd[0], ack[1], kind);
	}
	close(cmd[0]);
	close(ack[1]);
	h->cmd = cmd[1];
	h->ack = ack[0];
	return read(h->ack, &c, 1) == 1 && c == 'r';
}

/* The helper's zero-filled pages that map the zero page; -1 on error. */
static long helper_count(struct helper *h, bool *data_ok)
{
	char buf[32];
	long n = -1;
	int ok = 0;
	ssize_t len;

	if (write(h->cmd, "c", 1) != 1)
		return -1;
	len = read(h->ack, buf, sizeof(buf) - 1);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	if (sscanf(buf, "%ld %d", &n, &ok) != 2)
		return -1;
	*data_ok = ok;
	return n;
}

static void helper_stop(struct helper *h)
{
	if (h->pid <= 0)
		return;
	if (write(h->cmd, "q", 1) != 1)
		kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	close(h->cmd);
	close(h->ack);
	h->pid = -1;
}

static bool set_scope(const char *scope)
{
	return !ksm_sysfs_write_str("zero_pages_scope", scope);
}

/* Nothing merged, ksmd stopped: it starts once the helper is ready. */
static bool setup(const char *scope)
{
	return ksm_sysfs_write("run", 2) && ksm_sysfs_write("use_zero_pages", 1) &&
	       ksm_sysfs_write("pages_to_scan", 10000) &&
	       ksm_sysfs_write("sleep_millisecs", 10) && set_scope(scope) &&
	       ksm_sysfs_write("run", 0);
}

/*
 * A few unique pages registered by this process, so that ksmd has an mm to
 * scan (and full scans to count) when no other is on its list.
 */
static char *keepalive;

static bool keepalive_register(void)
{
	size_t i;

	if (keepalive)
		return true;
	keepalive = mmap(NULL, 4 * pagesize, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (keepalive == MAP_FAILED) {
		keepalive = NULL;
		return false;
	}
	for (i = 0; i < 4 * pagesize; i++)
		keepalive[i] = i * 7 + i / pagesize;
	return !madvise(keepalive, 4 * pagesize, MADV_MERGEABLE);
}

/* Pages merged with the zero page in the helper, after two full scans. */
static long merged_after_scans(struct helper *h, bool *data_ok)
{
	if (!ksm_sysfs_write("run", 1) || !ksm_wait_full_scans(2, 120))
		return -1;
	return helper_count(h, data_ok);
}

/*
 * A process that never registered: nothing with "mergeable"; with "all"
 * its zero pages after the switch, but no other page (pages_sharing stays
 * 0), data intact, a write to a merged page works; run=2 gives it all back.
 */
static void test_unregistered(void)
{
	long n_mergeable, n_all, n_write, n_unmerged, sharing, own;
	bool d1 = false, d2 = false, d3 = false, d4 = false;
	struct helper h = { .pid = -1 };
	bool ok = false;
	char c;

	ksft_print_msg("[RUN] %s\n", __func__);
	/* The helper is forked before this process registers anything. */
	if (!setup("mergeable") || !helper_start(&h, AREA_PLAIN, false) ||
	    !keepalive_register())
		goto out;
	n_mergeable = merged_after_scans(&h, &d1);
	if (!set_scope("all"))
		goto out;
	n_all = merged_after_scans(&h, &d2);
	sharing = ksm_sysfs_read("pages_sharing");
	own = ksm_stat_read(h.pid, "ksm_zero_pages");
	if (write(h.cmd, "w", 1) != 1 || read(h.ack, &c, 1) != 1 || c != 'r')
		goto out;
	n_write = helper_count(&h, &d3);
	if (!ksm_sysfs_write("run", 2))
		goto out;
	n_unmerged = helper_count(&h, &d4);
	ksft_print_msg("mergeable: %ld, all: %ld (ksm_stat %ld, pages_sharing %ld)\n",
		       n_mergeable, n_all, own, sharing);
	ksft_print_msg("after a write: %ld, after run=2: %ld (ksm_stat %ld)\n",
		       n_write, n_unmerged, ksm_stat_read(h.pid, "ksm_zero_pages"));
	ok = n_mergeable == 0 && n_all == NR_ZERO && own >= NR_ZERO &&
	     sharing == 0 && n_write == NR_ZERO - 1 && n_unmerged == 0 &&
	     ksm_stat_read(h.pid, "ksm_zero_pages") == 0 &&
	     d1 && d2 && d3 && d4;
out:
	helper_stop(&h);
	ksft_test_result(ok, "unregistered: zero pages merged with \"all\" only\n");
}

/* Back to "mergeable": memory zeroed afterwards is left alone. */
static void test_back_to_mergeable(void)
{
	struct helper h = { .pid = -1 };
	bool ok = false, d = false;
	long n;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!setup("all") || !set_scope("mergeable") ||
	    !helper_start(&h, AREA_PLAIN, false))
		goto out;
	n = merged_after_scans(&h, &d);
	ksft_print_msg("merged after switching back: %ld\n", n);
	ok = n == 0 && d;
out:
	helper_stop(&h);
	ksft_test_result(ok, "switching back to \"mergeable\" stops it\n");
}

/* mlocked and userfaultfd-armed areas are left alone. */
static void test_excluded(enum area_kind kind, const char *what)
{
	struct helper h = { .pid = -1 };
	bool ok = false, d = false;
	long n = -1;

	ksft_print_msg("[RUN] %s %s\n", __func__, what);
	if (!setup("all") || !helper_start(&h, kind, false))
		goto out;
	n = merged_after_scans(&h, &d);
	ok = n == 0 && d;
out:
	ksft_print_msg("%s: %ld pages merged\n", what, n);
	helper_stop(&h);
	ksft_test_result(ok, "\"all\" leaves %s memory alone\n", what);
}

/* Processes forked or exec()ed while "all" holds are enrolled. */
static void test_new_process(bool exec)
{
	struct helper h = { .pid = -1 };
	bool ok = false, d = false;
	long n = -1;

	ksft_print_msg("[RUN] %s %s\n", __func__, exec ? "exec" : "fork");
	if (!setup("all") || !helper_start(&h, AREA_PLAIN, exec))
		goto out;
	n = merged_after_scans(&h, &d);
	ok = n == NR_ZERO && d;
out:
	ksft_print_msg("merged: %ld\n", n);
	helper_stop(&h);
	ksft_test_result(ok, "a process %s under \"all\" gets its zero pages merged\n",
			 exec ? "exec()ed" : "forked");
}

/* A registered process keeps full merging next to "all". */
static void test_madvised(void)
{
	struct helper h = { .pid = -1 };
	bool ok = false, d = false;
	long n = -1, sharing = -1;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!setup("all") || !helper_start(&h, AREA_MADVISED, false))
		goto out;
	n = merged_after_scans(&h, &d);
	if (!ksm_wait_full_scans(2, 120))
		goto out;
	sharing = ksm_sysfs_read("pages_sharing");
	ok = n == NR_ZERO && sharing == NR_DUP / 2 && d;
out:
	ksft_print_msg("zero pages merged: %ld, pages_sharing %ld\n", n,
		       sharing);
	helper_stop(&h);
	ksft_test_result(ok, "a madvised process keeps full merging under \"all\"\n");
}

#define SOFT_DIRTY_FMT \
	"%ld of %ld written pages soft-dirty, %ld of %ld clean pages soft-dirty\n"

/* Send @cmd to the helper and read its one-character answer, or 0. */
static char helper_cmd(struct helper *h, char cmd)
{
	char c;

	if (write(h->cmd, &cmd, 1) != 1 || read(h->ack, &c, 1) != 1)
		return 0;
	return c;
}

/* The address of the helper's memory, or 0. */
static unsigned long helper_addr(struct helper *h)
{
	char buf[32], *end;
	unsigned long addr;
	ssize_t len;

	if (write(h->cmd, "a", 1) != 1)
		return 0;
	len = read(h->ack, buf, sizeof(buf) - 1);
	if (len <= 0)
		return 0;
	buf[len] = 0;
	addr = strtoul(buf, &end, 16);
	return end == buf ? 0 : addr;
}

/* Clear the soft-dirty bits of the helper's memory, with its clear_refs. */
static bool helper_clear_soft_dirty(struct helper *h)
{
	char path[64];
	bool ok;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", h->pid);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return false;
	ok = write(fd, "4", 1) == 1;
	close(fd);
	return ok;
}

/*
 * How many of the helper's zero-filled pages at @addr are soft-dirty: of
 * the even pages (*@sd_written, written again after clear_refs) and of the
 * odd ones (*@sd_clean, left untouched).
 */
static bool helper_soft_dirty(struct helper *h, unsigned long addr,
			      long *sd_written, long *sd_clean)
{
	char path[64];
	size_t i;
	int fd;

	*sd_written = 0;
	*sd_clean = 0;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", h->pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	for (i = 0; i < NR_ZERO; i++) {
		if (!pagemap_is_softdirty(fd, (char *)addr + i * pagesize))
			continue;
		if (i % 2)
			(*sd_clean)++;
		else
			(*sd_written)++;
	}
	close(fd);
	return true;
}

/*
 * A merge is not a write: the zero pages that "all" maps into memory never
 * registered keep the soft-dirty bit of the pages they replace. With ksmd
 * stopped, the helper's soft-dirty bits are cleared and it writes zeroes
 * again into its even pages; once merged, the even pages must all be
 * soft-dirty and the odd ones all clean.
 */
static void test_soft_dirty(void)
{
	const long half = NR_ZERO / 2;
	struct helper h = { .pid = -1 };
	long n = -1, sd_written, sd_clean;
	unsigned long addr;
	bool ok = false, d = false;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!has_scope) {
		ksft_test_result_skip("no zero_pages_scope\n");
		return;
	}
	if (access("/proc/self/clear_refs", W_OK) || !softdirty_supported()) {
		ksft_test_result_skip("no soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY)\n");
		return;
	}
	if (!setup("all") || !helper_start(&h, AREA_PLAIN, false) ||
	    !keepalive_register())
		goto out;
	addr = helper_addr(&h);
	if (!addr || !helper_clear_soft_dirty(&h) || helper_cmd(&h, 'z') != 'r' ||
	    !helper_soft_dirty(&h, addr, &sd_written, &sd_clean))
		goto out;
	if (!sd_written && !sd_clean) {
		helper_stop(&h);
		ksft_test_result_skip("no page reads as soft-dirty after a write\n");
		return;
	}
	if (sd_written != half || sd_clean) {
		ksft_print_msg("before merging: " SOFT_DIRTY_FMT, sd_written,
			       half, sd_clean, half);
		goto out;
	}
	n = merged_after_scans(&h, &d);
	ksm_sysfs_write("run", 0);
	if (!helper_soft_dirty(&h, addr, &sd_written, &sd_clean))
		goto out;
	ksft_print_msg("%ld pages merged (ksm_stat %ld): " SOFT_DIRTY_FMT, n,
		       ksm_stat_read(h.pid, "ksm_zero_pages"), sd_written, half,
		       sd_clean, half);
	ok = n == NR_ZERO && d && sd_written == half && !sd_clean;
out:
	helper_stop(&h);
	ksft_test_result(ok, "\"all\": soft-dirty exact on the zero pages it maps\n");
}

/*
 * Memory write-protected with UFFDIO_WRITEPROTECT is left alone, and a
 * write to it is still reported to the helper's userfaultfd.
 */
static void test_uffd_wp(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP,
	};
	struct helper h = { .pid = -1 };
	bool ok = false, d1 = false, d2 = false;
	long n = -1, n2 = -1;
	char reported = 0;
	int uffd;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!has_scope) {
		ksft_test_result_skip("no zero_pages_scope\n");
		return;
	}
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
	    !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		if (uffd >= 0)
			close(uffd);
		ksft_test_result_skip("no userfaultfd write protection\n");
		return;
	}
	close(uffd);
	if (!setup("all") || !helper_start(&h, AREA_UFFD_WP, false))
		goto out;
	n = merged_after_scans(&h, &d1);
	ksm_sysfs_write("run", 0);
	reported = helper_cmd(&h, 'f');
	n2 = helper_count(&h, &d2);
	ok = n == 0 && reported == '1' && n2 == 0 && d1 && d2;
out:
	ksft_print_msg("%ld pages merged, write %s\n", n,
		       reported == '1' ? "reported" : "not reported");
	helper_stop(&h);
	ksft_test_result(ok, "\"all\" leaves uffd-wp memory alone, its writes reported\n");
}

/*
 * The owner's MADV_UNMERGEABLE wins over "all", on memory registered or
 * not: the first half of the helper's zero pages is unshared at once and
 * not merged again; MADV_MERGEABLE lets KSM back in.
 */
static void test_madv_unmergeable(enum area_kind kind, const char *what)
{
	long n_all = -1, n_unmerged = -1, n_later = -1, n_back = -1;
	struct helper h = { .pid = -1 };
	bool ok = false, d = false;

	ksft_print_msg("[RUN] %s %s\n", __func__, what);
	if (!setup("all") || !helper_start(&h, kind, false))
		goto out;
	n_all = merged_after_scans(&h, &d);
	if (helper_cmd(&h, 'u') != 'r')
		goto out;
	n_unmerged = helper_count(&h, &d);
	if (!ksm_wait_full_scans(2, 120))
		goto out;
	n_later = helper_count(&h, &d);
	if (helper_cmd(&h, 'm') != 'r' || !ksm_wait_full_scans(2, 120))
		goto out;
	n_back = helper_count(&h, &d);
	ok = n_all == NR_ZERO && n_unmerged == NR_ZERO / 2 &&
	     n_later == NR_ZERO / 2 && n_back == NR_ZERO && d;
out:
	ksft_print_msg("%s: merged %ld, unmergeable half %ld, later %ld, back %ld\n",
		       what, n_all, n_unmerged, n_later, n_back);
	helper_stop(&h);
	ksft_test_result(ok, "MADV_UNMERGEABLE keeps \"all\" out of %s memory\n",
			 what);
}

/*
 * The owner's PR_SET_MEMORY_MERGE 0 wins over "all": set in a running
 * helper, its zero pages are unshared at once and not merged again; set
 * before an exec, the program exec()ed inherits it. PR_GET_MEMORY_MERGE
 * still says 0.
 */
static void test_prctl_refused(bool exec)
{
	struct helper h = { .pid = -1 };
	long n_all = -1, n_refused = -1;
	bool ok = false, d = false;
	char get = 0;

	ksft_print_msg("[RUN] %s %s\n", __func__, exec ? "exec" : "running");
	if (!setup("all") ||
	    !helper_start(&h, exec ? AREA_REFUSED : AREA_PLAIN, exec))
		goto out;
	n_all = merged_after_scans(&h, &d);
	if (!exec && helper_cmd(&h, 'p') != 'r')
		goto out;
	if (!ksm_wait_full_scans(2, 120))
		goto out;
	n_refused = helper_count(&h, &d);
	get = helper_cmd(&h, 'g');
	ok = n_all == (exec ? 0 : NR_ZERO) && n_refused == 0 && get == '0' && d;
out:
	ksft_print_msg("merged %ld, refused %ld, PR_GET_MEMORY_MERGE %c\n",
		       n_all, n_refused, get ? get : '?');
	helper_stop(&h);
	ksft_test_result(ok, "PR_SET_MEMORY_MERGE 0 keeps \"all\" out%s\n",
			 exec ? ", inherited over exec" : "");
}

/*
 * Pages that are not zero-filled, in memory not registered, are passed over
 * in ksmd's page table walk, a few at a time. They count as scanned and
 * against the batch: one batch (run=1, then each change of sleep_millisecs
 * wakes ksmd for one batch before a long sleep) adds at most pages_to_scan
 * to pages_scanned, and exactly that when the full scan does not end in
 * it. And none of the zero-filled pages among them is missed where a walk
 * pauses: every seventh page is one.
 */
#define NR_UNIQUE	1024
#define BATCH		64
#define NR_WAKES	24

static bool unique_page_is_zero(size_t i)
{
	return i % 7 == 3;
}

/* pages_scanned once it has not moved for 300 ms: ksmd's batch is over. */
static long pages_scanned_settled(void)
{
	long last = ksm_sysfs_read("pages_scanned"), now;
	int i;

	for (i = 0; i < 100; i++) {
		usleep(300000);
		now = ksm_sysfs_read("pages_scanned");
		if (now == last)
			break;
		last = now;
	}
	return last;
}

static void test_passed_over(void)
{
	long before, after, delta, total = 0, full = 0, zero_pages = 0, merged;
	size_t size = NR_UNIQUE * pagesize, i, j;
	bool budget_ok = false, found_ok = false;
	char *p;
	int b;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!has_scope) {
		ksft_test_result_skip("batch budget: no zero_pages_scope\n");
		ksft_test_result_skip("passed over: no zero_pages_scope\n");
		return;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		goto out;
	/* Small folios: a THP is sampled whole, not passed over. */
	if (madvise(p, size, MADV_NOHUGEPAGE))
		goto unmap;
	for (i = 0; i < NR_UNIQUE; i++) {
		long *w = (long *)(p + i * pagesize);

		for (j = 0; j < pagesize / sizeof(*w); j++)
			w[j] = unique_page_is_zero(i) ? 0 : i * pagesize + j + 1;
		zero_pages += unique_page_is_zero(i);
	}
	if (!setup("all") || !keepalive_register() ||
	    !ksm_sysfs_write("pages_to_scan", BATCH) ||
	    !ksm_sysfs_write("sleep_millisecs", 100000))
		goto unmap;
	before = ksm_sysfs_read("pages_scanned");
	if (!ksm_sysfs_write("run", 1))
		goto unmap;
	for (b = 0; b < NR_WAKES; b++) {
		after = pages_scanned_settled();
		delta = after - before;
		total += delta;
		full += delta == BATCH;
		before = after;
		/* A new value ends ksmd's sleep: one more batch. */
		if (!ksm_sysfs_write("sleep_millisecs", 100000 + (b & 1 ? 0 : 1)))
			goto unmap;
	}
	total += pages_scanned_settled() - before;
	ksft_print_msg("pages_to_scan %d, %d wakes: %ld pages scanned, %ld batches of %d\n",
		       BATCH, NR_WAKES + 1, total, full, BATCH);
	budget_ok = total <= (NR_WAKES + 1) * BATCH && full > NR_WAKES / 2;
	if (!ksm_sysfs_write("sleep_millisecs", 10) || !ksm_wait_full_scans(2, 120))
		goto unmap;
	merged = count_zero_mapped(p, NR_UNIQUE);
	ksft_print_msg("%ld of %ld zero-filled pages among them merged\n",
		       merged, zero_pages);
	found_ok = merged == zero_pages;
unmap:
	munmap(p, size);
out:
	ksm_sysfs_write("run", 0);
	ksm_sysfs_write("sleep_millisecs", 10);
	ksm_sysfs_write("pages_to_scan", 10000);
	ksft_test_result(budget_ok, "batch budget: pages passed over count in pages_to_scan\n");
	ksft_test_result(found_ok, "passed over: every zero-filled page among them is merged\n");
}

static void restore(void)
{
	set_scope("mergeable");
	ksm_sysfs_write("run", 2);
	ksm_sysfs_restore(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
}

int main(int argc, char **argv)
{
	char scope[64];
	ssize_t n;
	int fd;

	pagesize = getpagesize();
	self_exe = "/proc/self/exe";
	if (argc == 5 && !strcmp(argv[1], "helper"))
		helper_loop(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));

	ksft_print_header();
	if (ksm_sysfs_read("run") < 0)
		ksft_exit_skip("no KSM\n");
	if (access("/proc/kpageflags", R_OK))
		ksft_exit_skip("/proc/kpageflags is not readable (root needed)\n");
	/* Read, not written: "all" would enrol this process already. */
	fd = open("/sys/kernel/mm/ksm/zero_pages_scope", O_RDONLY);
	n = fd < 0 ? -1 : read(fd, scope, sizeof(scope) - 1);
	if (fd >= 0)
		close(fd);
	scope[n > 0 ? n : 0] = 0;
	if (n <= 0)
		ksft_print_msg("no zero_pages_scope: testing the kernel as it is\n");
	else if (!strstr(scope, "all"))
		ksft_exit_skip("zero_pages_scope has no \"all\" (CONFIG_KSM_ZERO_PAGES_ALL=n)\n");
	else
		ksft_print_msg("zero_pages_scope: %s", scope);
	has_scope = n > 0;
	ksft_set_plan(16);
	ksm_sysfs_save(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	ksm_sysfs_write("smart_scan", 0);
	ksm_sysfs_write("zero_pages_min_age", 0);

	test_unregistered();
	test_back_to_mergeable();
	test_excluded(AREA_MLOCKED, "mlocked");
	test_excluded(AREA_UFFD, "userfaultfd-armed");
	test_new_process(false);
	test_new_process(true);
	test_madvised();
	test_madv_unmergeable(AREA_PLAIN, "unregistered");
	test_madv_unmergeable(AREA_MADVISED, "registered");
	test_prctl_refused(false);
	test_prctl_refused(true);
	test_uffd_wp();
	test_soft_dirty();
	test_passed_over();
	ksft_test_result(ksm_sysfs_read("ksm_zero_pages") >= 0 &&
			 ksm_sysfs_write("run", 2) &&
			 ksm_sysfs_read("ksm_zero_pages") == 0,
			 "run=2 leaves no KSM zero page\n");

	restore();
	ksft_finished();
}
