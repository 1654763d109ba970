#!/usr/bin/env bash
# Where stock autotuning is already good, the agent costs nothing: the
# direction of bench/noharm.sh with generous margins, stock first, then under
# a fresh agent, on the same emulated path:
#  - request/response: 10 KB, 100 KB, then 1 MB responses in a row on one
#    connection, then 1 MB on new connections to the same destination, over
#    100 Mbit/s both ways at 40 ms. tcptune's p50 per case <= 1.25 x stock's.
#    (A send buffer locked at the size the 10 KB responses needed made the
#    1 MB ones 1.5-2.5 x slower.)
#  - a rate step up where the stock caps suffice: bbr, 80 ms, 25 -> 200
#    Mbit/s mid-flow. tcptune reaches 90% of the new rate no more than 2 s
#    after stock does. (A locked send buffer probing one doubling per tick
#    took 3-4 s longer.)
#  - a slow reader: `rpc sink` reads 2 MB/s at the server end of a
#    100 Mbit/s, 40 ms path, the client writes as fast as TCP takes it. From
#    10 s on, the writer's send-buffer delay (unsent bytes / delivery rate)
#    under tcptune is at most half of stock's. (A sender whose writer sleeps
#    on its full buffer makes no system call for a tick or more; measured as
#    if its figures were fresh, it was never steady and kept the kernel's
#    buffer: stock's delay.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../wan.sh"

RPC=$ROOT/build/rpc
for tool in iperf3 jq "$RPC"; do
	command -v "$tool" >/dev/null || { fail "$tool not found (make test builds and installs it)"; finish; }
done

# p50 OUT SIZE: the p50 in ms of SIZE's line of an `rpc call` output
p50() { sed -nE "s/^size=$2 .*p50_ms=([0-9.]+).*/\\1/p" <<<"$1" | head -n 1; }
# at_most A FACTOR B: A <= FACTOR x B
at_most() { awk -v a="$1" -v f="$2" -v b="$3" 'BEGIN { exit !(a != "" && b != "" && a <= f * b) }'; }

rpc_sequence() {
	in_ns "$NS_C" "$RPC" call --to "$S4" --port 7100 --sizes 10k,100k,1m --count 20 &&
		in_ns "$NS_C" "$RPC" call --to "$S4" --port 7100 --sizes 1m --count 10 --new
}

request_response() {
	local stock tuned size
	wan_path "${UNIQ}r" 100mbit 40 500kb 100mbit || { fail "request/response path set up"; return; }
	ip netns exec "$NS_S" "$RPC" serve --port 7100 >/dev/null 2>&1 &
	cleanup_add "kill $! 2>/dev/null"
	sleep 0.3
	stock=$(rpc_sequence) || { fail "request/response without the agent: $stock"; return; }
	agent_start --interval 1 || { fail "agent starts"; return; }
	tuned=$(rpc_sequence) || { fail "request/response under the agent: $tuned"; return; }
	agent_stop
	log "stock: $(tr '\n' ' ' <<<"$stock")"
	log "tcptune: $(tr '\n' ' ' <<<"$tuned")"
	for size in 10240 102400 1048576; do
		check "persistent $size B: p50 $(p50 "$tuned" $size) ms <= 1.25 x stock's $(p50 "$stock" $size) ms" \
			at_most "$(p50 "$tuned" $size)" 1.25 "$(p50 "$stock" $size)"
	done
	# the last line is the new connections' 1 MB
	check "new connections 1 MB: p50 $(p50 "$(tail -1 <<<"$tuned")" 1048576) ms <= 1.25 x stock's $(p50 "$(tail -1 <<<"$stock")" 1048576) ms" \
		at_most "$(p50 "$(tail -1 <<<"$tuned")" 1048576)" 1.25 "$(p50 "$(tail -1 <<<"$stock")" 1048576)"
	wan_teardown
}

