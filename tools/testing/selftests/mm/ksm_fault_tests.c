// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM under injected faults, with the features of the series on where they
 * apply (use_zero_pages, zero runs, zero_pages_scope=all, zero-filled THPs
 * to the huge zero page, the unstable tree refresh):
 *
 * poison:  memory failure. MADV_HWPOISON, MADV_SOFT_OFFLINE, the
 *          soft_offline_page file and debugfs hwpoison/corrupt-pfn on
 *          zero-filled pages (registered, and unregistered under
 *          zero_pages_scope=all), on pages in the middle of zero runs while
 *          ksmd merges them at full speed, on a page of a zero-filled THP
 *          and of a THP with one page of data that ksmd keeps checking, on
 *          KSM pages shared by two processes, and last on KSM zero pages
 *          (the shared zero page and the huge zero page).
 * hotplug: a memory block onlined to ZONE_MOVABLE that holds KSM pages,
 *          zero-filled pages being merged by ksmd and THPs, offlined and
 *          onlined again three times while ksmd runs.
 * alloc:   failslab and fail_page_alloc aimed at ksmd (task-filter and its
 *          make-it-fail) and at the writer of zero_pages_scope while a load
 *          of processes merges, unmerges, forks and checks its memory.
 *
 * Each checks that the global ksm_zero_pages equals the sum of every
 * process's /proc/PID/ksm_stat ksm_zero_pages, that the memory of the
 * processes under test holds what they wrote, and that a process gets
 * SIGBUS only where a poisoned page is mapped. A kernel splat fails the run
 * (the harness reads the kernel log).
 *
 * Poisoned pages cannot always be given back (unpoison-pfn refuses pages
 * that are still held): the test poisons only pages of its own processes,
 * about 20 of them in all, plus the zero pages in the last subtests.
 *
 * Usage: ksm_fault_tests [alloc] [hotplug] [poison] (default: all three)
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <linux/kcmp.h>

#include "../kselftest.h"
#include "vm_util.h"

#ifndef MADV_HWPOISON
#define MADV_HWPOISON		100
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE	101
#endif
#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR		4
#endif
#ifndef MPOL_BIND
#define MPOL_BIND		2
#endif

#define KPF_LRU		5
#define KPF_ANON	12
#define KPF_HWPOISON	19
#define KPF_NOPAGE	20
#define KPF_THP		22
#define KPF_ZERO_PAGE	24

#define DEBUGFS		"/sys/kernel/debug/"
#define HWPOISON	DEBUGFS "hwpoison/"
#define MEMORY		"/sys/devices/system/memory/"
#define THP		"/sys/kernel/mm/transparent_hugepage/"
#define CGROUP		"/sys/fs/cgroup/"
#define TEST_CG		CGROUP "ksm-fault-test/"

#define MAX_BUS		16

static size_t pagesize;
static size_t thpsize;
static long zero_pfn = -1;

/* The knobs this test changes, put back at the end ("run" last). */
static const char *const saved_knobs[] = {
	"pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"zero_pages_min_age", "zero_pages_thp_split_min", "smart_scan",
	"unstable_refresh_millisecs", "run",
};

static long saved[ARRAY_SIZE(saved_knobs)];
static char saved_scope[32];

/* --- small file helpers --------------------------------------------- */

static int write_file(const char *path, const char *val)
{
	ssize_t len = strlen(val), n;
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	n = n < 0 ? -errno : (n == len ? 0 : -EIO);
	close(fd);
	return n;
}

static int write_num(const char *path, long val)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", val);
	return write_file(path, buf);
}

static int read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static long read_num(const char *path)
{
	char buf[64];

	if (read_file(path, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 0);
}

/* zero_pages_scope: the choice in brackets, or "" without the knob. */
static const char *scope_read(char *buf, size_t size)
{
	char *open, *close;

	if (read_file("/sys/kernel/mm/ksm/zero_pages_scope", buf, size))
		return "";
	open = strchr(buf, '[');
	close = open ? strchr(open, ']') : NULL;
	if (!close)
		return "";
	*close = 0;
	return open + 1;
}

static bool scope_set(const char *scope)
{
	return !ksm_sysfs_write_str("zero_pages_scope", scope);
}

static bool has_scope(void)
{
	char buf[64];

	return !access("/sys/kernel/mm/ksm/zero_pages_scope", W_OK) &&
	       *scope_read(buf, sizeof(buf)) && scope_set("all") &&
	       scope_set("mergeable");
}

static void ksmd_full_speed(void)
{
	ksm_sysfs_write("pages_to_scan", 1000);
	ksm_sysfs_write("sleep_millisecs", 0);
	ksm_sysfs_write("run", 1);
}

static void ksmd_stop(void)
{
	ksm_sysfs_write("run", 0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* --- page contents ---------------------------------------------------- */

/*
 * What a page holds, by its record: 0 zero-filled, 1..255 one of the
 * patterns that pages share (KSM merges them), above that data of its own.
 */
#define REC_UNIQUE(n)	(0x100u + (n))

static uint64_t page_word(uint32_t rec, size_t i)
{
	uint64_t x;

	if (!rec)
		return 0;
	if (rec < 0x100)
		return rec * 0x0101010101010101ULL;
	x = (rec * 0x9e3779b97f4a7c15ULL) ^ (i * 0xbf58476d1ce4e5b9ULL);
	x ^= x >> 31;
	return x * 0x94d049bb133111ebULL | 1;
}

static void fill_page(char *p, uint32_t rec)
{
	uint64_t *w = (uint64_t *)p;
	size_t i;

	if (!rec) {
		memset(p, 0, pagesize);
		return;
	}
	for (i = 0; i < pagesize / sizeof(*w); i++)
		w[i] = page_word(rec, i);
}

static bool page_matches(const char *p, uint32_t rec)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < pagesize / sizeof(*w); i++)
		if (w[i] != page_word(rec, i))
			return false;
	return true;
}

/* --- pagemap and kpageflags of any process ---------------------------- */

#define PM_PFN_MASK	(BIT_ULL(55) - 1)

/*
 * The page frames and kpageflags of @nr pages from @addr in process @pid:
 * pfn[i] is -1 where no page is present. Returns false if the process is
 * gone.
 */
static bool page_flags(pid_t pid, unsigned long addr, size_t nr, long *pfn,
		       uint64_t *flags)
{
	char path[64];
	uint64_t *pm = calloc(nr, sizeof(*pm));
	int fd, kf;
	bool ok = false;
	size_t i;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	kf = open("/proc/kpageflags", O_RDONLY);
	if (!pm || fd < 0 || kf < 0)
		goto out;
	if (pread(fd, pm, nr * sizeof(*pm), addr / pagesize * sizeof(*pm)) !=
	    (ssize_t)(nr * sizeof(*pm)))
		goto out;
	for (i = 0; i < nr; i++) {
		pfn[i] = -1;
		flags[i] = 0;
		if (!(pm[i] & PM_PRESENT))
			continue;
		pfn[i] = pm[i] & PM_PFN_MASK;
		if (pread(kf, &flags[i], sizeof(flags[i]),
			  pfn[i] * sizeof(flags[i])) != sizeof(flags[i]))
			flags[i] = 0;
	}
	ok = true;
out:
	free(pm);
	if (fd >= 0)
		close(fd);
	if (kf >= 0)
		close(kf);
	return ok;
}

static uint64_t pfn_flags(long pfn)
{
	uint64_t flags = 0;
	int kf = open("/proc/kpageflags", O_RDONLY);

	if (kf < 0)
		return 0;
	if (pread(kf, &flags, sizeof(flags), pfn * sizeof(flags)) != sizeof(flags))
		flags = 0;
	close(kf);
	return flags;
}

/* The page frame of the shared zero page, found by a read fault. */
static long find_zero_pfn(void)
{
	char *p = mmap(NULL, pagesize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	uint64_t flags;
	long pfn = -1;

	if (p == MAP_FAILED)
		return -1;
	if (!__atomic_load_n(p, __ATOMIC_RELAXED) &&
	    page_flags(getpid(), (unsigned long)p, 1, &pfn, &flags) &&
	    !(flags & BIT_ULL(KPF_ZERO_PAGE)))
		pfn = -1;
	munmap(p, pagesize);
	return pfn;
}

/* --- the counters ------------------------------------------------------ */

static long kcmp_vm(pid_t a, pid_t b)
{
	return syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0);
}

/*
 * Sum of ksm_zero_pages over the ksm_stat of every process, each mm once
 * (a vfork()ed child shares its parent's). @detail prints each non-zero one.
 */
static long ksm_stat_sum(bool detail)
{
	pid_t seen[256];
	int nr_seen = 0, i;
	struct dirent *d;
	long sum = 0;
	DIR *dir = opendir("/proc");

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		pid_t pid;
		long val;

		if (!isdigit(d->d_name[0]))
			continue;
		pid = atoi(d->d_name);
		val = ksm_stat_read(pid, "ksm_zero_pages");
		if (val <= 0)
			continue;
		for (i = 0; i < nr_seen; i++)
			if (!kcmp_vm(seen[i], pid))
				break;
		if (i < nr_seen)
			continue;
		if (nr_seen < (int)ARRAY_SIZE(seen))
			seen[nr_seen++] = pid;
		if (detail)
			ksft_print_msg("  pid %d: ksm_zero_pages %ld\n", pid, val);
		sum += val;
	}
	closedir(dir);
	return sum;
}

/*
 * The global ksm_zero_pages equals the sum of the processes' own, with
 * ksmd stopped (run=0) and the processes under test idle. A process that
 * is exiting has left its ksm_stat before its pages are unmapped: a
 * mismatch is read again for up to 2 s.
 */
static bool counts_exact(const char *when)
{
	long global = -1, sum = -1, again;
	int i;

	for (i = 0; i < 20; i++) {
		global = ksm_sysfs_read("ksm_zero_pages");
		sum = ksm_stat_sum(false);
		again = ksm_sysfs_read("ksm_zero_pages");
		if (global == again && global == sum && global >= 0)
			return true;
		usleep(100000);
	}
	ksft_print_msg("%s: ksm_zero_pages %ld, sum of ksm_stat %ld:\n", when,
		       global, sum);
	ksm_stat_sum(true);
	return false;
}

/* --- victims: processes whose memory is under test --------------------- */

enum victim_flags {
	V_THP = 1,		/* THP-aligned, MADV_HUGEPAGE */
	V_MERGEABLE = 2,	/* MADV_MERGEABLE */
	V_NOHUGE_AFTER = 4,	/* MADV_NOHUGEPAGE once faulted in */
	V_CGROUP = 8,		/* in TEST_CG from the start */
	V_BIND = 16,		/* memory bound to node victim_node */
	V_CHURN = 32,		/* a thread rewrites its zero pages ('c') */
};

struct cmd {
	char op;
	long idx;
};

struct reply {
	long ret;		/* return value, or -errno */
	int bus;		/* a SIGBUS arrived */
	long bus_idx;		/* the page it named, -1 if outside the area */
	int si_code;
	long nr_bus;		/* check: pages that raised SIGBUS */
	long bus_list[MAX_BUS];
	long nr_bad;		/* check: pages that do not hold their record */
	long first_bad;
	unsigned long addr;	/* start: the area */
};

struct victim {
	pid_t pid;
	int cmd, rep;
	unsigned long addr;
	size_t nr;
	uint32_t *rec;
	int flags;
};

