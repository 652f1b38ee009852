// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hostile writes to every file under /sys/kernel/mm/ksm.
 *
 * A table lists every file the KSM sysfs directory may hold; the directory
 * is read at run time and a file the table does not cover fails the test,
 * so that a new knob cannot slip by. Files the running kernel lacks are
 * skipped. For each writable knob, inputs that must be refused (and leave
 * the value unchanged) and inputs that must be accepted (and read back as
 * documented) are generated from its parser and range. Read-only counters
 * must refuse a write. A last test writes to the knobs while another
 * thread flips run between 1, 2 and 0.
 *
 * The rules encoded here are those of lib/kstrtox.c and fs/kernfs/file.c,
 * not an ideal:
 *  - kstrtouint(), kstrtoul() and kstrtoint() take an optional leading '+'
 *    (kstrtoint() also '-'), any number of leading zeros and one trailing
 *    '\n'; nothing else, not even a space. Base 10 refuses "0x10". An
 *    overflow is -ERANGE, which most KSM stores turn into -EINVAL.
 *  - kstrtobool() looks at the first character only (two for "on" and
 *    "off"), so "12abc", "1e3" and "0x10" are booleans.
 *  - sysfs hands the store a NUL-terminated copy of what was written: the
 *    store sees nothing after an embedded NUL.
 *  - sysfs ignores an empty write: write() returns 0.
 *  - kernfs truncates a write to PAGE_SIZE bytes and the store sees that
 *    much only: write() returns a short count.
 *  - root may open a 0444 attribute for writing only after a chmod
 *    (kernfs_fop_open() checks the mode bits itself, -EACCES); a write to
 *    an attribute without a store is then -EIO (kobj_attr_store()).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"

#define KSM_DIR "/sys/kernel/mm/ksm"
#define VAL_MAX 128
#define RACE_SECS 3

enum kind {
	K_RO,		/* read-only counter */
	K_UINT,		/* kstrtouint(), errors -EINVAL */
	K_ULONG,	/* kstrtoul(), errors -EINVAL */
	K_ULONG_RAW,	/* kstrtoul(), errors returned as they are */
	K_INT_RAW,	/* kstrtoint(), errors returned as they are */
	K_BOOL,		/* kstrtobool() */
	K_ADVISOR,	/* advisor_mode: sysfs_streq() of "none", "scan-time" */
	K_SCOPE,	/* zero_pages_scope: sysfs_streq() of "mergeable", "all" */
};

#define F_SERIES	0x1	/* added by the series: absent from the base */
#define F_IDLE		0x2	/* can change only with no KSM page shared */
#define F_TRUNC		0x4	/* stored truncated to an unsigned int */
#define F_PMD_NR	0x8	/* max: pages in a PMD, set at run time */

struct knob {
	const char *name;
	enum kind kind;
	unsigned long long min, max;	/* accepted range */
	unsigned long long hole_lo, hole_hi; /* refused inside it, if set */
	unsigned long long sample;	/* a valid value */
	unsigned int flags;
};

#define ULMAX ULONG_MAX
#define UIMAX UINT_MAX

static struct knob knobs[] = {
	{ "run", K_UINT, 0, 2, 0, 0, 1, 0 },
	{ "sleep_millisecs", K_UINT, 0, UIMAX, 0, 0, 37, 0 },
	{ "pages_to_scan", K_UINT, 0, UIMAX, 0, 0, 37, 0 },
	{ "stable_node_chains_prune_millisecs", K_UINT, 0, UIMAX, 0, 0, 37, 0 },
	{ "zero_pages_min_age", K_UINT, 0, 255, 0, 0, 37, F_SERIES },
	{ "unstable_refresh_millisecs", K_UINT, 0, 3600000, 1, 99, 370,
	  F_SERIES },
	/* 1 to the pages of a PMD-sized THP (512 with 4 KiB pages on x86). */
	{ "zero_pages_thp_split_min", K_UINT, 1, 512, 0, 0, 37,
	  F_SERIES | F_PMD_NR },
	/* Overflow is -ERANGE: the store returns kstrtoul()'s error. */
	{ "merge_across_nodes", K_ULONG_RAW, 0, 1, 0, 0, 1, F_IDLE },
	/* Overflow is -ERANGE: the store returns kstrtoint()'s error. */
	{ "max_page_sharing", K_INT_RAW, 2, INT_MAX, 0, 0, 37, F_IDLE },
	{ "use_zero_pages", K_BOOL, 0, 1, 0, 0, 1, 0 },
	{ "smart_scan", K_BOOL, 0, 1, 0, 0, 1, 0 },
	{ "advisor_mode", K_ADVISOR, 0, 0, 0, 0, 0, 0 },
	{ "zero_pages_scope", K_SCOPE, .flags = F_SERIES },
	/*
	 * A percentage, but any unsigned long is accepted, and it is stored
	 * in an unsigned int: see the truncation case in test_numeric().
	 */
	{ "advisor_max_cpu", K_ULONG, 0, UIMAX, 0, 0, 37, F_TRUNC },
	/* Neither checks min <= max. */
	{ "advisor_min_pages_to_scan", K_ULONG, 0, ULMAX, 0, 0, 37, 0 },
	{ "advisor_max_pages_to_scan", K_ULONG, 0, ULMAX, 0, 0, 37, 0 },
	{ "advisor_target_scan_time", K_ULONG, 1, ULMAX, 0, 0, 37, 0 },
	{ "pages_scanned", K_RO },
	{ "pages_shared", K_RO },
	{ "pages_sharing", K_RO },
	{ "pages_unshared", K_RO },
	{ "pages_volatile", K_RO },
	{ "pages_skipped", K_RO },
	{ "ksm_zero_pages", K_RO },
	{ "general_profit", K_RO },
	{ "full_scans", K_RO },
	{ "stable_node_chains", K_RO },
	{ "stable_node_dups", K_RO },
	{ "zero_pages_merged", K_RO, .flags = F_SERIES },
	{ "zero_pages_thp_merged", K_RO, .flags = F_SERIES },
	{ "zero_pages_mthp_merged", K_RO, .flags = F_SERIES },
	{ "unstable_refreshed", K_RO, .flags = F_SERIES },
	{ "unstable_refresh_dropped", K_RO, .flags = F_SERIES },
};

