// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM and zero-filled transparent huge pages (use_zero_pages=1): a THP that
 * is zero-filled throughout becomes the huge zero page without a split, a
 * THP that is only partly zero is split only from zero_pages_thp_split_min
 * zero-filled pages on, and pinned, mlocked and userfaultfd-wp THPs are
 * left alone. The counters (ksm_zero_pages, zero_pages_merged,
 * zero_pages_thp_merged, /proc/self/ksm_stat, thp_split_page of
 * /proc/vmstat), /proc/self/pagemap and /proc/kpageflags show what
 * happened. Writes, fork and unmerging after the merge behave as documented.
 * A merge is not a write: the soft-dirty bits (bit 55 of pagemap) stay as
 * they were, through the merge and through the split of the huge zero PMD.
 *
 * Each test maps its THPs, starts ksmd and waits for two full scans, so
 * that ksmd has seen every page of the area at least once.
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
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "vm_util.h"

#define THP_PATH "/sys/kernel/mm/transparent_hugepage/"
#define KPF_THP		22
#define KPF_ZERO_PAGE	24

static size_t pagesize, thpsize, nr_sub;
static bool has_split_min;	/* false on a kernel without the THP path */

static const char *const saved_knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"zero_pages_min_age", "zero_pages_thp_split_min", "smart_scan",
};

static long saved[ARRAY_SIZE(saved_knobs)];

static int read_thp_knob(const char *name, char *buf, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), THP_PATH "%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static bool write_thp_knob(const char *name, const char *val)
{
	char path[128];
	bool ok;
	int fd;

	snprintf(path, sizeof(path), THP_PATH "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

static long vmstat_read(const char *field)
{
	size_t len = strlen(field);
	char line[128];
	long val = -1;
	FILE *f;

	f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ' ')
			val = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return val;
}

/* AnonHugePages, in kB, of the vma that holds @addr. */
static long anon_huge_kb(const char *addr)
{
	unsigned long start, end, a = (unsigned long)addr;
	bool in = false;
	char line[256];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = start <= a && a < end;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* The /proc/kpageflags of the page mapped at @addr, 0 if none. */
static uint64_t kpageflags_at(const char *addr)
{
	unsigned long pfn;
	uint64_t flags = 0;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return 0;
	pfn = pagemap_get_pfn(fd, (char *)addr);
	close(fd);
	if (pfn == -1UL)
		return 0;
	fd = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &flags, sizeof(flags), pfn * sizeof(flags)) !=
	    sizeof(flags))
		flags = 0;
	close(fd);
	return flags;
}

/* @nr THPs, aligned, faulted in by writes of zero. NULL if no THP came. */
static char *map_thps_once(size_t nr, char **raw)
{
	size_t size = nr * thpsize;
	char *p;

	*raw = mmap(NULL, size + thpsize, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*raw == MAP_FAILED) {
		*raw = NULL;
		return NULL;
	}
	p = (char *)(((unsigned long)*raw + thpsize - 1) & ~(thpsize - 1));
	madvise(p, size, MADV_HUGEPAGE);
	memset(p, 0, size);
	if (anon_huge_kb(p) < (long)(size >> 10)) {
		ksft_print_msg("no THPs: AnonHugePages %ld kB\n",
			       anon_huge_kb(p));
		return NULL;
	}
	return p;
}

static void unmap_thps(char *raw, size_t nr)
{
	if (raw)
		munmap(raw, (nr + 1) * thpsize);
}

/*
 * @nr THPs, zero-filled. If the allocator found fewer free blocks of a
 * PMD's size (512 MiB each with arm64's 64K pages, which the tests before
 * leave scattered), compact memory and try once more.
 */
static char *map_thps(size_t nr, char **raw)
{
	char *p = map_thps_once(nr, raw);
	int fd;

	if (p || !*raw)
		return p;
	unmap_thps(*raw, nr);
	fd = open("/proc/sys/vm/compact_memory", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			ksft_print_msg("compact_memory: %s\n", strerror(errno));
		close(fd);
	}
	return map_thps_once(nr, raw);
}

static bool all_zero(const char *p, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (p[i])
			return false;
	return true;
}

/* Start from nothing merged, ksmd stopped, zero-page settings of a test. */
static bool setup(long split_min)
{
	return ksm_sysfs_write("run", 2) &&
	       ksm_sysfs_write("use_zero_pages", 1) &&
	       (!has_split_min || (ksm_sysfs_write("zero_pages_min_age", 0) &&
		ksm_sysfs_write("zero_pages_thp_split_min", split_min))) &&
	       ksm_sysfs_write("pages_to_scan", 20000) &&
	       ksm_sysfs_write("sleep_millisecs", 10) &&
	       ksm_sysfs_write("run", 0);
}

/* Register @p, start ksmd and wait for two full scans. */
static bool merge_and_wait(char *p, size_t size)
{
	if (madvise(p, size, MADV_MERGEABLE)) {
		ksft_print_msg("madvise: %s\n", strerror(errno));
		return false;
	}
	return ksm_sysfs_write("run", 1) && ksm_wait_full_scans(2, 60);
}