# step_run TAG: one bbr flow, 25 Mbit/s stepped to 200 Mbit/s after 8 s;
# prints the seconds from the step to the first 1 s window at >= 90% of the
# new ceiling ("never" if none), from the receiver's bytes_received every 0.25 s
step_run() {
	local port=$1 out samples t0 client
	out=$(mktemp); samples=$(mktemp); cleanup_add "rm -f $out $samples"
	iperf_server "$NS_S" "$port" || return 1
	ip netns exec "$NS_C" iperf3 -c "$S4" -p "$port" -t 16 -C bbr -J >"$out" 2>&1 &
	client=$!
	(
		while kill -0 "$client" 2>/dev/null; do
			echo "$EPOCHREALTIME $(ip netns exec "$NS_S" ss -tiH state established "sport = :$port" |
				grep -oE 'bytes_received:[0-9]+' | cut -d: -f2 | sort -n | tail -1)"
			sleep 0.25
		done
	) >"$samples" &
	local sampler=$!
	sleep 8
	t0=$EPOCHREALTIME
	tc -n "$NS_R" qdisc change dev veths root tbf rate 200mbit burst "$(_wan_burst 200000000)" limit 2mb
	wait "$client"
	wait "$sampler"
	tc -n "$NS_R" qdisc change dev veths root tbf rate 25mbit burst "$(_wan_burst 25000000)" limit 250kb
	awk -v st="$t0" -v th="$(wan_ceiling 200mbit | awk '{ print 0.9 * $1 }')" 'NF == 2 && $2 != "" {
		t[n] = $1; b[n] = $2; n++ }
	END {
		for (i = 0; i < n; i++) {
			if (t[i] < st) continue
			for (k = i - 1; k >= 0 && t[k] >= st && t[i] - t[k] < 1.0; k--) ;
			if (k >= 0 && t[k] >= st && (b[i] - b[k]) * 8 / (t[i] - t[k]) >= th) { printf "%.2f\n", t[i] - st; exit }
		}
		print "never" }' "$samples"
}

rate_step_up() {
	local stock tuned
	wan_path "${UNIQ}u" 25mbit 80 250kb || { fail "rate step path set up"; return; }
	wan_cc bbr || { fail "bbr in the end namespaces"; return; }
	stock=$(step_run 5321)
	agent_start --interval 1 || { fail "agent starts"; return; }
	tuned=$(step_run 5322)
	log "send buffers regrown on ACKs (counter regrown): $(bpf_counter 8)"
	agent_stop
	log "bbr 25 -> 200 Mbit/s at 80 ms: time to 90% of the new rate: stock ${stock} s, tcptune ${tuned} s"
	check "rate step up: tcptune reaches 90% of the new rate (${tuned} s) within stock's + 2 s (${stock} s)" \
		awk -v s="$stock" -v t="$tuned" 'BEGIN { exit !(t != "never" && (s == "never" || t <= s + 2)) }'
	wan_teardown
}

# delay_sample PORT: the writer's unsent bytes / delivery rate now, in ms
delay_sample() {
	ip netns exec "$NS_C" ss -tiH state established "dport = :$1" | tr '\n' ' ' |
		awk '{ ns = 0; dr = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^notsent:/) ns = substr($i, 9) + 0
				else if ($i == "delivery_rate") {
					v = $(i + 1)
					dr = (v + 0) * (v ~ /Gbps$/ ? 1e9 : v ~ /Mbps$/ ? 1e6 : v ~ /Kbps$/ ? 1e3 : 1)
				}
			}
			if (dr > 0) printf "%.1f\n", ns * 8 / dr * 1000 }'
}

# slow_run PORT: 15 s of `cat /dev/zero` into the sink; prints the median of
# the writer's send-buffer delay in ms over ten samples from 10 s on
slow_run() {
	local port=$1 writer samples
	samples=$(mktemp); cleanup_add "rm -f $samples"
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 15 ip netns exec "$NS_C" bash -c 'exec 3>"/dev/tcp/$1/$2" && exec cat /dev/zero >&3' \
		_ "$S4" "$port" 2>/dev/null &
	writer=$!
	sleep 10
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		delay_sample "$port" >>"$samples"
		sleep 0.4
	done
	wait "$writer" 2>/dev/null
	ip netns exec "$NS_C" ss -K dport = ":$port" >/dev/null 2>&1
	sort -g "$samples" | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "none" }'
}

slow_reader() {
	local stock tuned
	wan_path "${UNIQ}l" 100mbit 40 500kb 100mbit || { fail "slow reader path set up"; return; }
	ip netns exec "$NS_S" "$RPC" sink --port 7200 --read-bps 2m >/dev/null 2>&1 &
	cleanup_add "kill $! 2>/dev/null"
	sleep 0.3
	stock=$(slow_run 7200)
	agent_start --interval 1 || { fail "agent starts"; return; }
	tuned=$(slow_run 7200)
	agent_stop
	log "reader at 2 MB/s, writer's send-buffer delay (median): stock ${stock} ms, tcptune ${tuned} ms"
	check "slow reader: the writer's send-buffer delay under tcptune (${tuned} ms) at most half of stock's (${stock} ms)" \
		awk -v s="$stock" -v t="$tuned" 'BEGIN { exit !(s != "none" && t != "none" && t <= 0.5 * s) }'
	wan_teardown
}

request_response
rate_step_up
slow_reader
finish