static int victim_node = -1;

/* In a victim. */
static char *v_area;
static size_t v_nr;
static uint32_t *v_rec;
static sigjmp_buf v_jmp;
/* Shared with the SIGBUS handler and the churn thread: __atomic only. */
static int v_armed;
static void *v_bus_addr;
static int v_bus_code;
static int v_churn;
static size_t v_i;	/* v_check()'s page: kept across siglongjmp() */

static void v_arm(int armed)
{
	__atomic_store_n(&v_armed, armed, __ATOMIC_SEQ_CST);
}

static void v_sigbus(int sig, siginfo_t *si, void *uc)
{
	__atomic_store_n(&v_bus_addr, si->si_addr, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v_bus_code, si->si_code, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&v_armed, 0, __ATOMIC_SEQ_CST))
		siglongjmp(v_jmp, 1);
	_exit(99);	/* a SIGBUS where none may be */
}

static long v_idx(void *addr)
{
	unsigned long a = (unsigned long)addr, s = (unsigned long)v_area;

	if (a < s || a >= s + v_nr * pagesize)
		return -1;
	return (a - s) / pagesize;
}

/* madvise(@advice) on page @idx, catching the SIGBUS it may raise. */
static void v_madvise(long idx, int advice, struct reply *r)
{
	if (sigsetjmp(v_jmp, 1)) {
		r->bus = 1;
		r->bus_idx = v_idx(__atomic_load_n(&v_bus_addr, __ATOMIC_SEQ_CST));
		r->si_code = __atomic_load_n(&v_bus_code, __ATOMIC_SEQ_CST);
		return;
	}
	v_arm(1);
	r->ret = madvise(v_area + idx * pagesize, pagesize, advice) ? -errno : 0;
	v_arm(0);
}

/* Read every page: which raise SIGBUS, which do not hold their record. */
static void v_check(struct reply *r)
{
	r->first_bad = -1;
	for (v_i = 0; v_i < v_nr; v_i++) {
		if (sigsetjmp(v_jmp, 1)) {
			if (r->nr_bus < MAX_BUS)
				r->bus_list[r->nr_bus] = v_i;
			r->nr_bus++;
			continue;
		}
		v_arm(1);
		if (!page_matches(v_area + v_i * pagesize, v_rec[v_i])) {
			if (r->first_bad < 0)
				r->first_bad = v_i;
			r->nr_bad++;
		}
		v_arm(0);
	}
}

/* Throw the pages away and write them again: fresh pages, not merged. */
static void v_refill(struct reply *r)
{
	size_t i;

	r->ret = madvise(v_area, v_nr * pagesize, MADV_DONTNEED) ? -errno : 0;
	for (i = 0; i < v_nr; i++)
		fill_page(v_area + i * pagesize, v_rec[i]);
}

/* A pipe holding page @idx (vmsplice): the THP it is in cannot split. */
static int v_pipe[2] = { -1, -1 };

static void v_pin(long idx, struct reply *r)
{
	struct iovec iov = {
		.iov_base = v_area + idx * pagesize,
		.iov_len = pagesize,
	};

	r->ret = 0;
	if (pipe(v_pipe) || vmsplice(v_pipe[1], &iov, 1, 0) != (ssize_t)pagesize)
		r->ret = -errno;
}

static void v_unpin(void)
{
	if (v_pipe[0] >= 0) {
		close(v_pipe[0]);
		close(v_pipe[1]);
	}
	v_pipe[0] = -1;
	v_pipe[1] = -1;
}

/*
 * The churn thread: writes a zero into each zero-filled page again and
 * again, so that ksmd keeps finding new zero-filled pages to merge (a write
 * to a KSM zero page gives the process a page of its own).
 */
static void *v_churn_thread(void *arg)
{
	size_t i;

	for (;;) {
		for (i = 0; i < v_nr; i++) {
			while (!__atomic_load_n(&v_churn, __ATOMIC_RELAXED))
				usleep(1000);
			if (!v_rec[i])
				__atomic_store_n(v_area + i * pagesize, 0,
						 __ATOMIC_RELAXED);
		}
		usleep(2000);
	}
	return NULL;
}

static long set_mempolicy_node(int node)
{
	unsigned long mask = 1UL << node;

	return syscall(SYS_set_mempolicy, MPOL_BIND, &mask, sizeof(mask) * 8);
}

