# SPDX-License-Identifier: GPL-2.0
#
# Front door of the KSM series. The kernel files live in the folders that
# mirror the kernel tree; everything that builds, boots and tests them lives
# in harness/; everything built goes to out/ (or OUT=...).
#
#   make demo                      build, boot and show the series at work
#   make test                      build, boot, run every KSM selftest
#   make test ARCH=arm64 [PAGE_SIZE=4K|16K|64K]  the KSM selftests and the
#                                  MTE test on an arm64 kernel in QEMU (64K)
#   make test KCSAN=1              the KSM selftests, then the stress test for
#                                  KCSAN_STRESS_SECONDS (default 300), on a
#                                  kernel with KCSAN instead of KASAN; a data
#                                  race reported in mm/ksm.c fails it
#   make stress                    the KSM stress test alone, STRESS_SECONDS
#                                  (default 600), with the splat check
#   make test-base                 the same tests on the unpatched base kernel
#   make bench                     base and series side by side: table, CSV, plot
#   make patches                   the series as git format-patch files with a
#                                  cover letter in out/patches/series, each patch
#                                  checkpatch'ed, git am onto the base checked
#   make bisect                    boot the kernel at each patch, run the KSM
#                                  selftests that exist at that patch
#   make check                     patches, a build of each patch, checkpatch
#                                  --strict, W=1, sparse, kernel-doc, htmldocs,
#                                  W=1 cross builds of mm/ksm.o (arm64 64K pages,
#                                  ppc64le, s390x), each against the base's
#   make apply KSRC=/path/to/linux-6.12   put the series onto your tree
#                                  (a three-way merge unless it is the pinned base)
#   make rebase VERSION=6.12.N-1~deb12u1  move the series to another Debian
#                                  linux-source-6.12 (three-way merge, re-split)
#   make clean                     remove out/

OUT ?= $(CURDIR)/out
export OUT

# make test ARCH=arm64 PAGE_SIZE=64K: only an ARCH or PAGE_SIZE given on
# make's command line picks the guest; one exported for kernel builds in
# the shell does not.
ifeq ($(origin ARCH),command line)
export KSM_GUEST_ARCH := $(ARCH)
endif
ifeq ($(origin PAGE_SIZE),command line)
export KSM_GUEST_PAGE_SIZE := $(PAGE_SIZE)
endif

.PHONY: all demo test stress test-base bench patches bisect check apply rebase kernel deps clean

all: test

demo:
	@harness/run.sh demo

test:
	@harness/run.sh test

stress:
	@harness/run.sh stress

test-base:
	@harness/run.sh test-base

bench:
	@harness/run.sh bench

patches:
	@harness/run.sh patches

bisect:
	@harness/run.sh bisect

check:
	@harness/run.sh check

kernel:
	@harness/run.sh kernel

deps:
	@harness/run.sh deps

apply:
	@test -n "$(KSRC)" || { echo "usage: make apply KSRC=/path/to/linux-6.12" >&2; exit 2; }
	@harness/apply.sh "$(KSRC)"

rebase:
	@test -n "$(VERSION)" || { echo "usage: make rebase VERSION=<Debian version of linux-source-6.12>" >&2; exit 2; }
	@harness/rebase.sh "$(VERSION)"

clean:
	rm -rf "$(OUT)"