/* What the counters said before a test, to compare with after. */
struct counts {
	long zero, merged, thp_merged, splits, own;
};

static void counts_read(struct counts *c)
{
	c->zero = ksm_sysfs_read("ksm_zero_pages");
	c->merged = ksm_sysfs_read("zero_pages_merged");
	c->thp_merged = ksm_sysfs_read("zero_pages_thp_merged");
	c->splits = vmstat_read("thp_split_page");
	c->own = ksm_stat_read(getpid(), "ksm_zero_pages");
}

static void counts_delta(struct counts *d, const struct counts *before)
{
	counts_read(d);
	d->zero -= before->zero;
	d->merged -= before->merged;
	d->thp_merged -= before->thp_merged;
	d->splits -= before->splits;
	d->own -= before->own;
	ksft_print_msg("ksm_zero_pages %+ld, zero_pages_merged %+ld, ",
		       d->zero, d->merged);
	ksft_print_msg("zero_pages_thp_merged %+ld, thp_split_page %+ld, ksm_stat %+ld\n",
		       d->thp_merged, d->splits, d->own);
}

/* Is the THP at @p now the huge zero page, and counted so? */
static bool is_huge_zero(const char *p, const struct counts *d, long nr)
{
	uint64_t flags = kpageflags_at(p + thpsize / 2);

	if (!(flags & (1ULL << KPF_ZERO_PAGE)) || !(flags & (1ULL << KPF_THP))) {
		ksft_print_msg("kpageflags %#llx: not the huge zero page\n",
			       (unsigned long long)flags);
		return false;
	}
	return d->thp_merged == nr && d->zero == nr * (long)nr_sub &&
	       d->merged == nr * (long)nr_sub && d->own == nr * (long)nr_sub &&
	       d->splits == 0 && anon_huge_kb(p) == 0;
}

/* Merge @nr zero-filled THPs; on success, leave them mapped in *@raw. */
static char *merge_zero_thps(size_t nr, char **raw, struct counts *before,
			     struct counts *d)
{
	char *p;

	*raw = NULL;
	if (!setup(nr_sub))
		return NULL;
	p = map_thps(nr, raw);
	if (!p)
		return NULL;
	counts_read(before);
	if (!merge_and_wait(p, nr * thpsize))
		return NULL;
	ksm_sysfs_write("run", 0);
	counts_delta(d, before);
	return p;
}

static void test_zero_thp(void)
{
	struct counts before, d;
	long rss0, rss1;
	char *raw, *p;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	rss0 = rss_anon();
	p = merge_zero_thps(2, &raw, &before, &d);
	rss1 = rss_anon();
	ok = p && is_huge_zero(p, &d, 2) && is_huge_zero(p + thpsize, &d, 2) &&
	     all_zero(p, 2 * thpsize);
	ksft_print_msg("RssAnon %ld kB before the mapping, %ld kB after the merge\n",
		       rss0, rss1);
	/* Nothing left but a few pages of page tables or stack (64). */
	ok = ok && rss1 <= rss0 + 64 * (long)(pagesize >> 10);
	unmap_thps(raw, 2);
	ksft_test_result(ok, "zero-filled THPs become the huge zero page, no split\n");
}

/* Left whole: still a THP, nothing split, nothing merged. */
static bool kept_whole(const char *p, const struct counts *d)
{
	return anon_huge_kb(p) == (long)(thpsize >> 10) && d->splits == 0 &&
	       d->zero == 0 && d->thp_merged == 0 && d->own == 0;
}

static void test_last_byte(void)
{
	struct counts before, d;
	char *raw = NULL, *p;
	bool ok = false;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!setup(nr_sub))
		goto out;
	p = map_thps(1, &raw);
	if (!p)
		goto out;
	p[thpsize - 1] = 1;
	counts_read(&before);
	if (!merge_and_wait(p, thpsize))
		goto out;
	counts_delta(&d, &before);
	ok = kept_whole(p, &d) && p[thpsize - 1] == 1 &&
	     all_zero(p, thpsize - 1);
out:
	ksm_sysfs_write("run", 0);
	unmap_thps(raw, 1);
	ksft_test_result(ok, "a THP with one byte set at its end is left whole\n");
}

/*
 * Zero but for one word per THP where a sample of each page's words misses
 * it (its first 64 bytes, last word, quarters): ksmd write-protects such
 * a THP before it reads it, and finds the word then. It must do so once,
 * not on every scan, which would cost its owner a write fault (and a KVM
 * host a zap of the 2 MiB) each time: the word becomes the THP's hint, and
 * the THP is marked to be read first from then on.
 *
 * With @every_page, each page but the first of a THP holds a word that is
 * not zero in its first 64 bytes but not at its first word, as
 * uffd-unit-tests' pages do (a lock, then a counter): the sample must see
 * it, and the THP never be write-protected, since ksmd holds it meanwhile
 * and a split that UFFDIO_MOVE needs fails then.
 */