static void victim_main(struct victim *v)
{
	struct sigaction sa = {
		.sa_sigaction = v_sigbus,
		.sa_flags = SA_SIGINFO | SA_NODEFER,
	};
	size_t size = v->nr * pagesize, i;
	struct reply r = { 0 };
	pthread_t churn;
	struct cmd c;
	char *p;

	v_nr = v->nr;
	v_rec = v->rec;
	sigaction(SIGBUS, &sa, NULL);
	if (v->flags & V_CGROUP && write_file(TEST_CG "cgroup.procs", "0"))
		_exit(2);
	if (v->flags & V_BIND && set_mempolicy_node(victim_node))
		_exit(3);
	p = mmap(NULL, size + thpsize, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(4);
	v_area = (char *)(((unsigned long)p + thpsize - 1) & ~(thpsize - 1));
	madvise(v_area, size, v->flags & V_THP ? MADV_HUGEPAGE :
						 MADV_NOHUGEPAGE);
	for (i = 0; i < v_nr; i++)
		fill_page(v_area + i * pagesize, v_rec[i]);
	if (v->flags & V_NOHUGE_AFTER)
		madvise(v_area, size, MADV_NOHUGEPAGE);
	if (v->flags & V_MERGEABLE && madvise(v_area, size, MADV_MERGEABLE))
		_exit(5);
	if (v->flags & V_CHURN && pthread_create(&churn, NULL, v_churn_thread,
						 NULL))
		_exit(6);
	r.addr = (unsigned long)v_area;
	if (write(v->rep, &r, sizeof(r)) != sizeof(r))
		_exit(7);
	while (read(v->cmd, &c, sizeof(c)) == sizeof(c)) {
		memset(&r, 0, sizeof(r));
		r.bus_idx = -1;
		switch (c.op) {
		case 'H':
			v_madvise(c.idx, MADV_HWPOISON, &r);
			break;
		case 'S':
			v_madvise(c.idx, MADV_SOFT_OFFLINE, &r);
			break;
		case 'C':
			v_check(&r);
			break;
		case 'R':
			v_refill(&r);
			break;
		case 'c':
			__atomic_store_n(&v_churn, c.idx, __ATOMIC_RELAXED);
			break;
		case 'P':
			v_pin(c.idx, &r);
			break;
		case 'U':
			v_unpin();
			break;
		case 'Q':
			_exit(0);
		}
		if (write(v->rep, &r, sizeof(r)) != sizeof(r))
			_exit(8);
	}
	_exit(0);
}

static bool victim_start_once(struct victim *v, size_t nr, uint32_t *rec,
			      int flags)
{
	int cmd[2], rep[2];
	struct reply r;

	/*
	 * Free blocks of a PMD's size first: 512 MiB with arm64's 64K
	 * pages, which the tests before have left scattered.
	 */
	if (flags & V_THP)
		write_file("/proc/sys/vm/compact_memory", "1");
	memset(v, 0, sizeof(*v));
	v->nr = nr;
	v->rec = rec;
	v->flags = flags;
	if (pipe(cmd) || pipe(rep))
		return false;
	fflush(stdout);
	v->pid = fork();
	if (v->pid < 0)
		return false;
	if (!v->pid) {
		close(cmd[1]);
		close(rep[0]);
		v->cmd = cmd[0];
		v->rep = rep[1];
		victim_main(v);
	}
	close(cmd[0]);
	close(rep[1]);
	v->cmd = cmd[1];
	v->rep = rep[0];
	if (read(v->rep, &r, sizeof(r)) != sizeof(r)) {
		ksft_print_msg("victim %d did not start\n", v->pid);
		waitpid(v->pid, NULL, 0);
		v->pid = 0;
		return false;
	}
	v->addr = r.addr;
	return true;
}

static void victim_stop(struct victim *v);
static bool victim_thps(struct victim *v, long nr_thp);

/*
 * A victim of @nr pages; with V_THP, one whose THPs (a PMD's worth of its
 * pages each) all faulted in as THPs, if a second try after compaction
 * gets them where the first did not: with 64K pages a THP is 512 MiB, and
 * a busy host leaves the guest's compaction behind. The caller checks.
 */
static bool victim_start(struct victim *v, size_t nr, uint32_t *rec, int flags)
{
	long nr_thp = nr / (thpsize / pagesize);

	if (!victim_start_once(v, nr, rec, flags))
		return false;
	if (!(flags & V_THP) || !nr_thp || victim_thps(v, nr_thp))
		return true;
	ksft_print_msg("%ld THPs did not all fault in: once more\n", nr_thp);
	victim_stop(v);
	sleep(1);
	return victim_start_once(v, nr, rec, flags);
}

static bool victim_cmd(struct victim *v, char op, long idx, struct reply *r)
{
	struct cmd c = { .op = op, .idx = idx };

	memset(r, 0, sizeof(*r));
	if (!v->pid || write(v->cmd, &c, sizeof(c)) != sizeof(c) ||
	    read(v->rep, r, sizeof(*r)) != sizeof(*r)) {
		ksft_print_msg("victim %d is gone\n", v->pid);
		return false;
	}
	return true;
}

static void victim_stop(struct victim *v)
{
	struct cmd c = { .op = 'Q' };

	if (!v->pid)
		return;
	if (write(v->cmd, &c, sizeof(c)) != sizeof(c))
		kill(v->pid, SIGKILL);
	waitpid(v->pid, NULL, 0);
	close(v->cmd);
	close(v->rep);
	v->pid = 0;
}

/*
 * Check the victim's memory: SIGBUS on the pages of @bus (@nr_bus of them,
 * in any order) and only there, the record everywhere else.
 */
static bool victim_intact(struct victim *v, const long *bus, int nr_bus,
			  const char *when)
{
	struct reply r;
	bool ok = true;
	int i, j;

	if (!victim_cmd(v, 'C', 0, &r))
		return false;
	if (r.nr_bad) {
		ksft_print_msg("%s: %ld pages do not hold what was written (first: page %ld)\n",
			       when, r.nr_bad, r.first_bad);
		ok = false;
	}
	if (r.nr_bus != nr_bus)
		ok = false;
	for (i = 0; i < r.nr_bus && i < MAX_BUS; i++) {
		for (j = 0; j < nr_bus; j++)
			if (r.bus_list[i] == bus[j])
				break;
		if (j == nr_bus)
			ok = false;
	}
	if (r.nr_bus != nr_bus || !ok) {
		ksft_print_msg("%s: SIGBUS on %ld pages, expected on %d:", when,
			       r.nr_bus, nr_bus);
		for (i = 0; i < r.nr_bus && i < MAX_BUS; i++)
			printf(" %ld", r.bus_list[i]);
		printf(" (expected:");
		for (j = 0; j < nr_bus; j++)
			printf(" %ld", bus[j]);
		printf(")\n");
	}
	return ok;
}

/* Pages of the victim that map the zero page, small or huge. */
static long victim_zero_mapped(struct victim *v)
{
	long *pfn = calloc(v->nr, sizeof(*pfn)), n = 0;
	uint64_t *flags = calloc(v->nr, sizeof(*flags));
	size_t i;

	if (!pfn || !flags || !page_flags(v->pid, v->addr, v->nr, pfn, flags))
		n = -1;
	for (i = 0; n >= 0 && i < v->nr; i++)
		if (flags[i] & BIT_ULL(KPF_ZERO_PAGE))
			n++;
	free(pfn);
	free(flags);
	return n;
}

/* The page frame of page @idx of the victim, -1 if none is mapped. */
static long victim_pfn(struct victim *v, long idx)
{
	uint64_t flags;
	long pfn;

	if (!page_flags(v->pid, v->addr + idx * pagesize, 1, &pfn, &flags))
		return -1;
	return pfn;
}

static uint64_t victim_page_flags(struct victim *v, long idx)
{
	uint64_t flags;
	long pfn;

	if (!page_flags(v->pid, v->addr + idx * pagesize, 1, &pfn, &flags))
		return 0;
	return flags;
}

/* Wait up to @secs s for @n pages of the victim to map the zero page. */
static long wait_zero_mapped(struct victim *v, long n, int secs)
{
	double end = now() + secs;
	long cur;

	do {
		cur = victim_zero_mapped(v);
		if (cur >= n)
			break;
		usleep(50000);
	} while (now() < end);
	return cur;
}

/* --- memory failure ----------------------------------------------------- */

static long poisoned_pfns[64];
static int nr_poisoned;

static void remember_poison(long pfn)
{
	if (pfn >= 0 && nr_poisoned < (int)ARRAY_SIZE(poisoned_pfns))
		poisoned_pfns[nr_poisoned++] = pfn;
}

/* Give back the page frames poisoned so far, where the kernel lets us. */
static void unpoison_all(void)
{
	int i, back = 0;

	if (access(HWPOISON "unpoison-pfn", W_OK))
		return;
	for (i = 0; i < nr_poisoned; i++) {
		if (!(pfn_flags(poisoned_pfns[i]) & BIT_ULL(KPF_HWPOISON)))
			continue;
		if (!write_num(HWPOISON "unpoison-pfn", poisoned_pfns[i]))
			back++;
	}
	ksft_print_msg("unpoison-pfn gave back %d of %d poisoned page frames\n",
		       back, nr_poisoned);
	nr_poisoned = 0;
}

/*
 * The SIGBUS of MADV_HWPOISON: the kernel signals the caller at once
 * (BUS_MCEERR_AR) for a page it unmapped; for any other outcome there is
 * none. Returns false if a SIGBUS named another page than one of @ok.
 */
static bool poison_signal_ok(const struct reply *r, const long *ok, int nr_ok,
			     const char *what)
{
	int i;

	if (!r->bus)
		return true;
	for (i = 0; i < nr_ok; i++)
		if (r->bus_idx == ok[i] && r->si_code == BUS_MCEERR_AR)
			return true;
	ksft_print_msg("%s: SIGBUS (code %d) for page %ld\n", what, r->si_code,
		       r->bus_idx);
	return false;
}

static bool soft_offline_pfn(long pfn)
{
	char buf[32];
	int err;

	snprintf(buf, sizeof(buf), "%#lx", pfn * (long)pagesize);
	err = write_file(MEMORY "soft_offline_page", buf);
	if (err)
		ksft_print_msg("soft_offline_page %s: %s\n", buf, strerror(-err));
	return !err;
}

/*
 * Zero-filled pages, before ksmd sees them: page 10 poisoned with
 * MADV_HWPOISON, page 20 soft-offlined with MADV_SOFT_OFFLINE and page 30
 * through /sys/devices/system/memory/soft_offline_page. Then ksmd merges
 * the others: all of them but page 10 map the zero page, page 10 raises
 * SIGBUS and only it. @all: not registered, merged by zero_pages_scope=all.
 */
static void test_poison_zero_filled(bool all)
{
	const char *what = all ? "unregistered zero-filled pages, zero_pages_scope=all" :
				 "registered zero-filled pages";
	const long nr = 64, bus[] = { 10 };
	uint32_t *rec = calloc(nr, sizeof(*rec));
	struct victim v;
	struct reply r;
	bool ok = true;
	long pfn, zero, stat;

	ksmd_stop();
	scope_set("mergeable");
	if (!rec || !victim_start(&v, nr, rec, all ? 0 : V_MERGEABLE)) {
		ksft_test_result_fail("%s: no victim\n", what);
		free(rec);
		return;
	}
	pfn = victim_pfn(&v, 10);
	if (!victim_cmd(&v, 'H', 10, &r))
		goto out_fail;
	ok &= poison_signal_ok(&r, bus, 1, "MADV_HWPOISON");
	if (!r.bus && r.ret) {
		ksft_print_msg("MADV_HWPOISON: %s\n", strerror(-r.ret));
		ok = false;
	}
	if (!(pfn_flags(pfn) & BIT_ULL(KPF_HWPOISON))) {
		ksft_print_msg("page frame %#lx of page 10 is not poisoned\n", pfn);
		ok = false;
	}
	remember_poison(pfn);
	remember_poison(victim_pfn(&v, 20));
	if (!victim_cmd(&v, 'S', 20, &r))
		goto out_fail;
	if (r.bus || r.ret) {
		ksft_print_msg("MADV_SOFT_OFFLINE of page 20: %s%s\n",
			       r.bus ? "SIGBUS " : "", strerror(-r.ret));
		ok = false;
	}
	pfn = victim_pfn(&v, 30);
	remember_poison(pfn);
	ok &= soft_offline_pfn(pfn);
	ok &= victim_intact(&v, bus, 1, "after the faults");

	if (all)
		scope_set("all");
	ksm_sysfs_write("sleep_millisecs", 20);
	ksm_sysfs_write("pages_to_scan", 1000);
	ksm_sysfs_write("run", 1);
	zero = wait_zero_mapped(&v, nr - 1, 30);
	ksm_wait_full_scans(2, 30);
	ksmd_stop();
	zero = victim_zero_mapped(&v);
	stat = ksm_stat_read(v.pid, "ksm_zero_pages");
	if (zero != nr - 1 || (all ? stat < zero : stat != zero)) {
		ksft_print_msg("%ld of %ld pages merged, ksm_stat ksm_zero_pages %ld\n",
			       zero, nr - 1, stat);
		ok = false;
	}
	ok &= victim_intact(&v, bus, 1, "after the merge");
	ok &= counts_exact(what);
	victim_stop(&v);
	scope_set("mergeable");
	ok &= counts_exact("after the victim's exit");
	ksft_test_result(ok,
			 "%s: HWPOISON and soft offline, the others merged, SIGBUS on the poisoned page only, counts exact\n",
			 what);
	free(rec);
	return;
out_fail:
	victim_stop(&v);
	scope_set("mergeable");
	free(rec);
	ksft_test_result_fail("%s\n", what);
}

/*
 * The hwpoison filter of debugfs: only anonymous pages on the LRU of the
 * memory cgroup TEST_CG. A page that ksmd has merged meanwhile (the zero
 * page, or the freed page frame, perhaps already someone else's) is left
 * alone.
 */
static bool hwpoison_filter_on(void)
{
	struct stat st;
	uint64_t mask = BIT_ULL(KPF_ANON) | BIT_ULL(KPF_LRU) | BIT_ULL(KPF_NOPAGE);
	char buf[32];

	if (stat(TEST_CG, &st))
		return false;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)mask);
	if (write_file(HWPOISON "corrupt-filter-flags-mask", buf))
		return false;
	snprintf(buf, sizeof(buf), "%llu",
		 (unsigned long long)(BIT_ULL(KPF_ANON) | BIT_ULL(KPF_LRU)));
	if (write_file(HWPOISON "corrupt-filter-flags-value", buf) ||
	    write_num(HWPOISON "corrupt-filter-memcg", st.st_ino) ||
	    write_file(HWPOISON "corrupt-filter-enable", "1"))
		return false;
	return true;
}

static void hwpoison_filter_off(void)
{
	write_file(HWPOISON "corrupt-filter-enable", "0");
	write_file(HWPOISON "corrupt-filter-memcg", "0");
	write_file(HWPOISON "corrupt-filter-flags-mask", "0");
	write_file(HWPOISON "corrupt-filter-flags-value", "0");
}

static bool test_cgroup_make(void)
{
	if (access(CGROUP "cgroup.controllers", F_OK) &&
	    mount("none", CGROUP, "cgroup2", 0, NULL))
		return false;
	write_file(CGROUP "cgroup.subtree_control", "+memory");
	if (mkdir(TEST_CG, 0755) && errno != EEXIST)
		return false;
	return !access(TEST_CG "memory.current", F_OK);
}

/*
 * Pages in the middle of zero runs, poisoned while ksmd merges them at full
 * speed: each round writes the 1024 zero-filled pages of the victim anew
 * and, after a random delay, poisons page 16 of one of its 32-page runs,
 * by its page frame (debugfs corrupt-pfn, filtered to the victim's memory:
 * MADV_HWPOISON would poison the shared zero page for good when ksmd wins
 * the race) or with MADV_SOFT_OFFLINE (which refuses the zero page).
 * Whichever wins, the page raises SIGBUS or reads zero, the others read
 * zero, and the counts are exact.
 */
static void test_poison_zero_run(bool hard)
{
	const char *what = hard ? "corrupt-pfn" : "MADV_SOFT_OFFLINE";
	const long nr = 1024;
	int rounds = 20, i, poisoned = 0, merged = 0, other = 0;
	uint32_t *rec = calloc(nr, sizeof(*rec));
	struct victim v;
	struct reply r;
	bool ok = true;

	if (hard && (access(HWPOISON "corrupt-pfn", W_OK) || !test_cgroup_make() ||
		     !hwpoison_filter_on())) {
		hwpoison_filter_off();
		ksft_test_result_skip("zero runs under %s: no hwpoison filter or memcg\n",
				      what);
		free(rec);
		return;
	}
	if (!rec || !victim_start(&v, nr, rec,
				  V_MERGEABLE | (hard ? V_CGROUP : 0))) {
		ksft_test_result_fail("zero runs under %s: no victim\n", what);
		goto out;
	}
	/* A batch of ksmd is about one zero run: the poison lands between. */
	ksm_sysfs_write("unstable_refresh_millisecs", 100);
	ksmd_full_speed();
	ksm_sysfs_write("pages_to_scan", 32);
	for (i = 0; i < rounds && ok; i++) {
		long idx = 32 * (rnd() % (nr / 32)) + 16, pfn, bus[1] = { idx };
		uint64_t flags;
		int n = 0;

		if (!victim_cmd(&v, 'R', 0, &r))
			goto out_fail;
		usleep(rnd() % 10000);
		pfn = victim_pfn(&v, idx);
		if (hard) {
			if (pfn >= 0) {
				write_num(HWPOISON "corrupt-pfn", pfn);
				remember_poison(pfn);
			}
		} else {
			if (!victim_cmd(&v, 'S', idx, &r))
				goto out_fail;
			if (r.bus) {
				ksft_print_msg("MADV_SOFT_OFFLINE raised SIGBUS for page %ld\n",
					       r.bus_idx);
				ok = false;
			}
			if (!r.ret)
				remember_poison(pfn);
		}
		/* ksmd stopped: no PTE is cleared for a merge while we look. */
		ksmd_stop();
		flags = victim_page_flags(&v, idx);
		/* Not present: a hwpoison entry in its place. */
		if (hard && !(flags & BIT_ULL(KPF_ZERO_PAGE)) &&
		    victim_pfn(&v, idx) < 0)
			n = 1;
		ok &= victim_intact(&v, bus, n, "zero run");
		if (n)
			poisoned++;
		else if (flags & BIT_ULL(KPF_ZERO_PAGE))
			merged++;
		else
			other++;
		ok &= counts_exact("zero run");
		ksm_sysfs_write("run", 1);
	}
	ksmd_stop();
	ksft_print_msg("%d rounds: %d poisoned before the merge, %d merged first, %d neither\n",
		       i, poisoned, merged, other);
	victim_stop(&v);
	ok &= counts_exact("after the victim's exit");
	ksft_test_result(ok,
			 "zero runs at full speed under %s: SIGBUS on the poisoned page only, data intact, counts exact\n",
			 what);
	goto out;
out_fail:
	victim_stop(&v);
	ksmd_stop();
	ksft_test_result_fail("zero runs under %s\n", what);
out:
	if (hard) {
		hwpoison_filter_off();
		rmdir(TEST_CG);
	}
	free(rec);
}

