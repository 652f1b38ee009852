# SPDX-License-Identifier: GPL-2.0
#
# Turn out/bench/khugepaged.csv (kernel, then the columns of ksm_bench's
# "kh," lines: workload, t_s, given_back_mib, ksm_zero_mib, anon_huge_mib,
# rss_mib, thp_split_page, thp_collapse_alloc, ksmd_cpu_s, khugepaged_cpu_s,
# full_scans, khugepaged_full_scans) into one Markdown table per workload:
# at each sample, base and series side by side.
NR == 1 {
	for (i = 1; i <= NF; i++)
		col[$i] = i
	next
}
{
	w = $2; t = $3 + 0
	if (!(w in seen_w)) { seen_w[w] = 1; ws[++nw] = w }
	if (!((w, t) in seen_t)) { seen_t[w, t] = 1; ts[w, ++nt[w]] = t }
	for (m in col)
		v[$1, w, t, m] = $col[m]
	has[$1, w, t] = 1
}
function cell(k, w, t, m) {
	return (k, w, t) in has ? v[k, w, t, m] : "-"
}
END {
	split("given_back_mib anon_huge_mib thp_split_page thp_collapse_alloc ksmd_cpu_s khugepaged_cpu_s", ms, " ")
	split("MiB given back|AnonHugePages MiB|THP splits|collapses|ksmd CPU s|khugepaged CPU s", names, "|")
	for (i = 1; i <= nw; i++) {
		w = ws[i]
		printf "%s### %s\n\n| t (s) |", (i > 1 ? "\n" : ""), w
		for (j = 1; j <= 6; j++)
			printf " %s base | series |", names[j]
		printf "\n| ---: |"
		for (j = 1; j <= 6; j++)
			printf " ---: | ---: |"
		printf "\n"
		for (n = 1; n <= nt[w]; n++) {
			t = ts[w, n]
			printf "| %d |", t
			for (j = 1; j <= 6; j++)
				printf " %s | %s |", cell("base", w, t, ms[j]),
					cell("series", w, t, ms[j])
			printf "\n"
		}
	}
}
