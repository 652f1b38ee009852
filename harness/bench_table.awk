# Turn out/bench/results.csv (kernel,workload,run,metric,value) into a
# Markdown table: per workload and metric, base, series and series/base.
# Costs (CPU, time) and throughputs take the median of the runs (5 by
# default, ksm_bench runs=N), with their spread, half the range between
# the least and the most in percent of the median: emulation makes CPU
# times vary by about 20%. A ratio is marked "~" when it is within the sum
# of the two spreads of 1: below the noise of this run. Counts take the
# mean.
#   the median: *_per_cpu_s, ksmd_cpu_s, ksmd_cpu_s_per_full_scan,
#              ksmd_us_per_*, seconds
#   the mean:  everything else: counts (pages, faults, full scans, merges;
#              zero_merged_pages, pinned_pages_replaced and pages_merged
#              must be 0) and means over a run (zero_mib_mean); also the
#              per-run latencies of scope-write (write_ms, hold_s) and the
#              per-round rates of fork-exec (per_s_*), whose median the
#              guest reports itself (*_median, *_min, *_max, and ratios
#              such as all_over_mergeable: one value a kernel)
NR == 1 { next }
{
	key = $2 SUBSEP $4
	if (!(key in seen)) {
		# After the metrics of its workload seen so far: a metric that
		# only the series reports stays with its workload.
		seen[key] = 1
		at = n + 1
		for (j = n; j >= 1; j--) {
			split(order[j], q, SUBSEP)
			if (q[1] == $2) { at = j + 1; break }
		}
		for (j = n; j >= at; j--) order[j + 1] = order[j]
		order[at] = key; n++
	}
	v = $5 + 0
	k = $1 SUBSEP key
	cnt[k]++; sum[k] += v
	val[k, cnt[k]] = v
	if (!(k in lo) || v < lo[k]) lo[k] = v
	if (!(k in hi) || v > hi[k]) hi[k] = v
}
function timed(metric) { return metric ~ /(per_cpu_s$|cpu_s|us_per|seconds)/ }
function median(k,    i, j, m, t, a) {
	m = cnt[k]
	for (i = 1; i <= m; i++) a[i] = val[k, i]
	for (i = 2; i <= m; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function agg(kern, key, metric) {
	k = kern SUBSEP key
	if (!(k in cnt)) return ""
	if (timed(metric)) return median(k)
	return sum[k] / cnt[k]
}
# Half the range of the runs, in percent of the median ("" for counts).
function spread(kern, key, metric,    k, m) {
	k = kern SUBSEP key
	if (!(k in cnt) || !timed(metric)) return ""
	m = median(k)
	return m > 0 ? (hi[k] - lo[k]) / 2 / m * 100 : ""
}
function fmt(x) { return x == "" ? "-" : sprintf("%.4g", x) }
function fmtsp(x) { return x == "" ? "-" : sprintf("±%.0f%%", x) }
END {
	print "| workload | metric | base | series | series/base | spread base / series |"
	print "| --- | --- | ---: | ---: | ---: | ---: |"
	for (i = 1; i <= n; i++) {
		split(order[i], p, SUBSEP)
		b = agg("base", order[i], p[2]); s = agg("series", order[i], p[2])
		sb = spread("base", order[i], p[2]); ss = spread("series", order[i], p[2])
		r = "-"
		if (b != "" && s != "" && b != 0) {
			r = sprintf("%.2f", s / b)
			d = s / b - 1; if (d < 0) d = -d
			if (sb != "" && ss != "" && d * 100 <= sb + ss) r = "~" r
		}
		sp = (sb == "" && ss == "") ? "" : fmtsp(sb) " / " fmtsp(ss)
		printf "| %s | %s | %s | %s | %s | %s |\n", p[1], p[2], fmt(b), fmt(s), r, sp
	}
	# How close ksmd comes to the cost of reading the memory.
	for (kk = 1; kk <= 2; kk++) {
		kern = kk == 1 ? "base" : "series"
		u = agg(kern, "limit" SUBSEP "user_zero_pages_per_cpu_s", "user_zero_pages_per_cpu_s")
		z = agg(kern, "limit" SUBSEP "reclaimed_pages_per_cpu_s", "reclaimed_pages_per_cpu_s")
		lim[kern] = (u != "" && u > 0 && z != "") ? z / u : ""
	}
	if (lim["base"] != "" || lim["series"] != "")
		printf "| limit | ksmd/user zero-check throughput | %s | %s | %s | |\n",
			fmt(lim["base"]), fmt(lim["series"]),
			(lim["base"] > 0 && lim["series"] != "") ? sprintf("%.2f", lim["series"] / lim["base"]) : "-"
	# What a page that is zero but for one word costs ksmd next to a
	# unique page (ksmd CPU per page visited, sparse over unique).
	for (kk = 1; kk <= 2; kk++) {
		kern = kk == 1 ? "base" : "series"
		sp = agg(kern, "sparse" SUBSEP "ksmd_us_per_page_visited", "ksmd_us_per_page_visited")
		un = agg(kern, "unique" SUBSEP "ksmd_us_per_page_visited", "ksmd_us_per_page_visited")
		rel[kern] = (sp != "" && un != "" && un > 0) ? sp / un : ""
	}
	if (rel["base"] != "" || rel["series"] != "")
		printf "| sparse | us_per_page_visited / unique's | %s | %s | %s | |\n",
			fmt(rel["base"]), fmt(rel["series"]),
			(rel["base"] > 0 && rel["series"] != "") ? sprintf("%.2f", rel["series"] / rel["base"]) : "-"
	# What zero_pages_scope "all" costs ksmd on a page that is not zero,
	# next to a user-space walk that reads the first word of each page
	# (TLB warm and emptied), and next to that cold walk plus the kernel's
	# own walk of the page tables (/proc/self/pagemap): the issue's "a
	# page-table walk plus a read to the first non-zero word".
	uw = agg("series", "scope-unique" SUBSEP "user_us_per_page_first_word", "user_us_per_page_first_word")
	uc = agg("series", "scope-unique" SUBSEP "user_us_per_page_first_word_cold", "user_us_per_page_first_word_cold")
	pm = agg("series", "scope-unique" SUBSEP "pagemap_us_per_page", "pagemap_us_per_page")
	for (kk = 1; kk <= 2; kk++) {
		w = kk == 1 ? "scope-unique" : "scope-unique-nosleep"
		km = agg("series", w SUBSEP "ksmd_us_per_page_visited", "ksmd_us_per_page_visited")
		if (km != "" && uw != "" && uw > 0)
			printf "| %s | ksmd us_per_page_visited / user walk's | - | %s | - | |\n", w, fmt(km / uw)
		if (km != "" && uc != "" && uc > 0)
			printf "| %s | ksmd us_per_page_visited / cold user walk's | - | %s | - | |\n", w, fmt(km / uc)
		if (km != "" && uc != "" && pm != "" && uc > 0 && pm > 0)
			printf "| %s | ksmd us_per_page_visited / (pagemap walk + cold user walk) | - | %s | - | |\n", w, fmt(km / (uc + pm))
	}
}