#define NR_KNOBS ARRAY_SIZE(knobs)

/* Values at start, restored at exit; "" for a file the kernel lacks. */
static char saved[NR_KNOBS][VAL_MAX];
static bool saved_ok;

/*
 * big_len: PAGE_SIZE, the most of a write() that kernfs passes to a sysfs
 * store (4096 on x86, up to 65536 on arm64); big and numbuf hold big_len
 * + 2 bytes.
 */
static size_t big_len;
static char *big, *numbuf;

static int knob_index(const char *name)
{
	unsigned int i;

	for (i = 0; i < NR_KNOBS; i++)
		if (!strcmp(knobs[i].name, name))
			return i;
	return -1;
}

static bool knob_exists(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), KSM_DIR "/%s", name);
	return access(path, F_OK) == 0;
}

/* The contents of a knob, or "" with errno set. */
static int knob_read(const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), KSM_DIR "/%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* One write() of @len bytes on a fresh file: its result, errno on -1. */
static ssize_t knob_write(const char *name, const char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), KSM_DIR "/%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	n = write(fd, buf, len);
	err = errno;
	close(fd);
	errno = err;
	return n;
}

static bool knob_set(const char *name, const char *val)
{
	return knob_write(name, val, strlen(val)) == (ssize_t)strlen(val);
}

/* @buf as a C string literal, shortened, for messages. */
static const char *quote(const char *buf, size_t len)
{
	static char out[2][96];
	static int which;
	char *o = out[which ^= 1];
	size_t i, j = 0;

	o[j++] = '"';
	for (i = 0; i < len && j < 60; i++) {
		unsigned char c = buf[i];

		if (c == '\n')
			j += sprintf(o + j, "\\n");
		else if (c == '\t')
			j += sprintf(o + j, "\\t");
		else if (c < ' ' || c > '~')
			j += sprintf(o + j, "\\x%02x", c);
		else
			o[j++] = c;
	}
	o[j++] = '"';
	o[j] = '\0';
	if (i < len)
		sprintf(o + j, "... (%zu bytes)", len);
	return o;
}

static const char *chomp(const char *s)
{
	static char out[VAL_MAX];
	size_t n = strcspn(s, "\n");

	snprintf(out, sizeof(out), "%.*s", (int)n, s);
	return out;
}

/*
 * A write that must be refused with @err and change nothing; @err 0: a
 * write that must return 0 and change nothing.
 */
static bool refused(const char *name, const char *buf, size_t len, int err)
{
	char before[VAL_MAX], after[VAL_MAX];
	ssize_t n;
	int e;

	knob_read(name, before, sizeof(before));
	n = knob_write(name, buf, len);
	e = errno;
	knob_read(name, after, sizeof(after));
	if (err ? (n != -1 || e != err) : n != 0) {
		ksft_print_msg("%s: %s: write() = %zd (%s), expected %s\n",
			       name, quote(buf, len), n,
			       n < 0 ? strerror(e) : "no error",
			       err ? strerror(err) : "0");
		return false;
	}
	if (strcmp(before, after)) {
		ksft_print_msg("%s: %s: failed but changed %s -> %s\n",
			       name, quote(buf, len), chomp(before),
			       chomp(after));
		return false;
	}
	return true;
}

