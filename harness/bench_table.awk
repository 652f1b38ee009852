# Turn out/bench/results.csv (kernel,workload,run,metric,value) into a
# Markdown table: per workload and metric, base, series and series/base.
# Costs (CPU, time) take the least of the runs, throughputs the most,
# counts the mean: emulation makes CPU times vary by about 20%.
#   the most:  *_per_cpu_s
#   the least: ksmd_cpu_s, ksmd_cpu_s_per_full_scan, ksmd_us_per_*, seconds
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
	if (!(k in lo) || v < lo[k]) lo[k] = v
	if (!(k in hi) || v > hi[k]) hi[k] = v
}
function agg(kern, key, metric) {
	k = kern SUBSEP key
	if (!(k in cnt)) return ""
	if (metric ~ /per_cpu_s$/) return hi[k]
	if (metric ~ /(cpu_s|us_per|seconds)/) return lo[k]
	return sum[k] / cnt[k]
}
function fmt(x) { return x == "" ? "-" : sprintf("%.4g", x) }
END {
	print "| workload | metric | base | series | series/base |"
	print "| --- | --- | ---: | ---: | ---: |"
	for (i = 1; i <= n; i++) {
		split(order[i], p, SUBSEP)
		b = agg("base", order[i], p[2]); s = agg("series", order[i], p[2])
		r = (b != "" && s != "" && b != 0) ? sprintf("%.2f", s / b) : "-"
		printf "| %s | %s | %s | %s | %s |\n", p[1], p[2], fmt(b), fmt(s), r
	}
	# How close ksmd comes to the cost of reading the memory.
	for (kk = 1; kk <= 2; kk++) {
		kern = kk == 1 ? "base" : "series"
		u = agg(kern, "limit" SUBSEP "user_zero_pages_per_cpu_s", "user_zero_pages_per_cpu_s")
		z = agg(kern, "limit" SUBSEP "reclaimed_pages_per_cpu_s", "reclaimed_pages_per_cpu_s")
		lim[kern] = (u != "" && u > 0 && z != "") ? z / u : ""
	}
	if (lim["base"] != "" || lim["series"] != "")
		printf "| limit | ksmd/user zero-check throughput | %s | %s | %s |\n",
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
		printf "| sparse | us_per_page_visited / unique's | %s | %s | %s |\n",
			fmt(rel["base"]), fmt(rel["series"]),
			(rel["base"] > 0 && rel["series"] != "") ? sprintf("%.2f", rel["series"] / rel["base"]) : "-"
}