/* THPs faulted in as THPs: false (and a skip) if the kernel did not. */
static bool victim_thps(struct victim *v, long nr_thp)
{
	long *pfn = calloc(v->nr, sizeof(*pfn)), n = 0;
	uint64_t *flags = calloc(v->nr, sizeof(*flags));
	size_t i;

	if (pfn && flags && page_flags(v->pid, v->addr, v->nr, pfn, flags))
		for (i = 0; i < v->nr; i++)
			if ((flags[i] & BIT_ULL(KPF_THP)) &&
			    !(flags[i] & BIT_ULL(KPF_ZERO_PAGE)))
				n++;
	free(pfn);
	free(flags);
	return n == nr_thp * (long)(thpsize / pagesize);
}

/*
 * Three zero-filled THPs, registered, before ksmd sees them: page 100 of the
 * first is poisoned (memory_failure() splits the THP), page 300 of the
 * third soft-offlined (split, then migrated). The splits map the zero page
 * into the other zero-filled pages of both; then ksmd maps the huge zero
 * page in place of the second. Only page 100 raises SIGBUS.
 */
static void test_poison_thp_zero(void)
{
	const long per = thpsize / pagesize, nr = 3 * per, bus[] = { 100 };
	uint32_t *rec = calloc(nr, sizeof(*rec));
	long pfn, zero, stat;
	struct victim v;
	struct reply r;
	bool ok = true;

	ksmd_stop();
	if (!rec || !victim_start(&v, nr, rec, V_THP | V_MERGEABLE)) {
		ksft_test_result_fail("zero-filled THPs: no victim\n");
		free(rec);
		return;
	}
	if (!victim_thps(&v, 3)) {
		victim_stop(&v);
		ksft_test_result_skip("zero-filled THPs: no THP faulted in\n");
		free(rec);
		return;
	}
	pfn = victim_pfn(&v, 100);
	if (!victim_cmd(&v, 'H', 100, &r))
		goto out_fail;
	ok &= poison_signal_ok(&r, bus, 1, "MADV_HWPOISON of a THP page");
	if (!(pfn_flags(pfn) & BIT_ULL(KPF_HWPOISON))) {
		ksft_print_msg("page 100 of the THP is not poisoned\n");
		ok = false;
	}
	remember_poison(pfn);
	remember_poison(victim_pfn(&v, 2 * per + 300));
	if (!victim_cmd(&v, 'S', 2 * per + 300, &r))
		goto out_fail;
	if (r.bus || r.ret) {
		ksft_print_msg("MADV_SOFT_OFFLINE of a THP page: %s%s\n",
			       r.bus ? "SIGBUS " : "", strerror(-r.ret));
		ok = false;
	}
	ok &= victim_intact(&v, bus, 1, "THPs after the faults");

	ksm_sysfs_write("sleep_millisecs", 20);
	ksm_sysfs_write("pages_to_scan", 1000);
	ksm_sysfs_write("run", 1);
	wait_zero_mapped(&v, nr - 1, 30);
	ksm_wait_full_scans(2, 30);
	ksmd_stop();
	/*
	 * The splits map the zero-filled pages of both THPs to the zero page
	 * themselves (every split of an anonymous THP does so in 6.12, also
	 * the page that soft offline then moves), which KSM does not count:
	 * ksmd counts the huge zero page alone.
	 */
	zero = victim_zero_mapped(&v);
	stat = ksm_stat_read(v.pid, "ksm_zero_pages");
	if (zero != nr - 1 || stat != per) {
		ksft_print_msg("%ld/%ld pages on the zero page, ksm_stat %ld (expected %ld)\n",
			       zero, nr - 1, stat, per);
		ok = false;
	}
	if ((victim_page_flags(&v, per) & (BIT_ULL(KPF_THP) | BIT_ULL(KPF_ZERO_PAGE))) !=
	    (BIT_ULL(KPF_THP) | BIT_ULL(KPF_ZERO_PAGE))) {
		ksft_print_msg("the THP left whole is not the huge zero page\n");
		ok = false;
	}
	ok &= victim_intact(&v, bus, 1, "THPs after the merge");
	ok &= counts_exact("zero-filled THPs");
	victim_stop(&v);
	ok &= counts_exact("after the victim's exit");
	ksft_test_result(ok,
			 "zero-filled THPs: HWPOISON splits one, soft offline another, the third becomes the huge zero page, SIGBUS on the poisoned page only, counts exact\n");
	free(rec);
	return;
out_fail:
	victim_stop(&v);
	free(rec);
	ksft_test_result_fail("zero-filled THPs\n");
}

/*
 * Two THPs whose last page holds data, registered: ksmd at full speed
 * checks them again in every full scan and leaves them whole. Meanwhile
 * page 200 of the first is poisoned and page 100 of the second
 * soft-offlined: both split (which maps the zero page into their
 * zero-filled pages), the pages of data stay, and only page 200 raises
 * SIGBUS. memory_failure() may find the first THP held by ksmd and give
 * up its split: then the process gets SIGBUS at once, and the THP, with
 * its poisoned page, stays mapped and unmerged.
 */
static void test_poison_thp_checked(void)
{
	const long per = thpsize / pagesize, nr = 2 * per, bus[] = { 200 };
	uint32_t *rec = calloc(nr, sizeof(*rec));
	long zero, stat, pfn, expect;
	bool unsplit;
	int i;
	struct victim v;
	struct reply r;
	bool ok = true;

	if (!rec) {
		ksft_test_result_fail("THP with data: no memory\n");
		return;
	}
	rec[per - 1] = REC_UNIQUE(1);
	rec[nr - 1] = REC_UNIQUE(2);
	ksmd_stop();
	/* No khugepaged collapse of the split THPs: MADV_NOHUGEPAGE after. */
	if (!victim_start(&v, nr, rec, V_THP | V_MERGEABLE | V_NOHUGE_AFTER)) {
		ksft_test_result_fail("THP with data: no victim\n");
		free(rec);
		return;
	}
	if (!victim_thps(&v, 2)) {
		victim_stop(&v);
		ksft_test_result_skip("THP with data: no THP faulted in\n");
		free(rec);
		return;
	}
	ksmd_full_speed();
	ksm_wait_full_scans(3, 30);
	if (victim_zero_mapped(&v) || !victim_thps(&v, 2)) {
		ksft_print_msg("ksmd did not leave the THPs with data whole\n");
		ok = false;
	}
	pfn = victim_pfn(&v, 200);
	if (!victim_cmd(&v, 'H', 200, &r))
		goto out_fail;
	ok &= poison_signal_ok(&r, bus, 1, "MADV_HWPOISON of a THP being checked");
	remember_poison(pfn);
	/*
	 * memory_failure() tries the split once: a reference that ksmd holds
	 * on the THP meanwhile (it visits the THP page by page) makes it fail,
	 * "recovery action for unsplit thp: Failed". The process then gets
	 * SIGBUS at once and the poisoned page stays mapped (in this guest it
	 * reads without a machine check): ksmd must leave it alone.
	 */
	unsplit = victim_pfn(&v, 200) == pfn;
	if (unsplit) {
		ksft_print_msg("unsplit THP (held by ksmd): page 200 stays mapped\n");
		if (!r.bus) {
			ksft_print_msg("no SIGBUS for the unsplit THP\n");
			ok = false;
		}
	}
	/*
	 * Soft offline may fail with EBUSY on such a reference: it retries,
	 * for up to 10 s. ksmd holds the reference for as long as it reads
	 * the THP, which with 64K pages is 512 MiB, read twice on a kernel
	 * with MTE support (pages_identical()): far more than one retry
	 * interval under emulation.
	 */
	remember_poison(victim_pfn(&v, per + 100));
	for (i = 0; i < 500; i++) {
		if (!victim_cmd(&v, 'S', per + 100, &r))
			goto out_fail;
		if (r.ret != -EBUSY || r.bus)
			break;
		usleep(20000);
	}
	if (r.bus || r.ret) {
		ksft_print_msg("MADV_SOFT_OFFLINE of a THP being checked: %s%s\n",
			       r.bus ? "SIGBUS " : "", strerror(-r.ret));
		ok = false;
	} else if (i) {
		ksft_print_msg("soft offline: EBUSY %d times before the split\n",
			       i);
	}
	/*
	 * As above: the splits map the zero page, KSM counts none of it. An
	 * unsplit THP stays whole, and its poisoned page mapped.
	 */
	expect = unsplit ? per - 1 : nr - 3;
	wait_zero_mapped(&v, expect, 30);
	ksm_wait_full_scans(2, 30);
	ksmd_stop();
	zero = victim_zero_mapped(&v);
	stat = ksm_stat_read(v.pid, "ksm_zero_pages");
	if (zero != expect || stat != 0) {
		ksft_print_msg("%ld/%ld pages on the zero page, ksm_stat %ld (expected 0)\n",
			       zero, expect, stat);
		ok = false;
	}
	if (unsplit && victim_pfn(&v, 200) != pfn) {
		ksft_print_msg("ksmd merged the poisoned page of the unsplit THP\n");
		ok = false;
	}
	ok &= victim_intact(&v, bus, !unsplit, "THPs with data");
	ok &= counts_exact("THPs with data");
	victim_stop(&v);
	ok &= counts_exact("after the victim's exit");
	ksft_test_result(ok,
			 "THPs with data being checked: HWPOISON (%s) and soft offline, data intact, SIGBUS on the poisoned page only, counts exact\n",
			 unsplit ? "the THP could not be split" : "split");
	free(rec);
	return;
out_fail:
	victim_stop(&v);
	ksmd_stop();
	free(rec);
	ksft_test_result_fail("THP with data\n");
}

/*
 * A poisoned page that stays mapped is never merged. memory_failure()
 * cannot split a THP that something holds (here a pipe, by vmsplice()):
 * it sends SIGBUS, says "unsplit thp: Failed", and page 100 stays mapped
 * with PG_hwpoison set. Once the pipe lets go and the THP is split (debugfs
 * split_huge_pages: the split maps the zero page into the other zero-filled
 * pages, not into the poisoned one), the poisoned page is a small page that
 * ksmd must leave alone: reading it would be a machine check in ksmd on
 * real hardware, merging it into the zero page would hide the error from
 * the process, and making it a KSM page would hand it to others.
 * POISON_ZERO: a zero-filled page, registered; POISON_ZERO_ALL: the same,
 * not registered, with zero_pages_scope=all; POISON_DATA: data that a page
 * of a second process holds too.
 */
