// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM and zero-filled large folios mapped by PTEs (use_zero_pages=1): for
 * each multi-size THP size that the kernel offers
 * (/sys/kernel/mm/transparent_hugepage/hugepages-<N>kB below the PMD's
 * size), a zero-filled mTHP is given back whole: every page maps the zero
 * page, the folio is not split (hugepages-<N>kB/stats/split does not move)
 * and zero_pages_mthp_merged counts it. One byte that is not zero keeps
 * its folio, and only it; pinned and mlocked folios are kept; writes, fork,
 * MADV_UNMERGEABLE and run=2 after the merge behave as for any KSM zero
 * page; soft-dirty stays as it was. With zero_pages_scope=all, the same in
 * memory never registered. Last, a PMD THP whose PMD an mprotect() of one
 * page has split is given back whole in the same way.
 *
 * Each test maps its folios, starts ksmd and waits for two full scans, so
 * that ksmd has seen every page of the area at least once.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

#define THP_PATH "/sys/kernel/mm/transparent_hugepage/"
#define KPF_THP		22
#define KPF_ZERO_PAGE	24
#define MAX_SIZES	16
/* Folios of each size per test: as many as fit in 16 MiB, 2 to 16. */
#define AREA_BYTES	(16UL << 20)

static size_t pagesize, pmdsize;
static size_t sizes[MAX_SIZES];		/* mTHP sizes, in bytes, below the PMD's */
static char saved_enabled[MAX_SIZES + 1][16];	/* and the PMD's, last */
static int nr_sizes;

static const char *const saved_knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"zero_pages_min_age", "smart_scan",
};

static long saved[ARRAY_SIZE(saved_knobs)];

/*
 * vm.compaction_proactiveness, set to 0 while the tests run so that
 * kcompactd does not compact on its own (see "compacted"); -1 if unknown.
 */
#define PROACTIVENESS "/proc/sys/vm/compaction_proactiveness"
static int saved_proactiveness = -1;

static int proactiveness_read(void)
{
	FILE *f = fopen(PROACTIVENESS, "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void proactiveness_write(int v)
{
	FILE *f = fopen(PROACTIVENESS, "w");

	if (f) {
		fprintf(f, "%d\n", v);
		fclose(f);
	}
}

/* Set by area_map() when a test could not have the folios it maps. */
static bool no_folios;

/*
 * Set by counts_delta() when a folio of the test's size was split while
 * compaction isolated pages: compaction migrates large folios below a
 * pageblock's size (256 MiB ones with 64 KiB pages, whose pageblock is
 * 512 MiB), and migration splits a large folio that it cannot place
 * whole (migrate_pages_batch()).
 */
static bool compacted;

/*
 * The result of a test: a skip if it failed for want of folios of its
 * size (memory too fragmented for them), which is the allocator's doing,
 * or after a split while compaction ran, which is compaction's.
 */
static void result(bool ok, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!ok && no_folios)
		ksft_test_result_skip("%s: the folios could not be allocated\n", msg);
	else if (!ok && compacted)
		ksft_test_result_skip("%s: a folio split while compaction ran\n", msg);
	else
		ksft_test_result(ok, "%s\n", msg);
	no_folios = false;
	compacted = false;
}

/* hugepages-<size in kB>kB/<name> of the THP directory, into @buf. */
static int read_size_knob(size_t size, const char *name, char *buf, size_t len)
{
	char path[192];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), THP_PATH "hugepages-%zukB/%s", size >> 10,
		 name);
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

