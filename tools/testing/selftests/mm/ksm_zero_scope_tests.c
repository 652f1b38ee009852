// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM zero_pages_scope: with "all" (and use_zero_pages=1), ksmd maps the
 * zero page into the zero-filled pages of processes that never registered
 * with KSM, and does nothing else there; with "mergeable" it leaves them
 * alone. Each test runs the memory under test in a helper process that
 * never calls madvise(MADV_MERGEABLE) nor prctl(PR_SET_MEMORY_MERGE), and
 * asks it, over a pipe, how many of its pages map the zero page
 * (/proc/self/pagemap and /proc/kpageflags) and whether its data is intact.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "vm_util.h"

#define KPF_ZERO_PAGE	24
#define NR_ZERO		512	/* zero-filled pages of a helper */
#define NR_DUP		64	/* pages of data, two copies of each half */

enum area_kind { AREA_PLAIN, AREA_MLOCKED, AREA_UFFD, AREA_MADVISED };

static size_t pagesize;
static const char *self_exe;

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
	return p;
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
 * its first page; "q" quits.
 */
static void helper_loop(int cmd, int ack, enum area_kind kind)
{
	char *p = helper_map(kind);
	char c, buf[32];
	int n;

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
	ksft_set_plan(8);
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
	ksft_test_result(ksm_sysfs_read("ksm_zero_pages") >= 0 &&
			 ksm_sysfs_write("run", 2) &&
			 ksm_sysfs_read("ksm_zero_pages") == 0,
			 "run=2 leaves no KSM zero page\n");

	restore();
	ksft_finished();
}