/* arm64 hardware with MTE: a THP is read before it is write-protected. */
static bool mte_hardware(void)
{
#ifdef __aarch64__
	return getauxval(AT_HWCAP2) & (1UL << 18);	/* HWCAP2_MTE */
#else
	return false;
#endif
}

static long write_each_thp(char *p, size_t nr)
{
	struct rusage ru0, ru1;
	size_t i;

	getrusage(RUSAGE_SELF, &ru0);
	for (i = 0; i < nr; i++)
		p[i * thpsize + thpsize / 2] = 0;
	getrusage(RUSAGE_SELF, &ru1);
	return ru1.ru_minflt - ru0.ru_minflt;
}

static void test_sample_miss(bool every_page)
{
	/* One THP will do where a PMD is over 32 MiB (arm64 64K: 512 MiB). */
	const size_t nr = every_page && thpsize > (32UL << 20) ? 1 : 2;
	const size_t words = pagesize / sizeof(long);
	const size_t word = 101 * words + words / 8;
	struct counts before, d;
	long scanned;
	char *raw = NULL, *p;
	long first, again = 0;
	bool ok = false;
	size_t i;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!setup(nr_sub))
		goto out;
	p = map_thps(nr, &raw);
	if (!p)
		goto out;
	/*
	 * Different words: the pages that hold them must not merge. With
	 * @every_page, the first page of each THP stays zero-filled: from
	 * there ksmd looks at the whole THP.
	 */
	if (every_page) {
		for (i = 0; i < nr * nr_sub; i++) {
			if (i % nr_sub)
				((long *)p)[i * words + 5] = i;
		}
	} else {
		long *w = (long *)p;

		for (i = 0; i < nr; i++)
			w[i * thpsize / sizeof(long) + word % (thpsize / sizeof(long))] = i + 1;
	}
	counts_read(&before);
	scanned = ksm_sysfs_read("pages_scanned");
	if (!merge_and_wait(p, nr * thpsize) || !ksm_wait_full_scans(2, 60))
		goto out;
	ksm_sysfs_write("run", 0);
	first = write_each_thp(p, nr);
	/* A THP that was never write-protected bears no mark to check. */
	if (!every_page) {
		if (!ksm_sysfs_write("run", 1) || !ksm_wait_full_scans(4, 60))
			goto out;
		ksm_sysfs_write("run", 0);
		again = write_each_thp(p, nr);
	}
	counts_delta(&d, &before);
	scanned = ksm_sysfs_read("pages_scanned") - scanned;
	ksft_print_msg("write faults after 4 full scans: %ld\n", first);
	if (!every_page)
		ksft_print_msg("write faults after 4 more: %ld\n", again);
	ksft_print_msg("pages scanned: %ld\n", scanned);
	/*
	 * Whole, in the one vma of both: as kept_whole(), for @nr THPs. Each
	 * THP that fools the sample is write-protected once (setup()'s run=2
	 * dropped the marks of earlier THPs); on hardware with MTE, none.
	 */
	ok = anon_huge_kb(p) == (long)(nr * thpsize >> 10) && d.splits == 0 &&
	     d.zero == 0 && d.thp_merged == 0 && d.own == 0 &&
	     first == (long)(every_page || mte_hardware() ? 0 : nr) &&
	     again == 0 && scanned >= (long)(nr * nr_sub);
out:
	ksm_sysfs_write("run", 0);
	unmap_thps(raw, nr);
	ksft_test_result(ok, "%s\n", every_page ?
			 "THP with a word at the start of each page: not write-protected" :
			 "THP zero but for an unsampled word: write-protected once");
}

/* Odd pages zero, even pages data: below and above the split threshold. */
static void test_half_zero(bool split)
{
	long split_min = split ? nr_sub / 2 : nr_sub;
	struct counts before, d;
	char *raw = NULL, *p;
	bool ok = false;
	size_t i;

	ksft_print_msg("[RUN] %s zero_pages_thp_split_min=%ld\n", __func__,
		       split_min);
	if (!setup(split_min))
		goto out;
	p = map_thps(1, &raw);
	if (!p)
		goto out;
	/* Each data page differs from the others: nothing merges them. */
	for (i = 0; i < nr_sub; i += 2) {
		memset(p + i * pagesize, 0x11, pagesize);
		memcpy(p + i * pagesize, &i, sizeof(i));
	}
	counts_read(&before);
	if (!merge_and_wait(p, thpsize))
		goto out;
	counts_delta(&d, &before);
	if (split)
		ok = d.splits == 1 && d.zero == (long)nr_sub / 2 &&
		     d.own == (long)nr_sub / 2 && d.thp_merged == 0 &&
		     anon_huge_kb(p) == 0;
	else
		ok = kept_whole(p, &d);
	for (i = 0; ok && i < nr_sub; i++) {
		char *q = p + i * pagesize;

		ok = i % 2 ? all_zero(q, pagesize) :
			     !memcmp(q, &i, sizeof(i)) &&
			     q[pagesize - 1] == 0x11;
	}
out:
	ksm_sysfs_write("run", 0);
	unmap_thps(raw, 1);
	ksft_test_result(ok, "half-zero THP %s at zero_pages_thp_split_min=%ld\n",
			 split ? "split, zero half merged" : "left whole",
			 split_min);
}