/* A write that must return @ret (0: @len) and read back as @expect. */
static bool accepted_ret(const char *name, const char *buf, size_t len,
			 const char *expect, ssize_t ret)
{
	char after[VAL_MAX];
	ssize_t n;

	if (!ret)
		ret = len;
	n = knob_write(name, buf, len);
	if (n != ret) {
		ksft_print_msg("%s: %s: write() = %zd (%s), expected %zd\n",
			       name, quote(buf, len), n,
			       n < 0 ? strerror(errno) : "no error", ret);
		return false;
	}
	knob_read(name, after, sizeof(after));
	if (strcmp(after, expect)) {
		ksft_print_msg("%s: %s: reads %s, expected %s\n", name,
			       quote(buf, len), chomp(after), chomp(expect));
		return false;
	}
	return true;
}

static bool accepted(const char *name, const char *buf, size_t len,
		     const char *expect)
{
	return accepted_ret(name, buf, len, expect, 0);
}

#define REFUSED(s, err) refused(k->name, s, sizeof(s) - 1, err)
#define ACCEPTED(s, exp) accepted(k->name, s, sizeof(s) - 1, exp)

/* Refused by every parser here, with -EINVAL; "" returns 0. */
static bool refused_common(const struct knob *k)
{
	bool ok = true;

	ok &= REFUSED("", 0);
	ok &= REFUSED(" ", EINVAL);
	ok &= REFUSED("\n", EINVAL);
	ok &= REFUSED("\n\n", EINVAL);
	ok &= REFUSED("\t", EINVAL);
	ok &= REFUSED("\0", EINVAL);
	ok &= REFUSED("+", EINVAL);
	ok &= REFUSED("-", EINVAL);
	return ok;
}

static bool test_numeric_value(const struct knob *k, unsigned long long v,
			       bool idle)
{
	const size_t size = big_len + 1;
	char *buf = numbuf, exp[VAL_MAX];
	bool ok = true;
	int n;

	if (k->flags & F_IDLE && !idle)
		return true;
	snprintf(exp, sizeof(exp), "%llu\n", v);
	n = snprintf(buf, size, "%llu", v);
	ok &= accepted(k->name, buf, n, exp);
	n = snprintf(buf, size, "%llu\n", v);
	ok &= accepted(k->name, buf, n, exp);
	n = snprintf(buf, size, "+%llu", v);
	ok &= accepted(k->name, buf, n, exp);
	n = snprintf(buf, size, "+%llu\n", v);
	ok &= accepted(k->name, buf, n, exp);
	n = snprintf(buf, size, "000%llu", v);
	ok &= accepted(k->name, buf, n, exp);
	/* Leading zeros up to the PAGE_SIZE the store sees. */
	n = snprintf(buf, size, "%0*llu", (int)big_len, v);
	ok &= accepted(k->name, buf, n, exp);
	/* The store stops at an embedded NUL. */
	n = snprintf(buf, size, "%llu", v);
	memcpy(buf + n, "\0junk", 5);
	ok &= accepted(k->name, buf, n + 5, exp);
	return ok;
}