enum poison_kind { POISON_ZERO, POISON_ZERO_ALL, POISON_DATA };

static void test_poison_mapped(enum poison_kind kind)
{
	const char *const whats[] = {
		"zero-filled, registered",
		"zero-filled, unregistered, zero_pages_scope=all",
		"data shared with another process",
	};
	const char *what = whats[kind];
	const bool all = kind == POISON_ZERO_ALL;
	const long per = thpsize / pagesize, bus[] = { 100 };
	uint32_t *rec = calloc(per, sizeof(*rec)), other_rec[4];
	struct victim v, other = { 0 };
	char buf[128];
	struct reply r;
	bool ok = true;
	long pfn, now_pfn, stat, i;

	ksmd_stop();
	scope_set("mergeable");
	if (rec && kind == POISON_DATA) {
		for (i = 0; i < per; i++)
			rec[i] = REC_UNIQUE(0x20000 + i);
		rec[100] = 7;
		for (i = 0; i < 4; i++)
			other_rec[i] = i ? REC_UNIQUE(0x30000 + i) : 7;
		if (!victim_start(&other, 4, other_rec, V_MERGEABLE)) {
			ksft_test_result_fail("poisoned page left mapped, %s: no victim\n",
					      what);
			free(rec);
			return;
		}
	}
	if (access(DEBUGFS "split_huge_pages", W_OK)) {
		ksft_test_result_skip("left mapped, %s: no debugfs split_huge_pages\n",
				      what);
		free(rec);
		return;
	}
	if (!rec || !victim_start(&v, per, rec, V_THP | V_NOHUGE_AFTER |
				  (all ? 0 : V_MERGEABLE))) {
		victim_stop(&other);
		ksft_test_result_fail("poisoned page left mapped, %s: no victim\n",
				      what);
		free(rec);
		return;
	}
	if (!victim_thps(&v, 1)) {
		victim_stop(&v);
		victim_stop(&other);
		ksft_test_result_skip("poisoned page left mapped, %s: no THP faulted in\n",
				      what);
		free(rec);
		return;
	}
	pfn = victim_pfn(&v, 100);
	if (!victim_cmd(&v, 'P', 0, &r) || r.ret ||
	    !victim_cmd(&v, 'H', 100, &r))
		goto out_fail;
	ok &= poison_signal_ok(&r, bus, 1, "MADV_HWPOISON of a pinned THP");
	remember_poison(pfn);
	victim_cmd(&v, 'U', 0, &r);
	snprintf(buf, sizeof(buf), "%d,%#lx,%#lx", v.pid, v.addr,
		 v.addr + thpsize);
	if (write_file(DEBUGFS "split_huge_pages", buf))
		goto out_fail;
	if (victim_pfn(&v, 100) != pfn ||
	    !(pfn_flags(pfn) & BIT_ULL(KPF_HWPOISON)) || victim_thps(&v, 1)) {
		victim_stop(&v);
		victim_stop(&other);
		ksft_test_result_skip("left mapped, %s: split or unmapped at once\n",
				      what);
		free(rec);
		return;
	}
	if (all)
		scope_set("all");
	ksm_sysfs_write("sleep_millisecs", 20);
	ksm_sysfs_write("run", 1);
	/* A page of data goes to the unstable tree on its second visit. */
	ksm_wait_full_scans(4, 30);
	ksmd_stop();
	now_pfn = victim_pfn(&v, 100);
	stat = ksm_stat_read(v.pid, "ksm_zero_pages");
	if (now_pfn != pfn) {
		ksft_print_msg("poisoned page %#lx merged: page 100 maps %#lx%s, ksm_stat %ld\n",
			       pfn, now_pfn, now_pfn == zero_pfn ? " (the zero page)" : "",
			       stat);
		ok = false;
	}
	if (kind == POISON_DATA && victim_pfn(&other, 0) == pfn) {
		ksft_print_msg("poisoned page %#lx made a KSM page, mapped by the other process\n",
			       pfn);
		ok = false;
	}
	ok &= counts_exact("poisoned page left mapped");
	victim_stop(&v);
	victim_stop(&other);
	scope_set("mergeable");
	ok &= counts_exact("after the victim's exit");
	ksft_test_result(ok,
			 "poisoned page left mapped by an unsplit THP, %s: ksmd leaves it alone, counts exact\n",
			 what);
	free(rec);
	return;
out_fail:
	victim_stop(&v);
	victim_stop(&other);
	scope_set("mergeable");
	free(rec);
	ksft_test_result_fail("poisoned page left mapped, %s\n", what);
}

/*
 * KSM pages: two processes, each with 4 copies of 8 patterns and 32
 * zero-filled pages, merged into 8 KSM pages and KSM zero pages. The KSM
 * page of pattern 1 is poisoned through the first process: all 8 of its
 * mappings, in both processes, then raise SIGBUS, and nothing else does.
 * The KSM page of pattern 2 is soft-offlined: migrated, still shared.
 */
static void test_poison_ksm_pages(void)
{
	const long nr = 64, bus[] = { 0, 8, 16, 24 };
	uint32_t *rec = calloc(nr, sizeof(*rec));
	struct victim a, b, c;
	long shared, sharing, pfn, poisoned, i;
	uint32_t crec[4];
	struct reply r;
	bool ok = true;

	if (!rec) {
		ksft_test_result_fail("KSM pages: no memory\n");
		return;
	}
	for (i = 0; i < 32; i++)
		rec[i] = 1 + i % 8;
	ksmd_stop();
	if (!victim_start(&a, nr, rec, V_MERGEABLE)) {
		ksft_test_result_fail("KSM pages: no victim\n");
		free(rec);
		return;
	}
	if (!victim_start(&b, nr, rec, V_MERGEABLE)) {
		victim_stop(&a);
		ksft_test_result_fail("KSM pages: no second victim\n");
		free(rec);
		return;
	}
	ksm_sysfs_write("sleep_millisecs", 20);
	ksm_sysfs_write("run", 1);
	wait_zero_mapped(&a, 32, 30);
	wait_zero_mapped(&b, 32, 30);
	ksm_wait_full_scans(3, 30);
	ksmd_stop();
	shared = ksm_sysfs_read("pages_shared");
	sharing = ksm_sysfs_read("pages_sharing");
	/* Merged: both processes map one page frame for pattern 1. */
	pfn = victim_pfn(&a, 0);
	if (shared != 8 || sharing != 56 || pfn < 0 ||
	    victim_pfn(&b, 0) != pfn || victim_pfn(&a, 8) != pfn) {
		ksft_print_msg("merged: pages_shared %ld, pages_sharing %ld (expected 8, 56)\n",
			       shared, sharing);
		ok = false;
	}
	if (!victim_cmd(&a, 'H', 0, &r))
		goto out_fail;
	ok &= poison_signal_ok(&r, bus, 4, "MADV_HWPOISON of a KSM page");
	if (!(pfn_flags(pfn) & BIT_ULL(KPF_HWPOISON))) {
		ksft_print_msg("the KSM page is not poisoned\n");
		ok = false;
	}
	remember_poison(pfn);
	poisoned = pfn;
	pfn = victim_pfn(&b, 1);
	if (!victim_cmd(&b, 'S', 1, &r))
		goto out_fail;
	if (r.bus || r.ret) {
		ksft_print_msg("MADV_SOFT_OFFLINE of a KSM page: %s%s\n",
			       r.bus ? "SIGBUS " : "", strerror(-r.ret));
		ok = false;
	}
	remember_poison(pfn);
	if (victim_pfn(&b, 1) == pfn || victim_pfn(&a, 9) != victim_pfn(&b, 1)) {
		ksft_print_msg("the soft-offlined KSM page did not move, or is no longer shared\n");
		ok = false;
	}
	ok &= victim_intact(&a, bus, 4, "first process");
	ok &= victim_intact(&b, bus, 4, "second process");
	ok &= counts_exact("KSM pages");

	/* The stable tree lets the poisoned page go within a full scan. */
	ksm_sysfs_write("run", 1);
	ksm_wait_full_scans(2, 30);
	ksmd_stop();
	shared = ksm_sysfs_read("pages_shared");
	sharing = ksm_sysfs_read("pages_sharing");
	if (shared != 7 || sharing != 49) {
		ksft_print_msg("pages_shared %ld, pages_sharing %ld (expected 7, 49)\n",
			       shared, sharing);
		ok = false;
	}
	ok &= victim_intact(&a, bus, 4, "first process, rescanned");
	ok &= counts_exact("KSM pages, rescanned");

	/*
	 * A third process writes pattern 1 again: it must get a KSM page of
	 * its own, never the poisoned one that the stable tree may still
	 * hold.
	 */
	for (i = 0; i < 4; i++)
		crec[i] = i ? REC_UNIQUE(0x40000 + i) : 1;
	if (victim_start(&c, 4, crec, V_MERGEABLE)) {
		ksm_sysfs_write("run", 1);
		ksm_wait_full_scans(3, 30);
		ksmd_stop();
		if (victim_pfn(&c, 0) == poisoned) {
			ksft_print_msg("new page merged into the poisoned KSM page %#lx\n",
				       poisoned);
			ok = false;
		}
		ok &= victim_intact(&c, NULL, 0, "third process");
		ok &= counts_exact("KSM pages, third process");
		victim_stop(&c);
	} else {
		ok = false;
	}
	victim_stop(&a);
	victim_stop(&b);
	ok &= counts_exact("after the victims' exit");
	ksft_test_result(ok,
			 "KSM pages: HWPOISON unmaps the page from both processes and no new page merges into it, soft offline moves it, counters exact\n");
	free(rec);
	return;
out_fail:
	victim_stop(&a);
	victim_stop(&b);
	free(rec);
	ksft_test_result_fail("KSM pages\n");
}

/*
 * KSM zero pages: the zero page itself, shared by every process. Soft
 * offline refuses it. MADV_HWPOISON marks it poisoned (for good: it cannot
 * be given back), and then must unmap nothing and kill nobody: the
 * process's pages still read zero, only the page named may raise SIGBUS,
 * the counts stay exact. @huge: the huge zero page of a merged THP.
 */
