// SPDX-License-Identifier: GPL-2.0
/*
 * ksm_demo: a small workload that shows what KSM reclaims, run in the guest
 * by "make demo".
 *
 * Child processes each map one kind of anonymous memory and register it
 * with MADV_MERGEABLE: zero-filled pages, zero-filled transparent huge pages,
 * duplicate pages (a handful of patterns repeated) and unique pages; one
 * more holds zero-filled pages and never registers them. The parent turns
 * ksmd on and prints a progress line every second (full scans, MiB saved,
 * ksmd CPU), then a table of what each kind got, read from
 * /proc/<pid>/ksm_stat of its child. Last, it sets zero_pages_scope to
 * "all" (where the kernel has it) and shows the unregistered zero pages
 * reclaimed too.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ksm_guest.h"

#define MIB (1UL << 20)
#define DUP_PATTERNS 16

enum kind { ZERO, ZERO_THP, DUP, UNIQUE, UNREG, NR_KINDS };
static const char *const kind_name[NR_KINDS] = {
	"zero", "zero THP", "duplicate", "unique", "zero unreg",
};

static long page_size;

static void die(const char *what)
{
	fprintf(stdout, "ksm_demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void ksm_write(const char *knob, long val)
{
	if (!ksm_try_write(knob, val))
		die(knob);
}

/* Child: map and fill one kind of memory, register it, wait to be killed. */
static void child(enum kind kind, unsigned long bytes, int ready_fd)
{
	unsigned long i, n = bytes / page_size;
	uint64_t seed = 0x9e3779b97f4a7c15ULL ^ getpid();
	const unsigned long thp = 2 * MIB;
	char *p;

	p = mmap(NULL, bytes + thp, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/* Small pages but for the THP kind, aligned for THPs. */
	p = (char *)(((uintptr_t)p + thp - 1) & ~(uintptr_t)(thp - 1));
	madvise(p, bytes, kind == ZERO_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (i = 0; i < n; i++) {
		char *page = p + i * page_size;
		long j;

		switch (kind) {
		case ZERO:
		case ZERO_THP:
		case UNREG:
			memset(page, 0, page_size);
			break;
		case DUP:
			memset(page, 'a' + i % DUP_PATTERNS, page_size);
			break;
		case UNIQUE:
			for (j = 0; j < page_size; j += 8) {
				seed ^= seed << 13;
				seed ^= seed >> 7;
				seed ^= seed << 17;
				memcpy(page + j, &seed, 8);
			}
			break;
		default:
			break;
		}
	}
	if (kind != UNREG && madvise(p, bytes, MADV_MERGEABLE))
		die("madvise(MADV_MERGEABLE)");
	if (write(ready_fd, "", 1) != 1)
		die("write");
	for (;;)
		pause();
}

/* RSS of @pid in MiB, from /proc/<pid>/statm. */
static double rss_mib(pid_t pid)
{
	char path[64];
	long size, res = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (double)res * page_size / MIB;
}

/*
 * zero_pages_scope=all: the zero pages of the process that never
 * registered are reclaimed too.
 */
static void zero_scope_all(pid_t pid, long pages, long full_scans, long limit)
{
	long scans0, zero;
	double t0, rss0;

	printf("\nzero_pages_scope=all: the process that never registered its %ld zero pages\n",
	       pages);
	rss0 = rss_mib(pid);
	if (!ksm_try_write_str("zero_pages_scope", "all")) {
		printf("(this kernel has no zero_pages_scope \"all\")\n");
		return;
	}
	printf("before: ksm_zero_pages of it %ld, RSS %.1f MiB\n",
	       ksm_stat(pid, "ksm_zero_pages"), rss0);
	scans0 = ksm_read("full_scans");
	t0 = now();
	while (ksm_read("full_scans") < scans0 + full_scans / 2 &&
	       now() - t0 < limit)
		usleep(25000);
	zero = ksm_stat(pid, "ksm_zero_pages");
	printf("after %ld full scans (%.1f s): ksm_zero_pages of it %ld (%.1f%%), RSS %.1f MiB\n",
	       ksm_read("full_scans") - scans0, now() - t0, zero,
	       100.0 * zero / pages, rss_mib(pid));
	printf("zero_pages_thp_merged=%ld (THPs replaced by the huge zero page)\n",
	       ksm_read("zero_pages_thp_merged"));
	ksm_try_write_str("zero_pages_scope", "mergeable");
}

static void usage(void)
{
	printf("usage: ksm_demo [-m MiB per kind] [-f full scans] [-t seconds]\n"
	       "                [-p pages_to_scan] [-s sleep_millisecs]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long mib = 32, pages_to_scan = 1000, sleep_ms = 20;
	long full_scans = 4, limit = 300, scans0, zero0, zero99_scan = 0;
	double zero99_t = -1;
	unsigned long ticks = 0;
	pid_t pids[NR_KINDS], ksmd;
	double t0, cpu0, t = 0, cpu = 0;
	int fds[2], opt, k;
	struct utsname uts;
	long pages;
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "m:f:t:p:s:")) != -1) {
		switch (opt) {
		case 'm': mib = strtoul(optarg, NULL, 0); break;
		case 'f': full_scans = strtol(optarg, NULL, 0); break;
		case 't': limit = strtol(optarg, NULL, 0); break;
		case 'p': pages_to_scan = strtoul(optarg, NULL, 0); break;
		case 's': sleep_ms = strtoul(optarg, NULL, 0); break;
		default: usage();
		}
	}
	pages = mib * MIB / page_size;

	ksmd = find_ksmd();
	if (!ksmd) {
		printf("ksm_demo: no ksmd: is CONFIG_KSM set?\n");
		return 1;
	}
	ksm_write("run", 2);	/* start from nothing merged */
	ksm_write("run", 0);
	ksm_write("use_zero_pages", 1);
	ksm_write("pages_to_scan", pages_to_scan);
	ksm_write("sleep_millisecs", sleep_ms);

	if (pipe(fds))
		die("pipe");
	for (k = 0; k < NR_KINDS; k++) {
		pids[k] = fork();
		if (pids[k] < 0)
			die("fork");
		if (!pids[k])
			child(k, mib * MIB, fds[1]);
	}
	for (k = 0; k < NR_KINDS; k++)
		if (read(fds[0], &c, 1) != 1)
			die("read");

	uname(&uts);
	printf("KSM demo on Linux %s: %lu MiB each of zero, zero THP, duplicate (%d patterns),\n"
	       "unique and unregistered zero pages\n", uts.release, mib,
	       DUP_PATTERNS);
	printf("knobs: use_zero_pages=1 pages_to_scan=%lu sleep_millisecs=%lu\n",
	       pages_to_scan, sleep_ms);
	printf("%6s %10s %10s %10s %10s %12s\n", "time", "full_scans",
	       "saved MiB", "zero MiB", "dup MiB", "ksmd CPU s");

	scans0 = ksm_read("full_scans");
	zero0 = ksm_read("ksm_zero_pages");
	cpu0 = task_cpu(ksmd);
	t0 = now();
	ksm_write("run", 1);
	do {
		long scans, zero, sharing;

		/*
		 * Sample often enough to tell in which full scan 99% of the
		 * registered zero pages (small and THP) was reached.
		 */
		usleep(25000);
		zero = ksm_read("ksm_zero_pages") - zero0;
		if (zero99_t < 0 && zero >= 2 * pages * 99 / 100) {
			zero99_t = now() - t0;
			zero99_scan = ksm_read("full_scans") - scans0 + 1;
		}
		if (++ticks % 40)
			continue;
		t = now() - t0;
		cpu = task_cpu(ksmd) - cpu0;
		scans = ksm_read("full_scans") - scans0;
		zero = ksm_read("ksm_zero_pages") - zero0;
		sharing = ksm_read("pages_sharing");
		printf("%5.0fs %10ld %10.1f %10.1f %10.1f %12.2f\n", t, scans,
		       (double)(zero + sharing) * page_size / MIB,
		       (double)zero * page_size / MIB,
		       (double)sharing * page_size / MIB, cpu);
		if (scans >= full_scans)
			break;
	} while (t < limit);

	printf("\nsummary after %.0f s, %ld full scans, ksmd CPU %.2f s\n", t,
	       ksm_read("full_scans") - scans0, cpu);
	if (zero99_t >= 0)
		printf("zero pages: 99%% reclaimed after %.1f s, during full scan %ld\n",
		       zero99_t, zero99_scan);
	else
		printf("zero pages: 99%% not reclaimed\n");
	if (ksm_read("zero_pages_merged") >= 0)
		printf("zero_pages_merged=%ld zero_pages_min_age=%ld\n",
		       ksm_read("zero_pages_merged"),
		       ksm_read("zero_pages_min_age"));
	printf("%-10s %8s %12s %12s %10s\n", "kind", "pages", "zero-mapped",
	       "KSM-mapped", "merged");
	for (k = 0; k < NR_KINDS; k++) {
		long zero = ksm_stat(pids[k], "ksm_zero_pages");
		long merging = ksm_stat(pids[k], "ksm_merging_pages");

		printf("%-10s %8ld %12ld %12ld %9.1f%%\n", kind_name[k], pages,
		       zero, merging, 100.0 * (zero + merging) / pages);
	}
	printf("global: pages_shared=%ld pages_sharing=%ld pages_unshared=%ld pages_volatile=%ld ksm_zero_pages=%ld\n",
	       ksm_read("pages_shared"), ksm_read("pages_sharing"),
	       ksm_read("pages_unshared"), ksm_read("pages_volatile"),
	       ksm_read("ksm_zero_pages"));
	printf("(the KSM-mapped pages of all kinds share %ld KSM pages; saved MiB above is\n"
	       " pages_sharing + ksm_zero_pages, the memory actually given back)\n",
	       ksm_read("pages_shared"));

	zero_scope_all(pids[UNREG], pages, full_scans, limit);

	for (k = 0; k < NR_KINDS; k++)
		kill(pids[k], SIGKILL);
	while (wait(NULL) > 0)
		;
	ksm_write("run", 2);
	return 0;
}
