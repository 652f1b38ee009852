// SPDX-License-Identifier: GPL-2.0
/*
 * ksm_sysfs_reader COMMAND [ARG...]: run COMMAND while a child reads every
 * file of /sys/kernel/mm/ksm over and over; exit with COMMAND's status.
 *
 * For make test KCSAN=1. ksmd updates KSM's counters many times a second,
 * but the tests read them only now and then: KCSAN, which watches one
 * access in a few thousand for some microseconds, rarely sees a sysfs
 * read while ksmd writes. The reader makes those reads frequent (a pass
 * over the files, then 2 ms of sleep, about a tenth of a vCPU under TCG).
 * It reads only: the knobs keep what COMMAND writes into them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KSM_DIR "/sys/kernel/mm/ksm"
#define MAX_FILES 64

static void reader(void)
{
	const struct timespec pause = { .tv_nsec = 2 * 1000 * 1000 };
	int fds[MAX_FILES], n = 0, i;
	struct dirent *d;
	char buf[4096];
	DIR *dir;

	dir = opendir(KSM_DIR);
	if (!dir) {
		fprintf(stderr, "ksm_sysfs_reader: %s: %s\n", KSM_DIR, strerror(errno));
		_exit(1);
	}
	while ((d = readdir(dir)) && n < MAX_FILES) {
		int fd;

		if (d->d_name[0] == '.')
			continue;
		fd = openat(dirfd(dir), d->d_name, O_RDONLY);
		if (fd >= 0)
			fds[n++] = fd;
	}
	fprintf(stderr, "ksm_sysfs_reader: reading %d files of %s\n", n, KSM_DIR);
	for (;;) {
		for (i = 0; i < n; i++)
			if (pread(fds[i], buf, sizeof(buf), 0) < 0 && errno != EINTR) {
				fprintf(stderr, "ksm_sysfs_reader: read: %s\n", strerror(errno));
				_exit(1);
			}
		nanosleep(&pause, NULL);
	}
}

int main(int argc, char **argv)
{
	pid_t rd, cmd;
	int status, rstatus;

	if (argc < 2) {
		fprintf(stderr, "usage: ksm_sysfs_reader COMMAND [ARG...]\n");
		return 2;
	}
	rd = fork();
	if (rd < 0) {
		perror("fork");
		return 1;
	}
	if (rd == 0)
		reader();
	cmd = fork();
	if (cmd < 0) {
		perror("fork");
		kill(rd, SIGKILL);
		return 1;
	}
	if (cmd == 0) {
		execv(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	if (waitpid(cmd, &status, 0) < 0) {
		perror("waitpid");
		return 1;
	}
	kill(rd, SIGKILL);
	/* A reader that died before it was killed failed to read. */
	if (waitpid(rd, &rstatus, 0) == rd && WIFEXITED(rstatus)) {
		fprintf(stderr, "ksm_sysfs_reader: the reader failed\n");
		return 1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
