// SPDX-License-Identifier: GPL-2.0
/*
 * huge_zero_hold: keep the kernel's huge zero page allocated while the
 * tests of an arm64 guest with 64K pages run (harness/guest/init starts it
 * in the background when it is in the initramfs).
 *
 * The huge zero page is a PMD's size of contiguous, unmovable memory:
 * 512 MiB with 64K pages. The kernel allocates it on the first read fault
 * of an empty THP range and frees it under reclaim once no process maps it.
 * The THP tests before a test that needs it fill and fragment the memory,
 * reclaim frees it, and the next allocation of 512 MiB of unmovable memory
 * may then fail: KSM then correctly keeps the zero-filled THP, and the
 * test that waits for the huge zero page fails for the guest's sake, not
 * the kernel's (thp_zero_page_alloc_failed in /proc/vmstat). A process
 * that maps it from boot on, as a long-running process on any machine
 * does, keeps it. Where the PMD is 32 MiB or less, it does nothing.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define PMD_SIZE_FILE "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"

int main(void)
{
	unsigned long pmd = 0;
	volatile char *p;
	char *raw;
	FILE *f;

	f = fopen(PMD_SIZE_FILE, "r");
	if (!f || fscanf(f, "%lu", &pmd) != 1)
		return 0;
	fclose(f);
	if (pmd <= 32UL << 20)
		return 0;
	raw = mmap(NULL, 2 * pmd, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("huge_zero_hold: mmap");
		return 1;
	}
	p = (char *)(((unsigned long)raw + pmd - 1) & ~(pmd - 1));
	madvise((char *)p, pmd, MADV_HUGEPAGE);
	/* A read fault maps the huge zero page, while memory is unfragmented. */
	(void)*p;
	for (;;)
		pause();
}
