// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM stress test: worker processes run random operations on their own
 * private anonymous areas (mmap of small pages and of THPs, munmap,
 * mprotect, mremap, madvise MERGEABLE/UNMERGEABLE/DONTNEED/FREE/COLLAPSE,
 * mlock, userfaultfd-wp register/unregister, fork, exec, writes of zero,
 * duplicate and random pages) while the parent flips the KSM knobs
 * (run, use_zero_pages, zero_pages_min_age, zero_pages_scope,
 * zero_pages_thp_split_min, unstable_refresh_millisecs). Each
 * worker records what every page should hold and checks its memory
 * against that record all along and at the end. At the end, after run=2
 * and the exit of all workers, KSM must hold no page.
 *
 * Usage: ksm_stress_tests [SECONDS] (default 20)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"

#define KSM_PATH "/sys/kernel/mm/ksm/"
#define NR_WORKERS 4
#define MAX_AREAS 8
/*
 * THP areas of a PMD THP's size, up to THP_MAX_SIZE: 2 MiB with 4K pages,
 * 32 MiB with 16K; not with 64K pages, where a PMD THP is 512 MiB and the
 * workers' areas would need more memory than a test guest has.
 */
#define THP_MAX_SIZE (32UL << 20)
static size_t thp_size;		/* 0: no THP areas */
static size_t max_pages = 512;	/* per area: 512, or a THP's pages */
static char split_half[24], split_all[24];	/* zero_pages_thp_split_min */

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define NR_PATTERNS 4
#define NR_DUP_SEEDS 4
#define REC_ZERO 0u
#define REC_MAYBE_ZERO 0x80000000u	/* MADV_FREE'd: old content or zero */
#define REC_VALUE(r) ((r) & ~REC_MAYBE_ZERO)
#define MAX_KNOBS 64

static size_t pagesize;
static const char *self_exe;

/* Each worker's counters, in memory shared with the parent. */
struct worker_stats {
	unsigned long ops;
	unsigned long forks;
	unsigned long execs;
	unsigned long mismatches;
};

static struct worker_stats *stats;

struct area {
	char *addr;
	size_t nr_pages;
	uint32_t *rec;		/* per page: REC_ZERO, a pattern or a seed */
	bool ro;
	bool locked;
};

struct worker {
	int id;
	uint64_t rng;
	struct area areas[MAX_AREAS];
	int nr_areas;
	uint32_t dup_seeds[NR_DUP_SEEDS];
	struct worker_stats *st;
	int uffd;		/* -1: not opened yet */
	bool failed;
};

/* The knobs as they were, restored at the end. */
struct knob {
	char name[64];
	char value[128];
};