static void test_poison_ksm_zero(bool huge)
{
	const char *what = huge ? "KSM huge zero page" : "KSM zero page";
	const long per = thpsize / pagesize;
	const long nr = huge ? per : 64, idx = huge ? 7 : 5, bus[] = { idx };
	uint32_t *rec = calloc(nr, sizeof(*rec));
	long zero, stat, pfn;
	struct victim v;
	struct reply r;
	bool ok = true;

	ksmd_stop();
	if (!rec || !victim_start(&v, nr, rec,
				  V_MERGEABLE | (huge ? V_THP : 0))) {
		ksft_test_result_fail("%s: no victim\n", what);
		free(rec);
		return;
	}
	if (huge && !victim_thps(&v, 1)) {
		victim_stop(&v);
		ksft_test_result_skip("%s: no THP faulted in\n", what);
		free(rec);
		return;
	}
	ksm_sysfs_write("sleep_millisecs", 20);
	ksm_sysfs_write("run", 1);
	wait_zero_mapped(&v, nr, 30);
	ksmd_stop();
	pfn = victim_pfn(&v, idx);
	if (victim_zero_mapped(&v) != nr ||
	    (huge && !(victim_page_flags(&v, idx) & BIT_ULL(KPF_THP)))) {
		victim_stop(&v);
		ksft_test_result_fail("%s: the pages were not merged\n", what);
		free(rec);
		return;
	}
	if (pfn_flags(pfn) & BIT_ULL(KPF_HWPOISON)) {
		victim_stop(&v);
		ksft_test_result_skip("%s: already poisoned (an earlier run in this boot)\n",
				      what);
		free(rec);
		return;
	}
	if (!victim_cmd(&v, 'S', idx, &r))
		goto out_fail;
	ksft_print_msg("%s: MADV_SOFT_OFFLINE: %s%s\n", what,
		       r.bus ? "SIGBUS " : "", strerror(-r.ret));
	if (r.bus || !r.ret || (pfn_flags(pfn) & BIT_ULL(KPF_HWPOISON))) {
		ksft_print_msg("%s: soft offline did not refuse it\n", what);
		ok = false;
	}
	ok &= victim_intact(&v, NULL, 0, "after soft offline");
	if (!victim_cmd(&v, 'H', idx, &r))
		goto out_fail;
	ksft_print_msg("%s: MADV_HWPOISON: %s%s, page frame %#lx %s\n", what,
		       r.bus ? "SIGBUS " : "", strerror(-r.ret), pfn,
		       pfn_flags(pfn) & BIT_ULL(KPF_HWPOISON) ?
		       "poisoned" : "not poisoned");
	ok &= poison_signal_ok(&r, bus, 1, what);
	ok &= victim_intact(&v, NULL, 0, "after HWPOISON");
	zero = victim_zero_mapped(&v);
	stat = ksm_stat_read(v.pid, "ksm_zero_pages");
	if (zero != nr || stat != nr) {
		ksft_print_msg("%s: %ld pages map it, ksm_stat ksm_zero_pages %ld, expected %ld\n",
			       what, zero, stat, nr);
		ok = false;
	}
	ok &= counts_exact(what);
	victim_stop(&v);
	ok &= counts_exact("after the victim's exit");
	ksft_test_result(ok,
			 "%s: soft offline refused, HWPOISON unmaps and kills nothing, data intact, counts exact\n",
			 what);
	free(rec);
	return;
out_fail:
	victim_stop(&v);
	free(rec);
	ksft_test_result_fail("%s\n", what);
}

#define POISON_TESTS 12

static void run_poison(void)
{
	if (access(HWPOISON, F_OK) ||
	    access(MEMORY "soft_offline_page", W_OK)) {
		for (int i = 0; i < POISON_TESTS; i++)
			ksft_test_result_skip("no debugfs hwpoison/ or soft_offline_page\n");
		return;
	}
	test_poison_zero_filled(false);
	if (has_scope())
		test_poison_zero_filled(true);
	else
		ksft_test_result_skip("no zero_pages_scope=all\n");
	test_poison_zero_run(true);
	test_poison_zero_run(false);
	test_poison_thp_zero();
	test_poison_thp_checked();
	test_poison_mapped(POISON_ZERO);
	if (has_scope())
		test_poison_mapped(POISON_ZERO_ALL);
	else
		ksft_test_result_skip("no zero_pages_scope=all\n");
	test_poison_mapped(POISON_DATA);
	test_poison_ksm_pages();
	unpoison_all();
	/* Last: what is poisoned here stays so until the next boot. */
	test_poison_ksm_zero(false);
	test_poison_ksm_zero(true);
}

/* --- memory hotplug ------------------------------------------------------ */

static unsigned long block_pages;

/* SIGALRM only interrupts the write. */
static void on_alarm(int sig)
{
}

/*
 * Write @state to the state of memory block @n, giving up after @secs s
 * (offline_pages() retries a busy page until a signal comes).
 */
static int block_set(int n, const char *state, int secs)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no restart */
	char path[128];
	int err;

	snprintf(path, sizeof(path), MEMORY "memory%d/state", n);
	sigaction(SIGALRM, &sa, NULL);
	alarm(secs);
	err = write_file(path, state);
	alarm(0);
	return err;
}

static bool block_online(int n)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), MEMORY "memory%d/state", n);
	return !read_file(path, buf, sizeof(buf)) && !strcmp(buf, "online");
}

static int block_node(int n)
{
	char path[128];
	struct dirent *d;
	int node = -1;
	DIR *dir;

	snprintf(path, sizeof(path), MEMORY "memory%d", n);
	dir = opendir(path);
	if (!dir)
		return -1;
	/* A block that spans two nodes (or zones) cannot go offline. */
	while ((d = readdir(dir)))
		if (!strncmp(d->d_name, "node", 4) && isdigit(d->d_name[4]))
			node = node < 0 ? atoi(d->d_name + 4) : -2;
	closedir(dir);
	return node < 0 ? -1 : node;
}

static bool block_zone_movable(int n)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), MEMORY "memory%d/valid_zones", n);
	return !read_file(path, buf, sizeof(buf)) && !strcmp(buf, "Movable");
}

static int cmp_desc(const void *a, const void *b)
{
	return *(const int *)b - *(const int *)a;
}

/*
 * A memory block that can go offline, taken offline and onlined to
 * ZONE_MOVABLE, where the user memory of its node goes first: highest
 * first, as the low blocks hold the kernel. -1 if none.
 */
static int block_find(void)
{
	int blocks[1024], nr = 0, i;
	struct dirent *d;
	DIR *dir = opendir(MEMORY);

	if (!dir)
		return -1;
	while ((d = readdir(dir)) && nr < (int)ARRAY_SIZE(blocks))
		if (!strncmp(d->d_name, "memory", 6) && isdigit(d->d_name[6]))
			blocks[nr++] = atoi(d->d_name + 6);
	closedir(dir);
	qsort(blocks, nr, sizeof(*blocks), cmp_desc);
	for (i = 0; i < nr; i++) {
		int n = blocks[i];

		if (!block_online(n) || block_node(n) < 0)
			continue;
		if (block_set(n, "offline", 20))
			continue;
		if (!block_set(n, "online_movable", 20) && block_zone_movable(n))
			return n;
		block_set(n, "online", 20);
	}
	return -1;
}

/*
 * Whether another of the @nr pages maps the page frame of page @i: a KSM
 * page (KPF_KSM cannot tell: 6.12's stable_page_flags() sets it for every
 * anonymous page).
 */
static bool pfn_shared(const long *pfn, size_t nr, size_t i)
{
	size_t j;

	for (j = 0; j < nr; j++)
		if (j != i && pfn[j] == pfn[i])
			return true;
	return false;
}

/*
 * How many pages of the victim lie in memory block @n, in *@ksm how many
 * of them share their page frame, in *@thp how many are in THPs; -1 if
 * the victim is gone.
 */
static long victim_in_block(struct victim *v, int n, long *ksm, long *thp)
{
	long *pfn = calloc(v->nr, sizeof(*pfn)), in = 0;
	uint64_t *flags = calloc(v->nr, sizeof(*flags));
	unsigned long lo = n * block_pages, hi = lo + block_pages;
	size_t i;

	*ksm = *thp = 0;
	if (!pfn || !flags || !page_flags(v->pid, v->addr, v->nr, pfn, flags))
		in = -1;
	for (i = 0; in >= 0 && i < v->nr; i++) {
		if (pfn[i] < 0 || (unsigned long)pfn[i] < lo ||
		    (unsigned long)pfn[i] >= hi)
			continue;
		in++;
		if (pfn_shared(pfn, v->nr, i))
			(*ksm)++;
		if (flags[i] & BIT_ULL(KPF_THP))
			(*thp)++;
	}
	free(pfn);
	free(flags);
	return in;
}

#define HOTPLUG_TESTS 4

/*
 * arm64 refuses to offline memory that was there at boot, and QEMU's virt
 * machine hot-plugs a DIMM only through ACPI (UEFI firmware).
 */
#ifdef __aarch64__
#define NO_OFFLINE_WHY	" (arm64 keeps boot memory online)"
#else
#define NO_OFFLINE_WHY	""
#endif

/*
 * Memory hotplug without a hot-pluggable DIMM (which x86 finds through
 * ACPI, not in this kernel): a block of boot memory that can go offline is
 * onlined again to ZONE_MOVABLE, and the memory of the victims bound to its
 * node lands there first. Three victims: small pages (16 patterns, 16
 * copies each, merged into KSM pages; zero-filled pages that a thread keeps
 * writing again, so that ksmd keeps merging new ones; data), THPs (two
 * zero-filled, to the huge zero page; two of data, which stay THPs), and
 * zero-filled pages that are not registered (zero_pages_scope=all). The
 * block goes offline and online three times while ksmd runs: offlining
 * moves every page out, and the data, the KSM pages and the counts stay.
 */