/* A THP held by a pipe (vmsplice()) is left whole. */
static void test_pinned(void)
{
	struct counts before, d;
	char *raw = NULL, *p;
	int fds[2] = { -1, -1 };
	struct iovec iov;
	bool ok = false;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!setup(nr_sub) || pipe(fds))
		goto out;
	p = map_thps(1, &raw);
	if (!p)
		goto out;
	iov.iov_base = p;
	iov.iov_len = 4 * pagesize;
	if (vmsplice(fds[1], &iov, 1, 0) != (ssize_t)iov.iov_len) {
		ksft_print_msg("vmsplice: %s\n", strerror(errno));
		goto out;
	}
	counts_read(&before);
	if (!merge_and_wait(p, thpsize))
		goto out;
	counts_delta(&d, &before);
	ok = kept_whole(p, &d);
out:
	ksm_sysfs_write("run", 0);
	if (fds[0] >= 0) {
		close(fds[0]);
		close(fds[1]);
	}
	unmap_thps(raw, 1);
	ksft_test_result(ok, "a THP held by a pipe is left whole\n");
}

static void test_mlocked(void)
{
	struct counts before, d;
	char *raw = NULL, *p;
	bool ok = false;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (!setup(1))
		goto out;
	p = map_thps(1, &raw);
	if (!p)
		goto out;
	if (mlock(p, thpsize)) {
		ksft_print_msg("mlock: %s\n", strerror(errno));
		goto out;
	}
	counts_read(&before);
	if (!merge_and_wait(p, thpsize))
		goto out;
	counts_delta(&d, &before);
	ok = kept_whole(p, &d) && all_zero(p, thpsize);
out:
	ksm_sysfs_write("run", 0);
	unmap_thps(raw, 1);
	ksft_test_result(ok, "an mlocked zero-filled THP is left whole (split_min=1)\n");
}

static void test_uffd_wp(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP,
	};
	struct counts before, d;
	char *raw = NULL, *p;
	bool ok = false;
	int uffd;

	ksft_print_msg("[RUN] %s\n", __func__);
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
	    !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		if (uffd >= 0)
			close(uffd);
		ksft_test_result_skip("no userfaultfd write protection\n");
		return;
	}
	if (!setup(1))
		goto out;
	p = map_thps(1, &raw);
	if (!p)
		goto out;
	if (uffd_register(uffd, p, thpsize, false, true, false)) {
		ksft_print_msg("UFFDIO_REGISTER_MODE_WP failed\n");
		goto out;
	}
	counts_read(&before);
	if (!merge_and_wait(p, thpsize))
		goto out;
	counts_delta(&d, &before);
	ok = kept_whole(p, &d);
out:
	ksm_sysfs_write("run", 0);
	unmap_thps(raw, 1);
	close(uffd);
	ksft_test_result(ok, "a zero-filled THP armed for uffd-wp is left whole\n");
}

/* A write splits the huge zero PMD: one page less is KSM's. */
static void test_write_after_merge(void)
{
	struct counts before, d, after;
	char *raw, *p;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	p = merge_zero_thps(1, &raw, &before, &d);
	ok = p && is_huge_zero(p, &d, 1);
	if (ok) {
		p[thpsize / 2] = 7;
		counts_delta(&after, &before);
		ok = after.zero == (long)nr_sub - 1 &&
		     after.own == (long)nr_sub - 1 && p[thpsize / 2] == 7 &&
		     all_zero(p, thpsize / 2) &&
		     all_zero(p + thpsize / 2 + 1, thpsize / 2 - 1);
	}
	unmap_thps(raw, 1);
	counts_delta(&after, &before);
	ok = ok && after.zero == 0 && after.own == 0;
	ksft_test_result(ok, "a write to a merged THP takes one page, munmap the rest\n");
}

