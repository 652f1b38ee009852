// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM and arm64's Memory Tagging Extension (use_zero_pages=1). A page of a
 * PROT_MTE mapping keeps a tag for every 16 bytes beside its data; a page
 * whose data is zero but whose tags are not is no zero-filled page: mapping
 * the zero page (tags zero) over it would lose its tags, and the owner's
 * next access through a tagged pointer would fault. KSM must leave such
 * pages, small or in a THP, where they are, while the zero-filled pages of
 * an ordinary mapping next to them still become the zero page (the huge
 * zero page for a THP). /proc/self/pagemap and /proc/kpageflags show which
 * page each address maps; reading every tagged granule through its tagged
 * pointer, with synchronous tag checks, shows the tags survived.
 *
 * Needs an arm64 CPU with MTE (QEMU: -M virt,mte=on -cpu max) and a kernel
 * with CONFIG_ARM64_MTE; skips elsewhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../kselftest.h"
#include "vm_util.h"

#define KPF_ZERO_PAGE	24
#define NR_PAGES	32	/* tagged pages, and as many untagged */
#define GRANULE		16	/* bytes a tag covers */
#define TAG_SHIFT	56

#ifndef PROT_MTE
#define PROT_MTE	0x20
#endif

#ifndef __aarch64__
int main(void)
{
	ksft_print_header();
	ksft_exit_skip("MTE is arm64's\n");
}
#else
#include <asm/hwcap.h>
#include <linux/prctl.h>

static size_t pagesize, thpsize;
static int pagemap_fd, kpageflags_fd;

static const char *const saved_knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"zero_pages_min_age",
};

static long saved[ARRAY_SIZE(saved_knobs)];

/* The huge zero page must be allowed for the untagged THP to get it. */
#define THP_USE_ZERO_PAGE "/sys/kernel/mm/transparent_hugepage/use_zero_page"
static char saved_use_zero_page[8];

static bool file_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

static void knobs_save(void)
{
	unsigned int i;
	ssize_t n;
	int fd;

	for (i = 0; i < ARRAY_SIZE(saved_knobs); i++)
		saved[i] = ksm_sysfs_read(saved_knobs[i]);
	fd = open(THP_USE_ZERO_PAGE, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, saved_use_zero_page, sizeof(saved_use_zero_page) - 1);
		saved_use_zero_page[n > 0 ? n : 0] = 0;
		close(fd);
	}
}

static void knobs_restore(void)
{
	unsigned int i;

	ksm_sysfs_write("run", 2);
	for (i = 0; i < ARRAY_SIZE(saved_knobs); i++)
		if (saved[i] >= 0 && strcmp(saved_knobs[i], "run"))
			ksm_sysfs_write(saved_knobs[i], saved[i]);
	if (saved[0] >= 0)
		ksm_sysfs_write("run", saved[0]);
	if (saved_use_zero_page[0])
		file_write(THP_USE_ZERO_PAGE, saved_use_zero_page);
}

/* Run ksmd until it has finished @scans full scans from now. */
static bool ksm_scan(int scans)
{
	long start;
	int i;

	if (!ksm_sysfs_write("run", 1))
		return false;
	start = ksm_sysfs_read("full_scans");
	/* 300 s: 8192 pages to a THP with 64K pages, under TCG and KASAN. */
	for (i = 0; i < 30000; i++) {
		if (ksm_sysfs_read("full_scans") >= start + scans)
			return true;
		usleep(10000);
	}
	return false;
}

/* Does @p map the zero page or the huge zero page? */
static bool maps_zero_page(char *p)
{
	unsigned long pfn = pagemap_get_pfn(pagemap_fd, p);
	uint64_t flags;

	if (pfn == -1UL)
		return false;
	if (pread(kpageflags_fd, &flags, sizeof(flags),
		  pfn * sizeof(flags)) != sizeof(flags))
		ksft_exit_fail_msg("/proc/kpageflags: %s\n", strerror(errno));
	return flags & (1ULL << KPF_ZERO_PAGE);
}

static size_t count_zero_pages(char *p, size_t nr)
{
	size_t i, n = 0;

	for (i = 0; i < nr; i++)
		n += maps_zero_page(p + i * pagesize);
	return n;
}

