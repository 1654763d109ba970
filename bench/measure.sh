# shellcheck shell=bash
# Measurement helpers shared by bench/wan.sh and bench/noharm.sh (sourced by
# each scenario process, after tests/lib.sh): ss sampling of ports 5300-5399
# and its parsing into one row per socket per sample, and the figures taken
# from those rows and from iperf3's JSON. Expects WORK (the work directory)
# and _PIDS (an array of processes to kill at exit, appended to); sampler
# sets SAMPLER_PID, which sampler_stop uses. Needs awk, sort, ss, ip, jq.

# sampler TAG PERIOD DELAY NS...: from DELAY s on, every PERIOD s, ss of ports
# 5300-5399 in each NS, to $WORK/TAG.ss: a "S idx time ns" line before each
# namespace's output. Sets SAMPLER_PID.
sampler() {
	local tag=$1 period=$2 delay=$3 idx=0 ns
	shift 3
	(
		sleep "$delay"
		while :; do
			for ns in "$@"; do
				echo "S $idx $EPOCHREALTIME $ns"
				ip netns exec "$ns" ss -tinmH state established \
					'( sport >= :5300 and sport <= :5399 ) or ( dport >= :5300 and dport <= :5399 )' 2>/dev/null
			done
			idx=$((idx + 1))
			sleep "$period"
		done
	) >"$WORK/$tag.ss" 2>/dev/null &
	SAMPLER_PID=$!
	_PIDS+=("$SAMPLER_PID")
}
sampler_stop() { kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; parse_ss "$WORK/$1.ss" >"$WORK/$1.tsv"; }

# parse_ss FILE: one row per socket per sample: 1 idx 2 time 3 ns 4 local_port
# 5 peer_port 6 r 7 rb 8 t 9 tb 10 f 11 w 12 notsent 13 delivery_rate_bps
# 14 bytes_acked 15 bytes_received 16 Recv-Q (unread) 17 Send-Q (unacked)
parse_ss() {
	awk '
	function port(a) { sub(/.*:/, "", a); return a }
	function bps(v) {
		if (v ~ /Gbps$/) return v * 1e9; if (v ~ /Mbps$/) return v * 1e6
		if (v ~ /Kbps$/) return v * 1e3; return v + 0 }
	/^S / { idx = $2; ts = $3; ns = $4; next }
	/^[^ \t]/ { rq = $1; sq = $2; lp = port($3); pp = port($4); next }
	/skmem:/ {
		r = rb = t = tb = f = w = ns_ = dr = ack = rcv = 0
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^skmem:/) {
				s = $i; gsub(/skmem:\(|\)/, "", s); n = split(s, kv, ",")
				for (j = 1; j <= n; j++) {
					match(kv[j], /^[a-z]+/); k = substr(kv[j], 1, RLENGTH); v = substr(kv[j], RLENGTH + 1) + 0
					if (k == "r") r = v; else if (k == "rb") rb = v; else if (k == "t") t = v
					else if (k == "tb") tb = v; else if (k == "f") f = v; else if (k == "w") w = v
				}
			} else if ($i ~ /^notsent:/) { ns_ = substr($i, 9) + 0 }
			else if ($i == "delivery_rate") { dr = bps($(i + 1)) }
			else if ($i ~ /^bytes_acked:/) { ack = substr($i, 13) + 0 }
			else if ($i ~ /^bytes_received:/) { rcv = substr($i, 16) + 0 }
		}
		printf "%s %s %s %s %s %d %d %d %d %d %d %d %.0f %.0f %.0f %d %d\n", idx, ts, ns, lp, pp, r, rb, t, tb, f, w, ns_, dr, ack, rcv, rq, sq
	}' "$1"
}

# median: of the numbers read, "-" when none
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
		printf "%.10g\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# ratio_interval: "MEAN LOW HIGH N" for the ratios read: their geometric mean
# and its 95% confidence interval (Student's t on their logarithms: the mean
# of few noisy rounds, and a ratio of 2 weighs as much as one of 0.5), "-"
# when there are fewer than two
ratio_interval() {
	awk '$1 > 0 { v[++n] = log($1); s += v[n] } END {
		if (n < 2) { print "-"; exit }
		m = s / n
		for (i = 1; i <= n; i++) ss += (v[i] - m) ^ 2
		se = sqrt(ss / (n - 1) / n)
		split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13 " \
		      "2.12 2.11 2.10 2.09 2.09 2.08 2.07 2.07 2.06 2.06 2.06 2.05 2.05 2.05 2.04", t, " ")
		q = n - 1 <= 30 ? t[n - 1] : 1.96
		printf "%.3f %.3f %.3f %d\n", exp(m), exp(m - q * se), exp(m + q * se), n }'
}
# mem_mean TSV [FROM]: mean over the samples taken from FROM on of the sum of
# skmem r + w + f over every socket; "-" when there is no sample
mem_mean() {
	awk -v a="${2:-0}" '$2 >= a { m[$1] += $6 + $11 + $10 }
		END { n = 0; s = 0; for (i in m) { s += m[i]; n++ } if (n) printf "%.0f\n", s / n; else print "-" }' "$1"
}
# buf_median TSV NS FIELD: median of a skmem field (9 tb, 7 rb) of the sockets
# in NS that moved data (sent or received more than 64 KB)
buf_median() {
	awk -v ns="$2" -v f="$3" '$3 == ns && ($14 > 65536 || $15 > 65536) { print $f }' "$1" | median
}
goodput() { jq -r '.end.sum_received.bits_per_second // empty' "$1" 2>/dev/null; }
retrans() { jq -r '.end.sum_sent.retransmits // empty' "$1" 2>/dev/null; }
# time_to_rate TSV STEP_T THRESHOLD_BPS: seconds from the step to the end of
# the first window of at least 1 s, starting after the step, in which the
# receiver's bytes_received grew at >= THRESHOLD_BPS; "never" if none
time_to_rate() {
	awk -v st="$2" -v th="$3" '$15 > 65536 { b[$1] += $15; t[$1] = $2; if ($1 > n) n = $1 }
	END {
		for (i = 0; i <= n; i++) {
			if (!(i in t) || t[i] < st) continue
			for (k = i - 1; k >= 0; k--) {
				if (!(k in t)) continue
				if (t[k] < st) { k = -1; break }
				if (t[i] - t[k] >= 1.0) break
			}
			if (k >= 0 && (b[i] - b[k]) * 8 / (t[i] - t[k]) >= th) { printf "%.2f\n", t[i] - st; exit }
		}
		print "never" }' "$1"
}
# rate_between TSV FROM TO: mean receive rate (bit/s) between FROM and TO
rate_between() {
	awk -v a="$2" -v z="$3" '$15 > 65536 { b[$1] += $15; t[$1] = $2; if ($1 > n) n = $1 }
	END { for (i = 0; i <= n; i++) if (i in t) { if (t[i] >= a && !f) { f = 1; t0 = t[i]; b0 = b[i] } if (t[i] <= z) { t1 = t[i]; b1 = b[i] } }
		if (f && t1 > t0) printf "%.0f\n", (b1 - b0) * 8 / (t1 - t0); else print "-" }' "$1"
}