static bool test_numeric(const struct knob *k, bool idle)
{
	unsigned long long type_max;
	const char *type_ovf;
	int ovf_err = EINVAL;
	char buf[VAL_MAX];
	bool ok = true;
	int n;

	switch (k->kind) {
	case K_UINT:
		type_max = UINT_MAX;
		type_ovf = "4294967296";
		break;
	case K_ULONG:
	case K_ULONG_RAW:
		if (k->kind == K_ULONG_RAW)
			ovf_err = ERANGE;
		type_max = ULONG_MAX;
		type_ovf = "18446744073709551616";
		break;
	default:	/* K_INT_RAW */
		ovf_err = ERANGE;
		type_max = INT_MAX;
		type_ovf = "2147483648";
		break;
	}

	ok &= refused_common(k);
	ok &= REFUSED("0x10", EINVAL);
	ok &= REFUSED("0X10", EINVAL);
	ok &= REFUSED("1e3", EINVAL);
	ok &= REFUSED("12abc", EINVAL);
	ok &= REFUSED("1 2", EINVAL);
	ok &= REFUSED(" 1", EINVAL);
	ok &= REFUSED("1 ", EINVAL);
	ok &= REFUSED("\t1", EINVAL);
	ok &= REFUSED("1\t", EINVAL);
	ok &= REFUSED("1\n\n", EINVAL);
	ok &= REFUSED("\n1", EINVAL);
	ok &= REFUSED("1.5", EINVAL);
	ok &= REFUSED("++1", EINVAL);
	ok &= REFUSED("+-2", EINVAL);
	ok &= REFUSED("0b1", EINVAL);
	ok &= REFUSED("1k", EINVAL);
	ok &= REFUSED("one", EINVAL);
	ok &= REFUSED("-1", EINVAL);
	/* kstrtoint() parses "-0": 0 is below the range of the only one */
	ok &= REFUSED("-0", EINVAL);
	ok &= REFUSED("99999999999999999999", ovf_err);
	ok &= refused(k->name, type_ovf, strlen(type_ovf), ovf_err);
	memset(big, '9', big_len);
	ok &= refused(k->name, big, big_len, ovf_err);
	memset(big, 'a', big_len);
	ok &= refused(k->name, big, big_len, EINVAL);
	if (k->kind == K_INT_RAW)
		ok &= REFUSED("-2147483649", ERANGE);
	if (k->min > 0) {
		n = snprintf(buf, sizeof(buf), "%llu", k->min - 1);
		ok &= refused(k->name, buf, n, EINVAL);
	}
	if (k->max < type_max && !(k->flags & F_TRUNC)) {
		n = snprintf(buf, sizeof(buf), "%llu", k->max + 1);
		ok &= refused(k->name, buf, n, EINVAL);
		/* Beyond the range, but no overflow for the parser. */
		n = snprintf(buf, sizeof(buf), "%llu", type_max);
		ok &= refused(k->name, buf, n, EINVAL);
	}
	if (k->hole_hi) {
		n = snprintf(buf, sizeof(buf), "%llu", k->hole_lo);
		ok &= refused(k->name, buf, n, EINVAL);
		n = snprintf(buf, sizeof(buf), "%llu", k->hole_hi);
		ok &= refused(k->name, buf, n, EINVAL);
	}

	if (k->flags & F_IDLE && !idle)
		ksft_print_msg("%s: KSM pages are shared, accepted values left untested\n",
			       k->name);
	ok &= test_numeric_value(k, k->sample, idle);
	ok &= test_numeric_value(k, k->min, idle);
	ok &= test_numeric_value(k, k->max, idle);
	if (k->hole_hi) {
		ok &= test_numeric_value(k, k->hole_lo - 1, idle);
		ok &= test_numeric_value(k, k->hole_hi + 1, idle);
	}
	if (k->flags & F_TRUNC) {
		/*
		 * Upstream: kstrtoul() into an unsigned int, silently
		 * truncated, while the documentation speaks of a percentage.
		 */
		ok &= ACCEPTED("4294967296", "0\n");
		ok &= ACCEPTED("4294967333", "37\n");
		ok &= ACCEPTED("18446744073709551615", "4294967295\n");
	}
	if (k->min == 0) {
		/*
		 * kernfs passes the store the first PAGE_SIZE bytes only and
		 * write() returns a short count: PAGE_SIZE zeros and a 5
		 * set 0.
		 */
		memset(big, '0', big_len);
		big[big_len] = '5';
		ok &= accepted_ret(k->name, big, big_len + 1, "0\n", big_len);
	}
	return ok;
}

static bool test_bool(const struct knob *k)
{
	bool ok = true;

	ok &= refused_common(k);
	ok &= REFUSED("-1", EINVAL);
	ok &= REFUSED("+1", EINVAL);
	ok &= REFUSED("2", EINVAL);
	ok &= REFUSED("9", EINVAL);
	ok &= REFUSED("99999999999999999999", EINVAL);
	ok &= REFUSED(" 1", EINVAL);
	ok &= REFUSED("\n1", EINVAL);
	ok &= REFUSED("o", EINVAL);
	ok &= REFUSED("o\n", EINVAL);
	ok &= REFUSED("ox", EINVAL);
	ok &= REFUSED("x", EINVAL);
	ok &= REFUSED("enable", EINVAL);
	ok &= REFUSED("\x01", EINVAL);
	memset(big, '9', big_len);
	ok &= refused(k->name, big, big_len, EINVAL);

	ok &= ACCEPTED("1", "1\n");
	ok &= ACCEPTED("0", "0\n");
	ok &= ACCEPTED("1\n", "1\n");
	ok &= ACCEPTED("0\n", "0\n");
	ok &= ACCEPTED("y", "1\n");
	ok &= ACCEPTED("n", "0\n");
	ok &= ACCEPTED("Y", "1\n");
	ok &= ACCEPTED("N", "0\n");
	ok &= ACCEPTED("yes", "1\n");
	ok &= ACCEPTED("no", "0\n");
	ok &= ACCEPTED("t", "1\n");
	ok &= ACCEPTED("f", "0\n");
	ok &= ACCEPTED("true", "1\n");
	ok &= ACCEPTED("false", "0\n");
	ok &= ACCEPTED("on", "1\n");
	ok &= ACCEPTED("off", "0\n");
	ok &= ACCEPTED("ON\n", "1\n");
	ok &= ACCEPTED("OFF\n", "0\n");
	/* Upstream kstrtobool(): only the first one or two characters count. */
	ok &= ACCEPTED("12abc", "1\n");
	ok &= ACCEPTED("0x10", "0\n");
	ok &= ACCEPTED("1e3", "1\n");
	ok &= ACCEPTED("00", "0\n");
	ok &= ACCEPTED("1 2", "1\n");
	ok &= ACCEPTED("0 junk", "0\n");
	ok &= ACCEPTED("onion", "1\n");
	ok &= ACCEPTED("offset", "0\n");
	ok &= ACCEPTED("yolo", "1\n");
	ok &= ACCEPTED("nope", "0\n");
	ok &= ACCEPTED("10", "1\n");
	ok &= ACCEPTED("0\0garbage", "0\n");
	memset(big, 'y', big_len);
	ok &= accepted(k->name, big, big_len, "1\n");
	return ok;
}

