#!/usr/bin/env bash
# `tcptune flows --json` agrees with the kernel's own view (ss) of the same
# sockets at the same moment, and with iperf3's measured rate, for IPv4 and
# IPv6 over a TBF bottleneck between two namespaces; closed connections leave.
. "$(dirname "$0")/../lib.sh"

RATE_MBIT=200
SAMPLES=8
# observe: this test checks what is measured, so nothing may change the sockets
agent_start --observe --interval 0.5 || { fail "agent starts"; finish; }
netpath "${UNIQ}f" "${RATE_MBIT}mbit" 200kb || { fail "namespaces set up"; finish; }

# within PCT A B: |A-B| <= PCT% of B
within() { awk -v p="$1" -v a="$2" -v b="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 ? d <= b * p / 100 : a == 0) }'; }

# ss_field SSLINE KEY: the value of KEY:VALUE (first part before '/' or ',')
ss_field() { grep -oE "(^|[ (,])$2[:]?[0-9.]+" <<<"$1" | head -1 | grep -oE '[0-9.]+$'; }

# ss_rate SSLINE: ss's delivery_rate in bit/s (ss prints it as 137.9Mbps, 1.2Gbps, 950kbps, 12bps)
ss_rate() {
	grep -oE 'delivery_rate [0-9.]+[kMG]?bps' <<<"$1" | awk '{
		v = $2; m = 1
		if (v ~ /Gbps$/) m = 1e9; else if (v ~ /Mbps$/) m = 1e6; else if (v ~ /kbps$/) m = 1e3
		sub(/[kMG]?bps$/, "", v); printf "%d\n", v * m }'
}

# in_spread PCT VALUE SAMPLE...: VALUE within PCT% below the least sample and
# above the greatest
in_spread() {
	local p=$1 v=$2
	shift 2
	printf '%s\n' "$@" | awk -v p="$p" -v v="$v" 'NR == 1 || $1 < lo { lo = $1 } NR == 1 || $1 > hi { hi = $1 }
		END { exit !(NR && v >= lo * (1 - p / 100) && v <= hi * (1 + p / 100)) }'
}