static void test_fork_after_merge(void)
{
	struct counts before, d;
	char *raw, *p;
	int status;
	long zero1;
	pid_t pid;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	p = merge_zero_thps(1, &raw, &before, &d);
	ok = p && is_huge_zero(p, &d, 1);
	if (!ok)
		goto out;
	pid = fork();
	if (!pid) {
		/* The child starts with the count of its parent. */
		long own = before.own + (long)nr_sub;
		bool child_ok = all_zero(p, thpsize) &&
				ksm_stat_read(getpid(), "ksm_zero_pages") == own;

		p[0] = 1;
		child_ok = child_ok && p[0] == 1 &&
			   ksm_stat_read(getpid(), "ksm_zero_pages") == own - 1;
		_exit(child_ok ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		ok = false;
		goto out;
	}
	zero1 = ksm_sysfs_read("ksm_zero_pages") - before.zero;
	ksft_print_msg("child exit status %d, ksm_zero_pages %+ld after it\n",
		       WEXITSTATUS(status), zero1);
	ok = WIFEXITED(status) && !WEXITSTATUS(status) &&
	     zero1 == (long)nr_sub && all_zero(p, thpsize) &&
	     ksm_stat_read(getpid(), "ksm_zero_pages") - before.own ==
	     (long)nr_sub;
out:
	unmap_thps(raw, 1);
	ksft_test_result(ok, "fork after the merge: the child shares and counts it\n");
}

/*
 * Fork copies neither a MADV_DONTFORK nor a MADV_WIPEONFORK huge zero PMD:
 * of three merged THPs, the child maps and counts the third only, and the
 * global count is back where it was once it has exited.
 */
static void test_fork_dontfork(void)
{
	struct counts before, d;
	long zero0, zero1;
	char *raw, *p;
	int status;
	pid_t pid;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	p = merge_zero_thps(3, &raw, &before, &d);
	ok = p && d.thp_merged == 3 && d.own == 3 * (long)nr_sub;
	if (!ok)
		goto out;
	if (madvise(p, thpsize, MADV_DONTFORK) ||
	    madvise(p + thpsize, thpsize, MADV_WIPEONFORK)) {
		ok = false;
		goto out;
	}
	zero0 = ksm_sysfs_read("ksm_zero_pages");
	pid = fork();
	if (!pid) {
		long own = before.own + (long)nr_sub;

		_exit(ksm_stat_read(getpid(), "ksm_zero_pages") == own &&
		      all_zero(p + 2 * thpsize, thpsize) ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		ok = false;
		goto out;
	}
	zero1 = ksm_sysfs_read("ksm_zero_pages");
	ksft_print_msg("child exit status %d, ksm_zero_pages %ld, then %ld\n",
		       WEXITSTATUS(status), zero0, zero1);
	ok = WIFEXITED(status) && !WEXITSTATUS(status) && zero1 == zero0 &&
	     anon_huge_kb(p) == 0;
out:
	unmap_thps(raw, 3);
	ksft_test_result(ok, "fork counts no DONTFORK or WIPEONFORK huge zero PMD\n");
}

/*
 * UFFDIO_MOVE of a merged THP, whole (the huge zero PMD moves) or one page
 * of it (its PMD is split, one KSM zero PTE moves): the moved zero pages
 * stay counted as KSM's, and unmapping gives the count back.
 */
static void test_uffd_move(bool whole)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MOVE };
	size_t len = whole ? thpsize : pagesize;
	struct counts before, d, after;
	char *raw, *p, *draw = NULL, *dst;
	struct uffdio_move move;
	bool ok = false;
	int uffd;

	ksft_print_msg("[RUN] %s %s\n", __func__, whole ? "THP" : "one page");
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
	    !(api.features & UFFD_FEATURE_MOVE)) {
		if (uffd >= 0)
			close(uffd);
		ksft_test_result_skip("no UFFDIO_MOVE\n");
		return;
	}
	p = merge_zero_thps(1, &raw, &before, &d);
	if (!p || !is_huge_zero(p, &d, 1))
		goto out;
	draw = mmap(NULL, 2 * thpsize, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (draw == MAP_FAILED) {
		draw = NULL;
		goto out;
	}
	dst = (char *)(((unsigned long)draw + thpsize - 1) & ~(thpsize - 1));
	if (uffd_register(uffd, dst, thpsize, true, false, false)) {
		ksft_print_msg("UFFDIO_REGISTER failed\n");
		goto out;
	}
	move.dst = (unsigned long)dst;
	move.src = (unsigned long)p;
	move.len = len;
	move.mode = 0;
	move.move = 0;
	if (ioctl(uffd, UFFDIO_MOVE, &move) || move.move != (int64_t)len) {
		ksft_print_msg("UFFDIO_MOVE: %s, moved %lld\n", strerror(errno),
			       (long long)move.move);
		goto out;
	}
	counts_delta(&after, &before);
	ok = after.zero == (long)nr_sub && after.own == (long)nr_sub &&
	     all_zero(dst, len);
	munmap(draw, 2 * thpsize);
	draw = NULL;
	unmap_thps(raw, 1);
	raw = NULL;
	counts_delta(&after, &before);
	ok = ok && after.zero == 0 && after.own == 0;
out:
	if (draw)
		munmap(draw, 2 * thpsize);
	unmap_thps(raw, 1);
	close(uffd);
	ksft_test_result(ok, "UFFDIO_MOVE of %s of a merged THP keeps it counted\n",
			 whole ? "all" : "one page");
}