#define ADV_NONE "[none] scan-time\n"
#define ADV_SCAN "none [scan-time]\n"

#define SCOPE_MERGEABLE "[mergeable] all\n"
#define SCOPE_ALL "mergeable [all]\n"

/*
 * zero_pages_scope: "mergeable" or "all", shown as advisor_mode is. A
 * kernel built without CONFIG_KSM_ZERO_PAGES_ALL shows "[mergeable]" and
 * refuses "all".
 */
static bool test_scope(const struct knob *k)
{
	bool has_all;
	char cur[VAL_MAX];
	bool ok = true;

	ok &= refused_common(k);
	ok &= REFUSED("[mergeable]", EINVAL);
	ok &= REFUSED("[mergeable] all", EINVAL);
	ok &= REFUSED("mergeable all", EINVAL);
	ok &= REFUSED(" all", EINVAL);
	ok &= REFUSED("all ", EINVAL);
	ok &= REFUSED("all\t", EINVAL);
	ok &= REFUSED("all\n\n", EINVAL);
	ok &= REFUSED("ALL", EINVAL);
	ok &= REFUSED("Mergeable", EINVAL);
	ok &= REFUSED("merge", EINVAL);
	ok &= REFUSED("allall", EINVAL);
	ok &= REFUSED("0", EINVAL);
	ok &= REFUSED("1", EINVAL);
	memset(big, 'a', big_len);
	ok &= refused(k->name, big, big_len, EINVAL);

	knob_read(k->name, cur, sizeof(cur));
	has_all = strcmp(cur, "[mergeable]\n");
	if (!has_all) {
		ksft_print_msg("zero_pages_scope: built without \"all\"\n");
		ok &= REFUSED("all", EINVAL);
		ok &= ACCEPTED("mergeable", "[mergeable]\n");
		return ok;
	}
	ok &= ACCEPTED("all", SCOPE_ALL);
	ok &= ACCEPTED("mergeable", SCOPE_MERGEABLE);
	ok &= ACCEPTED("all\n", SCOPE_ALL);
	ok &= ACCEPTED("mergeable\n", SCOPE_MERGEABLE);
	ok &= ACCEPTED("all\0junk", SCOPE_ALL);
	ok &= ACCEPTED("mergeable\0junk", SCOPE_MERGEABLE);
	return ok;
}

static bool test_advisor(const struct knob *k)
{
	char pts[VAL_MAX], min_pts[VAL_MAX];
	bool ok = true;

	ok &= refused_common(k);
	ok &= REFUSED("[none]", EINVAL);
	ok &= REFUSED("[none] scan-time", EINVAL);
	ok &= REFUSED("none scan-time", EINVAL);
	ok &= REFUSED(" none", EINVAL);
	ok &= REFUSED("none ", EINVAL);
	ok &= REFUSED("none\t", EINVAL);
	ok &= REFUSED("none\n\n", EINVAL);
	ok &= REFUSED("\nnone", EINVAL);
	ok &= REFUSED("NONE", EINVAL);
	ok &= REFUSED("Scan-time", EINVAL);
	ok &= REFUSED("scan", EINVAL);
	ok &= REFUSED("scan_time", EINVAL);
	ok &= REFUSED("scan-time ", EINVAL);
	ok &= REFUSED("nonenone", EINVAL);
	ok &= REFUSED("0", EINVAL);
	ok &= REFUSED("1", EINVAL);
	memset(big, 'n', big_len);
	ok &= refused(k->name, big, big_len, EINVAL);

	ok &= ACCEPTED("none", ADV_NONE);
	ok &= ACCEPTED("scan-time", ADV_SCAN);
	/* Upstream: the advisor sets pages_to_scan, which refuses writes. */
	knob_read("advisor_min_pages_to_scan", min_pts, sizeof(min_pts));
	knob_read("pages_to_scan", pts, sizeof(pts));
	if (strcmp(pts, min_pts)) {
		ksft_print_msg("pages_to_scan %s under scan-time, min %s\n",
			       chomp(pts), chomp(min_pts));
		ok = false;
	}
	ok &= refused("pages_to_scan", "100", 3, EINVAL);
	ok &= refused("pages_to_scan", pts, strlen(pts), EINVAL);
	ok &= ACCEPTED("scan-time\n", ADV_SCAN);
	ok &= ACCEPTED("none\n", ADV_NONE);
	/* Upstream: back to none resets pages_to_scan to its default. */
	knob_read("pages_to_scan", pts, sizeof(pts));
	if (strcmp(pts, "100\n")) {
		ksft_print_msg("pages_to_scan is %s after none, expected 100\n",
			       chomp(pts));
		ok = false;
	}
	ok &= ACCEPTED("scan-time\0junk", ADV_SCAN);
	ok &= ACCEPTED("none\0junk", ADV_NONE);
	return ok;
}