static bool write_size_knob(size_t size, const char *name, const char *val)
{
	char path[192];
	bool ok;
	int fd;

	snprintf(path, sizeof(path), THP_PATH "hugepages-%zukB/%s", size >> 10,
		 name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

/* hugepages-<size>/stats/@name, -1 if there is none. */
static long size_stat(size_t size, const char *name)
{
	char stat[64], buf[32];

	snprintf(stat, sizeof(stat), "stats/%s", name);
	if (read_size_knob(size, stat, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
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

/* The bracketed word of an "enabled" file: "always [never]" -> "never". */
static void selected(const char *buf, char *out, size_t len)
{
	const char *a = strchr(buf, '['), *b = a ? strchr(a, ']') : NULL;

	snprintf(out, len, "%.*s", a && b ? (int)(b - a - 1) : 0,
		 a && b ? a + 1 : "");
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The mTHP sizes of anonymous memory below the PMD's size, in sizes[],
 * smallest first: those whose directory has an "enabled" file (a size
 * for shmem only has none).
 */
static void find_sizes(void)
{
	struct dirent *e;
	char buf[64];
	size_t kb;
	DIR *d;

	d = opendir(THP_PATH);
	if (!d)
		return;
	while ((e = readdir(d)) && nr_sizes < MAX_SIZES)
		if (sscanf(e->d_name, "hugepages-%zukB", &kb) == 1 &&
		    (kb << 10) < pmdsize &&
		    !read_size_knob(kb << 10, "enabled", buf, sizeof(buf)))
			sizes[nr_sizes++] = kb << 10;
	closedir(d);
	qsort(sizes, nr_sizes, sizeof(sizes[0]), cmp_size);
}

/* Only @size (an mTHP size or the PMD's) on "always", the others "never". */
static bool only_size(size_t size)
{
	bool ok = true;
	int i;

	for (i = 0; i < nr_sizes; i++)
		ok &= write_size_knob(sizes[i], "enabled",
				      sizes[i] == size ? "always" : "never");
	return write_size_knob(pmdsize, "enabled",
			       pmdsize == size ? "always" : "never") && ok;
}

static void restore(void)
{
	int i;

	ksm_sysfs_write("run", 2);
	for (i = 0; i < nr_sizes; i++)
		if (saved_enabled[i][0])
			write_size_knob(sizes[i], "enabled", saved_enabled[i]);
	if (saved_enabled[MAX_SIZES][0])
		write_size_knob(pmdsize, "enabled", saved_enabled[MAX_SIZES]);
	ksm_sysfs_write_str("zero_pages_scope", "mergeable");
	ksm_sysfs_restore(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	if (saved_proactiveness >= 0)
		proactiveness_write(saved_proactiveness);
}

/* The /proc/kpageflags of the page mapped at @addr, 0 if none. */
static uint64_t kpageflags_at(int pagemap_fd, int kpf_fd, const char *addr)
{
	unsigned long pfn = pagemap_get_pfn(pagemap_fd, (char *)addr);
	uint64_t flags = 0;

	if (pfn == -1UL ||
	    pread(kpf_fd, &flags, sizeof(flags), pfn * sizeof(flags)) !=
	    sizeof(flags))
		return 0;
	return flags;
}

/*
 * How the @npages pages from @p map: @zero of them the zero page, @thp of
 * them a page of a large folio (the huge zero page aside).
 */
static void page_kinds(const char *p, size_t npages, long *zero, long *thp)
{
	int pm = open("/proc/self/pagemap", O_RDONLY);
	int kpf = open("/proc/kpageflags", O_RDONLY);
	uint64_t f;
	size_t i;

	*zero = *thp = 0;
	for (i = 0; pm >= 0 && kpf >= 0 && i < npages; i++) {
		f = kpageflags_at(pm, kpf, p + i * pagesize);
		if (f & (1ULL << KPF_ZERO_PAGE))
			(*zero)++;
		else if (f & (1ULL << KPF_THP))
			(*thp)++;
	}
	if (pm >= 0)
		close(pm);
	if (kpf >= 0)
		close(kpf);
}

static bool all_zero(const char *p, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (p[i])
			return false;
	return true;
}

/* Start from nothing merged, ksmd stopped, the zero-page settings. */
static bool setup(void)
{
	return ksm_sysfs_write("run", 2) &&
	       ksm_sysfs_write("use_zero_pages", 1) &&
	       ksm_sysfs_write("zero_pages_min_age", 0) &&
	       ksm_sysfs_write("pages_to_scan", 20000) &&
	       ksm_sysfs_write("sleep_millisecs", 10) &&
	       ksm_sysfs_write("run", 0);
}

/* What the counters said before a test, to compare with after. */
struct counts {
	long zero, merged, mthp_merged, own, splits, isolated;
};

static void counts_read(struct counts *c, size_t size)
{
	c->zero = ksm_sysfs_read("ksm_zero_pages");
	c->merged = ksm_sysfs_read("zero_pages_merged");
	c->mthp_merged = ksm_sysfs_read("zero_pages_mthp_merged");
	c->own = ksm_stat_read(getpid(), "ksm_zero_pages");
	c->splits = size_stat(size, "split");
	c->isolated = vmstat_read("compact_isolated");
}

static void counts_delta(struct counts *d, const struct counts *before,
			 size_t size)
{
	counts_read(d, size);
	d->zero -= before->zero;
	d->merged -= before->merged;
	d->mthp_merged -= before->mthp_merged;
	d->own -= before->own;
	d->splits -= before->splits;
	d->isolated -= before->isolated;
	ksft_print_msg("ksm_zero_pages %+ld, merged %+ld, mthp %+ld, ksm_stat %+ld, splits %+ld\n",
		       d->zero, d->merged, d->mthp_merged, d->own, d->splits);
	if (d->splits > 0 && d->isolated > 0) {
		ksft_print_msg("compaction isolated %ld pages meanwhile\n",
			       d->isolated);
		compacted = true;
	}
}

/* An area of @size-folios, with its mapping and size. */
struct area {
	char *raw, *p;
	size_t size, folio, nr;		/* bytes, bytes of a folio, folios */
};

static void area_unmap(struct area *a)
{
	if (a->raw)
		munmap(a->raw, a->size + a->folio);
	a->raw = NULL;
}

/*
 * @nr folios of @folio bytes, aligned, zero-filled by writes: false if
 * fewer than @nr folios of that size came (anon_fault_alloc).
 */
static bool area_map(struct area *a, size_t folio, size_t nr)
{
	long alloc0 = size_stat(folio, "anon_fault_alloc"), alloc;

	a->folio = folio;
	a->nr = nr;
	a->size = nr * folio;
	a->raw = mmap(NULL, a->size + folio, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a->raw == MAP_FAILED) {
		a->raw = NULL;
		ksft_print_msg("mmap: %s\n", strerror(errno));
		return false;
	}
	a->p = (char *)(((unsigned long)a->raw + folio - 1) & ~(folio - 1));
	if (folio == pmdsize)
		madvise(a->p, a->size, MADV_HUGEPAGE);
	memset(a->p, 0, a->size);
	alloc = size_stat(folio, "anon_fault_alloc") - alloc0;
	if (alloc < (long)nr) {
		ksft_print_msg("%zu kB: %ld of %zu folios faulted in\n",
			       folio >> 10, alloc, nr);
		no_folios = true;
		return false;
	}
	return true;
}

/* Register @a, start ksmd, wait for two full scans, stop it. */
static bool merge_and_wait(struct area *a)
{
	bool ok;

	if (madvise(a->p, a->size, MADV_MERGEABLE)) {
		ksft_print_msg("madvise: %s\n", strerror(errno));
		return false;
	}
	ok = ksm_sysfs_write("run", 1) && ksm_wait_full_scans(2, 120);
	ksm_sysfs_write("run", 0);
	return ok;
}

/*
 * The first @whole folios of @a given back whole and the others kept:
 * pages, counters and content.
 */
static bool given_back(const struct area *a, const struct counts *d,
		       size_t whole)
{
	long npages = a->size / pagesize, per = a->folio / pagesize;
	long zero, thp;

	page_kinds(a->p, npages, &zero, &thp);
	ksft_print_msg("%ld pages on the zero page, %ld in large folios, of %ld\n",
		       zero, thp, npages);
	return zero == (long)whole * per && thp == npages - zero &&
	       d->mthp_merged == (long)whole &&
	       d->zero == (long)whole * per && d->merged == (long)whole * per &&
	       d->own == (long)whole * per && d->splits == 0 &&
	       all_zero(a->p, a->size);
}

static size_t folios_for(size_t folio)
{
	size_t nr = AREA_BYTES / folio;

	return nr < 2 ? 2 : nr > 16 ? 16 : nr;
}

/* Map, fault in and merge @folio-sized folios; @before taken after the faults. */
static bool prepare(struct area *a, size_t folio, struct counts *before)
{
	memset(a, 0, sizeof(*a));
	if (!setup() || !only_size(folio))
		return false;
	if (!area_map(a, folio, folios_for(folio)))
		return false;
	counts_read(before, folio);
	return true;
}

static void test_whole(size_t folio)
{
	struct counts before, d;
	struct area a = { 0 };
	bool ok;

	ksft_print_msg("[RUN] %s %zu kB\n", __func__, folio >> 10);
	ok = prepare(&a, folio, &before) && merge_and_wait(&a);
	if (ok) {
		counts_delta(&d, &before, folio);
		ok = given_back(&a, &d, a.nr);
	}
	area_unmap(&a);
	result(ok, "%zu kB: zero-filled mTHPs given back whole, none split",
	       folio >> 10);
}

/* One byte of the last page of the first folio: that folio is kept. */
static void test_one_byte(size_t folio)
{
	struct counts before, d;
	struct area a = { 0 };
	long zero, thp;
	bool ok;

	ksft_print_msg("[RUN] %s %zu kB\n", __func__, folio >> 10);
	ok = prepare(&a, folio, &before);
	if (ok) {
		/* The last folio, so that the others come first. */
		a.p[a.size - 1] = 1;
		ok = merge_and_wait(&a);
	}
	if (ok) {
		counts_delta(&d, &before, folio);
		page_kinds(a.p + a.size - folio, folio / pagesize, &zero, &thp);
		a.p[a.size - 1] = 0;
		ok = given_back(&a, &d, a.nr - 1) && !zero &&
		     thp == (long)(folio / pagesize);
	}
	area_unmap(&a);
	result(ok, "%zu kB: one byte set keeps its folio whole, the others go",
	       folio >> 10);
}

/* A folio held by a pipe (vmsplice), then mlocked folios: all kept. */
static void test_pinned_mlocked(size_t folio)
{
	struct counts before, d;
	int fds[2] = { -1, -1 };
	struct iovec iov;
	long zero, thp;
	struct area a = { 0 };
	bool ok;

	ksft_print_msg("[RUN] %s %zu kB\n", __func__, folio >> 10);
	ok = !pipe(fds) && prepare(&a, folio, &before);
	if (ok) {
		iov.iov_base = a.p;
		iov.iov_len = pagesize;
		ok = vmsplice(fds[1], &iov, 1, 0) == (ssize_t)iov.iov_len;
		if (!ok)
			ksft_print_msg("vmsplice: %s\n", strerror(errno));
	}
	ok = ok && merge_and_wait(&a);
	if (ok) {
		counts_delta(&d, &before, folio);
		/* The first folio is pinned: only the others go. */
		page_kinds(a.p, folio / pagesize, &zero, &thp);
		ok = d.mthp_merged == (long)a.nr - 1 && d.splits == 0 &&
		     !zero && thp == (long)(folio / pagesize);
	}
	area_unmap(&a);
	if (fds[0] >= 0) {
		close(fds[0]);
		close(fds[1]);
	}
	if (ok) {
		ok = prepare(&a, folio, &before) && !mlock(a.p, a.size) &&
		     merge_and_wait(&a);
		if (ok) {
			counts_delta(&d, &before, folio);
			ok = d.mthp_merged == 0 && d.zero == 0 && d.splits == 0;
		}
		area_unmap(&a);
	}
	result(ok, "%zu kB: a pinned mTHP and mlocked mTHPs are kept whole",
	       folio >> 10);
}

/*
 * After the merge: a write takes one page, fork shares and counts the zero
 * pages in the child, MADV_UNMERGEABLE (or run=2) gives every count back.
 */
static void test_after_merge(size_t folio, bool run2)
{
	long npages, zero0, own;
	struct counts before, d;
	struct area a = { 0 };
	int status;
	pid_t pid;
	bool ok;

	ksft_print_msg("[RUN] %s %zu kB\n", __func__, folio >> 10);
	ok = prepare(&a, folio, &before) && merge_and_wait(&a);
	if (!ok)
		goto out;
	counts_delta(&d, &before, folio);
	npages = a.size / pagesize;
	ok = d.zero == npages;
	/* A write: that page alone leaves the zero page. */
	a.p[pagesize + 1] = 7;
	zero0 = ksm_sysfs_read("ksm_zero_pages");
	own = ksm_stat_read(getpid(), "ksm_zero_pages");
	ok = ok && a.p[pagesize + 1] == 7 && zero0 == before.zero + npages - 1 &&
	     own == before.own + npages - 1;
	a.p[pagesize + 1] = 0;
	/* fork: the child maps and counts the same zero pages. */
	fflush(stdout);
	pid = fork();
	if (!pid)
		_exit(ksm_stat_read(getpid(), "ksm_zero_pages") == npages - 1 &&
		      all_zero(a.p, a.size) ? 0 : 1);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		ksft_print_msg("the child did not see its zero pages\n");
		ok = false;
	}
	if (ksm_sysfs_read("ksm_zero_pages") != zero0) {
		ksft_print_msg("ksm_zero_pages %ld after the child, %ld before\n",
			       ksm_sysfs_read("ksm_zero_pages"), zero0);
		ok = false;
	}
	if (run2 ? !ksm_sysfs_write("run", 2) :
		   madvise(a.p, a.size, MADV_UNMERGEABLE) != 0) {
		ok = false;
		goto out;
	}
	ksft_print_msg("after %s: ksm_zero_pages %ld (%ld before), own %ld\n",
		       run2 ? "run=2" : "MADV_UNMERGEABLE",
		       ksm_sysfs_read("ksm_zero_pages"), before.zero,
		       ksm_stat_read(getpid(), "ksm_zero_pages"));
	ok = ok && ksm_sysfs_read("ksm_zero_pages") == before.zero &&
	     ksm_stat_read(getpid(), "ksm_zero_pages") == before.own &&
	     all_zero(a.p, a.size);
out:
	area_unmap(&a);
	result(ok, "%zu kB: write, fork and %s after the merge",
	       folio >> 10, run2 ? "run=2" : "MADV_UNMERGEABLE");
}

/*
 * A merge is not a write: the soft-dirty bit of each page (bit 55 of
 * pagemap) reads the same after the merge as before, clear after
 * clear_refs and set without.
 */
static void test_soft_dirty(size_t folio, bool cleared)
{
	struct counts before, d;
	struct area a = { 0 };
	size_t i, bad = 0;
	bool ok;
	int fd;

	ksft_print_msg("[RUN] %s %zu kB %s\n", __func__, folio >> 10,
		       cleared ? "clean" : "dirty");
	if (!softdirty_supported()) {
		ksft_test_result_skip("%zu kB: soft-dirty %s: no soft-dirty tracking\n",
				      folio >> 10, cleared ? "clean" : "set");
		return;
	}
	ok = prepare(&a, folio, &before);
	if (ok && cleared)
		clear_softdirty();
	ok = ok && merge_and_wait(&a);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (ok && fd >= 0) {
		counts_delta(&d, &before, folio);
		ok = given_back(&a, &d, a.nr);
		for (i = 0; i < a.size / pagesize; i++)
			bad += pagemap_is_softdirty(fd, a.p + i * pagesize) == cleared;
		if (bad)
			ksft_print_msg("%zu pages with soft-dirty %s\n", bad,
				       cleared ? "set" : "clear");
		ok = ok && !bad;
	} else {
		ok = false;
	}
	if (fd >= 0)
		close(fd);
	area_unmap(&a);
	result(ok, "%zu kB: soft-dirty %s through the merge",
	       folio >> 10, cleared ? "stays clear" : "stays set");
}

/*
 * zero_pages_scope=all: the same folios in memory never registered are
 * given back whole too (never split there), the one with a byte set kept.
 */
static void test_scope_all(size_t folio)
{
	struct counts before, d;
	struct area a = { 0 };
	bool ok;

	ksft_print_msg("[RUN] %s %zu kB\n", __func__, folio >> 10);
	if (ksm_sysfs_write_str("zero_pages_scope", "all")) {
		ksft_test_result_skip("%zu kB: zero_pages_scope=all: not available\n",
				      folio >> 10);
		return;
	}
	ok = prepare(&a, folio, &before);
	if (ok) {
		a.p[a.size - 1] = 1;
		ok = ksm_sysfs_write("run", 1) && ksm_wait_full_scans(2, 120);
		ksm_sysfs_write("run", 0);
	}
	if (ok) {
		long per = folio / pagesize, zero, thp;

		/*
		 * Other processes' zero pages count in the global counters
		 * too: this process's own count must be exact.
		 */
		counts_delta(&d, &before, folio);
		page_kinds(a.p, a.size / pagesize, &zero, &thp);
		ksft_print_msg("%ld pages on the zero page, %ld in large folios\n",
			       zero, thp);
		a.p[a.size - 1] = 0;
		ok = zero == ((long)a.nr - 1) * per && thp == per &&
		     d.own == zero && d.zero >= zero &&
		     d.mthp_merged >= (long)a.nr - 1 && d.splits == 0 &&
		     all_zero(a.p, a.size);
	}
	ksm_sysfs_write("run", 2);
	ksm_sysfs_write_str("zero_pages_scope", "mergeable");
	area_unmap(&a);
	result(ok, "%zu kB: zero_pages_scope=all gives unregistered mTHPs back whole",
	       folio >> 10);
}

/*
 * A PMD THP whose PMD mprotect() of one page split, then made writable
 * again (the vmas merge back): mapped by PTEs in one vma, it is given back
 * whole too, not split.
 */
static void test_pte_mapped_thp(void)
{
	long split0 = vmstat_read("thp_split_page"), split;
	struct counts before, d;
	struct area a = { 0 };
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	memset(&a, 0, sizeof(a));
	ok = setup() && only_size(pmdsize) && area_map(&a, pmdsize, 1);
	if (!ok) {
		area_unmap(&a);
		ksft_test_result_skip("PTE-mapped THP: no THP faulted in\n");
		return;
	}
	ok = !mprotect(a.p + pagesize, pagesize, PROT_READ) &&
	     !mprotect(a.p + pagesize, pagesize, PROT_READ | PROT_WRITE);
	counts_read(&before, pmdsize);
	ok = ok && merge_and_wait(&a);
	if (ok) {
		counts_delta(&d, &before, pmdsize);
		split = vmstat_read("thp_split_page") - split0;
		ksft_print_msg("thp_split_page %+ld\n", split);
		ok = given_back(&a, &d, 1) && split == 0;
	}
	area_unmap(&a);
	result(ok, "a THP mapped by PTEs after mprotect() is given back whole");
}

/*
 * Writes through /proc/self/mem to a read-only mapping (FOLL_FORCE, as a
 * debugger's) while ksmd gives back THPs mapped by PTEs, zero-filled but
 * for those writes. Such a write needs no fault on a read-only PTE of an
 * exclusive anonymous page and leaves it read-only and clean: had ksmd
 * only write-protected the folio before reading it again, it could map
 * the zero page over a byte written after its read. A byte written must
 * read back as written, whenever ksmd gives the folio back. Once ksmd has
 * tried a folio, a write copies the page it writes (the folio is marked
 * possibly shared): a first page copied out of its THP shows a try, as a
 * THP given back does; with neither, the test skips.
 */
static void test_force_write(void)
{
	size_t nr = pmdsize > (32UL << 20) ? 2 : 8;	/* 1 GiB at 64K pages */
	size_t k, rounds = 0, lost = 0, copied = 0;
	long zero, thp;
	struct counts before, d;
	struct area a = { 0 };
	struct timespec t0, t;
	char v, got;
	int fd;
	bool ok;

	ksft_print_msg("[RUN] %s\n", __func__);
	ok = setup() && only_size(pmdsize) && area_map(&a, pmdsize, nr);
	fd = open("/proc/self/mem", O_RDWR);
	if (!ok || fd < 0) {
		area_unmap(&a);
		if (fd >= 0)
			close(fd);
		ksft_test_result_skip("FOLL_FORCE writes: no THPs, or no /proc/self/mem\n");
		return;
	}
	/* Each THP mapped by PTEs, then the whole area read-only. */
	for (k = 0; ok && k < nr; k++)
		ok = !mprotect(a.p + k * pmdsize + pagesize, pagesize, PROT_NONE);
	ok = ok && !mprotect(a.p, a.size, PROT_READ) &&
	     !madvise(a.p, a.size, MADV_MERGEABLE);
	counts_read(&before, pmdsize);
	ok = ok && ksm_sysfs_write("run", 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		v = (char)(rounds % 255 + 1);
		for (k = 0; ok && k < nr; k++)
			ok = pwrite(fd, &v, 1, (off_t)(a.p + k * pmdsize)) == 1;
		usleep(1000);
		for (k = 0; ok && k < nr; k++) {
			ok = pread(fd, &got, 1, (off_t)(a.p + k * pmdsize)) == 1;
			if (ok && got != v)
				lost++;
		}
		v = 0;
		for (k = 0; ok && k < nr; k++)
			ok = pwrite(fd, &v, 1, (off_t)(a.p + k * pmdsize)) == 1;
		usleep(1000 + rounds % 7 * 300);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (ok && t.tv_sec - t0.tv_sec < 5);
	ksm_sysfs_write("run", 0);
	close(fd);
	counts_delta(&d, &before, pmdsize);
	/* Its first page out of the THP, the rest still in it: copied. */
	for (k = 0; k < nr; k++) {
		page_kinds(a.p + k * pmdsize, 1, &zero, &thp);
		if (thp)
			continue;
		page_kinds(a.p + k * pmdsize + 2 * pagesize, 1, &zero, &thp);
		copied += thp;
	}
	ksft_print_msg("%zu rounds, %zu bytes lost, %ld of %zu THPs given back whole, ",
		       rounds, lost, d.mthp_merged, nr);
	ksft_print_msg("%zu first pages copied\n", copied);
	area_unmap(&a);
	if (ok && !lost && !d.mthp_merged && !copied) {
		ksft_test_result_skip("FOLL_FORCE writes: ksmd tried no THP meanwhile\n");
		return;
	}
	result(ok && !lost,
	       "bytes written through /proc/self/mem while THPs are given back stay");
}

int main(void)
{
	char buf[128];
	int i;

	ksft_print_header();
	pagesize = getpagesize();
	pmdsize = read_pmd_pagesize();
	if (!pmdsize || read_size_knob(pmdsize, "enabled", buf, sizeof(buf)))
		ksft_exit_skip("no per-size THP settings (a kernel before 6.8, or without THP)\n");
	if (ksm_sysfs_read("zero_pages_mthp_merged") < 0)
		ksft_exit_skip("no zero_pages_mthp_merged: a kernel without the series\n");
	if (access("/proc/kpageflags", R_OK))
		ksft_exit_skip("/proc/kpageflags is not readable (root needed)\n");
	find_sizes();
	ksft_set_plan(nr_sizes * 6 + (nr_sizes ? 2 : 0) + 3);
	for (i = 0; i < nr_sizes; i++)
		if (!read_size_knob(sizes[i], "enabled", buf, sizeof(buf)))
			selected(buf, saved_enabled[i], sizeof(saved_enabled[i]));
	if (!read_size_knob(pmdsize, "enabled", buf, sizeof(buf)))
		selected(buf, saved_enabled[MAX_SIZES], sizeof(saved_enabled[0]));
	ksm_sysfs_save(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	ksm_sysfs_write("smart_scan", 0);
	saved_proactiveness = proactiveness_read();
	if (saved_proactiveness > 0)
		proactiveness_write(0);
	ksft_print_msg("%d mTHP sizes below the PMD's %zu kB\n", nr_sizes,
		       pmdsize >> 10);

	for (i = 0; i < nr_sizes; i++) {
		test_whole(sizes[i]);
		test_one_byte(sizes[i]);
		test_pinned_mlocked(sizes[i]);
		test_after_merge(sizes[i], i % 2);
		test_soft_dirty(sizes[i], true);
		test_soft_dirty(sizes[i], false);
	}
	/*
	 * The smallest size, and the largest up to 2 MiB, which takes the
	 * write-protect path of folios over 128 KiB: larger ones (up to
	 * 256 MiB with 64K pages) leave compaction time to split the folio
	 * kept whole while ksmd scans every process.
	 */
	if (nr_sizes) {
		for (i = nr_sizes - 1; i > 0 && sizes[i] > (2UL << 20); i--)
			;
		test_scope_all(sizes[0]);
		test_scope_all(sizes[i]);
	}
	test_pte_mapped_thp();
	test_force_write();
	ksft_test_result(ksm_sysfs_write_str("zero_pages_mthp_merged", "0") != 0,
			 "zero_pages_mthp_merged is read-only\n");

	restore();
	ksft_finished();
}