/* MADV_UNMERGEABLE or run=2 give every page back, zero-filled. */
static void test_unmerge(bool run2)
{
	struct counts before, d, after;
	long rss1, rss2;
	char *raw, *p;
	bool ok;

	ksft_print_msg("[RUN] %s %s\n", __func__,
		       run2 ? "run=2" : "MADV_UNMERGEABLE");
	p = merge_zero_thps(1, &raw, &before, &d);
	ok = p && is_huge_zero(p, &d, 1);
	if (ok) {
		rss1 = rss_anon();
		if (run2)
			ok = ksm_sysfs_write("run", 2);
		else
			ok = !madvise(p, thpsize, MADV_UNMERGEABLE);
		rss2 = rss_anon();
		counts_delta(&after, &before);
		ksft_print_msg("RssAnon %ld kB, %ld kB after unmerging\n",
			       rss1, rss2);
		ok = ok && after.zero == 0 && after.own == 0 &&
		     rss2 >= rss1 + (long)(thpsize >> 10) &&
		     all_zero(p, thpsize);
	}
	unmap_thps(raw, 1);
	ksft_test_result(ok, "%s unshares the huge zero page that KSM placed\n",
			 run2 ? "run=2" : "MADV_UNMERGEABLE");
}

/* Without the huge zero page, a zero-filled THP is split into zero pages. */
static void test_no_huge_zero_page(void)
{
	struct counts before, d;
	char old[64], *raw = NULL, *p;
	bool ok = false;

	ksft_print_msg("[RUN] %s\n", __func__);
	if (read_thp_knob("use_zero_page", old, sizeof(old)) ||
	    !write_thp_knob("use_zero_page", "0")) {
		ksft_test_result_skip("cannot set transparent_hugepage/use_zero_page\n");
		return;
	}
	if (!setup(nr_sub))
		goto out;
	p = map_thps(1, &raw);
	if (!p)
		goto out;
	counts_read(&before);
	if (!merge_and_wait(p, thpsize))
		goto out;
	counts_delta(&d, &before);
	ok = d.splits == 1 && d.thp_merged == 0 && d.zero == (long)nr_sub &&
	     d.own == (long)nr_sub && anon_huge_kb(p) == 0 &&
	     all_zero(p, thpsize);
out:
	ksm_sysfs_write("run", 0);
	unmap_thps(raw, 1);
	write_thp_knob("use_zero_page", old);
	ksft_test_result(ok, "use_zero_page=0: split, pages become KSM zero pages\n");
}

/*
 * Soft-dirty pages of @nr THPs from @p, from page @first of each THP on:
 * among the even THPs (*@sd_written: written after clear_refs) and the odd
 * ones (*@sd_clean: left untouched). False if pagemap cannot be read.
 */
static bool count_soft_dirty(char *p, size_t nr, size_t first,
			     long *sd_written, long *sd_clean)
{
	size_t i, j;
	int fd;

	*sd_written = 0;
	*sd_clean = 0;
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return false;
	for (i = 0; i < nr; i++) {
		for (j = first; j < nr_sub; j++) {
			if (!pagemap_is_softdirty(fd, p + i * thpsize + j * pagesize))
				continue;
			if (i % 2)
				(*sd_clean)++;
			else
				(*sd_written)++;
		}
	}
	close(fd);
	return true;
}

/* How many pages of [@p, @p + @size) map the zero page, small or huge. */
static long count_zero_mapped(const char *p, size_t size)
{
	size_t off;
	long n = 0;

	for (off = 0; off < size; off += pagesize)
		n += !!(kpageflags_at(p + off) & (1ULL << KPF_ZERO_PAGE));
	return n;
}

#define SOFT_DIRTY_FMT \
	"%ld of %zu written pages soft-dirty, %ld of %zu clean pages soft-dirty\n"

enum sd_split { SD_NO_SPLIT, SD_SPLIT_MPROTECT, SD_SPLIT_DONTNEED };

static const char *const sd_split_name[] = {
	[SD_NO_SPLIT] = "merged",
	[SD_SPLIT_MPROTECT] = "split by mprotect()",
	[SD_SPLIT_DONTNEED] = "split by MADV_DONTNEED",
};

/*
 * A merge is not a write: a zero-filled THP replaced by the huge zero page
 * keeps the soft-dirty bit of its PMD, and the split of that huge zero PMD
 * into KSM zero PTEs (by an mprotect() or a MADV_DONTNEED of one page of
 * it, neither of which writes) gives it to each PTE. With ksmd stopped,
 * clear_refs clears the bits and the even THPs are written again with
 * zeros; once merged (and split), every page of the even THPs must be
 * soft-dirty and every page of the odd ones clean.
 */