run_family() {
	local fam=$1 server=$2 port=$3 out
	out=$(mktemp); cleanup_add "rm -f $out"
	iperf_server "$NS_S" "$port"
	# long enough for every sample, also with a slow (sanitized) agent
	in_ns "$NS_C" iperf3 -c "$server" -p "$port" -t 20 -i 1 --json >"$out" 2>&1 &
	local client=$!
	cleanup_add "kill $client 2>/dev/null"
	sleep 3

	local ok_rtt=0 ok_cwnd=0 ok_buf=0 ok_rbuf=0 ok_owner=0 ok_recv=0 n=0 i json line sport
	local rates=() ss_rates=() rtts=() ss_rtts=() cwnds=() ss_cwnds=()
	for ((i = 0; i < SAMPLES; i++)); do
		# the two readings as close together as two processes allow
		json=$("$TCPTUNE" flows --json)
		line=$(in_ns "$NS_C" ss -tinmH "dport = :$port")
		local rline
		rline=$(in_ns "$NS_S" ss -tinmH "sport = :$port")
		# the data connection is the one that moved bytes: the largest bytes_acked
		local entry
		entry=$(jq -c --argjson p "$port" --arg fam "$fam" \
			'[.[] | select(.dport == $p and .family == $fam)] | max_by(.bytes_acked)' <<<"$json")
		[ "$entry" = null ] && { log "sample $i: no $fam entry for port $port"; sleep 0.5; continue; }
		sport=$(jq -r .sport <<<"$entry")
		# ss prints one socket per two lines: header then info; pick ours by sport
		local ssline
		ssline=$(awk -v sp=":$sport" '$0 ~ sp" " {getline info; print $0 " " info; exit}' <<<"$line")
		[ -z "$ssline" ] && { log "sample $i: ss has no socket with sport $sport"; sleep 0.5; continue; }
		local srtt cwnd tb rb ss_rtt_us
		srtt=$(jq .srtt_us <<<"$entry"); cwnd=$(jq .cwnd <<<"$entry")
		ss_rtt_us=$(awk -v r="$(ss_field "$ssline" rtt)" 'BEGIN { printf "%d", r * 1000 }')
		tb=$(ss_field "$ssline" tb); rb=$(ss_field "$ssline" rb)
		log "sample $i $fam: srtt ${srtt}us vs ss ${ss_rtt_us}us, cwnd $cwnd vs $(ss_field "$ssline" cwnd), sndbuf $(jq .sndbuf <<<"$entry") vs tb $tb, rcvbuf $(jq .rcvbuf <<<"$entry") vs rb $rb, rate $(jq .delivery_rate_bps <<<"$entry")"
		n=$((n + 1))
		within 50 "$srtt" "$ss_rtt_us" && ok_rtt=$((ok_rtt + 1))
		within 50 "$cwnd" "$(ss_field "$ssline" cwnd)" && ok_cwnd=$((ok_cwnd + 1))
		rtts+=("$srtt"); ss_rtts+=("$ss_rtt_us")
		cwnds+=("$cwnd"); ss_cwnds+=("$(ss_field "$ssline" cwnd)")
		within 10 "$(jq .sndbuf <<<"$entry")" "$tb" && ok_buf=$((ok_buf + 1))
		within 10 "$(jq .rcvbuf <<<"$entry")" "$rb" && ok_rbuf=$((ok_rbuf + 1))
		rates+=("$(jq .delivery_rate_bps <<<"$entry")")
		ss_rates+=("$(ss_rate "$ssline")")
		[ "$(jq -r .comm <<<"$entry")" = iperf3 ] && [ "$(jq .pid <<<"$entry")" -gt 0 ] && ok_owner=$((ok_owner + 1))
		# the receiving end of the same connection, on the server
		local rentry rss
		rentry=$(jq -c --argjson p "$port" --argjson sp "$sport" \
			'[.[] | select(.sport == $p and .dport == $sp)] | first' <<<"$json")
		rss=$(awk -v sp=":$sport" '$0 ~ sp"[ ]*$" || $0 ~ sp" " {getline info; print $0 " " info; exit}' <<<"$rline")
		if [ "$rentry" != null ] && [ -n "$rss" ]; then
			log "sample $i $fam receiver: rcvbuf $(jq .rcvbuf <<<"$rentry") vs rb $(ss_field "$rss" rb), sndbuf $(jq .sndbuf <<<"$rentry") vs tb $(ss_field "$rss" tb)"
			within 10 "$(jq .rcvbuf <<<"$rentry")" "$(ss_field "$rss" rb)" &&
				within 10 "$(jq .sndbuf <<<"$rentry")" "$(ss_field "$rss" tb)" && ok_recv=$((ok_recv + 1))
		fi
		sleep 0.5
	done
	# most samples must agree. The agent's entry is as old as the socket's
	# last refresh (up to a tick) and srtt and cwnd swing with the TBF queue
	# and cubic's halvings, so single samples are compared loosely (which
	# still catches a wrong unit or shift) and the medians closely.
	local need=$((SAMPLES - 1))
	check "$fam: sampled the data connection in every round ($n/$SAMPLES)" [ "$n" = "$SAMPLES" ]
	check "$fam: srtt within 50% of ss in $ok_rtt/$n samples (need $need)" [ "$ok_rtt" -ge "$need" ]
	check "$fam: srtt median ($(median "${rtts[@]}") us) within 20% of ss's ($(median "${ss_rtts[@]}") us)" \
		within 20 "$(median "${rtts[@]}")" "$(median "${ss_rtts[@]}")"
	check "$fam: cwnd within 50% of ss in $ok_cwnd/$n samples (need $need)" [ "$ok_cwnd" -ge "$need" ]
	check "$fam: cwnd median ($(median "${cwnds[@]}")) within 20% of ss's ($(median "${ss_cwnds[@]}"))" \
		within 20 "$(median "${cwnds[@]}")" "$(median "${ss_cwnds[@]}")"
	check "$fam: sndbuf within 10% of skmem tb in $ok_buf/$n samples" [ "$ok_buf" -ge "$need" ]
	check "$fam: rcvbuf within 10% of skmem rb in $ok_rbuf/$n samples" [ "$ok_rbuf" -ge "$need" ]
	check "$fam: owner pid and comm (iperf3) known in $ok_owner/$n samples" [ "$ok_owner" = "$n" ]
	check "$fam: receiver's rcvbuf and sndbuf within 10% of its skmem rb/tb in $ok_recv/$n samples" [ "$ok_recv" -ge "$need" ]

	wait "$client"
	local iperf_bps ours_bps ss_bps
	iperf_bps=$(jq '[.intervals[3:][].sum.bits_per_second] | add / length' "$out")
	ours_bps=$(median "${rates[@]}")
	ss_bps=$(median "${ss_rates[@]}")
	log "$fam: delivery rate samples ${rates[*]}: median ${ours_bps} bps; ss ${ss_rates[*]}: median ${ss_bps} bps; iperf3 ${iperf_bps} bps"
	# each sample is the kernel's rate over the last round trip, which swings
	# with the TBF's bursts and a slow (sanitized) reader, between two levels
	# that half of a few samples may each take: the median of ours is judged
	# against the spread of ss's readings of the same field at the same
	# moments, and against iperf3's average loosely, which still catches a
	# wrong unit (8x or 1000x off)
	check "$fam: delivery rate median ($ours_bps) within 25% of the spread of ss's (median $ss_bps)" \
		in_spread 25 "$ours_bps" "${ss_rates[@]}"
	check "$fam: delivery rate median ($ours_bps) within 50% of iperf3's average ($iperf_bps)" within 50 "$ours_bps" "$iperf_bps"

	# closed connections leave the map
	local left=1
	for ((i = 0; i < 20; i++)); do
		left=$("$TCPTUNE" flows --json | jq --argjson p "$port" '[.[] | select(.dport == $p or .sport == $p)] | length')
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	check "$fam: closed connections disappear ($left left)" [ "$left" = 0 ]
}

run_family ipv4 "$S4" 5201
run_family ipv6 "$S6" 5202
finish