static void run_hotplug(void)
{
	const long per = thpsize / pagesize;
	uint32_t *srec = calloc(1024, sizeof(*srec));
	uint32_t *trec = calloc(4 * per, sizeof(*trec));
	uint32_t *urec = calloc(256, sizeof(*urec));
	struct victim s = { 0 }, t = { 0 }, u = { 0 };
	bool scope = has_scope(), placed = true, moved = true, exact = true;
	long in, ksm, thp, shared, sharing, i, zero;
	int n, round;
	char buf[32];

	/* No memory0 on arm64's virt machine: its RAM starts at 1 GiB. */
	if (read_file(MEMORY "block_size_bytes", buf, sizeof(buf))) {
		for (i = 0; i < HOTPLUG_TESTS; i++)
			ksft_test_result_skip("memory hotplug: no %s (CONFIG_MEMORY_HOTREMOVE)\n",
					      MEMORY);
		goto out_free;
	}
	block_pages = strtoul(buf, NULL, 16) / pagesize;
	n = block_find();
	if (n < 0) {
		for (i = 0; i < HOTPLUG_TESTS; i++)
			ksft_test_result_skip("memory hotplug: no memory block can go offline"
					      NO_OFFLINE_WHY "\n");
		goto out_free;
	}
	victim_node = block_node(n);
	ksft_test_result_pass("memory block %d (node %d, %lu MiB) onlined to ZONE_MOVABLE\n",
			      n, victim_node, block_pages * pagesize >> 20);

	for (i = 0; i < 1024; i++)
		srec[i] = i < 256 ? 1 + i % 16 : i < 768 ? 0 : REC_UNIQUE(i);
	for (i = 2 * per; i < 4 * per; i++)
		trec[i] = REC_UNIQUE(0x10000 + i);
	ksmd_stop();
	scope_set(scope ? "all" : "mergeable");
	if (!victim_start(&s, 1024, srec, V_MERGEABLE | V_BIND | V_CHURN) ||
	    !victim_start(&t, 4 * per, trec, V_THP | V_MERGEABLE | V_BIND) ||
	    !victim_start(&u, 256, urec, V_BIND)) {
		ksft_test_result_fail("memory hotplug: no victims\n");
		ksft_test_result_skip("memory hotplug: no victims\n");
		ksft_test_result_skip("memory hotplug: no victims\n");
		goto out;
	}
	ksm_sysfs_write("pages_to_scan", 1000);
	ksm_sysfs_write("sleep_millisecs", 20);
	ksm_sysfs_write("run", 1);
	wait_zero_mapped(&s, 512, 60);
	wait_zero_mapped(&t, 2 * per, 60);
	if (scope)
		wait_zero_mapped(&u, 256, 60);
	ksm_wait_full_scans(2, 60);
	ksmd_stop();
	shared = ksm_sysfs_read("pages_shared");
	sharing = ksm_sysfs_read("pages_sharing");
	/* The 256 copies map the 16 KSM pages, which stay in the block. */
	in = victim_in_block(&s, n, &ksm, &thp);
	ksft_print_msg("in the block: %ld small pages of which %ld map KSM pages", in, ksm);
	if (in != 512 || ksm != 256 || shared != 16 || sharing != 240)
		placed = false;
	in = victim_in_block(&t, n, &ksm, &thp);
	printf(", %ld THP pages; pages_shared %ld, pages_sharing %ld\n", thp,
	       shared, sharing);
	if (thp != 2 * per || victim_zero_mapped(&t) != 2 * per ||
	    (scope && victim_zero_mapped(&u) != 256))
		placed = false;
	exact &= counts_exact("before offlining");
	ksft_test_result(placed,
			 "memory block %d holds the victims' KSM pages, zero-filled pages and THPs, merged\n",
			 n);

	for (round = 1; round <= 3; round++) {
		struct reply r;
		double t0;
		int err;

		victim_cmd(&s, 'c', 1, &r);
		ksm_sysfs_write("sleep_millisecs", 0);
		ksm_sysfs_write("run", 1);
		usleep(200000);
		t0 = now();
		err = block_set(n, "offline", 120);
		ksft_print_msg("round %d: offline %s in %.1f s\n", round,
			       err ? strerror(-err) : "done", now() - t0);
		victim_cmd(&s, 'c', 0, &r);
		usleep(20000);
		ksmd_stop();
		if (err)
			moved = false;
		if (victim_in_block(&s, n, &ksm, &thp) ||
		    victim_in_block(&t, n, &ksm, &thp) ||
		    victim_in_block(&u, n, &ksm, &thp)) {
			ksft_print_msg("round %d: pages left in the offline block\n",
				       round);
			moved = false;
		}
		moved &= victim_intact(&s, NULL, 0, "small pages");
		moved &= victim_intact(&t, NULL, 0, "THPs");
		moved &= victim_intact(&u, NULL, 0, "unregistered pages");
		shared = ksm_sysfs_read("pages_shared");
		sharing = ksm_sysfs_read("pages_sharing");
		zero = victim_zero_mapped(&t);
		if (shared != 16 || sharing != 240 || zero != 2 * per) {
			ksft_print_msg("round %d: shared %ld, sharing %ld, THP zero pages %ld\n",
				       round, shared, sharing, zero);
			exact = false;
		}
		exact &= counts_exact("after offlining");
		err = block_set(n, "online_movable", 60);
		if (err || !block_zone_movable(n)) {
			ksft_print_msg("round %d: online_movable: %s\n", round,
				       strerror(-err));
			moved = false;
			break;
		}
		victim_cmd(&s, 'c', 1, &r);
		ksm_sysfs_write("run", 1);
		ksm_wait_full_scans(2, 60);
		victim_cmd(&s, 'c', 0, &r);
		ksmd_stop();
		exact &= counts_exact("after onlining");
	}
	ksft_test_result(moved,
			 "memory block %d offlined and onlined 3 times with ksmd merging: every page moved out, data intact, no SIGBUS\n",
			 n);
	victim_stop(&s);
	victim_stop(&t);
	victim_stop(&u);
	exact &= counts_exact("after the victims' exit");
	ksm_sysfs_write("run", 2);
	if (ksm_sysfs_read("ksm_zero_pages") || ksm_sysfs_read("pages_shared") ||
	    ksm_sysfs_read("pages_sharing")) {
		ksft_print_msg("run=2: ksm_zero_pages %ld, pages_shared %ld, pages_sharing %ld\n",
			       ksm_sysfs_read("ksm_zero_pages"),
			       ksm_sysfs_read("pages_shared"),
			       ksm_sysfs_read("pages_sharing"));
		exact = false;
	}
	ksft_test_result(exact,
			 "counts exact after each offline and online, KSM pages still shared, none left after run=2\n");
out:
	victim_stop(&s);
	victim_stop(&t);
	victim_stop(&u);
	scope_set("mergeable");
	/* Back to the zone it came from. */
	if (block_set(n, "offline", 60) || block_set(n, "online", 60))
		ksft_print_msg("memory block %d not put back\n", n);
	victim_node = -1;
out_free:
	free(srec);
	free(trec);
	free(urec);
}

/* --- allocation failure -------------------------------------------------- */

#define FAILSLAB	DEBUGFS "failslab/"
#define FAIL_PAGE	DEBUGFS "fail_page_alloc/"
#define TIMES		1000000
#define NR_LOAD		3

static const char *const fault_files[] = {
	"probability", "interval", "times", "space", "verbose", "task-filter",
	"ignore-gfp-wait", "ignore-gfp-highmem", "min-order",
};

static char fault_saved[2][ARRAY_SIZE(fault_files)][32];

static void fault_save(int i, const char *dir)
{
	char path[128];
	size_t f;

	for (f = 0; f < ARRAY_SIZE(fault_files); f++) {
		snprintf(path, sizeof(path), "%s%s", dir, fault_files[f]);
		if (read_file(path, fault_saved[i][f], sizeof(fault_saved[i][f])))
			fault_saved[i][f][0] = 0;
	}
}

static void fault_restore(int i, const char *dir)
{
	char path[128];
	size_t f;

	/* Probability first, so that nothing fails meanwhile. */
	snprintf(path, sizeof(path), "%sprobability", dir);
	write_file(path, "0");
	for (f = 0; f < ARRAY_SIZE(fault_files); f++) {
		if (!fault_saved[i][f][0])
			continue;
		snprintf(path, sizeof(path), "%s%s", dir, fault_files[f]);
		write_file(path, fault_saved[i][f]);
	}
}

static bool fault_set(const char *dir, const char *file, const char *val)
{
	char path[128];
	int err;

	snprintf(path, sizeof(path), "%s%s", dir, file);
	err = write_file(path, val);
	if (err)
		ksft_print_msg("%s: %s\n", path, strerror(-err));
	return !err;
}

/* Fail @pct percent of the allocations of the tasks with make-it-fail. */
static bool fault_on(const char *dir, int pct)
{
	char buf[16];
	bool ok;

	snprintf(buf, sizeof(buf), "%d", pct);
	ok = fault_set(dir, "probability", "0") &&
	     fault_set(dir, "interval", "1") &&
	     fault_set(dir, "times", "1000000") &&
	     fault_set(dir, "space", "0") &&
	     fault_set(dir, "verbose", "0") &&
	     fault_set(dir, "task-filter", "Y") &&
	     fault_set(dir, "ignore-gfp-wait", "N");
	if (ok && !strcmp(dir, FAIL_PAGE))
		ok = fault_set(dir, "ignore-gfp-highmem", "N") &&
		     fault_set(dir, "min-order", "0");
	return ok && fault_set(dir, "probability", buf);
}

static long fault_injected(const char *dir)
{
	char path[128];

	snprintf(path, sizeof(path), "%stimes", dir);
	return TIMES - read_num(path);
}

static pid_t find_ksmd(void)
{
	struct dirent *d;
	char path[300], comm[32];
	pid_t pid = -1;
	DIR *dir = opendir("/proc");

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		if (!isdigit(d->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", d->d_name);
		if (!read_file(path, comm, sizeof(comm)) && !strcmp(comm, "ksmd")) {
			pid = atoi(d->d_name);
			break;
		}
	}
	closedir(dir);
	return pid;
}

static int make_it_fail(pid_t pid, int val)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/make-it-fail", pid);
	return write_num(path, val);
}

/* Objects in use in slab cache @name, or -1 if it has no line of its own. */
static const char *const ksm_caches[] = {
	"ksm_rmap_item", "ksm_mm_slot", "ksm_stable_node",
};

static long slab_objects(const char *name)
{
	char line[512], path[128];
	size_t len = strlen(name);
	long val = -1;
	FILE *f;

	/* Flush the per-cpu slabs first, so that free objects count as free. */
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", name);
	write_file(path, "1");
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ' ')
			val = strtol(line + len, NULL, 10);
	fclose(f);
	return val;
}

/*
 * Bring KSM to rest: everything unmerged, the mm_slots of the processes
 * without a registered vma dropped by ksmd (two full scans; the marker
 * page of this process keeps it scanning), run=2 again.
 */
static bool ksm_settle(void)
{
	bool ok;

	scope_set("mergeable");
	ok = ksm_sysfs_write("run", 2);
	ksm_sysfs_write("pages_to_scan", 1000);
	ksm_sysfs_write("sleep_millisecs", 0);
	ok &= ksm_sysfs_write("run", 1);
	ok &= ksm_wait_full_scans(2, 60);
	ok &= ksm_sysfs_write("run", 2);
	return ok;
}

/* The load: areas of small pages and THPs, merged, unmerged, written. */
struct larea {
	char *addr;
	size_t nr;
	uint32_t *rec;
};

static bool load_check(struct larea *a, const char *when)
{
	size_t i;

	for (i = 0; i < a->nr; i++) {
		if (page_matches(a->addr + i * pagesize, a->rec[i]))
			continue;
		ksft_print_msg("load %d: %s: page %zu of %zu does not hold record %#x\n",
			       getpid(), when, i, a->nr, a->rec[i]);
		return false;
	}
	return true;
}