static struct knob knobs[MAX_KNOBS];
static int nr_knobs;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static unsigned long rnd_below(uint64_t *s, unsigned long n)
{
	return rnd(s) % n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The 64-bit word at index i of a page recorded as rec. */
static uint64_t page_word(uint32_t rec, size_t i)
{
	uint64_t x;

	if (rec == REC_ZERO)
		return 0;
	if (rec <= NR_PATTERNS)
		return rec * 0x0101010101010101ULL;
	x = (rec * 0x9e3779b97f4a7c15ULL) ^ (i * 0xbf58476d1ce4e5b9ULL);
	x ^= x >> 31;
	return x * 0x94d049bb133111ebULL | 1;
}

static void fill_page(char *p, uint32_t rec)
{
	uint64_t *w = (uint64_t *)p;
	size_t i;

	if (rec == REC_ZERO) {
		memset(p, 0, pagesize);
		return;
	}
	for (i = 0; i < pagesize / sizeof(*w); i++)
		w[i] = page_word(rec, i);
}

static bool page_is_zero(const char *p)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < pagesize / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/* Check page nr of a; report the first mismatch of this process. */
static bool check_page(struct worker *w, struct area *a, size_t nr,
		       const char *when)
{
	const uint64_t *p = (const uint64_t *)(a->addr + nr * pagesize);
	uint32_t rec = a->rec[nr];
	size_t i;

	for (i = 0; i < pagesize / sizeof(*p); i++) {
		if (p[i] == page_word(REC_VALUE(rec), i))
			continue;
		if ((rec & REC_MAYBE_ZERO) && page_is_zero((const char *)p)) {
			a->rec[nr] = REC_ZERO;
			return true;
		}
		if (!w->failed) {
			ksft_print_msg("worker %d (pid %d) %s: mismatch at %p (page %zu of %zu)\n",
				       w->id, getpid(), when, (void *)&p[i], nr,
				       a->nr_pages);
			ksft_print_msg("word %zu: expected %#llx (record %#x), found %#llx\n",
				       i, (unsigned long long)page_word(REC_VALUE(rec), i),
				       rec, (unsigned long long)p[i]);
		}
		w->failed = true;
		w->st->mismatches++;
		return false;
	}
	return true;
}

static bool check_area(struct worker *w, struct area *a, const char *when)
{
	size_t nr;

	for (nr = 0; nr < a->nr_pages; nr++)
		if (!check_page(w, a, nr, when))
			return false;
	return true;
}

static bool check_all(struct worker *w, const char *when)
{
	bool ok = true;
	int i;

	for (i = 0; i < w->nr_areas; i++)
		ok &= check_area(w, &w->areas[i], when);
	return ok;
}

static void area_rw(struct area *a)
{
	if (a->ro && !mprotect(a->addr, a->nr_pages * pagesize,
			       PROT_READ | PROT_WRITE))
		a->ro = false;
}

static uint32_t random_rec(struct worker *w)
{
	switch (rnd_below(&w->rng, 4)) {
	case 0:
		return REC_ZERO;
	case 1:
		return 1 + rnd_below(&w->rng, NR_PATTERNS);
	case 2:
		return w->dup_seeds[rnd_below(&w->rng, NR_DUP_SEEDS)];
	default:
		return (NR_PATTERNS + 1 + rnd(&w->rng)) & ~REC_MAYBE_ZERO;
	}
}

/* Write a few random pages of a. */
static void op_write(struct worker *w, struct area *a)
{
	size_t n = 1 + rnd_below(&w->rng, 8);

	area_rw(a);
	if (a->ro)
		return;
	while (n--) {
		size_t nr = rnd_below(&w->rng, a->nr_pages);
		uint32_t rec = random_rec(w);

		fill_page(a->addr + nr * pagesize, rec);
		a->rec[nr] = rec;
	}
}

static void op_mmap(struct worker *w)
{
	struct area *a = &w->areas[w->nr_areas];
	size_t nr;

	bool thp = thp_size && !rnd_below(&w->rng, 4);
	bool zero = thp && rnd_below(&w->rng, 2);

	/* A THP area: aligned, MADV_HUGEPAGE, zero-filled half the time. */
	a->nr_pages = thp ? thp_size / pagesize : 8 + rnd_below(&w->rng, 64);
	a->addr = mmap(NULL, a->nr_pages * pagesize + (thp ? thp_size : 0),
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (a->addr == MAP_FAILED)
		return;
	if (thp) {
		char *al = (char *)(((uintptr_t)a->addr + thp_size - 1) &
				    ~(thp_size - 1));

		if (al > a->addr)
			munmap(a->addr, al - a->addr);
		munmap(al + thp_size, a->addr + thp_size - al);
		a->addr = al;
		madvise(a->addr, thp_size, MADV_HUGEPAGE);
	}
	a->rec = calloc(max_pages, sizeof(*a->rec));
	if (!a->rec) {
		munmap(a->addr, a->nr_pages * pagesize);
		return;
	}
	a->ro = false;
	a->locked = false;
	if (rnd_below(&w->rng, 4))
		madvise(a->addr, a->nr_pages * pagesize, MADV_MERGEABLE);
	for (nr = 0; nr < a->nr_pages; nr++) {
		a->rec[nr] = zero ? REC_ZERO : random_rec(w);
		fill_page(a->addr + nr * pagesize, a->rec[nr]);
	}
	w->nr_areas++;
}

static void op_munmap(struct worker *w, int i)
{
	struct area *a = &w->areas[i];

	check_area(w, a, "before munmap");
	munmap(a->addr, a->nr_pages * pagesize);
	free(a->rec);
	w->areas[i] = w->areas[--w->nr_areas];
}

static void op_mprotect(struct worker *w, struct area *a)
{
	if (a->ro) {
		area_rw(a);
	} else if (!mprotect(a->addr, a->nr_pages * pagesize, PROT_READ)) {
		a->ro = true;
		check_area(w, a, "read-only");
	}
}

/* Grow a (it may move), or move it to another place. */
static void op_mremap(struct worker *w, struct area *a)
{
	size_t size = a->nr_pages * pagesize, new_pages = a->nr_pages;
	char *p, *dst = NULL;

	if (a->nr_pages < max_pages && rnd_below(&w->rng, 2)) {
		new_pages += 1 + rnd_below(&w->rng, max_pages - a->nr_pages);
		p = mremap(a->addr, size, new_pages * pagesize, MREMAP_MAYMOVE);
	} else {
		dst = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		if (dst == MAP_FAILED)
			return;
		p = mremap(a->addr, size, size, MREMAP_MAYMOVE | MREMAP_FIXED,
			   dst);
	}
	if (p == MAP_FAILED) {
		if (dst)
			munmap(dst, size);
		return;
	}
	a->addr = p;
	while (a->nr_pages < new_pages)
		a->rec[a->nr_pages++] = REC_ZERO;
	check_area(w, a, "after mremap");
}

/*
 * Arm the area for userfaultfd write protection, or disarm it. Nothing is
 * write-protected, so that writes never wait for a monitor: the armed vma
 * is what KSM must leave alone (no zero page in memory not registered, no
 * THP merged whole).
 */
static void op_uffd(struct worker *w, struct area *a)
{
	struct uffdio_register reg = {
		.range = { (unsigned long)a->addr, a->nr_pages * pagesize },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	if (w->uffd < 0) {
		struct uffdio_api api = {
			.api = UFFD_API,
			.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP,
		};

		w->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (w->uffd < 0)
			return;
		if (ioctl(w->uffd, UFFDIO_API, &api)) {
			close(w->uffd);
			w->uffd = -2;	/* not there: do not try again */
			return;
		}
	}
	if (w->uffd < 0)
		return;
	if (ioctl(w->uffd, UFFDIO_REGISTER, &reg))
		ioctl(w->uffd, UFFDIO_UNREGISTER, &reg.range);
	check_area(w, a, "after userfaultfd register/unregister");
}

/* madvise a random range of a. */
static void op_madvise(struct worker *w, struct area *a)
{
	size_t first = rnd_below(&w->rng, a->nr_pages);
	size_t n = 1 + rnd_below(&w->rng, a->nr_pages - first);
	char *p = a->addr + first * pagesize;
	size_t nr;

	switch (rnd_below(&w->rng, 6)) {
	case 4:
		/* Into THPs where it can: the content stays. */
		madvise(a->addr, a->nr_pages * pagesize, MADV_COLLAPSE);
		check_area(w, a, "after MADV_COLLAPSE");
		break;
	case 5:
		op_uffd(w, a);
		break;
	case 0:
		madvise(a->addr, a->nr_pages * pagesize, MADV_MERGEABLE);
		break;
	case 1:
		madvise(a->addr, a->nr_pages * pagesize, MADV_UNMERGEABLE);
		break;
	case 2:
		if (a->locked || madvise(p, n * pagesize, MADV_DONTNEED))
			break;
		for (nr = first; nr < first + n; nr++)
			a->rec[nr] = REC_ZERO;
		break;
	default:
		if (a->locked || madvise(p, n * pagesize, MADV_FREE))
			break;
		for (nr = first; nr < first + n; nr++)
			if (a->rec[nr] != REC_ZERO)
				a->rec[nr] |= REC_MAYBE_ZERO;
		break;
	}
}

static void op_mlock(struct worker *w, struct area *a)
{
	if (a->locked) {
		if (!munlock(a->addr, a->nr_pages * pagesize))
			a->locked = false;
	} else if (!mlock(a->addr, a->nr_pages * pagesize)) {
		a->locked = true;
	}
	check_area(w, a, "after mlock/munlock");
}

/*
 * Fork: the child checks its copy, writes to it and checks it again; the
 * parent writes to its own meanwhile, and must see only its own writes.
 */
static void op_fork(struct worker *w)
{
	int status, i;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		w->failed = false;
		check_all(w, "fork child");
		for (i = 0; i < w->nr_areas; i++)
			op_write(w, &w->areas[i]);
		check_all(w, "fork child after writes");
		fflush(stdout);
		_exit(w->failed);
	}
	for (i = 0; i < w->nr_areas; i++)
		op_write(w, &w->areas[i]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		ksft_print_msg("worker %d: fork child failed (status 0x%x)\n",
			       w->id, status);
		w->failed = true;
	}
	check_all(w, "after fork");
	w->st->forks++;
}

/* Exec this program in a check-only mode from a forked copy of our mm. */
static void op_exec(struct worker *w)
{
	char seed[32];
	int status;
	pid_t pid;

	snprintf(seed, sizeof(seed), "%u", (unsigned int)rnd(&w->rng));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		execl(self_exe, self_exe, "--exec-child", seed, (char *)NULL);
		_exit(2);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		ksft_print_msg("worker %d: exec child failed (status 0x%x)\n",
			       w->id, status);
		w->failed = true;
	}
	w->st->execs++;
}

/* The exec'd program: a small mergeable area of duplicates, checked. */
static int exec_child(const char *seed)
{
	struct worker_stats st = { 0 };
	struct worker w = { .id = -1, .st = &st };
	int i;

	w.rng = strtoull(seed, NULL, 10) | 1;
	for (i = 0; i < NR_DUP_SEEDS; i++)
		w.dup_seeds[i] = (NR_PATTERNS + 1 + rnd(&w.rng)) & ~REC_MAYBE_ZERO;
	op_mmap(&w);
	if (!w.nr_areas)
		return 1;
	madvise(w.areas[0].addr, w.areas[0].nr_pages * pagesize,
		MADV_MERGEABLE);
	for (i = 0; i < 20; i++) {
		op_write(&w, &w.areas[0]);
		usleep(1000);
		check_all(&w, "exec child");
	}
	fflush(stdout);
	return w.failed;
}

static void worker_run(int id, double end)
{
	struct worker w = { .id = id, .st = &stats[id], .uffd = -1 };
	struct area *a;
	int i;

	w.rng = ((uint64_t)getpid() << 32 ^ time(NULL) ^ id) | 1;
	for (i = 0; i < NR_DUP_SEEDS; i++)
		w.dup_seeds[i] = (NR_PATTERNS + 1 + rnd(&w.rng)) & ~REC_MAYBE_ZERO;
	while (!w.failed && now() < end) {
		unsigned long op = rnd_below(&w.rng, 100);

		w.st->ops++;
		if (!w.nr_areas || (op < 5 && w.nr_areas < MAX_AREAS)) {
			op_mmap(&w);
			continue;
		}
		i = rnd_below(&w.rng, w.nr_areas);
		a = &w.areas[i];
		if (op < 8)
			op_munmap(&w, i);
		else if (op < 13)
			op_mprotect(&w, a);
		else if (op < 18)
			op_mremap(&w, a);
		else if (op < 33)
			op_madvise(&w, a);
		else if (op < 36)
			op_mlock(&w, a);
		else if (op < 38)
			op_fork(&w);
		else if (op < 39)
			op_exec(&w);
		else if (op < 80)
			op_write(&w, a);
		else
			check_area(&w, a, "check");
	}
	check_all(&w, "final check");
	fflush(stdout);
	_exit(w.failed);
}

static bool write_knob(const char *name, const char *value)
{
	char path[256];
	ssize_t len = strlen(value);
	bool ok;
	int fd;

	snprintf(path, sizeof(path), KSM_PATH "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return false;
	ok = write(fd, value, len) == len;
	close(fd);
	return ok;
}

static bool read_knob(const char *name, char *buf, size_t size)
{
	char path[256];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), KSM_PATH "%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	len = read(fd, buf, size - 1);
	close(fd);
	if (len < 0)
		return false;
	buf[len] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return true;
}

static long read_counter(const char *name)
{
	char buf[64];

	return read_knob(name, buf, sizeof(buf)) ? atol(buf) : -1;
}

/*
 * A knob that lists its choices ("[none] scan-time") is written back as the
 * one in brackets.
 */
static void keep_choice(char *value)
{
	char *open = strchr(value, '['), *close;

	if (!open)
		return;
	close = strchr(open, ']');
	if (!close)
		return;
	memmove(value, open + 1, close - open - 1);
	value[close - open - 1] = '\0';
}

/* Save every writable knob of /sys/kernel/mm/ksm. */
static void save_knobs(void)
{
	struct dirent *d;
	struct stat sb;
	DIR *dir = opendir(KSM_PATH);

	if (!dir)
		return;
	while ((d = readdir(dir)) && nr_knobs < MAX_KNOBS) {
		size_t len = strlen(d->d_name);

		if (d->d_name[0] == '.' || len >= sizeof(knobs[0].name) ||
		    fstatat(dirfd(dir), d->d_name, &sb, 0) ||
		    !S_ISREG(sb.st_mode) || !(sb.st_mode & 0200))
			continue;
		memcpy(knobs[nr_knobs].name, d->d_name, len + 1);
		if (read_knob(d->d_name, knobs[nr_knobs].value,
			      sizeof(knobs[0].value)))
			keep_choice(knobs[nr_knobs++].value);
	}
	closedir(dir);
}

/* Restore the knobs that changed, run last. */
static bool restore_knobs(void)
{
	char cur[128];
	bool ok = true;
	int i, pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < nr_knobs; i++) {
			if ((strcmp(knobs[i].name, "run") != 0) == pass)
				continue;
			if (read_knob(knobs[i].name, cur, sizeof(cur))) {
				keep_choice(cur);
				if (!strcmp(cur, knobs[i].value))
					continue;
			}
			if (!write_knob(knobs[i].name, knobs[i].value)) {
				ksft_print_msg("could not restore %s to %s\n",
					       knobs[i].name, knobs[i].value);
				ok = false;
			}
		}
	}
	return ok;
}

