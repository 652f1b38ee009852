#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh STEP: the harness behind the top-level Makefile.
#
#   deps    install what the harness needs (Debian packages, apt); with
#           ARCH=arm64 also what make test ARCH=arm64 needs
#   check-deps  install what make check needs beyond that (CHECK_PACKAGES)
#   base    unpack and verify the pinned base tree in out/src/base
#   kernel  apply the series to out/src/series and build the test kernel;
#           ARCH=arm64 [PAGE_SIZE=N]: the arm64 test kernel of make test
#           ARCH=arm64 alone
#   test    kernel + selftests + initramfs, boot, run tests.list, summary;
#           with KCSAN=1 the KCSAN kernel in out/build/series-kcsan, the KSM
#           lines of tests.list and 300 s of stress, KCSAN reports listed
#           ARCH=arm64 [PAGE_SIZE=4K|16K|64K (default 64K)]: the KSM lines
#           of tests.list and the arm64 tests on a cross-built arm64 kernel
#           in QEMU's virt machine (TCG, MTE on), results in
#           out/test-series-arm64-<N>k
#   kernel-kcsan  the KCSAN test kernel alone
#   demo    kernel + demo program, boot, run the demo workload
#   test-base  the selftests on the pristine base kernel (expected to fail)
#   stress  kernel + ksm_stress_tests alone for STRESS_SECONDS (600), summary
#   patches the series as git format-patch files in $OUT/patches/series,
#           from harness/series (see harness/series.py), each patch
#           checkpatch'ed, maintainers looked up, git am onto the base checked
#   bisect  the kernel at each patch booted, with the selftests it has
#   check   patches, a build of each patch in turn, checkpatch --strict on
#           the whole series, W=1 build of its C files, sparse, kernel-doc
#           and the HTML of the documents it changes against the base, W=1
#           builds of mm/ksm.o for arm64 64K, ppc64le and s390x
#   check-cross [BASE SERIES]  only those cross builds, of the trees in
#           out/src (or of BASE against SERIES)
#   each-patch  only the build of each patch in turn (after make kernel)
#   docs    only kernel-doc and the HTML of the documents (applies the series)
#   bench   base and series kernels without debug options, same workloads,
#           table of ratios, CSV and plot in out/bench; PROFILE=1 boots them
#           with profile=2 and names the functions in out/bench/profile-*.txt;
#           ARCH=arm64 [PAGE_SIZE=N]: the arm64 kernels, in out/bench-arm64-<N>k
#
# Everything built goes to $OUT (default: out/ at the top of the repository).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
h=$top/harness
OUT=${OUT:-$top/out}
JOBS=${JOBS:-$(($(nproc) + 1))}
# make test ARCH=arm64 PAGE_SIZE=N: the guest's architecture and page size,
# from make's command line (the Makefile exports them as KSM_GUEST_*; an
# ARCH in the environment is a kernel developer's, not ours). The kernel's
# own make gets ARCH on its command line each time.
GUEST_ARCH=${KSM_GUEST_ARCH:-x86_64}
GUEST_PAGE_SIZE=${KSM_GUEST_PAGE_SIZE:-64K}
unset ARCH
case $GUEST_ARCH in
x86_64 | x86) GUEST_ARCH=x86_64 ;;
arm64 | aarch64) GUEST_ARCH=arm64 ;;
*) printf 'run.sh: ARCH must be x86_64 or arm64\n' >&2; exit 2 ;;
esac
case $GUEST_PAGE_SIZE in
4[Kk]) GUEST_PAGE_SIZE=4K ;;
16[Kk]) GUEST_PAGE_SIZE=16K ;;
64[Kk]) GUEST_PAGE_SIZE=64K ;;
*) printf 'run.sh: PAGE_SIZE must be 4K, 16K or 64K\n' >&2; exit 2 ;;
esac
# arm64: a 64K-page kernel's PMD THP is 512 MiB, and KASAN's shadow takes
# an eighth: 6 GiB let the THP tests map a few of them, 12 GiB at 64K (the
# fault tests map three at once, half the memory is ZONE_MOVABLE, and each
# THP they poison leaves a 512 MiB block that can never be a THP again:
# with 8 GiB the last two poison cases found none).
if [ "$GUEST_ARCH" = arm64 ] && [ "$GUEST_PAGE_SIZE" = 64K ]; then
	GUEST_MEM=${GUEST_MEM:-12G}
elif [ "$GUEST_ARCH" = arm64 ]; then
	GUEST_MEM=${GUEST_MEM:-6G}
else
	GUEST_MEM=${GUEST_MEM:-2G}
fi
GUEST_TIMEOUT=${GUEST_TIMEOUT:-3000}
export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

pkg_version=$(awk '$1 == "package" { print $3 }' "$h/base.manifest")
tarball_sum=$(awk '$1 == "tarball" { print $3 }' "$h/base.manifest")
# shellcheck source=harness/debsrc.sh
. "$h/debsrc.sh"

# Each step with the time of day: where the minutes of a CI run go.
log() { printf "== %s %s\n" "$(date +%T)" "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# rsync: the kernel's headers_install (6.12) copies the headers with it.
PACKAGES="make gcc patch bc bison flex libelf-dev libssl-dev cpio xz-utils
	ccache busybox-static qemu-system-x86 libnuma-dev liburing-dev gnuplot-nox
	git python3 rsync"
# Only for check: the cross compilers of its builds for other architectures,
# sparse, and Sphinx for the documentation build.
CHECK_PACKAGES="gcc-aarch64-linux-gnu gcc-powerpc64le-linux-gnu
	gcc-s390x-linux-gnu sparse python3-sphinx python3-sphinx-rtd-theme
	python3-yaml"

# install_packages PKG[=VERSION]...: apt-get install those not installed
# (at that version).
install_packages() {
	local missing=() p
	for p in "$@"; do
		case $p in
		*=*)
			[ "$(dpkg-query -W -f='${Version}' "${p%%=*}" 2>/dev/null)" = "${p#*=}" ] ||
				missing+=("$p") ;;
		*)
			dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
				grep -q 'install ok installed' || missing+=("$p") ;;
		esac
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	as_root apt-get update -q >/dev/null
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--allow-downgrades "${missing[@]}" >/dev/null
}

# What make check needs beyond step_deps (CHECK_PACKAGES).
step_check_deps() {
	# shellcheck disable=SC2086
	install_packages $CHECK_PACKAGES
}

step_deps() {
	# shellcheck disable=SC2086
	install_packages $PACKAGES
	# make deps ARCH=arm64: also the cross compiler, qemu-system-arm and
	# the arm64 sysroot (arm64_sysroot).
	[ "$GUEST_ARCH" != arm64 ] || arm64_sysroot
}

# The pristine base: unpacked once, verified file by file against the
# manifest; never written to afterwards (the series tree hard-links it).
step_base() {
	step_deps
	local base=$OUT/src/base tarball
	# .base-ok holds the version and the checksum of the manifest's pinned
	# files: a new pin (make rebase, a checkout of another commit) unpacks
	# the tree again; a file the series adds ("absent") does not.
	local stamp
	stamp="$pkg_version $(awk 'length($1) == 64' "$h/base.manifest" | sha256sum | cut -d' ' -f1)"
	if [ "$(cat "$OUT/src/.base-ok" 2>/dev/null)" != "$stamp" ]; then
		log "fetching linux-source-6.12 $pkg_version"
		tarball=$(debsrc_tarball "$pkg_version") ||
			die "cannot fetch linux-source-6.12 $pkg_version"
		log "verifying $tarball"
		echo "$tarball_sum  $tarball" | sha256sum -c --quiet - ||
			die "$tarball is not the tarball of linux-source-6.12 $pkg_version"
		rm -rf "$base" "$OUT/src/series" "$OUT/src/series-arm64" \
			"$OUT/src/patches" "$OUT/src/.base-ok" \
			"$OUT/patches/base.git" \
			"$OUT/patches/base-files.git" \
			"$OUT/patches/am"
		log "unpacking the base tree"
		debsrc_unpack "$pkg_version" "$base"
		(cd "$base" && awk 'length($1) == 64' "$h/base.manifest" |
			sha256sum -c --quiet -) || die "base tree does not match base.manifest"
		echo "$stamp" > "$OUT/src/.base-ok"
	fi
}

# The series tree: a hard-linked copy of the base with the series applied
# (apply.sh writes by rename, so the base stays pristine).
step_series_tree() {
	step_base
	if [ ! -d "$OUT/src/series" ]; then
		cp -al "$OUT/src/base" "$OUT/src/series"
	fi
	"$h/apply.sh" --reset-from "$OUT/src/base" "$OUT/src/series" > "$OUT/src/apply.log" ||
		die "could not apply the series to $OUT/src/series"
	grep -v 'carries the series' "$OUT/src/apply.log" >&2 || true
}

# config_kernel SRC BUILD FRAGMENT...: the .config of build_kernel
# (tinyconfig plus the fragments, remade only when a fragment changed).
config_kernel() {
	local src=$1 build=$2
	shift 2
	local frag sum arch=${KARCH:-x86_64} cross=${KCROSS:-}
	mkdir -p "$build"
	sum=$(cat "$@" | sha256sum | cut -d' ' -f1)
	if [ "$(cat "$build/.fragment-sum" 2>/dev/null)" != "$sum" ]; then
		log "configuring $build"
		make -s -C "$src" O="$build" ARCH="$arch" CROSS_COMPILE="$cross" \
			tinyconfig >/dev/null
		for frag in "$@"; do
			"$src/scripts/kconfig/merge_config.sh" -m -O "$build" \
				"$build/.config" "$frag" >/dev/null
		done
		make -s -C "$src" O="$build" ARCH="$arch" CROSS_COMPILE="$cross" \
			olddefconfig >/dev/null
		for frag in "$@"; do
			grep -E '^CONFIG_[A-Z0-9_]+=' "$frag" | while read -r opt; do
				grep -qxF "$opt" "$build/.config" ||
					die "$opt did not survive olddefconfig"
			done
		done
		echo "$sum" > "$build/.fragment-sum"
	fi
}

# build_kernel SRC BUILD FRAGMENT...: tinyconfig plus the fragments, out of
# tree, with ccache. The config is remade only when a fragment changed.
# KARCH (default x86_64), KCROSS (CROSS_COMPILE) and KIMAGE (default
# bzImage) build for another architecture.
build_kernel() {
	local src=$1 build=$2
	local arch=${KARCH:-x86_64} cross=${KCROSS:-} image=${KIMAGE:-bzImage}
	config_kernel "$@"
	log "building the kernel in $build"
	if ! make -s -C "$src" O="$build" ARCH="$arch" CROSS_COMPILE="$cross" \
			CC="ccache ${cross}gcc" -j"$JOBS" "$image" > "$build/build.log" 2>&1; then
		tail -n 30 "$build/build.log" >&2
		die "kernel build failed (log: $build/build.log)"
	fi
	grep -E 'warning:|error:' "$build/build.log" >&2 || true
	make -s -C "$src" O="$build" ARCH="$arch" headers_install \
		INSTALL_HDR_PATH="$build/hdr" >/dev/null
}

step_kernel() {
	if [ "$GUEST_ARCH" = arm64 ]; then
		step_kernel_arm64
		return
	fi
	step_series_tree
	build_kernel "$OUT/src/series" "$OUT/build/series" "$h/kernel.config" \
		"$h/debug.config"
}

# The KCSAN test kernel (make test KCSAN=1), in its own build directory:
# kernel.config, debug.config less KASAN (KCSAN depends on !KASAN),
# kcsan.config.
step_kernel_kcsan() {
	step_series_tree
	local b=$OUT/build/series-kcsan
	mkdir -p "$b"
	grep -v 'KASAN' "$h/debug.config" > "$b/debug-nokasan.config.tmp"
	# Rewritten only when it changes: build_kernel reconfigures on a
	# change of its fragments, not of their dates.
	if cmp -s "$b/debug-nokasan.config.tmp" "$b/debug-nokasan.config"; then
		rm -f "$b/debug-nokasan.config.tmp"
	else
		mv -f "$b/debug-nokasan.config.tmp" "$b/debug-nokasan.config"
	fi
	build_kernel "$OUT/src/series" "$b" "$h/kernel.config" \
		"$b/debug-nokasan.config" "$h/kcsan.config"
}