static void load_mmap(struct larea *a)
{
	bool thp = !(rnd() % 4);
	size_t i, size;
	char *p;

	a->nr = thp ? thpsize / pagesize : 16 + rnd() % 48;
	size = a->nr * pagesize;
	p = mmap(NULL, size + thpsize, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		a->nr = 0;
		return;
	}
	a->addr = (char *)(((unsigned long)p + thpsize - 1) & ~(thpsize - 1));
	a->rec = calloc(a->nr, sizeof(*a->rec));
	madvise(a->addr, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (i = 0; i < a->nr; i++) {
		a->rec[i] = thp && rnd() % 2 ? 0 : rnd() % 3 ?
			    rnd() % 5 : REC_UNIQUE(rnd() % 0xffff00);
		fill_page(a->addr + i * pagesize, a->rec[i]);
	}
	if (rnd() % 4)
		madvise(a->addr, size, MADV_MERGEABLE);
}

static void load_main(int id, double end)
{
	struct larea areas[4] = { 0 };
	unsigned long ops = 0;
	bool ok = true;
	int i, status;

	rnd_state = (uint64_t)getpid() << 20 ^ (uint64_t)(now() * 1e6) ^ id;
	rnd_state |= 1;
	for (i = 0; i < 4; i++)
		load_mmap(&areas[i]);
	while (ok && now() < end) {
		struct larea *a = &areas[rnd() % 4];
		unsigned long op = rnd() % 100;
		size_t k, n;
		pid_t pid;

		ops++;
		if (!a->nr) {
			load_mmap(a);
			continue;
		}
		if (op < 5) {
			ok &= load_check(a, "before munmap");
			munmap(a->addr, a->nr * pagesize);
			free(a->rec);
			load_mmap(a);
		} else if (op < 15) {
			madvise(a->addr, a->nr * pagesize,
				rnd() % 2 ? MADV_MERGEABLE : MADV_UNMERGEABLE);
		} else if (op < 20) {
			k = rnd() % a->nr;
			n = 1 + rnd() % (a->nr - k);
			madvise(a->addr + k * pagesize, n * pagesize,
				MADV_DONTNEED);
			memset(a->rec + k, 0, n * sizeof(*a->rec));
		} else if (op < 23) {
			fflush(stdout);
			pid = fork();
			if (!pid) {
				bool cok = load_check(a, "forked child");

				for (k = 0; k < 4; k++) {
					n = rnd() % a->nr;
					a->rec[n] = rnd() % 5;
					fill_page(a->addr + n * pagesize, a->rec[n]);
				}
				_exit(!(cok && load_check(a, "forked child, written")));
			}
			if (pid < 0 || waitpid(pid, &status, 0) != pid ||
			    !WIFEXITED(status) || WEXITSTATUS(status))
				ok = false;
		} else if (op < 80) {
			for (k = 1 + rnd() % 8; k; k--) {
				n = rnd() % a->nr;
				a->rec[n] = rnd() % 3 ? rnd() % 5 :
					    REC_UNIQUE(rnd() % 0xffff00);
				fill_page(a->addr + n * pagesize, a->rec[n]);
			}
		} else {
			ok &= load_check(a, "check");
		}
	}
	for (i = 0; i < 4; i++)
		if (areas[i].nr)
			ok &= load_check(&areas[i], "final check");
	ksft_print_msg("load %d: %lu operations\n", getpid(), ops);
	fflush(stdout);
	_exit(!ok);
}

/* A leader in a process group of its own, so that the load stops at once. */
static pid_t load_start(double end)
{
	pid_t leader, pids[NR_LOAD];
	int i, status, failed = 0;

	fflush(stdout);
	leader = fork();
	if (leader)
		return leader;
	setpgid(0, 0);
	for (i = 0; i < NR_LOAD; i++) {
		pids[i] = fork();
		if (!pids[i])
			load_main(i, end);
	}
	for (i = 0; i < NR_LOAD; i++)
		if (pids[i] < 0 || waitpid(pids[i], &status, 0) != pids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	_exit(failed);
}

/*
 * Write @val to zero_pages_scope with allocations failing for this task:
 * the write succeeds and the knob reads @val, or it fails and the knob
 * reads what it did before. Returns false on anything else; counts the
 * failed writes in *@failed.
 */
static bool scope_write_failing(int mif, const char *val, long *failed)
{
	char before[64], after[64], cur[64];
	ssize_t n;
	int fd, err;

	snprintf(before, sizeof(before), "%s", scope_read(cur, sizeof(cur)));
	fd = open("/sys/kernel/mm/ksm/zero_pages_scope", O_WRONLY);
	if (fd < 0)
		return false;
	if (write(mif, "1", 1) != 1) {
		close(fd);
		return false;
	}
	n = write(fd, val, strlen(val));
	err = errno;
	if (pwrite(mif, "0", 1, 0) != 1)
		ksft_exit_fail_msg("make-it-fail stays set\n");
	close(fd);
	snprintf(after, sizeof(after), "%s", scope_read(cur, sizeof(cur)));
	if (n == (ssize_t)strlen(val) && !strcmp(after, val))
		return true;
	if (n < 0 && err == ENOMEM && !strcmp(after, before)) {
		(*failed)++;
		return true;
	}
	ksft_print_msg("write of %s to zero_pages_scope (%s before): %s, now %s\n",
		       val, before, n < 0 ? strerror(err) : "done", after);
	return false;
}

#define ALLOC_TESTS 5

static void run_alloc(void)
{
	long base[ARRAY_SIZE(ksm_caches)], after, slab_fail, page_fail;
	long writes = 0, write_fails = 0;
	bool scope = has_scope(), writes_ok = true, exact = true, leak = false;
	bool have_slabs = true;
	int seconds = 16, i, status, mif;
	pid_t ksmd, leader;
	double end, mid;
	char *marker;

	if (access(FAILSLAB "probability", W_OK) ||
	    access(FAIL_PAGE "probability", W_OK)) {
		for (i = 0; i < ALLOC_TESTS; i++)
			ksft_test_result_skip("alloc: no debugfs failslab or fail_page_alloc\n");
		return;
	}
	ksmd = find_ksmd();
	mif = open("/proc/self/make-it-fail", O_WRONLY);
	if (ksmd < 0 || mif < 0 || make_it_fail(ksmd, 0)) {
		for (i = 0; i < ALLOC_TESTS; i++)
			ksft_test_result_skip("allocation failure: no ksmd or make-it-fail\n");
		return;
	}
	/* A registered page of this process keeps ksmd scanning. */
	marker = mmap(NULL, pagesize, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (marker == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	fill_page(marker, REC_UNIQUE(0xfffff0));
	madvise(marker, pagesize, MADV_MERGEABLE);

	ksm_settle();
	for (i = 0; i < (int)ARRAY_SIZE(ksm_caches); i++) {
		base[i] = slab_objects(ksm_caches[i]);
		if (base[i] < 0)
			have_slabs = false;
	}
	ksft_print_msg("at rest: %ld ksm_rmap_item, %ld ksm_mm_slot, %ld ksm_stable_node objects\n",
		       base[0], base[1], base[2]);

	fault_save(0, FAILSLAB);
	fault_save(1, FAIL_PAGE);
	ksm_sysfs_write("use_zero_pages", 1);
	ksm_sysfs_write("zero_pages_min_age", 0);
	/* Half a THP: 256 with 4K pages, 4096 with 64K. */
	ksm_sysfs_write("zero_pages_thp_split_min", thpsize / pagesize / 2);
	ksm_sysfs_write("unstable_refresh_millisecs", 100);
	ksm_sysfs_write("pages_to_scan", 1000);
	ksm_sysfs_write("sleep_millisecs", 0);
	if (scope)
		scope_set("all");
	ksm_sysfs_write("run", 1);

	end = now() + seconds;
	mid = now() + seconds / 2;
	leader = load_start(end);
	if (leader < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	setpgid(leader, leader);
	if (!fault_on(FAILSLAB, 20) || !fault_on(FAIL_PAGE, 50) ||
	    make_it_fail(ksmd, 1))
		ksft_print_msg("fault injection could not be set up\n");
	while (now() < end) {
		usleep(200000);
		/* Empty slabs go: ksmd allocates pages for its caches again. */
		for (i = 0; i < (int)ARRAY_SIZE(ksm_caches); i++) {
			char path[128];

			snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink",
				 ksm_caches[i]);
			write_file(path, "1");
		}
		if (scope) {
			writes++;
			writes_ok &= scope_write_failing(mif, writes % 2 ?
							 "mergeable" : "all",
							 &write_fails);
		}
		if (mid && now() >= mid) {
			/* The load stopped, ksmd stopped: the counts. */
			kill(-leader, SIGSTOP);
			ksmd_stop();
			exact &= counts_exact("under the load, with failures");
			ksm_sysfs_write("run", 1);
			kill(-leader, SIGCONT);
			mid = 0;
		}
	}
	/*
	 * A guest on a busy host gets few writes in (one each 200 ms): some
	 * more, until one has met a failure.
	 */
	while (scope && !write_fails && writes < 500) {
		writes++;
		writes_ok &= scope_write_failing(mif, writes % 2 ?
						 "mergeable" : "all",
						 &write_fails);
	}
	make_it_fail(ksmd, 0);
	slab_fail = fault_injected(FAILSLAB);
	page_fail = fault_injected(FAIL_PAGE);
	fault_restore(0, FAILSLAB);
	fault_restore(1, FAIL_PAGE);
	ksft_print_msg("injected: %ld slab, %ld page failures; %ld of %ld scope writes failed\n",
		       slab_fail, page_fail, write_fails, writes);
	status = -1;
	waitpid(leader, &status, 0);
	ksft_test_result(WIFEXITED(status) && !WEXITSTATUS(status) &&
			 slab_fail > 0 && page_fail > 0,
			 "failslab and fail_page_alloc aimed at ksmd under a load: failures injected, the load's data intact\n");
	if (scope)
		ksft_test_result(writes_ok && write_fails > 0,
				 "zero_pages_scope writes under failslab: %ld of %ld failed with ENOMEM, the knob unchanged; the others took effect\n",
				 write_fails, writes);
	else
		ksft_test_result_skip("no zero_pages_scope=all\n");

	ksmd_stop();
	exact &= counts_exact("after the load");
	ksft_test_result(exact, "counts exact under the load and after it\n");

	ksm_settle();
	if (have_slabs) {
		for (i = 0; i < (int)ARRAY_SIZE(ksm_caches); i++) {
			after = slab_objects(ksm_caches[i]);
			if (after != base[i]) {
				ksft_print_msg("%s: %ld objects at rest, %ld before the load\n",
					       ksm_caches[i], after, base[i]);
				leak = true;
			}
		}
		ksft_test_result(!leak,
				 "no leak: ksm_rmap_item, ksm_mm_slot and ksm_stable_node objects as before the load\n");
	} else {
		ksft_test_result_skip("no leak check: KSM slab caches merged (slab_nomerge)\n");
	}
	ksft_test_result(!ksm_sysfs_read("ksm_zero_pages") &&
			 !ksm_sysfs_read("pages_shared") &&
			 !ksm_sysfs_read("pages_sharing"),
			 "no KSM page left after run=2\n");
	munmap(marker, pagesize);
	close(mif);
}

int main(int argc, char **argv)
{
	bool alloc = argc < 2, hotplug = argc < 2, poison = argc < 2;
	char buf[64];
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "alloc"))
			alloc = true;
		else if (!strcmp(argv[i], "hotplug"))
			hotplug = true;
		else if (!strcmp(argv[i], "poison"))
			poison = true;
		else
			ksft_exit_fail_msg("usage: %s [alloc] [hotplug] [poison]\n",
					   argv[0]);
	}
	pagesize = getpagesize();
	ksft_print_header();
	if (access("/sys/kernel/mm/ksm/run", W_OK))
		ksft_exit_skip("no writable /sys/kernel/mm/ksm/run (KSM, root)\n");
	if (ksm_sysfs_read("use_zero_pages") < 0 ||
	    ksm_sysfs_read("zero_pages_min_age") < 0)
		ksft_exit_skip("no zero_pages_min_age: not the KSM zero page series\n");
	thpsize = read_pmd_pagesize();
	if (!thpsize)
		thpsize = 2UL << 20;
	ksft_set_plan(alloc * ALLOC_TESTS + hotplug * HOTPLUG_TESTS +
		      poison * POISON_TESTS);
	rnd_state = (uint64_t)getpid() << 32 ^ time(NULL) ^ 1;
	zero_pfn = find_zero_pfn();

	ksm_sysfs_save(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	snprintf(saved_scope, sizeof(saved_scope), "%s",
		 scope_read(buf, sizeof(buf)));
	ksm_sysfs_write("run", 2);
	ksm_sysfs_write("use_zero_pages", 1);
	ksm_sysfs_write("zero_pages_min_age", 0);
	ksm_sysfs_write("smart_scan", 0);
	ksm_sysfs_write("pages_to_scan", 1000);
	ksm_sysfs_write("sleep_millisecs", 20);

	if (alloc)
		run_alloc();
	if (hotplug)
		run_hotplug();
	if (poison)
		run_poison();

	ksm_sysfs_write("run", 2);
	if (saved_scope[0])
		scope_set(saved_scope);
	ksm_sysfs_restore(saved_knobs, saved, ARRAY_SIZE(saved_knobs));
	ksft_finished();
}
