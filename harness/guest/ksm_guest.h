/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the guest programs of the harness (ksm_demo, ksm_bench):
 * /sys/kernel/mm/ksm, /proc/<pid>/ksm_stat, ksmd and its CPU time.
 */
#ifndef KSM_GUEST_H
#define KSM_GUEST_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#define KSM "/sys/kernel/mm/ksm/"

static inline long read_long(const char *path)
{
	char buf[64];
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 10);
	fclose(f);
	return v;
}

/* A /sys/kernel/mm/ksm file as a number, -1 if this kernel has none. */
static inline long ksm_read(const char *knob)
{
	char path[128];

	snprintf(path, sizeof(path), KSM "%s", knob);
	return read_long(path);
}

/* Write a string to a /sys/kernel/mm/ksm file; false if missing or refused. */
static inline bool ksm_try_write_str(const char *knob, const char *val)
{
	char path[128];
	bool ok;
	FILE *f;

	snprintf(path, sizeof(path), KSM "%s", knob);
	f = fopen(path, "w");
	if (!f)
		return false;
	ok = fputs(val, f) >= 0;
	return !fclose(f) && ok;
}

/* Write a /sys/kernel/mm/ksm file; false if it is missing or refuses. */
static inline bool ksm_try_write(const char *knob, long val)
{
	char s[32];

	snprintf(s, sizeof(s), "%ld", val);
	return ksm_try_write_str(knob, s);
}

/* Value of "key value" in /proc/<pid>/ksm_stat, or -1. */
static inline long ksm_stat(pid_t pid, const char *key)
{
	char path[64], line[128];
	size_t len = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/ksm_stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ' ')
			v = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return v;
}

/* The pid of the process or kernel thread called @comm, 0 if none. */
static inline pid_t find_comm(const char *comm)
{
	DIR *d = opendir("/proc");
	char want[32];
	struct dirent *e;
	pid_t pid = 0;

	snprintf(want, sizeof(want), "%s\n", comm);
	while (d && !pid && (e = readdir(d))) {
		char path[300], c[32] = "";
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(c, sizeof(c), f) && !strcmp(c, want))
			pid = atoi(e->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return pid;
}

/* The pid of ksmd, 0 if there is none. */
static inline pid_t find_ksmd(void)
{
	return find_comm("ksmd");
}

/* CPU time of a task in seconds (schedstat: nanoseconds on the CPU). */
static inline double task_cpu(pid_t pid)
{
	unsigned long long ns = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns / 1e9;
}

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* KSM_GUEST_H */