# Static selftest binaries, built against the series tree and its
# installed UAPI headers, as the kselftest Makefile would (-O2 -Wall).
build_selftests() {
	local src=$1 build=$2 dest=$3
	local mm=$src/tools/testing/selftests/mm
	# -fmacro-prefix-map: __FILE__ as the kselftest Makefile, which
	# compiles in the source directory, has it (gup_longterm makes its
	# "local tmpfile" from it, in the directory it runs in).
	local cflags="-Wall -O2 -static -U_FORTIFY_SOURCE -I$src/tools/testing/selftests
		-I$build/hdr/include -I$src/tools/include -I$src/tools/include/uapi -I$src
		-fmacro-prefix-map=$mm/="
	local libs="-lrt -lpthread -lm"
	# arm64: the cross compiler, and libnuma and liburing of Debian's
	# arm64 packages, unpacked by arm64_sysroot.
	local cc=gcc
	if [ "$GUEST_ARCH" = arm64 ]; then
		cc=aarch64-linux-gnu-gcc
		cflags+=" -I$ARM64_SYSROOT/usr/include -L$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu"
	fi
	mkdir -p "$dest/mm"
	# A tree at an earlier patch of the series (make bisect) has fewer
	# tests: gcc is only called for the sources it has.
	# Called as a condition (set -e does not act in here): every compile
	# that fails fails the build.
	local rc=0
	gcc() {
		local a
		for a in "$@"; do
			case $a in *.c) [ -e "$a" ] || return 0 ;; esac
		done
		command "$cc" "$@" || rc=1
	}
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_tests" "$mm/ksm_tests.c" "$mm/vm_util.c" \
		"$mm/thp_settings.c" $libs -lnuma
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_functional_tests" \
		"$mm/ksm_functional_tests.c" "$mm/vm_util.c" $libs
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_zero_page_tests" \
		"$mm/ksm_zero_page_tests.c" "$mm/vm_util.c" $libs
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_thp_zero_tests" \
		"$mm/ksm_thp_zero_tests.c" "$mm/vm_util.c" $libs
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_mthp_zero_tests" \
		"$mm/ksm_mthp_zero_tests.c" "$mm/vm_util.c" $libs
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_zero_scope_tests" \
		"$mm/ksm_zero_scope_tests.c" "$mm/vm_util.c" $libs
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_swap_tests" \
		"$mm/ksm_swap_tests.c" "$mm/vm_util.c" $libs
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_unstable_refresh_tests" \
		"$mm/ksm_unstable_refresh_tests.c" "$mm/vm_util.c" $libs
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_sysfs_input_tests" \
		"$mm/ksm_sysfs_input_tests.c" $libs
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_stress_tests" \
		"$mm/ksm_stress_tests.c" $libs
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/ksm_fault_tests" \
		"$mm/ksm_fault_tests.c" "$mm/vm_util.c" $libs
	# MTE (arm64 only: it skips elsewhere), run by tests-arm64.list.
	if [ "$GUEST_ARCH" = arm64 ]; then
		# shellcheck disable=SC2086
		gcc $cflags -o "$dest/mm/ksm_mte_tests" \
			"$mm/ksm_mte_tests.c" "$mm/vm_util.c" $libs
	fi
	# Upstream's soft-dirty test, run by tests.list with the defaults and
	# under ksm_all_on.sh (every KSM feature on, the knobs put back
	# afterwards).
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/soft-dirty" "$mm/soft-dirty.c" "$mm/vm_util.c" \
		"$mm/thp_settings.c" $libs
	# Upstream's mm selftests that KSM can disturb, run by tests.list
	# with the defaults and again under ksm_all_on.sh, built as their
	# Makefile builds them. local_config.h is what check_config.sh would
	# write: liburing (io_uring fixed buffers in cow and gup_longterm)
	# when it links.
	local gen=$build/selftests-gen uring=""
	mkdir -p "$gen"
	# shellcheck disable=SC2086
	if printf '#include <liburing.h>\nint main(void) { struct io_uring r; return io_uring_queue_init(1, &r, 0); }\n' |
		command "$cc" $cflags -x c -o "$gen/uring-probe" - -luring 2>/dev/null; then
		echo "#define LOCAL_CONFIG_HAVE_LIBURING 1" > "$gen/local_config.h"
		uring=-luring
	else
		echo "// No liburing support found" > "$gen/local_config.h"
	fi
	local t
	for t in cow gup_longterm mkdirty madv_populate mlock2-tests; do
		# shellcheck disable=SC2086
		gcc $cflags -I"$gen" -o "$dest/mm/$t" "$mm/$t.c" "$mm/vm_util.c" \
			"$mm/thp_settings.c" $libs $uring
	done
	# shellcheck disable=SC2086
	gcc $cflags -o "$dest/mm/uffd-unit-tests" "$mm/uffd-unit-tests.c" \
		"$mm/uffd-common.c" "$mm/vm_util.c" "$mm/thp_settings.c" $libs
	cp "$h/guest/ksm_all_on.sh" "$dest/mm/ksm_all_on.sh"
	# cow with zram swap (see the script).
	cp "$h/guest/zram_swap.sh" "$dest/mm/zram_swap.sh"
	# ksm_tests -N -m 1 under smart_scan=0 (see the script).
	cp "$h/guest/ksm_smart_scan_off.sh" "$dest/mm/ksm_smart_scan_off.sh"
	unset -f gcc
	return $rc
}

# make_initramfs DIR MODE CPIO: busybox, the init script and DIR/*.
make_initramfs() {
	local root=$1 mode=$2 cpio=$3
	mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" \
		"$root/tmp"
	if [ "$GUEST_ARCH" = arm64 ]; then
		cp "$ARM64_SYSROOT/bin/busybox" "$root/bin/busybox"
	else
		cp /bin/busybox "$root/bin/busybox"
	fi
	cp "$h/guest/init" "$root/init"
	chmod +x "$root/init"
	printf '%s\n' "$mode" > "$root/etc/ksm-mode"
	(cd "$root" && find . | sort | cpio -o -H newc --quiet -R 0:0) > "$cpio"
}

# boot KERNEL CPIO LOGDIR: run the guest to its end. The kernel console goes
# to LOGDIR/console.log, the results to LOGDIR/results.log.
boot() {
	local kernel=$1 cpio=$2 dir=$3 rc=0 khz
	mkdir -p "$dir"
	# Under TCG the guest TSC runs at the host's rate, and its calibration
	# against the PIT fails when the host is busy: the kernel then falls
	# back to jiffies, and CPU times come in 4 ms steps. Give the rate.
	khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
	# GUEST_NUMA NUMA nodes (default 2), emulated by the kernel
	# (CONFIG_NUMA_EMU): numa=fake splits the memory in equal parts.
	local numa=${GUEST_NUMA-2}
	log "booting $kernel (log: $dir/console.log)"
	if [ "$GUEST_ARCH" = arm64 ]; then
		# The virt machine has one PL011: the results go to a virtio
		# console (hvc0). MTE on (TCG only); pauth=off: QEMU's
		# emulation of pointer authentication would slow every
		# function of the kernel, and the kernel runs without it.
		timeout "$GUEST_TIMEOUT" qemu-system-aarch64 -accel tcg,thread=multi \
			-M virt,gic-version=3,mte=on -cpu max,pauth=off \
			-smp 2 -m "$GUEST_MEM" -display none -monitor none -no-reboot \
			-kernel "$kernel" -initrd "$cpio" \
			-append "console=ttyAMA0 panic=-1 rdinit=/init loglevel=7 ${numa:+numa=fake=$numa} ${BOOT_ARGS:-}" \
			-serial "file:$dir/console.log" \
			-device virtio-serial-device \
			-chardev "file,id=results,path=$dir/results.log" \
			-device virtconsole,chardev=results \
			</dev/null || rc=$?
		sed -i 's/\r$//' "$dir/console.log" "$dir/results.log"
		return $rc
	fi
	timeout "$GUEST_TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi \
		-smp 2 -m "$GUEST_MEM" -display none -monitor none -no-reboot \
		-kernel "$kernel" -initrd "$cpio" \
		-append "console=ttyS0 panic=-1 rdinit=/init loglevel=7 tsc=reliable ${khz:+tsc_early_khz=$khz} ${numa:+numa=fake=$numa} ${BOOT_ARGS:-}" \
		-serial "file:$dir/console.log" -serial "file:$dir/results.log" \
		</dev/null || rc=$?
	sed -i 's/\r$//' "$dir/console.log" "$dir/results.log"
	return $rc
}

# Lines of the kernel log that fail a run.
SPLAT='BUG:|WARNING:|Oops|kernel BUG|KASAN|UBSAN|circular locking|lock(dep|ing) (is turned off|.*detected)|INFO: task .* blocked|general protection fault|Kernel panic|Call Trace:'