static void test_soft_dirty(enum sd_split how)
{
	const size_t nr = 4, half_pages = nr / 2 * nr_sub;
	const char *what = sd_split_name[how];
	size_t size = nr * thpsize, i, first = 0;
	long sd_written, sd_clean, zero_mapped;
	struct counts before, d;
	char *raw = NULL, *p;
	bool ok = false;

	ksft_print_msg("[RUN] %s %s\n", __func__, what);
	if (access("/proc/self/clear_refs", W_OK) || !softdirty_supported()) {
		ksft_test_result_skip("%s: no soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY)\n",
				      what);
		return;
	}
	if (how != SD_NO_SPLIT && !has_split_min) {
		ksft_test_result_skip("%s: KSM maps no huge zero page here\n",
				      what);
		return;
	}
	if (!setup(nr_sub))
		goto out;
	p = map_thps(nr, &raw);
	if (!p)
		goto out;
	/* Registered before clear_refs: no vma change after it. */
	if (madvise(p, size, MADV_MERGEABLE)) {
		ksft_print_msg("madvise: %s\n", strerror(errno));
		goto out;
	}
	clear_softdirty();
	for (i = 0; i < nr; i += 2)
		memset(p + i * thpsize, 0, thpsize);
	if (!count_soft_dirty(p, nr, 0, &sd_written, &sd_clean))
		goto out;
	if (!sd_written && !sd_clean) {
		unmap_thps(raw, nr);
		ksft_test_result_skip("%s: no page reads as soft-dirty after a write\n",
				      what);
		return;
	}
	if (sd_written != (long)half_pages || sd_clean) {
		ksft_print_msg("before merging: " SOFT_DIRTY_FMT, sd_written,
			       half_pages, sd_clean, half_pages);
		goto out;
	}

	counts_read(&before);
	if (!merge_and_wait(p, size))
		goto out;
	/* Without the THP path, KSM may need more scans. */
	for (i = 0; i < 3 && count_zero_mapped(p, size) < (long)(nr * nr_sub); i++)
		if (!ksm_wait_full_scans(1, 60))
			goto out;
	ksm_sysfs_write("run", 0);
	counts_delta(&d, &before);
	zero_mapped = count_zero_mapped(p, size);
	ksft_print_msg("%ld of %zu pages map the zero page\n", zero_mapped,
		       nr * nr_sub);
	if (zero_mapped != (long)(nr * nr_sub) || !all_zero(p, size))
		goto out;
	/* With the THP path, each THP must be the huge zero page. */
	for (i = 0; has_split_min && i < nr; i++)
		if (!is_huge_zero(p + i * thpsize, &d, nr))
			goto out;
	if (!has_split_min)
		ksft_print_msg("no huge zero page here: %ld THPs split\n", d.splits);

	if (how != SD_NO_SPLIT) {
		/* Split each huge zero PMD at its first page, without a write. */
		for (i = 0; i < nr; i++) {
			char *q = p + i * thpsize;

			if (how == SD_SPLIT_MPROTECT ?
			    mprotect(q, pagesize, PROT_READ) :
			    madvise(q, pagesize, MADV_DONTNEED)) {
				ksft_print_msg("splitting: %s\n", strerror(errno));
				goto out;
			}
		}
		/* A zapped page is not mapped: it has no soft-dirty bit. */
		first = how == SD_SPLIT_DONTNEED;
		counts_delta(&d, &before);
		for (i = 0; i < nr; i++) {
			uint64_t flags = kpageflags_at(p + i * thpsize + thpsize / 2);

			if (flags & (1ULL << KPF_THP) ||
			    !(flags & (1ULL << KPF_ZERO_PAGE))) {
				ksft_print_msg("THP %zu not split: kpageflags %#llx\n",
					       i, (unsigned long long)flags);
				goto out;
			}
		}
		if (d.own != (long)(nr * (nr_sub - first)) || d.splits) {
			ksft_print_msg("not KSM zero pages after the split\n");
			goto out;
		}
	}

	count_soft_dirty(p, nr, first, &sd_written, &sd_clean);
	ksft_print_msg("%s: " SOFT_DIRTY_FMT, what, sd_written,
		       nr / 2 * (nr_sub - first), sd_clean,
		       nr / 2 * (nr_sub - first));
	ok = sd_written == (long)(nr / 2 * (nr_sub - first)) && !sd_clean;
out:
	ksm_sysfs_write("run", 0);
	unmap_thps(raw, nr);
	ksft_test_result(ok, "soft-dirty exact on zero-filled THPs, %s\n", what);
}

/* A thread that writes one byte and then says so through a pipe. */
struct uffd_wp_write {
	char *addr;
	int done_fd;
};

static void *uffd_wp_writer(void *arg)
{
	struct uffd_wp_write *w = arg;

	__atomic_store_n(w->addr, 7, __ATOMIC_RELAXED);
	if (write(w->done_fd, "", 1) != 1)
		ksft_print_msg("writer: write() to the pipe failed\n");
	return NULL;
}

/*
 * Write 7 to @addr from a second thread: 1 if the userfaultfd monitor saw
 * a write-protect fault on its page (then resolved), 0 if the write went
 * through unreported, -1 on any other error.
 */
static int uffd_wp_write_reported(int uffd, char *addr)
{
	struct uffdio_writeprotect wp;
	struct uffd_wp_write w;
	int done[2], reported = -1;
	struct pollfd pfd[2];
	struct uffd_msg msg;
	pthread_t thread;
	char c;

	if (pipe(done))
		return -1;
	w.addr = addr;
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
		reported = 0;
		goto out_unprotect;
	}
	if (read(uffd, &msg, sizeof(msg)) != sizeof(msg) ||
	    msg.event != UFFD_EVENT_PAGEFAULT ||
	    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ||
	    (msg.arg.pagefault.address & ~(pagesize - 1)) !=
	    ((unsigned long)addr & ~(pagesize - 1))) {
		ksft_print_msg("no write-protect fault at %p reported\n", addr);
		goto out_unprotect;
	}
	reported = 1;
