# SPDX-License-Identifier: GPL-2.0
#
# Front door of the KSM series. The kernel files live in the folders that
# mirror the kernel tree; everything that builds, boots and tests them lives
# in harness/; everything built goes to out/ (or OUT=...).
#
#   make demo                      build, boot and show the series at work
#   make test                      build, boot, run every KSM selftest
#   make stress                    the KSM stress test alone, STRESS_SECONDS
#                                  (default 600), with the splat check
#   make test-base                 the same tests on the unpatched base kernel
#   make bench                     base and series side by side: table, CSV, plot
#   make check                     checkpatch --strict, a W=1 build of the series,
#                                  W=1 cross builds of mm/ksm.o (arm64 64K pages,
#                                  ppc64le, s390x), each against the base's
#   make apply KSRC=/path/to/linux-6.12   put the series onto your tree
#   make clean                     remove out/

OUT ?= $(CURDIR)/out
export OUT

.PHONY: all demo test stress test-base bench check apply kernel deps clean

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

check:
	@harness/run.sh check

kernel:
	@harness/run.sh kernel

deps:
	@harness/run.sh deps

apply:
	@test -n "$(KSRC)" || { echo "usage: make apply KSRC=/path/to/linux-6.12" >&2; exit 2; }
	@harness/apply.sh "$(KSRC)"

clean:
	rm -rf "$(OUT)"