static bool test_ro(const struct knob *k)
{
	char path[PATH_MAX], before[VAL_MAX], after[VAL_MAX];
	struct stat st;
	bool ok = true;
	ssize_t n;
	int fd, e;

	snprintf(path, sizeof(path), KSM_DIR "/%s", k->name);
	if (stat(path, &st) || (st.st_mode & 0777) != 0444) {
		ksft_print_msg("%s: mode %o, expected 0444\n", k->name,
			       st.st_mode & 0777);
		return false;
	}
	knob_read(k->name, before, sizeof(before));
	fd = open(path, O_WRONLY);
	e = errno;
	if (fd >= 0 || e != EACCES) {
		ksft_print_msg("%s: open(O_WRONLY) = %d (%s), expected EACCES\n",
			       k->name, fd, strerror(e));
		if (fd >= 0)
			close(fd);
		ok = false;
	}
	fd = open(path, O_RDWR);
	e = errno;
	if (fd >= 0 || e != EACCES) {
		ksft_print_msg("%s: open(O_RDWR) = %d (%s), expected EACCES\n",
			       k->name, fd, strerror(e));
		if (fd >= 0)
			close(fd);
		ok = false;
	}
	/* Made writable by root, the attribute still has no store: EIO. */
	if (chmod(path, 0644)) {
		ksft_print_msg("%s: chmod: %s\n", k->name, strerror(errno));
		return false;
	}
	n = knob_write(k->name, "0", 1);
	e = errno;
	if (n != -1 || e != EIO) {
		ksft_print_msg("%s: write() after chmod 0644 = %zd (%s), expected EIO\n",
			       k->name, n, n < 0 ? strerror(e) : "no error");
		ok = false;
	}
	n = knob_write(k->name, "", 0);
	if (n != 0) {
		ksft_print_msg("%s: empty write() after chmod 0644 = %zd\n",
			       k->name, n);
		ok = false;
	}
	if (chmod(path, 0444)) {
		ksft_print_msg("%s: chmod back: %s\n", k->name,
			       strerror(errno));
		ok = false;
	}
	knob_read(k->name, after, sizeof(after));
	if (strcmp(before, after)) {
		ksft_print_msg("%s: changed %s -> %s\n", k->name,
			       chomp(before), chomp(after));
		ok = false;
	}
	return ok;
}

static void restore_one(const char *name);

static bool pages_shared_zero(void)
{
	char buf[VAL_MAX];

	return !knob_read("pages_shared", buf, sizeof(buf)) &&
	       !strcmp(buf, "0\n");
}

static void test_knob(unsigned int i)
{
	const struct knob *k = &knobs[i];
	char path[PATH_MAX], after[VAL_MAX];
	struct stat st;
	bool ok;

	if (!knob_exists(k->name)) {
		ksft_test_result_skip("%s: absent%s\n", k->name,
				      k->flags & F_SERIES ?
				      " (a knob of the series)" : "");
		return;
	}
	if (k->kind == K_RO) {
		ksft_test_result(test_ro(k), "%s: read-only\n", k->name);
		return;
	}
	snprintf(path, sizeof(path), KSM_DIR "/%s", k->name);
	ok = !stat(path, &st) && (st.st_mode & 0777) == 0644;
	if (!ok)
		ksft_print_msg("%s: mode %o, expected 0644\n", k->name,
			       st.st_mode & 0777);
	switch (k->kind) {
	case K_BOOL:
		ok &= test_bool(k);
		break;
	case K_ADVISOR:
		ok &= test_advisor(k);
		break;
	case K_SCOPE:
		ok &= test_scope(k);
		break;
	default:
		ok &= test_numeric(k, pages_shared_zero());
		break;
	}
	/* Back to the value at start (run was 0, advisor_mode none). */
	if (!strcmp(k->name, "run")) {
		knob_set("run", "0");
	} else if (k->kind == K_ADVISOR) {
		knob_set(k->name, "none");
		knob_set("pages_to_scan", saved[knob_index("pages_to_scan")]);
	} else if (k->kind == K_SCOPE) {
		restore_one(k->name);
	} else {
		restore_one(k->name);
		knob_read(k->name, after, sizeof(after));
		if (strcmp(saved[i], after)) {
			ksft_print_msg("%s: reads %s after restoring %s\n",
				       k->name, chomp(after), chomp(saved[i]));
			ok = false;
		}
	}
	ksft_test_result(ok, "%s: hostile and valid writes\n", k->name);
}