/* One random change of the knobs; run cycles through 1 0 1 2 1. */
static void flip_knob(uint64_t *rng, unsigned long *flips)
{
	static const char *const runs[] = { "1", "0", "1", "2", "1" };
	static const char *const ages[] = { "0", "1", "2" };
	static const char *const refresh[] = { "0", "100", "1000" };
	static const char *const scopes[] = { "mergeable", "all" };
	const char *const split_min[] = { "1", split_half, split_all };
	static int run_step;

	switch (rnd_below(rng, 6)) {
	case 4:
		write_knob("zero_pages_scope",
			   scopes[rnd_below(rng, ARRAY_SIZE(scopes))]);
		break;
	case 5:
		write_knob("zero_pages_thp_split_min",
			   split_min[rnd_below(rng, ARRAY_SIZE(split_min))]);
		break;
	case 0:
		run_step = (run_step + 1) % ARRAY_SIZE(runs);
		if (!write_knob("run", runs[run_step]))
			ksft_print_msg("run=%s: %s\n", runs[run_step],
				       strerror(errno));
		break;
	case 1:
		write_knob("zero_pages_min_age",
			   ages[rnd_below(rng, ARRAY_SIZE(ages))]);
		break;
	case 2:
		write_knob("unstable_refresh_millisecs",
			   refresh[rnd_below(rng, ARRAY_SIZE(refresh))]);
		break;
	default:
		write_knob("use_zero_pages", rnd_below(rng, 2) ? "1" : "0");
		break;
	}
	(*flips)++;
}