out_unprotect:
	/* Resolve the fault (if any) so that the writer finishes. */
	wp.range.start = (unsigned long)addr & ~(pagesize - 1);
	wp.range.len = pagesize;
	wp.mode = 0;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		reported = -1;
	if (read(done[0], &c, 1) != 1)
		reported = -1;
	pthread_join(thread, NULL);
	close(done[0]);
	close(done[1]);
	return reported;
}

/*
 * A zero-filled THP write-protected with UFFDIO_WRITEPROTECT is left whole
 * (even at zero_pages_thp_split_min=1), and a write to it is still
 * reported to the monitor.
 */
static void test_uffd_wp_protected(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP,
	};
	struct uffdio_writeprotect wp;
	char *raw = NULL, *p = NULL;
	struct counts before, d;
	int uffd, reported = -1;
	bool ok = false;

	ksft_print_msg("[RUN] %s\n", __func__);
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
	    !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		if (uffd >= 0)
			close(uffd);
		ksft_test_result_skip("no userfaultfd write protection\n");
		return;
	}
	if (!setup(1))
		goto out;
	p = map_thps(1, &raw);
	if (!p)
		goto out;
	if (uffd_register(uffd, p, thpsize, false, true, false)) {
		ksft_print_msg("UFFDIO_REGISTER_MODE_WP failed\n");
		goto out;
	}
	wp.range.start = (unsigned long)p;
	wp.range.len = thpsize;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp)) {
		ksft_print_msg("UFFDIO_WRITEPROTECT failed\n");
		goto out;
	}
	counts_read(&before);
	if (!merge_and_wait(p, thpsize))
		goto out;
	ksm_sysfs_write("run", 0);
	counts_delta(&d, &before);
	ok = kept_whole(p, &d) && all_zero(p, thpsize);
	reported = uffd_wp_write_reported(uffd, p + thpsize / 2 + 3);
	ksft_print_msg("left whole: %s, write %sreported\n", ok ? "yes" : "no",
		       reported > 0 ? "" : "not ");
	ok = ok && reported == 1 && p[thpsize / 2 + 3] == 7;
out:
	ksm_sysfs_write("run", 0);
	unmap_thps(raw, 1);
	close(uffd);
	ksft_test_result(ok,
			 "a zero-filled THP under UFFDIO_WRITEPROTECT is left whole, writes reported\n");
}

static void restore(void)
{
	ksm_sysfs_write("run", 2);
	ksm_sysfs_restore(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
}

int main(void)
{
	char enabled[128];

	ksft_print_header();
	ksft_set_plan(22);
	pagesize = getpagesize();
	thpsize = read_pmd_pagesize();
	if (!thpsize || read_thp_knob("enabled", enabled, sizeof(enabled)) ||
	    strstr(enabled, "[never]"))
		ksft_exit_skip("transparent huge pages are not available\n");
	/* The base kernel is tested as it is, to show how it differs. */
	has_split_min = ksm_sysfs_read("zero_pages_thp_split_min") > 0;
	if (!has_split_min)
		ksft_print_msg("no zero_pages_thp_split_min: testing the kernel as it is\n");
	if (vmstat_read("thp_split_page") < 0)
		ksft_exit_skip("no thp_split_page in /proc/vmstat (CONFIG_VM_EVENT_COUNTERS)\n");
	if (access("/proc/kpageflags", R_OK))
		ksft_exit_skip("/proc/kpageflags is not readable (root needed)\n");
	nr_sub = thpsize / pagesize;
	ksm_sysfs_save(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	ksm_sysfs_write("smart_scan", 0);

	test_zero_thp();
	test_last_byte();
	/* Before the case whose THPs leave marks (run=2 drops them too). */
	test_sample_miss(true);
	test_sample_miss(false);
	test_half_zero(false);
	test_half_zero(true);
	test_pinned();
	test_mlocked();
	test_uffd_wp();
	test_write_after_merge();
	test_fork_after_merge();
	test_fork_dontfork();
	test_uffd_move(true);
	test_uffd_move(false);
	test_unmerge(false);
	test_unmerge(true);
	test_no_huge_zero_page();
	test_uffd_wp_protected();
	test_soft_dirty(SD_NO_SPLIT);
	test_soft_dirty(SD_SPLIT_MPROTECT);
	test_soft_dirty(SD_SPLIT_DONTNEED);
	/* zero_pages_thp_merged is read-only. */
	ksft_test_result(ksm_sysfs_write_str("zero_pages_thp_merged", "0") != 0,
			 "zero_pages_thp_merged is read-only\n");

	restore();
	ksft_finished();
}