static void test_coverage(void)
{
	struct dirent *de;
	bool ok = true;
	DIR *dir;

	dir = opendir(KSM_DIR);
	if (!dir) {
		ksft_test_result_fail("every file is in the table: %s\n",
				      strerror(errno));
		return;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (knob_index(de->d_name) < 0) {
			ksft_print_msg("%s/%s is not in the table\n", KSM_DIR,
				       de->d_name);
			ok = false;
		}
	}
	closedir(dir);
	ksft_test_result(ok, "every file is in the table\n");
}

/* The race: knobs that need no quiescent KSM, and their valid range. */
static const struct race_knob {
	const char *name;
	unsigned int lo, hi;
} race_knobs[] = {
	{ "sleep_millisecs", 0, 20 },
	{ "pages_to_scan", 1, 2000 },
	{ "stable_node_chains_prune_millisecs", 0, 5000 },
	{ "use_zero_pages", 0, 1 },
	{ "smart_scan", 0, 1 },
	{ "zero_pages_min_age", 0, 255 },
	{ "zero_pages_thp_split_min", 1, 2 },
	{ "unstable_refresh_millisecs", 100, 2000 },
	{ "advisor_max_cpu", 0, 100 },
	{ "advisor_min_pages_to_scan", 1, 1000 },
	{ "advisor_max_pages_to_scan", 1000, 30000 },
	{ "advisor_target_scan_time", 1, 1000 },
};

static const char *const race_bad[] = {
	"-1", "0x10", "1e3", "12abc", "1 2", " ", "\n", "99999999999999999999",
	"4294967296x", "+-1",
};

static bool race_stop;
static int race_run_errors;

static void *run_flipper(void *arg)
{
	static const char *const vals[] = { "1", "2", "0", "1", "0", "2" };
	unsigned int i = 0;

	while (!__atomic_load_n(&race_stop, __ATOMIC_RELAXED)) {
		if (!knob_set("run", vals[i++ % ARRAY_SIZE(vals)])) {
			ksft_print_msg("run: write failed: %s\n",
				       strerror(errno));
			race_run_errors++;
		}
		usleep(2000);
	}
	knob_set("run", "0");
	return NULL;
}

static void test_race(void)
{
	char last[ARRAY_SIZE(race_knobs)][VAL_MAX] = { };
	bool present[ARRAY_SIZE(race_knobs)];
	char buf[VAL_MAX], *area;
	size_t size = 256 * getpagesize();
	unsigned int i, bad_ok = 0, valid_fail = 0;
	unsigned long writes = 0;
	struct timespec start, now;
	pthread_t thread;
	bool ok = true;

	/* Something for ksmd to merge and run=2 to unmerge. */
	area = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area != MAP_FAILED) {
		memset(area, 0x5a, size);
		memset(area, 0, size / 2);
		madvise(area, size, MADV_MERGEABLE);
	}
	for (i = 0; i < ARRAY_SIZE(race_knobs); i++)
		present[i] = knob_exists(race_knobs[i].name);
	srand(1);
	__atomic_store_n(&race_stop, false, __ATOMIC_RELAXED);
	if (pthread_create(&thread, NULL, run_flipper, NULL)) {
		ksft_test_result_fail("writes racing with run=2: pthread_create\n");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		for (i = 0; i < ARRAY_SIZE(race_knobs); i++) {
			const struct race_knob *r = &race_knobs[i];
			const char *bad;
			ssize_t n;

			if (!present[i])
				continue;
			snprintf(buf, sizeof(buf), "%u\n",
				 r->lo + rand() % (r->hi - r->lo + 1));
			if (knob_set(r->name, buf))
				snprintf(last[i], VAL_MAX, "%s", buf);
			else
				valid_fail++;
			bad = race_bad[rand() % ARRAY_SIZE(race_bad)];
			n = knob_write(r->name, bad, strlen(bad));
			/* kstrtobool() takes "12abc", "1e3", "0x10"... */
			if (n >= 0 && !(r->hi == 1 && strchr("01", bad[0]))) {
				ksft_print_msg("%s: %s accepted\n", r->name,
					       quote(bad, strlen(bad)));
				bad_ok++;
			} else if (n >= 0) {
				/* It did set 1: write the valid one again. */
				knob_set(r->name, last[i]);
			}
			writes += 2;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < RACE_SECS);
	__atomic_store_n(&race_stop, true, __ATOMIC_RELAXED);
	pthread_join(thread, NULL);

	for (i = 0; i < ARRAY_SIZE(race_knobs); i++) {
		if (!last[i][0])
			continue;
		knob_read(race_knobs[i].name, buf, sizeof(buf));
		if (strcmp(buf, last[i])) {
			ksft_print_msg("%s: reads %s, last written %s\n",
				       race_knobs[i].name, chomp(buf),
				       chomp(last[i]));
			ok = false;
		}
	}
	if (valid_fail || bad_ok || race_run_errors) {
		ksft_print_msg("failed: %u valid, %d run; %u invalid accepted\n",
			       valid_fail, race_run_errors, bad_ok);
		ok = false;
	}
	ksft_print_msg("%lu writes in %d s\n", writes, RACE_SECS);
	if (area != MAP_FAILED)
		munmap(area, size);
	ksft_test_result(ok, "writes racing with run 1/2/0\n");
}