# read_expected FILE, in awk: the differences that harness/allon-expected
# expects between a command's run with the defaults and its all-on run,
# xf[COMMAND, SUBTEST] = why. Its lines: "COMMAND|SUBTEST|why".
AWK_EXPECTED='
		function read_expected(file,   line, f) {
			while ((getline line < file) > 0) {
				if (line ~ /^#/ || line !~ /\|/)
					continue
				split(line, f, "|")
				xf[f[1], f[2]] = f[3]
			}
			close(file)
		}
'

# compare_allon LOGDIR: the verdicts of each program run under
# ksm_all_on.sh against those of its plain run in the same guest, the one
# whose command line is the same without "./ksm_all_on.sh " (the first,
# if there are several). Compared: each numbered TAP subtest (ok, not ok,
# SKIP; a number printed twice keeps its worst result, as in summarize),
# each "Testing NAME... done|skipped|failed" case of uffd-unit-tests, and
# the program's own result (ok, SKIP, not ok with its exit status or
# timeout). Prints one "ALLON-DIFF:" line per difference, and one for an
# all-on run that has no plain run; prints their number to the file
# LOGDIR/allon-diffs and "ALLON: N all-on runs compared with the defaults"
# to LOGDIR/allon-pairs.
compare_allon() {
	local dir=$1
	awk -v diffs="$dir/allon-diffs" -v pairs="$dir/allon-pairs" \
	    -v expected="$h/allon-expected" '
		BEGIN { read_expected(expected) }
		'"$AWK_EXPECTED"'
		function verdict(line,   v) {
			if (line ~ /^ok / && line ~ /# SKIP/) return "skip"
			if (line ~ /^ok /) return "ok"
			v = line
			if (!sub(/.* # /, "", v)) return "not ok"
			return "not ok (" v ")"
		}
		# One subtest: the first result, unless a later one is a
		# failure (forked children print inherited buffers twice).
		function subtest(id, r, desc) {
			if (!((prog, id) in res))
				ids[prog] = ids[prog] SUBSEP id
			else if (r !~ /^(not ok|failed)/)
				return
			res[prog, id] = r
			text[prog, id] = desc
		}
		/^# selftests: / {
			prog++
			cmd[prog] = $0
			sub(/^# selftests: [^:]*: /, "", cmd[prog])
			pending = ""
			next
		}
		/^# (ok|not ok) [0-9]+/ {
			num = ($2 == "ok") ? $3 : $4
			desc = $0
			sub(/^# (ok|not ok) [0-9]+ ?/, "", desc)
			r = ($2 == "ok") ? "ok" : "not ok"
			if (desc ~ /# SKIP/) r = "skip"
			sub(/ *# SKIP.*/, "", desc)
			subtest(num, r, desc)
			next
		}
		# uffd-unit-tests: "Testing NAME... " then done, skipped [reason:
		# ...] or failed [reason: ...], on the same line or a later one.
		/^# Testing .*\.\.\. / {
			pending = $0
			sub(/^# Testing /, "", pending)
			sub(/\.\.\. .*/, "", pending)
			rest = $0
			sub(/^# Testing .*\.\.\. /, "", rest)
			$0 = "# " rest
		}
		pending != "" && /^# (.*[ )])?(done|skipped \[|failed \[)/ {
			r = ($0 ~ /failed \[/) ? "failed" : ($0 ~ /skipped \[/) ? "skipped" : "done"
			subtest("uffd:" pending, r, pending)
			pending = ""
			next
		}
		/^(ok|not ok) [0-9]+ selftests: / {
			result[prog] = verdict($0)
		}
		END {
			n = 0; compared = 0
			for (p = 1; p <= prog; p++) {
				c = cmd[p]
				if (c !~ /^\.\/ksm_all_on\.sh /) {
					if (!(c in plain)) plain[c] = p
					continue
				}
				sub(/^\.\/ksm_all_on\.sh /, "", c)
				allon[p] = c
				runs[c]++
			}
			for (p = 1; p <= prog; p++) {
				if (!(p in allon)) continue
				c = allon[p]
				name = c
				if (runs[c] > 1) name = c " (all-on run " ++seen[c] " of " runs[c] ")"
				if (!(c in plain)) {
					print "ALLON-DIFF: " name ": no run with the defaults to compare with"
					n++
					continue
				}
				compared++
				d = plain[c]
				# Subtests of the plain run, then those only the
				# all-on run has.
				split("", done)
				m = split(ids[d] ids[p], list, SUBSEP)
				for (i = 2; i <= m; i++) {
					id = list[i]
					if (id == "" || id in done) continue
					done[id] = 1
					a = ((d, id) in res) ? res[d, id] : "missing"
					b = ((p, id) in res) ? res[p, id] : "missing"
					if (a == b) continue
					desc = ((d, id) in text) ? text[d, id] : text[p, id]
					if ((c, id) in xf && a == "ok" && b == "not ok") {
						printf "ALLON-EXPECTED: %s: subtest %s \047%s\047: %s\n", name, id, desc, xf[c, id]
						xdiff[p] = 1
						continue
					}
					# A failure often says why in the description.
					if ((d, id) in text && (p, id) in text && text[p, id] != desc)
						b = b ": \"" text[p, id] "\""
					label = (id ~ /^uffd:/) ? "" : id " "
					printf "ALLON-DIFF: %s: subtest %s\047%s\047: default %s, all-on %s\n", name, label, desc, a, b
					n++
				}
				a = (d in result) ? result[d] : "no result"
				b = (p in result) ? result[p] : "no result"
				# An exit status that the expected differences explain.
				if (a != b && !(p in xdiff && a == "ok" && b ~ /^not ok/)) {
					printf "ALLON-DIFF: %s: exit: default %s, all-on %s\n", name, a, b
					n++
				}
			}
			print n > diffs
			print "ALLON: " compared " all-on runs compared with the defaults, " n " difference(s)" > pairs
		}
	' "$dir/results.log"
}

# summarize LOGDIR [KCSAN_BUILD]: count the TAP results. A program that
# prints its own TAP counts each of its subtests; one that does not counts
# once by its exit status. Prints "N passed, N failed, N skipped" last;
# returns non-zero on a failure, a guest that did not finish or a splat.
# With KCSAN_BUILD (make test KCSAN=1: the build directory of its kernel) a
# "BUG: KCSAN:" report is no splat: kcsan_summary lists each distinct one,
# and each in mm/ksm.c counts as a failure.
# guest_cpus CONSOLE: how many CPUs the guest's kernel brought up.
guest_cpus() {
	sed -n 's/.*smp: Brought up .*, \([0-9]*\) CPUs\{0,1\}$/\1/p' "$1" | head -n1
}

# failure_tails LOGDIR: the last lines that each program that failed
# printed, so that a CI log shows why (the guest's results.log stays in the
# CI machine). At most 10 programs, 15 lines each.
failure_tails() {
	awk '
		/^# selftests: / { n = 0; next }
		/^# / { buf[n++ % 15] = $0; next }
		/^not ok [0-9]+ selftests: / && shown < 10 {
			shown++
			print "TAIL: " $0
			for (i = (n > 15 ? n - 15 : 0); i < n; i++)
				print "TAIL:   " buf[i % 15]
		}
	' "$1/results.log"
}

summarize() {
	local dir=$1 kbuild=${2:-} verdict=0 splats
	awk -v expected="$h/allon-expected" '
		BEGIN { read_expected(expected) }
		'"$AWK_EXPECTED"'
		# The all-on run of a command: its expected differences apply.
		/^# selftests: / {
			cur = $0
			sub(/^# selftests: [^:]*: /, "", cur)
			if (!sub(/^\.\/ksm_all_on\.sh /, "", cur))
				cur = ""
			next
		}
		# A subtest of the current program. Forked children may print the
		# same line twice (inherited stdio buffers), so each number
		# counts once: its worst result.
		/^# (ok|not ok) [0-9]+/ {
			num = ($2 == "ok") ? $3 : $4
			r = ($0 ~ /# SKIP/) ? "s" : (($2 == "ok") ? "p" : "f")
			if (r == "f" && (cur, num) in xf)
				r = "x"
			if (!(num in res) || r == "f" || (r == "x" && res[num] != "f"))
				res[num] = r
			if (r == "f" || r == "x")
				name[num] = substr($0, 3)
			next
		}
		/^(ok|not ok) [0-9]+/ {
			subs = 0; subfail = 0; subx = 0
			for (num in res) {
				subs++
				if (res[num] == "s") s++
				else if (res[num] == "p") p++
				else if (res[num] == "x") { x++; subx++; print "XFAIL: " $0 ": " name[num] " (harness/allon-expected)" }
				else { f++; subfail++; print "FAIL: " $0 ": " name[num] }
				delete res[num]
			}
			# No subtests of its own, or a failed exit status that
			# no subtest explains: the program itself counts.
			if (!subs || ($1 == "not" && !subfail && !subx)) {
				if ($0 ~ /# SKIP/) s++
				else if ($1 == "ok") p++
				else { f++; print "FAIL: " $0 }
			}
			cur = ""
		}
		END { printf "%d %d %d %d\n", p, f, s, x > "/dev/stderr" }
	' "$dir/results.log" 2> "$dir/counts"
	read -r passed failed skipped xfailed < "$dir/counts"
	local planned reported
	planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$dir/results.log" | head -n1)
	reported=$(grep -cE '^(ok|not ok) [0-9]+' "$dir/results.log" || true)
	if [ "${planned:-0}" -eq 0 ] || [ "$reported" -ne "$planned" ]; then
		echo "FAIL: ${reported} of ${planned:-?} programs reported a result"
		failed=$((failed + 1))
	fi
	if ! grep -q '^# guest done' "$dir/results.log"; then
		echo "FAIL: the guest did not finish (see $dir/console.log)"
		failed=$((failed + 1))
	fi
	splats=$(grep -E "$SPLAT" "$dir/console.log" || true)
	[ -z "$kbuild" ] || splats=$(grep -v 'BUG: KCSAN: ' <<<"$splats" || true)
	if [ -n "$splats" ]; then
		echo "FAIL: kernel splat in $dir/console.log:"
		printf '%s\n' "$splats" | head -20 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
	# ksmd beside the tests, as on any machine: the guest has two CPUs
	# (kernel.config says why they need ACPI).
	local ncpus
	ncpus=$(guest_cpus "$dir/console.log")
	if [ "${ncpus:-0}" -lt 2 ]; then
		echo "FAIL: the guest brought up ${ncpus:-an unknown number of} CPU(s), not 2 (see $dir/console.log)"
		failed=$((failed + 1))
	fi
	# Every difference between an all-on run and its plain run counts
	# as a failure.
	compare_allon "$dir"
	local diffs
	diffs=$(cat "$dir/allon-diffs")
	# The KCSAN run has no all-on pass (unless TESTS_LIST gives one).
	if [ -z "$kbuild" ] || ! grep -q '^ALLON: 0 all-on runs' "$dir/allon-pairs"; then
		cat "$dir/allon-pairs"
	fi
	failed=$((failed + diffs))
	if [ -n "$kbuild" ]; then
		kcsan_summary "$dir" "$kbuild"
		failed=$((failed + $(cat "$dir/kcsan-failed")))
	fi
	[ "$failed" -eq 0 ] || verdict=1
	[ "${xfailed:-0}" -eq 0 ] ||
		echo "$xfailed expected all-on difference(s), see harness/allon-expected"
	echo "$passed passed, $failed failed, $skipped skipped"
	return $verdict
}

# kcsan_reports CONSOLE RAW: the KCSAN reports of the kernel log CONSOLE,
# one line per distinct report (its title, "TYPE in A / B" as KCSAN prints
# it, the functions in alphabetical order, offsets dropped): the title, the
# number of reports, then per access (one for a race of unknown origin,
# else two) its description and its top stack frame, tab-separated. The
# first report of each title, whole, goes to RAW.
kcsan_reports() {
	awk -v raw="$2" '
		{ sub(/\r$/, ""); sub(/^\[[ 0-9.]*\] /, "") }
		/^BUG: KCSAN: / {
			title = $0
			sub(/^BUG: KCSAN: /, "", title)
			gsub(/\+0x[0-9a-f]+\/0x[0-9a-f]+/, "", title)
			inrep = 1; nacc = 0; want = 0
			text = "==================================================================\n" $0 "\n"
			next
		}
		!inrep { next }
		/^=+$/ {
			text = text $0 "\n"
			if (!(title in count)) {
				order[++n] = title
				line = ""
				for (i = 1; i <= nacc; i++)
					line = line "\t" acc[i] "\t" frame[i]
				first[title] = line
				printf "%s", text > raw
			}
			count[title]++
			inrep = 0
			next
		}
		{ text = text $0 "\n" }
		/ to 0x[0-9a-f]+ of [0-9]+ bytes by / {
			a = $0
			sub(/ to 0x[0-9a-f]+ of /, " of ", a)
			sub(/^race at unknown origin, with /, "", a)
			sub(/:$/, "", a)
			acc[++nacc] = a
			frame[nacc] = "?"
			want = 1
			next
		}
		want && /^ [^ ]/ {
			f = $0
			sub(/^ +/, "", f)
			frame[nacc] = f
			want = 0
		}
		END {
			for (i = 1; i <= n; i++)
				printf "%s\t%d%s\n", order[i], count[order[i]], first[order[i]]
		}' "$1"
}

# kcsan_where BUILD FRAME...: a line "FUNC+OFFSET<tab>WHERE" per FRAME
# (func+0x12/0x40) that the vmlinux of BUILD resolves: WHERE is
# "func+0x12 (FILE:LINE)", or with inlined functions "func+0x12: inner
# (FILE:LINE) < outer (FILE:LINE)", from one call of scripts/faddr2line
# (which reads the whole symbol table each time).
kcsan_where() {
	local build=$1
	shift
	[ $# -gt 0 ] || return 0
	"$OUT/src/series/scripts/faddr2line" "$build/vmlinux" "$@" 2>/dev/null |
		awk '
			# FRAME (FILE:LINE) for a function that is not inlined,
			# else FRAME: inner (FILE:LINE) < outer (FILE:LINE)...
			function flush(   fn) {
				fn = key
				sub(/\+.*/, "", fn)
				if (key != "" && n == 1 && first == fn)
					print key "\t" key " (" loc ")"
				else if (key != "" && n)
					print key "\t" key ": " s
				key = ""; s = ""; n = 0
			}
			/^[^ ]+\+0x[0-9a-f]+\/0x[0-9a-f]+:$/ {
				flush()
				key = $0
				sub(/\/.*/, "", key)
				done = 0
				next
			}
			/^$/ { done = 1; next }
			key != "" && !done && /^ *(\(inlined by\) )?[^ ]+ at [^ ]+:[0-9]+/ {
				line = $0
				sub(/^ *\(inlined by\) /, "", line)
				sub(/ \(discriminator [0-9]+\)/, "", line)
				fn = line
				sub(/ at .*/, "", fn)
				loc = line
				sub(/.* at /, "", loc)
				if (!n++)
					first = fn
				s = s (s == "" ? "" : " < ") fn " (" loc ")"
			}
			END { flush() }' || true
}

# kcsan_series_line FILE:LINE: true when that line of the series tree is
# one the series wrote (absent from the base's file).
kcsan_series_line() {
	local f=${1%:*} l=${1##*:}
	[ -f "$OUT/src/series/$f" ] || return 1
	[ -f "$OUT/src/base/$f" ] || return 0
	# Not a pipeline: diff exits 1 when the files differ (pipefail).
	grep -qx "$l" < <(diff --old-line-format= --unchanged-line-format= \
		--new-line-format='%dn
' "$OUT/src/base/$f" "$OUT/src/series/$f")
}

# kcsan_summary LOGDIR BUILD: every distinct KCSAN report of
# LOGDIR/console.log, once, with its number of reports and where each
# access was (file:line by the vmlinux of BUILD). KCSAN-KSM: an access in
# mm/ksm.c (the top frame or a function inlined into it), a failure.
# KCSAN-KNOWN: elsewhere, listed in harness/kcsan-known with a reason.
# KCSAN-UPSTREAM: elsewhere, not listed yet; neither fails. A line that
# the series wrote (not in the base's file) is pointed out, in mm/ksm.c
# or elsewhere. The first report of
# each, with its stacks decoded, goes to LOGDIR/kcsan-reports.txt. The
# number of failures goes to LOGDIR/kcsan-failed; a kernel that did not
# say KCSAN was on is one.
kcsan_summary() {
	local dir=$1 build=$2 title n rest fields i where ksm line loc
	local nfail=0 nksm=0 nknown=0 nother=0 nreports=0 syms known
	local out_ksm="" out_known="" out_other=""
	: > "$dir/kcsan-reports.raw"
	kcsan_reports "$dir/console.log" "$dir/kcsan-reports.raw" > "$dir/kcsan-reports.tsv"
	if [ -f "$build/vmlinux" ] && [ -x "$OUT/src/series/scripts/decode_stacktrace.sh" ]; then
		"$OUT/src/series/scripts/decode_stacktrace.sh" "$build/vmlinux" auto \
			< "$dir/kcsan-reports.raw" \
			> "$dir/kcsan-reports.txt" 2>/dev/null ||
			cp "$dir/kcsan-reports.raw" "$dir/kcsan-reports.txt"
	else
		cp "$dir/kcsan-reports.raw" "$dir/kcsan-reports.txt"
	fi
	# The functions of mm/ksm.o: a report in one of them is the series'
	# even where no line number can be had.
	syms=$(nm --defined-only "$build/mm/ksm.o" 2>/dev/null | awk '$2 ~ /^[tT]$/ { print $3 }')
	# Where each top frame is, by "function+offset".
	local -A at=()
	local -a frames
	local frame
	mapfile -t frames < <(cut -f 4,6 "$dir/kcsan-reports.tsv" | tr '\t' '\n' |
		grep -E '^[^ ]+\+0x[0-9a-f]+/0x[0-9a-f]+$' | sort -u)
	while IFS=$'\t' read -r frame where; do
		at[$frame]=$where
	done < <(kcsan_where "$build" "${frames[@]}")
	while IFS=$'\t' read -r title n rest; do
		[ -n "$title" ] || continue
		nreports=$((nreports + n))
		IFS=$'\t' read -r -a fields <<<"$rest"
		ksm=0
		line=""
		for ((i = 0; i + 1 < ${#fields[@]}; i += 2)); do
			frame=${fields[i + 1]}
			where=${at[${frame%/*}]:-$frame}
			where=${where/#${frame%/*} /$frame }
			where=${where/#${frame%/*}: /$frame: }
			# Unresolved (no line tables): by the function's name.
			if [[ $where == *mm/ksm.c:* ]] ||
			   { [ "$where" = "$frame" ] &&
			     grep -qxF "${frame%%+*}" <<<"$syms"; }; then
				ksm=1
			fi
			# The innermost line, or one it is inlined into, that
			# the series wrote (in mm/ksm.c or elsewhere).
			while read -r loc; do
				if kcsan_series_line "$loc"; then
					where="$where [series line $loc]"
					break
				fi
			done < <(grep -oE '[A-Za-z0-9_./-]+\.[ch]:[0-9]+' <<<"$where")
			line+=$'\n'"    ${fields[i]}: $where"
		done
		[ "$n" = 1 ] && n="1 report" || n="$n reports"
		known=$(awk -F'|' -v t="${title#* in }" '!/^#/ && $1 == t { print $2; exit }' \
			"$h/kcsan-known")
		if [ $ksm = 1 ]; then
			out_ksm+="KCSAN-KSM: $title ($n)$line"$'\n'
			nksm=$((nksm + 1))
		elif [ -n "$known" ]; then
			out_known+="KCSAN-KNOWN: $title ($n): $known$line"$'\n'
			nknown=$((nknown + 1))
		else
			out_other+="KCSAN-UPSTREAM: $title ($n): not in harness/kcsan-known$line"$'\n'
			nother=$((nother + 1))
		fi
	done < "$dir/kcsan-reports.tsv"
	printf '%s' "$out_ksm" "$out_known" "$out_other"
	nfail=$nksm
	if ! grep -q 'kcsan: enabled early' "$dir/console.log"; then
		echo "FAIL: the kernel did not say \"kcsan: enabled early\": KCSAN was not on"
		nfail=$((nfail + 1))
	fi
	# Two CPUs at least, which summarize() checks for every run: with
	# one, and watchers that interrupts do not break into
	# (kcsan.config), no other access can come while KCSAN watches one,
	# and a clean run would mean nothing.
	local cpus
	cpus=$(guest_cpus "$dir/console.log")
	# KCSAN's counters at the end of the guest (harness/guest/init).
	local setup races
	setup=$(sed -n 's/^# kcsan: setup_watchpoints: //p' "$dir/results.log")
	races=$(sed -n 's/^# kcsan: data_races: //p' "$dir/results.log")
	if [ "${setup:-0}" -eq 0 ]; then
		echo "FAIL: KCSAN set up no watchpoint (no \"# kcsan: setup_watchpoints\" in $dir/results.log)"
		nfail=$((nfail + 1))
	fi
	[ $nksm = 0 ] || echo "FAIL: $nksm distinct data race(s) in mm/ksm.c (KCSAN-KSM above)"
	echo "KCSAN: ${cpus:-?} CPU(s), ${setup:-0} watchpoints set up, ${races:-0} data races seen (KCSAN's count, also those it does not report: value unchanged, rate limit)"
	echo "KCSAN: $((nksm + nknown + nother)) distinct data race(s) in $nreports report(s): $nksm in mm/ksm.c, $nknown known elsewhere (harness/kcsan-known), $nother new elsewhere; first report of each: $dir/kcsan-reports.txt"
	echo $nfail > "$dir/kcsan-failed"
}

# run_tests WHICH [LIST]: build the selftests of the series, boot the
# kernel built in out/build/WHICH (series, base, or series-kcsan for
# make test KCSAN=1) and run LIST (default: tests.list) in it. The KCSAN
# kernel's run has its own guest directory and headers, and its summary
# lists the KCSAN reports.
run_tests() {
	local which=$1 list=${2:-$h/tests.list} b=$OUT/build/$1 g=$OUT/guest/test
	local hdrs=$OUT/build/series kcsan="" src=$OUT/src/series
	local image=$b/arch/x86/boot/bzImage
	if [ "$which" = series-kcsan ]; then
		g=$OUT/guest/test-kcsan hdrs=$b kcsan=$b
	elif [ "$GUEST_ARCH" = arm64 ]; then
		g=$OUT/guest/test-$which hdrs=$b image=$b/arch/arm64/boot/Image
		src=$OUT/src/series-arm64	# arm64_series_tree
	fi
	log "building the selftests"
	rm -rf "$g"
	mkdir -p "$g/root/tests"
	build_selftests "$src" "$hdrs" "$g/root/tests" > "$g/build.log" 2>&1 ||
		{ cat "$g/build.log" >&2; die "selftest build failed"; }
	if [ "$GUEST_ARCH" = arm64 ]; then
		mkdir -p "$g/root/bin"
		aarch64-linux-gnu-gcc -Wall -O2 -static -o "$g/root/bin/huge_zero_hold" \
			"$h/guest/huge_zero_hold.c" >> "$g/build.log" 2>&1 ||
			{ cat "$g/build.log" >&2; die "huge_zero_hold build failed"; }
	fi
	if [ -n "$kcsan" ]; then
		gcc -Wall -O2 -static -o "$g/root/tests/mm/ksm_sysfs_reader" \
			"$h/guest/ksm_sysfs_reader.c" >> "$g/build.log" 2>&1 ||
			{ cat "$g/build.log" >&2; die "ksm_sysfs_reader build failed"; }
	fi
	# TESTS_LIST: another list, to run a few tests while working on them.
	cp "${TESTS_LIST:-$list}" "$g/root/tests.list"
	make_initramfs "$g/root" test "$g/initramfs.cpio"
	boot "$image" "$g/initramfs.cpio" "$OUT/test-$which" || true
	grep -E '^(ok|not ok) ' "$OUT/test-$which/results.log" >&2 || true
	failure_tails "$OUT/test-$which" >&2 || true
	summarize "$OUT/test-$which" ${kcsan:+"$kcsan"}
}

step_test() {
	if [ "$GUEST_ARCH" = arm64 ]; then
		step_test_arm64
		return
	fi
	if [ "${KCSAN:-0}" = 1 ]; then
		step_test_kcsan
		return
	fi
	step_kernel
	run_tests series
}

# make test KCSAN=1: the KCSAN kernel (step_kernel_kcsan) runs the KSM
# lines of tests.list, the series' tests and upstream's ksm_functional_tests
# and ksm_tests (with a 600 s wait for ksmd, -l 600, instead of 120 s),
# without the all-on pass and upstream's other mm tests,
# then the stress test for KCSAN_STRESS_SECONDS (default 300) instead of
# its 20 s, with every file of /sys/kernel/mm/ksm read over and over
# meanwhile (harness/guest/ksm_sysfs_reader.c: KCSAN sees a race only
# when both sides run often). Results in out/test-series-kcsan.
step_test_kcsan() {
	step_kernel_kcsan
	local secs=${KCSAN_STRESS_SECONDS:-300} list=$OUT/build/series-kcsan/tests.list
	{
		echo "# make test KCSAN=1: the KSM lines of harness/tests.list, then the stress test"
		# ksm_tests waits 120 s for ksmd by default: KCSAN's ksmd
		# merges -P's 100 MiB more slowly than that. -l 600.
		grep -E '^[^#|]*\|[0-9]+\|\./ksm_' "$h/tests.list" |
			grep -vE '\|\./ksm_(all_on\.sh|stress_tests)( |$)' |
			sed -E '/\.\/ksm_tests / { / -l /! s/$/ -l 600/ }'
		echo "mm|$((secs + 900))|./ksm_sysfs_reader ./ksm_stress_tests $secs"
	} > "$list"
	# slab_nomerge: without KASAN the KSM caches merge with others, and
	# ksm_fault_tests alloc cannot count their objects for its leak check.
	BOOT_ARGS="slab_nomerge ${BOOT_ARGS:-}" \
	GUEST_TIMEOUT=$((GUEST_TIMEOUT > 3000 + secs ? GUEST_TIMEOUT : 3000 + secs)) \
		run_tests series-kcsan "$list"
}

# arm64_sysroot: Debian's arm64 busybox-static, libnuma-dev and liburing-dev,
# downloaded (apt-get download: no arm64 package gets installed, and
# busybox-static:arm64 could not be beside the host's) and unpacked into
# $OUT/arm64-sysroot. Needs the arm64 architecture in dpkg (added here)
# for apt to know the packages.
ARM64_SYSROOT=$OUT/arm64-sysroot
arm64_sysroot() {
	local d=$OUT/arm64-debs p pkgs="busybox-static libnuma-dev liburing-dev"
	install_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm
	[ -x "$ARM64_SYSROOT/bin/busybox" ] &&
		[ -e "$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu/libnuma.a" ] &&
		[ -e "$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu/liburing.a" ] && return 0
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		log "adding the arm64 architecture to dpkg (for apt-get download)"
		as_root dpkg --add-architecture arm64
		as_root apt-get update -q >/dev/null
	fi
	rm -rf "$d" "$ARM64_SYSROOT"
	mkdir -p "$d" "$ARM64_SYSROOT"
	for p in $pkgs; do
		(cd "$d" && apt-get download -q "$p:arm64" >/dev/null 2>&1) ||
			{ as_root apt-get update -q >/dev/null &&
			  (cd "$d" && apt-get download -q "$p:arm64" >/dev/null); } ||
			die "could not download $p:arm64"
	done
	for p in "$d"/*.deb; do
		dpkg-deb -x "$p" "$ARM64_SYSROOT"
	done
	[ -x "$ARM64_SYSROOT/bin/busybox" ] &&
		[ -e "$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu/libnuma.a" ] &&
		[ -e "$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu/liburing.a" ] ||
		die "the arm64 packages did not unpack into $ARM64_SYSROOT"
}

# The series tree of the arm64 test kernels: a tree of its own, so that
# make check, which puts $OUT/src/series through the states of the
# patches, can run beside their build (.ci/run).
arm64_series_tree() {
	local t=$OUT/src/series-arm64
	step_base
	[ -d "$t" ] || cp -al "$OUT/src/base" "$t"
	"$h/apply.sh" --reset-from "$OUT/src/base" "$t" > "$OUT/src/apply-arm64.log" ||
		die "could not apply the series to $t"
}

# The arm64 test kernel of make test ARCH=arm64 PAGE_SIZE=N, alone (make
# kernel ARCH=arm64 PAGE_SIZE=N): .ci/run builds it beside make check and
# the x86_64 guest.
step_kernel_arm64() {
	arm64_sysroot
	arm64_series_tree
	local b=$OUT/build/series-arm64-${GUEST_PAGE_SIZE%K}k
	DEBUG=1 arm64_common_config "$b"
	KARCH=arm64 KCROSS=aarch64-linux-gnu- KIMAGE=Image \
		build_kernel "$OUT/src/series-arm64" "$b" "$b/common.config" \
		"$h/arm64.config"
}

# make test ARCH=arm64 PAGE_SIZE=4K|16K|64K: the series kernel cross-built
# for arm64 (kernel.config and debug.config less their x86-only options,
# arm64.config, the page size) in out/build/series-arm64-<N>k, booted in
# QEMU's virt machine under TCG with MTE, running the KSM lines of
# tests.list (without the all-on pass and upstream's other mm tests, as
# make test KCSAN=1) and the arm64 tests (ksm_mte_tests).
step_test_arm64() {
	[ "${KCSAN:-0}" = 0 ] || die "KCSAN=1 is for x86_64 only"
	step_kernel_arm64
	local ps=${GUEST_PAGE_SIZE%K}k
	local which=series-arm64-$ps b=$OUT/build/series-arm64-$ps
	local list=$b/tests.list
	{
		echo "# make test ARCH=arm64: the KSM lines of harness/tests.list"
		grep -E '^[^#|]*\|[0-9]+\|\./ksm_' "$h/tests.list" |
			grep -vE '\|\./ksm_all_on\.sh( |$)'
		grep -E '^[^#|]*\|[0-9]+\|' "$h/tests-arm64.list" 2>/dev/null || true
	} > "$list"
	local boot_args
	boot_args="$(arm64_boot_args) ${BOOT_ARGS:-}"
	BOOT_ARGS=$boot_args \
	GUEST_TIMEOUT=$((GUEST_TIMEOUT > 5400 ? GUEST_TIMEOUT : 5400)) \
		run_tests "$which" "$list"
}

# The stress test alone, longer (STRESS_SECONDS), on the series kernel.
step_stress() {
	step_kernel
	local g=$OUT/guest/stress secs=${STRESS_SECONDS:-600}
	rm -rf "$g"
	mkdir -p "$g/root/tests"
	build_selftests "$OUT/src/series" "$OUT/build/series" "$g/root/tests" > "$g/build.log" 2>&1 ||
		{ cat "$g/build.log" >&2; die "selftest build failed"; }
	echo "mm|$((secs + 900))|./ksm_stress_tests $secs" > "$g/root/tests.list"
	make_initramfs "$g/root" test "$g/initramfs.cpio"
	GUEST_TIMEOUT=$((secs + 1200 > GUEST_TIMEOUT ? secs + 1200 : GUEST_TIMEOUT)) \
		boot "$OUT/build/series/arch/x86/boot/bzImage" "$g/initramfs.cpio" \
		"$OUT/stress" || true
	grep '^#' "$OUT/stress/results.log" >&2 || true
	summarize "$OUT/stress"
}

# The same tests against the pristine base kernel: shows which of them
# only the series passes. Expected to fail.
step_test_base() {
	step_kernel
	build_kernel "$OUT/src/base" "$OUT/build/base" "$h/kernel.config" \
		"$h/debug.config"
	run_tests base
}

step_demo() {
	step_kernel
	local b=$OUT/build/series g=$OUT/guest/demo
	rm -rf "$g"
	mkdir -p "$g/root/bin"
	gcc -Wall -O2 -static -I"$b/hdr/include" -o "$g/root/bin/ksm_demo" \
		"$h/guest/ksm_demo.c"
	make_initramfs "$g/root" "/bin/ksm_demo ${DEMO_ARGS:-}" "$g/initramfs.cpio"
	mkdir -p "$OUT/demo"
	: > "$OUT/demo/results.log"
	boot "$b/arch/x86/boot/bzImage" "$g/initramfs.cpio" "$OUT/demo" &
	local qemu=$!
	# Show the demo's output as the guest writes it.
	tail -n +1 -f "$OUT/demo/results.log" --pid=$qemu | grep -v '^# guest done'
	wait $qemu || die "the guest did not finish (see $OUT/demo/console.log)"
	local splats
	splats=$(grep -E "$SPLAT" "$OUT/demo/console.log" || true)
	[ -z "$splats" ] || die "kernel splat during the demo: $splats"
}

# bench_guest KERNEL G DIR: boot the bench kernel KERNEL (base, series)
# with the initramfs of G, logs in DIR/KERNEL.
# BENCH_SFX, BENCH_IMAGE, BENCH_MEM and BENCH_BOOT: set by step_bench for
# the architecture.
bench_guest() {
	local k=$1 g=$2 dir=$3
	GUEST_MEM=${GUEST_MEM_BENCH:-$BENCH_MEM} \
		BOOT_ARGS="${PROFILE:+profile=2} $BENCH_BOOT ${BOOT_ARGS:-}" boot \
		"$OUT/build/bench-$k$BENCH_SFX/$BENCH_IMAGE" \
		"$g/initramfs.cpio" "$dir/$k" ||
		die "the $k guest did not finish (see $dir/$k/console.log)"
}

# arm64_common_config DIR: kernel.config less its x86-only lines, with the
# page size of PAGE_SIZE, as DIR/common.config (rewritten only when it
# changes: build_kernel reconfigures on a change of its fragments). With
# DEBUG=1 debug.config too (the test kernel).
arm64_common_config() {
	local b=$1 frags=("$h/kernel.config")
	[ "${DEBUG:-0}" = 0 ] || frags+=("$h/debug.config")
	mkdir -p "$b"
	# arm64 has no soft-dirty bit (ARCH_HAS_SOFT_DIRTY): upstream's
	# soft-dirty test is not among the KSM lines, and the series' tests
	# check the bit only where pagemap has it.
	grep -hvE '^CONFIG_(ACPI|SERIAL_8250[A-Z0-9_]*|X86_[A-Z0-9_]*|MEM_SOFT_DIRTY)=' \
		"${frags[@]}" > "$b/common.config.tmp"
	echo "CONFIG_ARM64_${GUEST_PAGE_SIZE}_PAGES=y" >> "$b/common.config.tmp"
	if cmp -s "$b/common.config.tmp" "$b/common.config"; then
		rm -f "$b/common.config.tmp"
	else
		mv -f "$b/common.config.tmp" "$b/common.config"
	fi
}

# Kernel command line of the arm64 guests. 64K pages: a PMD THP, the huge
# zero page and a memory block are 512 MiB each. Half the memory in
# ZONE_MOVABLE keeps such blocks free of unmovable pages, so that
# compaction can still make one for the THP tests that come after the
# others.
arm64_boot_args() {
	[ "$GUEST_PAGE_SIZE" != 64K ] || echo "movablecore=50%"
}

# The benchmark: the base and the series, built from the same config
# without the debug options, booted in turn (or at once, BENCH_PARALLEL=1)
# with the same workloads.
step_bench() {
	local k dir=$OUT/bench g=$OUT/guest/bench cc=gcc
	BENCH_SFX="" BENCH_IMAGE=arch/x86/boot/bzImage BENCH_MEM=2G BENCH_BOOT=""
	if [ "$GUEST_ARCH" = arm64 ]; then
		# make bench ARCH=arm64 PAGE_SIZE=N: the same from
		# kernel.config and arm64.config, in */bench-arm64-<N>k.
		arm64_sysroot
		step_series_tree
		BENCH_SFX=-arm64-${GUEST_PAGE_SIZE%K}k BENCH_IMAGE=arch/arm64/boot/Image
		# 64K: a THP and the huge zero page are 512 MiB each.
		BENCH_MEM=4G BENCH_BOOT=$(arm64_boot_args)
		[ "$GUEST_PAGE_SIZE" != 64K ] || BENCH_MEM=8G
		dir=$OUT/bench$BENCH_SFX g=$OUT/guest/bench$BENCH_SFX cc=aarch64-linux-gnu-gcc
		arm64_common_config "$OUT/build/bench-arm64-common$BENCH_SFX"
		for k in base series; do
			KARCH=arm64 KCROSS=aarch64-linux-gnu- KIMAGE=Image \
				build_kernel "$OUT/src/$k" "$OUT/build/bench-$k$BENCH_SFX" \
				"$OUT/build/bench-arm64-common$BENCH_SFX/common.config" \
				"$h/arm64.config"
		done
	else
		step_series_tree
		build_kernel "$OUT/src/base" "$OUT/build/bench-base" "$h/kernel.config"
		build_kernel "$OUT/src/series" "$OUT/build/bench-series" "$h/kernel.config"
	fi
	rm -rf "$g"
	mkdir -p "$g/root/bin" "$dir"
	"$cc" -Wall -O2 -static -pthread -o "$g/root/bin/ksm_bench" "$h/guest/ksm_bench.c" -lm
	make_initramfs "$g/root" "/bin/ksm_bench ${BENCH_ARGS:-}" "$g/initramfs.cpio"
	: > "$dir/results.csv.tmp"
	: > "$dir/khugepaged.csv.tmp"
	# BENCH_PARALLEL=1 boots the two guests at once (both share the host's
	# CPUs: compare their figures with each other only).
	if [ -n "${BENCH_PARALLEL:-}" ]; then
		local pids=() rc=0 pid
		for k in base series; do
			bench_guest "$k" "$g" "$dir" &
			pids+=($!)
		done
		for pid in "${pids[@]}"; do
			wait "$pid" || rc=1
		done
		[ $rc = 0 ] || die "a guest did not finish"
	fi
	for k in base series; do
		[ -n "${BENCH_PARALLEL:-}" ] || bench_guest "$k" "$g" "$dir"
		grep -q '^ksm_bench: done' "$dir/$k/results.log" ||
			die "the benchmark did not finish on $k (see $dir/$k/results.log)"
		[ "$(guest_cpus "$dir/$k/console.log")" = 2 ] ||
			die "the $k guest did not bring up 2 CPUs (see $dir/$k/console.log)"
		! grep -q 'Marking TSC unstable' "$dir/$k/console.log" ||
			die "the $k guest lost its TSC: CPU times would be in 4 ms steps"
		sed -n "s/^csv,/$k,/p" "$dir/$k/results.log" >> "$dir/results.csv.tmp"
		sed -n "s/^kh,/$k,/p" "$dir/$k/results.log" >> "$dir/khugepaged.csv.tmp"
		awk -F, '$1 == "ts" && $2 == "zero" && $3 == 1 { print $4, $5 }' \
			"$dir/$k/results.log" > "$dir/zero-$k.dat"
		rm -f "$dir/profile-$k.txt"
		if [ -n "${PROFILE:-}" ]; then
			python3 "$h/profile.py" "$dir/$k/results.log" \
				"$OUT/build/bench-$k$BENCH_SFX/System.map" 25 \
				> "$dir/profile-$k.txt" ||
				die "no profile from the $k guest"
			printf '== profile of the %s kernel (%s)\n' "$k" "$dir/profile-$k.txt"
			cat "$dir/profile-$k.txt"
		fi
	done
	{ echo "kernel,workload,run,metric,value"; cat "$dir/results.csv.tmp"; } > "$dir/results.csv"
	rm -f "$dir/results.csv.tmp"
	awk -F, -f "$h/bench_table.awk" "$dir/results.csv" | tee "$dir/table.md"
	# The khugepaged workloads' records every 30 s, base and series side
	# by side.
	rm -f "$dir/khugepaged.csv" "$dir/khugepaged.md"
	if [ -s "$dir/khugepaged.csv.tmp" ]; then
		{
			awk '/^khcols,/ { sub(/^khcols,/, "kernel,workload,"); print; exit }' \
				"$dir/base/results.log" "$dir/series/results.log"
			cat "$dir/khugepaged.csv.tmp"
		} > "$dir/khugepaged.csv"
		awk -F, -f "$h/bench_khugepaged.awk" "$dir/khugepaged.csv" |
			tee "$dir/khugepaged.md"
	fi
	rm -f "$dir/khugepaged.csv.tmp"
	[ -s "$dir/zero-base.dat" ] && [ -s "$dir/zero-series.dat" ] && gnuplot <<-EOT
		set terminal pngcairo size 900,500 noenhanced
		set output "$dir/zero-reclaim.png"
		set title "256 MiB zero-filled, use_zero_pages=1, pages_to_scan=1000, sleep_millisecs=20"
		set xlabel "seconds since run=1"
		set ylabel "MiB reclaimed (ksm_zero_pages)"
		set key bottom right
		set grid
		plot "$dir/zero-base.dat" using 1:2 with lines lw 2 title "base ${pkg_version%%-*}", \
		     "$dir/zero-series.dat" using 1:2 with lines lw 2 title "with the series"
	EOT
	echo "bench: table $dir/table.md, figures $dir/results.csv, plot $dir/zero-reclaim.png"
}

# make bisect: the kernel at each patch of the series, booted, with the KSM
# selftests that exist at that patch (the lines of tests.list whose program
# it has). The series tree goes through the states of make patches and is
# put back afterwards. One summary line per patch; fails if one fails.
# BISECT_PATCHES (e.g. "07 11") picks some patches only.
step_bisect() {
	step_kernel
	local p=$OUT/patches names n st g dir rc=0 line
	mkdir -p "$p"
	python3 "$h/series.py" states "$OUT/src/base" "$OUT/src/series" "$p/states" ||
		die "harness/series does not split the series (see above)"
	mapfile -t names < "$p/states/names"
	trap 'put_series_back' EXIT
	: > "$OUT/bisect.log"
	for ((n = 1; n < ${#names[@]}; n++)); do
		st=$(printf %02d "$n")
		# BISECT_PATCHES="07 11": only those patches.
		[ -z "${BISECT_PATCHES:-}" ] || [[ " $BISECT_PATCHES " == *" $st "* ]] ||
			continue
		put_state "$p/states/$st" "$OUT/src/series"
		g=$OUT/guest/bisect
		dir=$OUT/bisect/$st
		rm -rf "$g" "$dir"
		mkdir -p "$g/root/tests" "$dir"
		log "patch $st: building and booting (${names[n]})"
		if ! make -s -C "$OUT/src/series" O="$OUT/build/series" ARCH=x86_64 \
			CC="ccache gcc" -j"$JOBS" bzImage > "$dir/build.log" 2>&1 ||
		   ! build_selftests "$OUT/src/series" "$OUT/build/series" \
			"$g/root/tests" >> "$dir/build.log" 2>&1; then
			line="patch $st: FAIL, does not build (log: $dir/build.log)"
			echo "$line" | tee -a "$OUT/bisect.log"
			rc=1
			continue
		fi
		while IFS= read -r line; do
			case $line in
			\#*|"") echo "$line" ;;
			*)	IFS='|' read -r _ _ cmd <<<"$line"
				cmd=${cmd#./}
				[ -x "$g/root/tests/mm/${cmd%% *}" ] && echo "$line" ;;
			esac
		done < "$h/tests.list" > "$g/root/tests.list"
		make_initramfs "$g/root" test "$g/initramfs.cpio"
		boot "$OUT/build/series/arch/x86/boot/bzImage" "$g/initramfs.cpio" "$dir" || true
		line=$(summarize "$dir" | tail -n1) || rc=1
		summarize "$dir" | grep -E '^(FAIL|ALLON-DIFF)' | sed 's/^/    /' || true
		echo "patch $st: $line (${names[n]})" | tee -a "$OUT/bisect.log"
	done
	"$h/apply.sh" --reset-from "$OUT/src/base" "$OUT/src/series" > /dev/null ||
		die "could not put the series back into $OUT/src/series"
	log "make bisect: $([ $rc = 0 ] && echo passed || echo FAILED); $OUT/bisect.log"
	return $rc
}

# The builds of make check for other architectures: name, ARCH,
# CROSS_COMPILE, defconfig, and options that must end up =y besides KSM and
# TRANSPARENT_HUGEPAGE. arm64 with 64K pages and ppc64le (book3s64, 64K
# pages, PTRS_PER_PTE known only at run time) have other page and page
# table sizes than x86_64; s390 has mm_forbids_zeropage().
CROSS_TARGETS="
arm64-64k	arm64	aarch64-linux-gnu-	defconfig	ARM64_64K_PAGES
ppc64le	powerpc	powerpc64le-linux-gnu-	ppc64le_defconfig	PPC_BOOK3S_64 PPC_64K_PAGES
s390x	s390	s390x-linux-gnu-	defconfig
"

# cross_build SRC BUILD ARCH CROSS DEFCONFIG [--keep-config] OPTION...: a
# W=1 build of mm/ksm.o alone, out of tree, with ccache. The config
# (DEFCONFIG, then the options, KSM and TRANSPARENT_HUGEPAGE set, then
# olddefconfig) and "make prepare" are redone only when the Kconfig files
# or defconfigs of SRC changed, never with --keep-config (kbuild's
# syncconfig takes in a changed Kconfig file). The output of the build
# goes to BUILD/ksm.log; returns non-zero when it fails. (Called as a
# condition: set -e does not act in here.)
cross_build() {
	local src=$1 build=$2 arch=$3 cross=$4 defconfig=$5 keep=0
	shift 5
	[ "${1:-}" != --keep-config ] || { keep=1; shift; }
	local opts=(KSM TRANSPARENT_HUGEPAGE "$@") opt sum
	local mk=(make -s -C "$src" O="$build" ARCH="$arch" CROSS_COMPILE="$cross"
		CC="ccache ${cross}gcc" HOSTCC="ccache gcc" W=1)
	mkdir -p "$build" || return 1
	sum=$({
		echo "$src $arch $cross $defconfig ${opts[*]}"
		find "$src" \( -name 'Kconfig*' -o -path "$src/arch/$arch/configs/*" \) \
			-type f -print0 | sort -z | xargs -0 cat
	} | sha256sum | cut -d' ' -f1)
	if [ $keep = 0 ] && [ "$(cat "$build/.cross-sum" 2>/dev/null)" != "$sum" ]; then
		log "configuring $build ($defconfig${*:+ + $*})"
		rm -f "$build/.cross-sum"
		"${mk[@]}" "$defconfig" > "$build/ksm.log" 2>&1 ||
			die "make $defconfig failed in $build"
		# shellcheck disable=SC2046
		"$src/scripts/config" --file "$build/.config" \
			$(printf -- '-e %s ' "${opts[@]}") || die "scripts/config failed"
		"${mk[@]}" olddefconfig > "$build/ksm.log" 2>&1 ||
			die "make olddefconfig failed in $build"
		for opt in "${opts[@]}"; do
			grep -qx "CONFIG_$opt=y" "$build/.config" ||
				die "CONFIG_$opt=y did not survive olddefconfig in $build"
		done
		"${mk[@]}" -j"$JOBS" prepare > "$build/ksm.log" 2>&1 || return 1
		echo "$sum" > "$build/.cross-sum"
	fi
	# Always compile: an object that is up to date prints no warnings (a
	# ccache hit prints them again).
	rm -f "$build/mm/ksm.o"
	"${mk[@]}" mm/ksm.o > "$build/ksm.log" 2>&1
}

# cross_diags SRC LOG: the compiler's warning and error lines in LOG, with
# paths relative to the tree SRC. Warnings only about the files the series
# carries (mm/, include/), errors about any file.
cross_diags() {
	local src=$1 log=$2
	(cd "$top" && git ls-files --cached --others --exclude-standard -- mm include) |
		awk -v src="$src/" '
			FILENAME == "-" { ours[$0] = 1; next }
			/: (fatal )?error: |: warning: / {
				line = $0
				if (index(line, src) == 1)
					line = substr(line, length(src) + 1)
				file = line
				sub(/:.*/, "", file)
				if (line ~ /: (fatal )?error: / || file in ours)
					print line
			}' - "$log"
}

# The patch series. harness/series.py turns the whole files of the
# repository into the tree after each patch ($OUT/patches/states/NN, the
# files of base.manifest only), from the split in harness/series; a git
# repository of those files gets one commit per patch, with the message of
# harness/series/NN-*.msg, and git format-patch writes the series with a
# cover letter (harness/series/cover.txt) into $OUT/patches/series.
series_author() { cat "$h/series/from"; }

# series_git ARGS...: git in the repository of the series' files, as the
# series' author, on the date of the repository's last commit (so that the
# patches do not change unless the series does).
series_git() {
	local who date
	who=$(series_author)
	date=$(git -C "$top" log -1 --format=%cI 2>/dev/null || echo 2026-01-01T00:00:00Z)
	GIT_AUTHOR_NAME=${who% <*} GIT_AUTHOR_EMAIL=${who##*<} \
	GIT_COMMITTER_NAME=${who% <*} GIT_COMMITTER_EMAIL=${who##*<} \
	GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date \
		git -C "$OUT/patches/git" -c core.autocrlf=false \
		-c user.useConfigOnly=false "$@"
}

manifest_files() { awk '!/^#/ && NF == 2 && ($1 == "absent" || length($1) == 64) { print $2 }' "$h/base.manifest"; }

# put_state DIR TREE: make the series' files of TREE those of DIR (written by
# rename: TREE may hard-link the base).
put_state() {
	local dir=$1 tree=$2 f
	for f in $(manifest_files); do
		if [ -e "$dir/$f" ]; then
			cmp -s "$dir/$f" "$tree/$f" && continue
			mkdir -p "$(dirname "$tree/$f")"
			cp "$dir/$f" "$tree/$f.state-tmp"
			# The mode is the base's (run_vmtests.sh is executable).
			[ ! -e "$OUT/src/base/$f" ] ||
				chmod --reference="$OUT/src/base/$f" "$tree/$f.state-tmp"
			mv -f "$tree/$f.state-tmp" "$tree/$f"
		else
			rm -f "$tree/$f"
		fi
	done
}

# The base's files that the series touches (those of base.manifest) as a
# git repository, for git am: its .git lives apart, the pristine tree is
# only read to make it; a worktree gets the patches. git am reads and
# writes only the files that the patches name, so these are all it needs:
# with the whole tree (80,000 files) in it, checking out, cleaning,
# applying and comparing took 6 minutes of each make check.
base_git() {
	local g=$OUT/patches/base-files.git f files=()
	if ! git --git-dir="$g" rev-parse -q --verify base >/dev/null 2>&1; then
		log "making a git repository of the base's files of the series (once)"
		# base.git: the whole tree, as earlier versions made it.
		rm -rf "$g" "$OUT/patches/am" "$OUT/patches/base.git"
		git init -q --bare "$g"
		for f in $(manifest_files); do
			[ -e "$OUT/src/base/$f" ] && files+=("$f")
		done
		# -f: Debian's top-level .gitignore ignores everything.
		git --git-dir="$g" --work-tree="$OUT/src/base" -c core.bare=false \
			-c core.autocrlf=false add -f -- "${files[@]}"
		GIT_AUTHOR_NAME=base GIT_AUTHOR_EMAIL=base@localhost \
		GIT_COMMITTER_NAME=base GIT_COMMITTER_EMAIL=base@localhost \
			git --git-dir="$g" --work-tree="$OUT/src/base" -c core.bare=false \
			commit -q -m "Debian linux-source-6.12 $pkg_version"
		git --git-dir="$g" tag base
	fi
	if [ ! -d "$OUT/patches/am" ]; then
		git --git-dir="$g" worktree prune
		git --git-dir="$g" worktree add -q --detach "$OUT/patches/am" base
	fi
}

# checkpatch_series: checkpatch --strict on every patch; the message types
# of harness/series/checkpatch-ignore are left out, each for the reason
# written there.
checkpatch_series() {
	local ignore patch out rc=0
	ignore=$(awk '!/^#/ && NF { print $1 }' "$h/series/checkpatch-ignore" | paste -sd, -)
	for patch in "$OUT/patches/series"/0*.patch; do
		case $patch in */0000-cover-letter.patch) continue ;; esac
		# GIT_DIR: the Fixes: ids are upstream's, which no repository
		# here holds (checkpatch would look them up in this one's).
		out=$(cd "$OUT/src/base" && GIT_DIR=/nonexistent ./scripts/checkpatch.pl \
			--strict --terse --show-types ${ignore:+--ignore "$ignore"} \
			"$patch" 2>&1) || rc=1
		printf '%s: %s\n' "$(basename "$patch")" "${out:-ok}"
	done
	return $rc
}

# maintainers_series: scripts/get_maintainer.pl (of the tree with the
# series) on every patch, into maintainers.txt; fails when a file that the
# series adds is not covered by the KSM entry, or a patch to KSM's files
# does not reach its maintainers.
maintainers_series() {
	local patch f sections who rc=0 list=$OUT/patches/series/maintainers.txt
	: > "$list"
	for patch in "$OUT/patches/series"/0*.patch; do
		case $patch in */0000-cover-letter.patch) continue ;; esac
		who=$(cd "$OUT/src/series" && ./scripts/get_maintainer.pl --no-git \
			--no-git-fallback "$patch") || {
			echo "maintainers: get_maintainer.pl failed on $(basename "$patch")"
			rc=1
		}
		printf '%s:\n%s\n' "$(basename "$patch")" "$(sed 's/^/    /' <<<"$who")" >> "$list"
		if grep -qE '^\+\+\+ b/(mm/ksm\.c|include/linux/ksm\.h|include/trace/events/ksm\.h|Documentation/admin-guide/mm/ksm\.rst|Documentation/ABI/testing/sysfs-kernel-mm-ksm|tools/testing/selftests/mm/ksm_)' "$patch" &&
		   ! grep -q 'MEMORY MANAGEMENT - KSM' <<<"$who"; then
			echo "maintainers: $(basename "$patch") does not reach the KSM entry"
			rc=1
		fi
	done
	for f in $(awk '$1 == "absent" { print $2 }' "$h/base.manifest"); do
		sections=$(cd "$OUT/src/series" && ./scripts/get_maintainer.pl --no-git \
			--no-git-fallback --sections -f "$f")
		grep -q '^MEMORY MANAGEMENT - KSM' <<<"$sections" || {
			echo "maintainers: $f is not covered by the KSM entry"
			rc=1
		}
	done
	[ $rc = 0 ] && echo "maintainers: every new file is in the KSM entry; list in $list"
	return $rc
}

# am_check: git am of the series onto the pristine base gives the tree of
# make apply (out/src/series), file for file.
am_check() {
	local am=$OUT/patches/am f bad=0 patches=()
	base_git
	git -C "$am" am --abort >/dev/null 2>&1 || true
	git -C "$am" checkout -q -f --detach base
	git -C "$am" clean -fdxq
	for f in "$OUT/patches/series"/0*.patch; do
		case $f in */0000-cover-letter.patch) ;; *) patches+=("$f") ;; esac
	done
	if ! GIT_COMMITTER_NAME=am GIT_COMMITTER_EMAIL=am@localhost \
		git -C "$am" am -q "${patches[@]}"; then
		echo "git am: the series does not apply to the base"
		return 1
	fi
	for f in $( (git -C "$am" diff --name-only base HEAD; manifest_files) | sort -u); do
		if [ -e "$am/$f" ] || [ -e "$OUT/src/series/$f" ]; then
			cmp -s "$am/$f" "$OUT/src/series/$f" &&
				[ "$(stat -c %a "$am/$f")" = "$(stat -c %a "$OUT/src/series/$f")" ] ||
				{ echo "git am: $f differs from make apply"; bad=1; }
		fi
	done
	[ -z "$(git -C "$am" status --porcelain)" ] || { echo "git am: the worktree is not clean"; bad=1; }
	[ $bad = 0 ] && echo "git am: ${#patches[@]} patches apply to the base; the result is make apply's, file for file"
	return $bad
}

# gen_patches: the series as format-patch files in $OUT/patches/series,
# with no check (make apply and make rebase need them; make patches checks).
gen_patches() {
	step_series_tree
	local p=$OUT/patches names n
	rm -rf "$p/states" "$p/git" "$p/series"
	mkdir -p "$p"
	log "the tree after each patch, from harness/series"
	python3 "$h/series.py" states "$OUT/src/base" "$OUT/src/series" "$p/states" ||
		die "harness/series does not split the series (see above)"
	mapfile -t names < "$p/states/names"
	git init -q "$p/git"
	put_state "$p/states/00" "$p/git"
	series_git add -A
	series_git commit -q -m "base: the series' files of Debian linux-source-6.12 $pkg_version"
	series_git tag base
	for ((n = 1; n < ${#names[@]}; n++)); do
		put_state "$p/states/$(printf %02d "$n")" "$p/git"
		series_git add -A
		series_git commit -q -s -F "$h/series/${names[n]}.msg"
	done
	series_git format-patch -q --cover-letter --histogram -o "$p/series" base..HEAD
	python3 - "$p/series/0000-cover-letter.patch" "$h/series/cover.txt" \
		"$pkg_version" <<-'PY'
		import sys
		path, cover, version = sys.argv[1:]
		subject, _, body = open(cover).read().partition("\n\n")
		body = body.rstrip("\n") + ("\n\nThe series applies to Linux %s (Debian linux-source-6.12 %s)."
		                            % (version.split("-")[0], version))
		text = open(path).read()
		text = text.replace("*** SUBJECT HERE ***", subject.strip())
		text = text.replace("*** BLURB HERE ***", body)
		open(path, "w").write(text)
	PY
	log "$((${#names[@]} - 1)) patches and a cover letter in $p/series"
}

step_patches() {
	local rc=0
	gen_patches
	log "checkpatch --strict on every patch"
	checkpatch_series || rc=1
	log "scripts/get_maintainer.pl on every patch"
	maintainers_series || rc=1
	log "git am onto a git repository of the pristine base"
	am_check || rc=1
	return $rc
}

# new_diags BASE SERIES: the lines of SERIES that BASE does not have as
# often, compared without line and column numbers (the series moves lines).
new_diags() {
	awk -v base="$1" '
		{ key = $0; gsub(/:[0-9]+(:[0-9]+)?:/, ":", key) }
		FILENAME == base { n[key]++; next }
		n[key] > 0 { n[key]--; next }
		{ print }' "$1" "$2"
}

# put_series_back: the series tree as make apply leaves it, after a run
# that put earlier states of the series into it (an EXIT trap).
put_series_back() {
	"$h/apply.sh" --reset-from "$OUT/src/base" "$OUT/src/series" > /dev/null ||
		echo "run.sh: could not put the series back into $OUT/src/series" >&2
}

# report_new WHAT NEW OK: "WHAT: FAIL, new warnings:" and the lines NEW,
# and a failure, if there are any; else the line OK.
report_new() {
	if [ -n "$2" ]; then
		echo "$1: FAIL, new warnings:"
		sed 's/^/    /' <<<"$2"
		return 1
	fi
	echo "$3"
}

# patch_make TREE BUILD TARGET...: make of the x86_64 kernel in TREE, out of
# tree in BUILD, with ccache.
patch_make() {
	make -s -C "$1" O="$2" ARCH=x86_64 CC="ccache gcc" -j"$JOBS" "${@:3}"
}

# objects_using BUILD TREE FILE...: the objects of BUILD, a build of TREE,
# whose dependencies (their .cmd files) name one of the FILEs (paths in
# TREE), one per line.
objects_using() {
	local build=$1 tree=$2
	shift 2
	[ $# -gt 0 ] || return 0
	find "$build" -path "$build/tools" -prune -o -path "$build/scripts" -prune \
		-o -name '.*.o.cmd' -print0 |
		xargs -0 awk -v tree="$tree" -v files="$*" '
			BEGIN { n = split(files, f, " "); for (i = 1; i <= n; i++) want[tree "/" f[i]] = 1 }
			$1 in want { print FILENAME; nextfile }' |
		sed -E "s|^$build/||; s|(^\|/)\.([^/]*)\.cmd\$|\1\2|" | sort -u
}

# globals_defined FILE...: the global symbols the object files define;
# globals_undefined FILE...: the symbols that one of them uses without
# defining it (weak references aside), whoever else defines them.
globals_defined() { nm -g --defined-only "$@" | awk 'NF == 3 { print $3 }' | sort -u; }
globals_undefined() { nm -u "$@" | awk '$1 == "U" { print $2 }' | sort -u; }

# check_each_patch: every state of make patches compiles, with no warning
# about a file the series touches, and links as far as the series can
# break a link; the KSM selftests of each state compile.
#
# What is built: every object that depends on a file that the state
# changes: the objects of the C files the series changes (C, below) and
# every object that includes a header of the state that differs from
# the headers its build directory was made with; which objects include
# what, the final tree's build tells (its .cmd files). The rest of the
# kernel compiles at that state as it does in one of the two trees that
# are built whole anyway (the base's headers are those of every other
# object of the base, the series' those of the test kernel). The link:
# each global symbol these objects use must be defined by them or by an
# object that the series does not change, i.e. be in the test kernel's
# vmlinux and not be one that the final versions of C define. A whole
# bzImage per patch took 15 of the 64 minutes of .ci/run (the patches
# before the one that changes include/linux/mm.h compile the whole kernel
# with the base's headers, which no other build uses: 7.5 minutes cold).
#
# Where: a state whose headers (include/) are already the series' goes
# into the series tree and builds in the test kernel's build directory,
# where the build of the final tree (step_kernel) has left every object;
# the series tree is left at the last state, which is the series, as
# make test finds it. The states before go into a tree of their own,
# out/src/patches (hard links to the base, written by rename as the series
# tree), built in out/build/patches with the test kernel's configuration.
# Sparse (C=2) on mm/ksm.o runs at the base's state and at the last one.
check_each_patch() {
	local p=$OUT/patches series=$OUT/src/series ptree=$OUT/src/patches
	local early=$OUT/build/patches final=$OUT/build/series
	local names n st rc=0 t ok tests tree build last cfg ref f objs missing
	local cflags cobjs=() changed elsewhere
	mapfile -t names < "$p/states/names"
	last=$(printf %02d $((${#names[@]} - 1)))
	[ -d "$ptree" ] || cp -al "$OUT/src/base" "$ptree"
	put_state "$p/states/00" "$ptree"
	config_kernel "$ptree" "$early" "$h/kernel.config" "$h/debug.config"
	# C: the objects of the kernel's C files that the series changes.
	for f in $(manifest_files); do
		case $f in *.c) ;; *) continue ;; esac
		[ -e "$final/${f%.c}.o" ] || continue
		cmp -s "$p/states/$last/$f" "$OUT/src/base/$f" || cobjs+=("${f%.c}.o")
	done
	elsewhere=$final/symbols-elsewhere
	comm -23 <(globals_defined "$final/vmlinux") \
		<(cd "$final" && globals_defined "${cobjs[@]}") > "$elsewhere"
	# However this ends, the series tree is the series again.
	trap 'put_series_back' EXIT
	log "sparse (C=2) on mm/ksm.o of the base"
	patch_make "$ptree" "$early" C=2 mm/ksm.o > "$early/sparse-base.log" 2>&1 || true
	# Paths relative to the tree: the two runs are in different trees.
	grep -E '(warning|error):' "$early/sparse-base.log" |
		sed "s|^$ptree/||" > "$early/sparse-base.diags" || true
	for ((n = 1; n < ${#names[@]}; n++)); do
		st=$(printf %02d "$n")
		if diff -rq "$p/states/$st/include" "$p/states/$last/include" >/dev/null 2>&1; then
			tree=$series build=$final ref=$last cfg="test kernel build"
		else
			tree=$ptree build=$early ref=00 cfg="base's headers"
		fi
		changed=()
		for f in $(manifest_files); do
			case $f in include/*.h) ;; *) continue ;; esac
			cmp -s "$p/states/$st/$f" "$p/states/$ref/$f" || changed+=("$f")
		done
		mapfile -t objs < <({ printf '%s\n' "${cobjs[@]}"
			objects_using "$final" "$series" "${changed[@]}"; } | sort -u)
		put_state "$p/states/$st" "$tree"
		cflags="-Wall -O2 -U_FORTIFY_SOURCE -fsyntax-only
			-I$tree/tools/testing/selftests -I$final/hdr/include
			-I$tree/tools/include -I$tree/tools/include/uapi -I$tree"
		if ! patch_make "$tree" "$build" "${objs[@]}" > "$build/patch-$st.log" 2>&1; then
			echo "patch $st: FAIL, does not build (log: $build/patch-$st.log)"
			grep -E 'error:' "$build/patch-$st.log" | head -n 5 | sed 's/^/    /'
			rc=1
			continue
		fi
		ok=1
		if grep -E '(warning|error):' "$build/patch-$st.log" |
			grep -E '(mm/(ksm|huge_memory|userfaultfd|memory)|fs/exec|kernel/fork|include/linux/ksm|include/trace/events/ksm)\.'; then
			ok=0
		fi
		missing=$(cd "$build" && comm -23 <(globals_undefined "${objs[@]}") \
			<(sort -u <(globals_defined "${objs[@]}") "$elsewhere"))
		if [ -n "$missing" ]; then
			echo "patch $st: FAIL, would not link: undefined $(echo $missing)"
			ok=0
		fi
		tests=0
		for t in "$tree"/tools/testing/selftests/mm/ksm_*.c; do
			# shellcheck disable=SC2086
			gcc $cflags "$t" "$tree/tools/testing/selftests/mm/vm_util.c" \
				> "$build/patch-$st.tests.log" 2>&1 || ok=0
			# -Wall: a warning about a selftest fails it too.
			! grep -q 'warning:' "$build/patch-$st.tests.log" || ok=0
			cat "$build/patch-$st.tests.log" >> "$build/patch-$st.log"
			tests=$((tests + 1))
		done
		if [ $ok = 1 ]; then
			echo "patch $st: ${#objs[@]} objects build ($cfg), link, no warning; $tests KSM selftests compile (${names[n]})"
		else
			echo "patch $st: FAIL, warnings (log: $build/patch-$st.log)"
			grep -E '(warning|error):' "$build/patch-$st.log" | head -n 5 | sed 's/^/    /'
			rc=1
		fi
	done
	log "sparse (C=2) on mm/ksm.o of the series"
	put_state "$p/states/$last" "$series"
	patch_make "$series" "$final" C=2 mm/ksm.o > "$final/sparse-series.log" 2>&1 || rc=1
	grep -E '(warning|error):' "$final/sparse-series.log" |
		sed "s|^$series/||" > "$final/sparse-series.diags" || true
	# The warnings of harness/series/sparse-known are accepted, by function.
	t=$(new_diags "$early/sparse-base.diags" "$final/sparse-series.diags" |
		grep -vFf <(awk '!/^#/ && NF { print "in '"'"'" $1 "'"'"' - " }' \
			"$h/series/sparse-known") || true)
	report_new sparse "$t" "sparse: no new warning but those of harness/series/sparse-known ($(wc -l < "$early/sparse-base.diags") in the base, $(wc -l < "$final/sparse-series.diags") in the series)" ||
		rc=1
	return $rc
}

# check_docs: kernel-doc -Wall on the series' C files, and the HTML of the
# documents the series changes, each against the base's warnings: the
# admin-guide's mm/ folder (make SPHINXDIRS=admin-guide/mm htmldocs, with
# ksm.rst) and the ABI/testing pages (sysfs-kernel-mm-ksm), which the
# admin-guide takes in through the kernel-abi directive of
# abi-testing.rst. Those are built by sphinx-build with the kernel's own
# conf.py and extensions, from a one-line document holding that
# directive, since they have no folder of their own that SPHINXDIRS could
# name. The whole admin-guide took 3 minutes of .ci/run per tree; these
# two about 50 seconds, 45 of them the ABI pages.
check_docs() {
	local d=$OUT/docs rc=0 f t files built=1
	local -A pids
	mkdir -p "$d/abi-src"
	files="mm/ksm.c include/linux/ksm.h include/trace/events/ksm.h"
	for t in base series; do
		# shellcheck disable=SC2086
		(cd "$OUT/src/$t" && ./scripts/kernel-doc -none -Wall $files) > "$d/kernel-doc-$t.log" 2>&1
	done
	f=$(new_diags "$d/kernel-doc-base.log" "$d/kernel-doc-series.log")
	report_new kernel-doc "$f" "kernel-doc -Wall $files: no new warning ($(grep -c warning "$d/kernel-doc-series.log") as in the base)" ||
		rc=1
	printf '%s\n' 'ABI testing symbols' '===================' '' \
		'.. kernel-abi:: ABI/testing' '   :rst:' > "$d/abi-src/index.rst"
	# -E: read every document, so that both builds report every warning
	# (Sphinx otherwise only reads what changed). Side by side: each
	# Sphinx run keeps one core busy.
	for t in base series; do
		{ make -s -C "$OUT/src/$t" O="$d/$t" SPHINXDIRS=admin-guide/mm \
			SPHINXOPTS=-E htmldocs &&
		  PYTHONDONTWRITEBYTECODE=1 srctree=$OUT/src/$t sphinx-build -q -b html -E \
			-c "$OUT/src/$t/Documentation" -d "$d/$t/abi-doctrees" \
			"$d/abi-src" "$d/$t/abi-testing"; } > "$d/htmldocs-$t.log" 2>&1 &
		pids[$t]=$!
	done
	for t in base series; do
		if ! wait "${pids[$t]}"; then
			echo "htmldocs: FAIL, the documents of the $t do not build (log: $d/htmldocs-$t.log)"
			built=0
			continue
		fi
		# get_abi.pl's own warnings too ("Warning: file F#LINE:").
		sed -e "s|$OUT/src/$t/||g" -e "s|$d/$t/||g" -e 's/#[0-9][0-9]*:/:/g' \
			"$d/htmldocs-$t.log" |
			grep -E 'WARNING|ERROR|^Warning:' > "$d/htmldocs-$t.diags" || true
	done
	[ $built = 1 ] || return 1
	f=$(new_diags "$d/htmldocs-base.diags" "$d/htmldocs-series.diags")
	report_new htmldocs "$f" "htmldocs of admin-guide/mm and of the ABI/testing pages: build, no new warning ($(wc -l < "$d/htmldocs-series.diags") as in the base); $d/series/Documentation/output/admin-guide/mm/ksm.html" ||
		rc=1
	return $rc
}

# Style and warnings of the series: checkpatch --strict on its diff against
# the imported base, a W=1 build of the C files it changes, and W=1 builds
# of mm/ksm.o for arm64 (64K pages), ppc64le and s390x (step_check_cross).
# series_diff: the series as one diff of the pinned base against the base
# with the series applied (out/src/base, out/src/series), for checkpatch.
series_diff() {
	local f a
	for f in $(git -C "$top" ls-files -- mm include tools Documentation fs) \
		mm/Kconfig MAINTAINERS; do
		a=base/$f
		[ -f "$OUT/src/$a" ] || a=/dev/null
		# git diff --no-index exits 1 when the files differ.
		(cd "$OUT/src" && git diff --no-index --histogram -- "$a" "series/$f" || true) |
			sed -e 's|^diff --git a/base/\(.*\) b/series/|diff --git a/\1 b/|' \
			    -e 's|^diff --git a/series/\(.*\) b/series/|diff --git a/\1 b/|' \
			    -e 's|^--- a/base/|--- a/|' -e 's|^+++ b/series/|+++ b/|'
	done
}

# step_newest: the newest linux-source-6.12 of the package archive next to
# the pinned one and, when they differ, whether the series merges with it
# (git am -3, as make rebase and make apply do). A warning, never a
# failure: Debian releasing must not fail a check of the series.
step_newest() {
	local newest w=$OUT/newest
	as_root apt-get update -q >/dev/null 2>&1 || true
	newest=$(debsrc_newest)
	if [ -z "$newest" ]; then
		echo "debian: WARNING: the package archive lists no linux-source-6.12 (pinned: $pkg_version)"
		return 0
	fi
	if [ "$newest" = "$pkg_version" ]; then
		echo "debian: the pinned linux-source-6.12 $pkg_version is the newest in the archive"
		return 0
	fi
	if dpkg --compare-versions "$newest" lt "$pkg_version"; then
		echo "debian: the pinned $pkg_version is newer than the archive's $newest"
		return 0
	fi
	echo "debian: WARNING: the archive offers linux-source-6.12 $newest; the series is on $pkg_version"
	# shellcheck source=harness/merge.sh
	. "$h/merge.sh"
	mkdir -p "$w"
	if [ "$(cat "$w/tree.version" 2>/dev/null)" != "$newest" ]; then
		debsrc_unpack "$newest" "$w/tree" ||
			{ echo "debian: WARNING: could not fetch $newest"; return 0; }
		echo "$newest" > "$w/tree.version"
	fi
	[ -d "$OUT/patches/git" ] || gen_patches >/dev/null
	if merge_series "$w/tree" "$w" > "$w/merge.log" 2>&1; then
		echo "debian: the series merges cleanly with $newest: make rebase VERSION=$newest"
	else
		echo "debian: WARNING: the series does not merge with $newest as it is:"
		sed 's/^/    /' "$w/merge.log"
	fi
	return 0
}

step_check() {
	# shellcheck disable=SC2086
	install_packages $CHECK_PACKAGES
	step_kernel
	local root objs rc=0
	root=$(git -C "$top" rev-list --max-parents=0 HEAD | tail -n1)
	log "checkpatch --strict on the series' diff against the base"
	series_diff | "$OUT/src/series/scripts/checkpatch.pl" --strict --no-tree \
		--no-signoff --ignore FILE_PATH_CHANGES - || rc=1
	objs=$(git -C "$top" diff --name-only "$root" -- mm fs | sed -n 's/\.c$/.o/p')
	if [ -n "$objs" ]; then
		log "W=1 build of $objs"
		# shellcheck disable=SC2086
		make -s -C "$OUT/src/series" O="$OUT/build/series" ARCH=x86_64 \
			CC="ccache gcc" W=1 -j"$JOBS" $objs 2>&1 | tee "$OUT/build/series/w1.log"
		! grep -q 'warning:' "$OUT/build/series/w1.log" || rc=1
	fi
	log "W=1 build of mm/ksm.o without CONFIG_KSM_ZERO_PAGES_ALL and THP"
	mkdir -p "$OUT/build/series-noall"
	cp "$OUT/build/series/.config" "$OUT/build/series-noall/.config"
	"$OUT/src/series/scripts/config" --file "$OUT/build/series-noall/.config" \
		-d KSM_ZERO_PAGES_ALL -d TRANSPARENT_HUGEPAGE
	make -s -C "$OUT/src/series" O="$OUT/build/series-noall" ARCH=x86_64 \
		olddefconfig >/dev/null
	make -s -C "$OUT/src/series" O="$OUT/build/series-noall" ARCH=x86_64 \
		CC="ccache gcc" W=1 -j"$JOBS" mm/ksm.o fs/exec.o kernel/fork.o 2>&1 |
		tee "$OUT/build/series-noall/w1.log"
	! grep -q 'warning:\|error:' "$OUT/build/series-noall/w1.log" || rc=1
	# The series' hooks outside mm/ksm.c build without KSM too.
	log "W=1 build of the files that call KSM's helpers, without CONFIG_KSM"
	mkdir -p "$OUT/build/series-noksm"
	cp "$OUT/build/series/.config" "$OUT/build/series-noksm/.config"
	"$OUT/src/series/scripts/config" --file "$OUT/build/series-noksm/.config" -d KSM
	make -s -C "$OUT/src/series" O="$OUT/build/series-noksm" ARCH=x86_64 \
		olddefconfig >/dev/null
	make -s -C "$OUT/src/series" O="$OUT/build/series-noksm" ARCH=x86_64 \
		CC="ccache gcc" W=1 -j"$JOBS" mm/huge_memory.o mm/userfaultfd.o mm/memory.o \
		fs/exec.o kernel/fork.o fs/proc/task_mmu.o 2>&1 |
		tee "$OUT/build/series-noksm/w1.log"
	! grep -q 'warning:\|error:' "$OUT/build/series-noksm/w1.log" || rc=1
	log "W=1 builds of mm/ksm.o for other architectures, base and series"
	step_check_cross || rc=1
	log "the series as patches (make patches)"
	step_patches || rc=1
	log "a build of each patch in turn"
	check_each_patch || rc=1
	log "the documentation: kernel-doc and htmldocs"
	check_docs || rc=1
	log "the newest linux-source-6.12 of the package archive"
	step_newest
	"$h/apply.sh" --reset-from "$OUT/src/base" "$OUT/src/series" > /dev/null ||
		die "could not put the series back into $OUT/src/series"
	log "make check: $([ $rc = 0 ] && echo passed || echo FAILED)"
	return $rc
}

# The series built for other architectures (CROSS_TARGETS): mm/ksm.o with
# W=1 from the base tree and from the series tree. Fails on an error in the
# series build, or on a warning about a file of the series that the base
# build of the same architecture does not have (compared without line
# numbers: the series moves lines). BASE and SERIES default to the trees
# in $OUT/src.
step_check_cross() {
	local base=${1:-$OUT/src/base} series=${2:-$OUT/src/series}
	local rc=0 name arch cross defconfig opts n
	local -a names pids
	# shellcheck disable=SC2086
	install_packages $CHECK_PACKAGES || die "could not install $CHECK_PACKAGES"
	if [ ! -f "$base/mm/ksm.c" ] || [ ! -f "$series/mm/ksm.c" ]; then
		die "no base or series tree: run harness/run.sh kernel first"
	fi
	base=$(cd "$base" && pwd)
	series=$(cd "$series" && pwd)
	# The architectures side by side: a cold build's steps (defconfig,
	# olddefconfig, much of prepare) are serial.
	while IFS=$'\t' read -r name arch cross defconfig opts; do
		[ -n "$name" ] || continue
		mkdir -p "$OUT/cross"
		# shellcheck disable=SC2086
		cross_arch "$base" "$series" "$name" "$arch" "$cross" "$defconfig" $opts \
			> "$OUT/cross/$name.verdict" 2>&1 < /dev/null &
		names+=("$name")
		pids+=($!)
	done <<<"$CROSS_TARGETS"
	for ((n = 0; n < ${#names[@]}; n++)); do
		wait "${pids[n]}" || rc=1
		cat "$OUT/cross/${names[n]}.verdict"
	done
	return $rc
}

# cross_arch BASE SERIES NAME ARCH CROSS DEFCONFIG OPTION...: mm/ksm.o of
# BASE, then of SERIES, built for ARCH in one build directory, from one
# tree (hard links to BASE, the series' files put in for the second
# build): configured and prepared once, for the base; the series' Kconfig
# changes are taken in by kbuild's syncconfig. Prints the verdict; fails
# on an error in the series build, or on a warning about a file of the
# series that the base build does not have as often (compared without
# line numbers: the series moves lines).
cross_arch() {
	local base=$1 series=$2 name=$3 arch=$4 cross=$5 defconfig=$6
	shift 6
	local d=$OUT/cross/$name t=$OUT/cross/$name-src failed new errs warns shared msg
	if [ "$(cat "$t/.cross-base" 2>/dev/null)" != "$base" ]; then
		rm -rf "$t"
		cp -al "$base" "$t" || die "could not link $base to $t"
		echo "$base" > "$t/.cross-base"
	fi
	put_state "$base" "$t"
	if ! cross_build "$t" "$d" "$arch" "$cross" "$defconfig" "$@"; then
		tail -n 20 "$d/ksm.log" | sed 's/^/    /'
		echo "cross $name: FAIL (the base does not build; log: $d/ksm.log)"
		return 1
	fi
	cross_diags "$t" "$d/ksm.log" > "$d/diags-base"
	cp "$d/ksm.log" "$d/ksm-base.log"
	put_state "$series" "$t"
	failed=0
	cross_build "$t" "$d" "$arch" "$cross" "$defconfig" --keep-config "$@" || failed=1
	cross_diags "$t" "$d/ksm.log" > "$d/diags"
	# Errors, and the warnings that the base does not have as often.
	new=$(awk -v base="$d/diags-base" '
		{ key = $0; sub(/:[0-9]+(:[0-9]+)?: /, ": ", key) }
		FILENAME == base { if (key !~ /: (fatal )?error: /) n[key]++; next }
		n[key] > 0 { n[key]--; next }
		{ print }' "$d/diags-base" "$d/diags")
	errs=$(grep -cE ': (fatal )?error: ' <<<"$new" || true)
	warns=$(grep -c ': warning: ' <<<"$new" || true)
	shared=$(($(grep -c ': warning: ' "$d/diags" || true) - warns))
	if [ $failed = 0 ] && [ -z "$new" ]; then
		msg="0 new warnings"
		[ "$shared" -eq 0 ] || msg+=", $shared as in the base"
		echo "cross $name: ok ($msg)"
		return 0
	fi
	if [ $failed = 1 ] && [ "$errs" -eq 0 ]; then
		# No compiler error to show: the end of the log.
		new=$(tail -n 20 "$d/ksm.log")
		errs=1
	fi
	echo "cross $name: FAIL ($errs error(s), $warns new warning(s); log: $d/ksm.log)"
	printf '%s\n' "$new" | sed 's/^/    /'
	return 1
}

# ARCH=arm64 is for make test, make kernel, make bench and make deps; the
# other steps build and boot x86_64.
if [ "$GUEST_ARCH" = arm64 ]; then
	case "${1:-}" in
	deps | kernel | test | bench) ;;
	*) die "ARCH=arm64 is for make test, make kernel, make bench and make deps only" ;;
	esac
fi
case "${1:-}" in
deps|base|kernel|test|demo|stress|patches|bisect) "step_$1" ;;
check-deps) step_check_deps ;;
kernel-kcsan) step_kernel_kcsan ;;
gen-patches) gen_patches ;;
each-patch) gen_patches && check_each_patch ;;
docs) step_series_tree && check_docs ;;
newest) step_newest ;;
test-base) step_test_base ;;
bench) step_bench ;;
check) step_check ;;
check-cross) shift; step_check_cross "$@" ;;
*) die "usage: run.sh deps|check-deps|base|kernel|kernel-kcsan|test|test-base|demo|stress|bench|patches|bisect|check|each-patch|docs|check-cross [BASE SERIES]" ;;
esac