static char *with_tag(char *p, unsigned int tag)
{
	return (char *)(((uintptr_t)p & ~(0xfUL << TAG_SHIFT)) |
			((uintptr_t)tag << TAG_SHIFT));
}

/* Give the granule at @p the tag @tag; its data stays. */
static void set_tag(char *p, unsigned int tag)
{
	asm volatile(".arch armv8.5-a+memtag\n\tstg %0, [%0]"
		     : : "r" (with_tag(p, tag)) : "memory");
}

static unsigned int page_tag(size_t i)
{
	return 1 + i % 15;
}

static sigjmp_buf tag_fault_jmp;
static size_t tc_i, tc_bad;	/* check_tags(): kept across siglongjmp() */

static void tag_fault(int sig, siginfo_t *info, void *uc)
{
	siglongjmp(tag_fault_jmp, 1);
}

/*
 * Read the first granule of each of the @nr pages at @p through a pointer
 * with its page's tag: the number of pages whose tag was lost (a tag-check
 * fault) or whose data is not zero.
 */
static size_t check_tags(char *p, size_t nr)
{
	struct sigaction sa = { .sa_sigaction = tag_fault,
				.sa_flags = SA_SIGINFO }, old;

	tc_bad = 0;
	sigaction(SIGSEGV, &sa, &old);
	for (tc_i = 0; tc_i < nr; tc_i++) {
		if (sigsetjmp(tag_fault_jmp, 1)) {
			tc_bad++;
			continue;
		}
		if (__atomic_load_n((uint64_t *)with_tag(p + tc_i * pagesize,
							 page_tag(tc_i)),
				    __ATOMIC_RELAXED))
			tc_bad++;
	}
	sigaction(SIGSEGV, &old, NULL);
	return tc_bad;
}

/* @nr pages at @p aligned to @align, readable and writable, not populated. */
static char *map_aligned(size_t nr, size_t align)
{
	size_t size = nr * pagesize;
	char *p = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + size, p + align - a);
	return a;
}

/*
 * @nr pages at @p: the first half PROT_MTE with the first granule of each
 * page given a tag that is not zero, the second half an ordinary mapping;
 * all zero-filled, populated, registered with KSM.
 */
static bool fill(char *p, size_t nr)
{
	size_t i, half = nr / 2;

	if (mprotect(p, half * pagesize, PROT_READ | PROT_WRITE | PROT_MTE)) {
		ksft_print_msg("mprotect(PROT_MTE): %s\n", strerror(errno));
		return false;
	}
	for (i = 0; i < half; i++)
		set_tag(p + i * pagesize, page_tag(i));
	for (i = half; i < nr; i++)
		__atomic_store_n(p + i * pagesize, 0, __ATOMIC_RELAXED);
	if (madvise(p, nr * pagesize, MADV_MERGEABLE)) {
		ksft_print_msg("MADV_MERGEABLE: %s\n", strerror(errno));
		return false;
	}
	return true;
}

static void test_small_pages(void)
{
	const size_t nr = 2 * NR_PAGES;
	size_t tagged_zero, plain_zero, bad;
	char *p = map_aligned(nr, pagesize);

	if (!p) {
		ksft_test_result_fail("mmap: %s\n", strerror(errno));
		ksft_test_result_skip("the zero-filled pages next to them\n");
		return;
	}
	if (madvise(p, nr * pagesize, MADV_NOHUGEPAGE) || !fill(p, nr) ||
	    !ksm_scan(3)) {
		ksft_test_result_fail("tagged zero-filled pages: setup\n");
		ksft_test_result_skip("the zero-filled pages next to them\n");
		goto out;
	}
	tagged_zero = count_zero_pages(p, NR_PAGES);
	plain_zero = count_zero_pages(p + NR_PAGES * pagesize, NR_PAGES);
	bad = check_tags(p, NR_PAGES);
	ksft_print_msg("tagged pages on the zero page: %zu of %d, tags lost: %zu\n",
		       tagged_zero, NR_PAGES, bad);
	ksft_print_msg("untagged pages on the zero page: %zu of %d\n",
		       plain_zero, NR_PAGES);
	ksft_test_result(!tagged_zero && !bad,
			 "zero-filled pages with tags are not merged with the zero page\n");
	ksft_test_result(plain_zero == NR_PAGES,
			 "the zero-filled pages next to them are\n");
out:
	/* Unmapped first: run=2 would unshare every zero page it merged. */
	munmap(p, nr * pagesize);
	ksm_sysfs_write("run", 2);
}