static void save_all(void)
{
	unsigned int i;

	for (i = 0; i < NR_KNOBS; i++) {
		if (knobs[i].kind == K_RO)
			continue;
		if (knob_read(knobs[i].name, saved[i], sizeof(saved[i])))
			saved[i][0] = '\0';
	}
	/* Written back as the mode itself, not the list read. */
	i = knob_index("zero_pages_scope");
	if (saved[i][0])
		snprintf(saved[i], VAL_MAX, strstr(saved[i], "[all]") ?
			 "all" : "mergeable");
	i = knob_index("advisor_mode");
	if (strstr(saved[i], "[scan-time]"))
		snprintf(saved[i], VAL_MAX, "scan-time");
	else if (saved[i][0])
		snprintf(saved[i], VAL_MAX, "none");
	saved_ok = true;
}

static void restore_one(const char *name)
{
	int i = knob_index(name);
	char cur[VAL_MAX];

	if (!saved[i][0])
		return;
	/* Only if changed: merge_across_nodes and max_page_sharing may be busy. */
	if (!knob_read(name, cur, sizeof(cur)) && !strcmp(cur, saved[i]))
		return;
	if (!knob_set(name, saved[i]))
		ksft_print_msg("cannot restore %s=%s: %s\n", name,
			       chomp(saved[i]), strerror(errno));
}

static void restore_all(void)
{
	unsigned int i;

	if (!saved_ok)
		return;
	knob_set("run", "0");
	/* advisor_mode resets pages_to_scan: first the mode, then the rest. */
	restore_one("advisor_mode");
	for (i = 0; i < NR_KNOBS; i++) {
		if (knobs[i].kind == K_RO || !strcmp(knobs[i].name, "run") ||
		    !strcmp(knobs[i].name, "advisor_mode"))
			continue;
		/* pages_to_scan refuses writes under the scan-time advisor. */
		if (!strcmp(knobs[i].name, "pages_to_scan") &&
		    !strcmp(saved[knob_index("advisor_mode")], "scan-time"))
			continue;
		restore_one(knobs[i].name);
	}
	restore_one("run");
}

/* Pages in a PMD-sized THP, @dflt if the kernel does not say. */
static unsigned long long pmd_pages(unsigned long long dflt)
{
	unsigned long long size = 0;
	FILE *f;

	f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r");
	if (!f)
		return dflt;
	if (fscanf(f, "%llu", &size) != 1)
		size = 0;
	fclose(f);
	return size ? size / getpagesize() : dflt;
}

int main(void)
{
	unsigned int i;

	ksft_print_header();
	if (getuid())
		ksft_exit_skip("must run as root\n");
	big_len = getpagesize();
	big = malloc(big_len + 2);
	numbuf = malloc(big_len + 2);
	if (!big || !numbuf)
		ksft_exit_fail_msg("out of memory\n");
	if (access(KSM_DIR, F_OK))
		ksft_exit_skip("no %s\n", KSM_DIR);
	ksft_set_plan(NR_KNOBS + 2);

	for (i = 0; i < NR_KNOBS; i++)
		if (knobs[i].flags & F_PMD_NR)
			knobs[i].max = pmd_pages(knobs[i].max);
	save_all();
	atexit(restore_all);
	if (!knob_set("run", "0") || !knob_set("advisor_mode", "none"))
		ksft_exit_fail_msg("cannot set run=0 and advisor_mode=none\n");

	test_coverage();
	for (i = 0; i < NR_KNOBS; i++)
		test_knob(i);
	test_race();

	restore_all();
	saved_ok = false;
	ksft_finished();
}