/* thp_size, max_pages and the split_min values, from hpage_pmd_size. */
static void thp_sizes(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r");
	unsigned long size = 0;

	if (f) {
		if (fscanf(f, "%lu", &size) != 1)
			size = 0;
		fclose(f);
	}
	if (size && size <= THP_MAX_SIZE && !(size % pagesize)) {
		thp_size = size;
		if (size / pagesize > max_pages)
			max_pages = size / pagesize;
	}
	/* Where the kernel has no THP, 1, 256 and 512 are as good. */
	size = size ? size / pagesize : 512;
	snprintf(split_half, sizeof(split_half), "%lu", size / 2);
	snprintf(split_all, sizeof(split_all), "%lu", size);
}

int main(int argc, char **argv)
{
	unsigned long ops = 0, forks = 0, execs = 0, flips = 0;
	long shared, sharing, zero;
	int seconds = 20, i, status, failed = 0;
	pid_t pids[NR_WORKERS];
	uint64_t rng;
	double start, end, elapsed;

	pagesize = getpagesize();
	thp_sizes();
	self_exe = "/proc/self/exe";
	if (argc == 3 && !strcmp(argv[1], "--exec-child"))
		return exec_child(argv[2]);

	ksft_print_header();
	if (argc > 1)
		seconds = atoi(argv[1]);
	if (seconds <= 0)
		ksft_exit_fail_msg("usage: %s [SECONDS]\n", argv[0]);
	if (access(KSM_PATH "run", W_OK))
		ksft_exit_skip("no writable " KSM_PATH "run (KSM, root)\n");
	ksft_set_plan(3);

	stats = mmap(NULL, NR_WORKERS * sizeof(*stats), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stats == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));

	save_knobs();
	write_knob("sleep_millisecs", "0");
	write_knob("pages_to_scan", "2000");
	write_knob("use_zero_pages", "1");
	write_knob("zero_pages_min_age", "0");
	write_knob("unstable_refresh_millisecs", "100");
	write_knob("run", "1");

	rng = (uint64_t)time(NULL) << 16 | getpid() | 1;
	start = now();
	end = start + seconds;
	fflush(stdout);
	for (i = 0; i < NR_WORKERS; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			ksft_exit_fail_msg("fork: %s\n", strerror(errno));
		if (!pids[i])
			worker_run(i, end);
	}

	while (now() < end) {
		usleep(100000 + rnd_below(&rng, 200000));
		flip_knob(&rng, &flips);
	}

	for (i = 0; i < NR_WORKERS; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status)) {
			ksft_print_msg("worker %d failed (status 0x%x)\n", i,
				       status);
			failed++;
		}
		ops += stats[i].ops;
		forks += stats[i].forks;
		execs += stats[i].execs;
	}
	elapsed = now() - start;
	ksft_print_msg("duration %.1f s, %d workers, %lu knob changes\n",
		       elapsed, NR_WORKERS, flips);
	ksft_print_msg("%lu operations (%.1f/s), %lu forks, %lu execs\n",
		       ops, ops / elapsed, forks, execs);
	ksft_test_result(!failed, "workers: no data mismatch, all exit 0\n");

	if (!write_knob("run", "2"))
		ksft_print_msg("run=2: %s\n", strerror(errno));
	/* The mm_slots of exited mms may wait for ksmd or run=2. */
	for (i = 0; i < 100; i++) {
		shared = read_counter("pages_shared");
		sharing = read_counter("pages_sharing");
		zero = read_counter("ksm_zero_pages");
		if (!shared && !sharing && !zero)
			break;
		usleep(100000);
	}
	ksft_print_msg("after run=2: pages_shared %ld, pages_sharing %ld, ksm_zero_pages %ld\n",
		       shared, sharing, zero);
	ksft_test_result(!shared && !sharing && !zero,
			 "no KSM pages after run=2 and the workers' exit\n");
	ksft_test_result(restore_knobs(), "knobs restored\n");
	ksft_finished();
}