static void test_thp(void)
{
	const size_t nr = 2 * thpsize / pagesize;
	size_t tagged_zero, plain_zero, bad;
	bool whole;
	char *p;

	if (!thpsize) {
		ksft_test_result_skip("tagged THP: no THP\n");
		ksft_test_result_skip("the THP next to it\n");
		return;
	}
	/* Free blocks of a PMD's size: 512 MiB with 64K pages. */
	if (!file_write("/proc/sys/vm/compact_memory", "1"))
		ksft_print_msg("compact_memory: %s\n", strerror(errno));
	p = map_aligned(nr, thpsize);
	if (!p) {
		ksft_test_result_fail("mmap: %s\n", strerror(errno));
		ksft_test_result_skip("the THP next to it\n");
		return;
	}
	if (madvise(p, nr * pagesize, MADV_HUGEPAGE) || !fill(p, nr)) {
		ksft_test_result_fail("tagged THP: setup\n");
		ksft_test_result_skip("the THP next to it\n");
		goto out;
	}
	/* Two vmas now, a THP in each: smaps counts them apart. */
	if (!check_huge_anon(p, 1, thpsize) ||
	    !check_huge_anon(p + thpsize, 1, thpsize)) {
		ksft_test_result_skip("tagged THP: no THP was allocated\n");
		ksft_test_result_skip("the THP next to it\n");
		goto out;
	}
	if (!ksm_scan(3)) {
		ksft_test_result_fail("tagged THP: ksmd did not scan\n");
		ksft_test_result_skip("the THP next to it\n");
		goto out;
	}
	tagged_zero = count_zero_pages(p, nr / 2);
	plain_zero = count_zero_pages(p + thpsize, nr / 2);
	bad = check_tags(p, nr / 2);
	/* Left where it is: not split either, nothing was to be had. */
	whole = check_huge_anon(p, 1, thpsize);
	ksft_print_msg("tagged THP: %zu of %zu pages on a zero page, tags lost: %zu, %s\n",
		       tagged_zero, nr / 2, bad, whole ? "whole" : "split");
	ksft_print_msg("untagged THP: %zu of %zu pages on a zero page\n",
		       plain_zero, nr / 2);
	ksft_test_result(!tagged_zero && !bad && whole,
			 "a zero-filled THP with tags is not merged with a zero page, nor split\n");
	ksft_test_result(plain_zero == nr / 2,
			 "the zero-filled THP next to it is\n");
out:
	/* Unmapped first: run=2 would unshare every zero page it merged. */
	munmap(p, nr * pagesize);
	ksm_sysfs_write("run", 2);
}

int main(void)
{
	ksft_print_header();
	if (!(getauxval(AT_HWCAP2) & HWCAP2_MTE))
		ksft_exit_skip("the CPU has no MTE\n");
	if (prctl(PR_SET_TAGGED_ADDR_CTRL, PR_TAGGED_ADDR_ENABLE |
		  PR_MTE_TCF_SYNC | (0xfffeUL << PR_MTE_TAG_SHIFT), 0, 0, 0))
		ksft_exit_skip("PR_SET_TAGGED_ADDR_CTRL: %s\n", strerror(errno));
	if (ksm_sysfs_read("use_zero_pages") < 0)
		ksft_exit_skip("no KSM\n");
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0)
		ksft_exit_skip("no /proc/self/pagemap or /proc/kpageflags\n");
	pagesize = getpagesize();
	thpsize = read_pmd_pagesize();

	ksft_set_plan(4);
	knobs_save();
	/* Also when a check gives up with ksft_exit_fail_msg(). */
	atexit(knobs_restore);
	ksm_sysfs_write("run", 2);
	file_write(THP_USE_ZERO_PAGE, "1");
	ksm_sysfs_write("use_zero_pages", 1);
	ksm_sysfs_write("zero_pages_min_age", 0);	/* where the kernel has it */
	ksm_sysfs_write("pages_to_scan", 10000);
	ksm_sysfs_write("sleep_millisecs", 0);
	test_small_pages();
	test_thp();
	close(pagemap_fd);
	close(kpageflags_fd);
	ksft_finished();
}
#endif /* __aarch64__ */
