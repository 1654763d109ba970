#!/usr/bin/env bash
# The maps are pinned, so any root process can write them. What the BPF
# programs read back from them is checked there: a target of 0 is left alone,
# one below --min-buf, above --max-buf or negative as an int is refused (and
# counted), whether it comes from "targets" (live connections) or
# "dest_sizes" (new connections). A garbage entry written into "flows" makes
# the agent write no target out of bounds, print nothing broken, and is
# dropped. (The estimator's side, figures of any size: tests/unit/test_estimate.c
# hostile_figures_stay_in_bounds.)
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || { fail "python3 not found (tests/install-deps.sh installs it)"; finish; }
netpath "${UNIQ}h" 100mbit 100kb || { fail "namespaces set up"; finish; }
MIN=16384 MAX=4194304

# hold PORT: an idle connection from the client namespace to PORT on the
# server side (idle: the agent decides nothing for it, so what it has in
# "targets" is only what this test writes)
hold() {
	local port=$1
	ip netns exec "$NS_S" python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); c, _ = s.accept(); time.sleep(300)' "$S4" "$port" &
	cleanup_add "kill $! 2>/dev/null"
	sleep 0.3
	ip netns exec "$NS_C" python3 -c 'import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2]))); time.sleep(300)' "$S4" "$port" &
	cleanup_add "kill $! 2>/dev/null"
	wait_for 5 sh -c "ip netns exec $NS_C ss -tnH state established 'dport = :$port' | grep -q ."
}
# skmem FIELD PORT: the client socket's tb or rb as ss shows it
skmem() { in_ns "$NS_C" ss -tmH "dport = :$2" | grep -o "$1[0-9]*" | tr -d "$1" | head -1; }
counter() { bpftool -j map lookup pinned "$PIN_DIR/counters" key "$1" 0 0 0 | jq '[.formatted.values[].value] | add'; }
# a pass now (flows asks the agent for one and waits for it)
pass_now() { "$TCPTUNE" flows --json >"$OUT/flows.json"; }
# le BYTES VALUE: VALUE as BYTES little-endian hex bytes, as bpftool takes them
le() { python3 -c 'import sys; print(" ".join("%02x" % b for b in int(sys.argv[2], 0).to_bytes(int(sys.argv[1]), "little")))' "$1" "$2"; }
# target COOKIE SNDBUF RCVBUF CLAMP LOWAT: write a conn_target
target() {
	bpftool map update pinned "$PIN_DIR/targets" key hex $(le 8 "$1") \
		value hex $(le 4 "$2") $(le 4 "$3") $(le 4 "$4") $(le 4 0) $(le 4 0) $(le 4 0) $(le 2 0) $(le 2 0) $(le 4 "$5") $(le 4 0) $(le 4 0) $(le 8 0)
}

OUT=$(mktemp -d /tmp/tcptune-hostile.XXXXXX); cleanup_add "rm -rf $OUT"
agent_start --interval 0.5 --min-buf 16K --max-buf 4M || { fail "agent starts"; finish; }
# before anything is learned: the kernel's own sizes
hold 5701 || { fail "an idle connection is established"; finish; }
# a flow: sockops looks learned sizes up only once the agent learned one
iperf_server "$NS_S" 5700
in_ns "$NS_C" iperf3 -c "$S4" -p 5700 -t 4 >/dev/null 2>&1 || fail "iperf3 flow to learn from"
check "the agent learned sizes for the path" wait_for 5 sh -c "bpftool -j map dump pinned $PIN_DIR/dest_sizes | jq -e 'length > 0'"
pass_now
cookie=$(jq -r --argjson p 5701 '[.[] | select(.dport == $p)][0].cookie // empty' "$OUT/flows.json")
cgroup=$(jq -r --argjson p 5701 '[.[] | select(.dport == $p)][0].cgroup_id // empty' "$OUT/flows.json")
netns=$(jq -r --argjson p 5701 '[.[] | select(.dport == $p)][0].netns_cookie // empty' "$OUT/flows.json")
[ -n "$cookie" ] || { fail "the agent tracks the held connection"; finish; }
tb0=$(skmem tb 5701) rb0=$(skmem rb 5701)
log "held connection: cookie $cookie, cgroup $cgroup, tb $tb0, rb $rb0 (the kernel's)"

# --- targets: a valid one is applied (the write path works) ---
target "$cookie" 262144 0 0 0
pass_now; pass_now
check "a valid target written by another process is applied: tb $(skmem tb 5701) = 262144" [ "$(skmem tb 5701)" = 262144 ]

# --- out of bounds, or negative as an int: refused, counted, nothing moves ---
for t in "0xffffffff 0 0 0 negative sndbuf" "$((MAX + 2)) 0 0 0 sndbuf above max-buf" \
	"8192 0 0 0 sndbuf below min-buf" "0 $((MAX + 2)) 0 0 rcvbuf above max-buf" "0 0x80000000 0 0 negative rcvbuf" \
	"0 0 0xffffffff 0 negative window clamp" "0 0 0 0x80000000 negative TCP_NOTSENT_LOWAT" \
	"0 0 0 $((MAX + 1)) TCP_NOTSENT_LOWAT above max-buf"; do
	read -r snd rcv clamp lowat what <<<"$t"
	refused0=$(counter 5)
	target "$cookie" "$snd" "$rcv" "$clamp" "$lowat"
	pass_now; pass_now
	refused=$(counter 5)
	lowat_now=$(jq -r --argjson p 5701 '[.[] | select(.dport == $p)][0].notsent_lowat' "$OUT/flows.json")
	state="$(skmem tb 5701) $(skmem rb 5701) $lowat_now"
	check "$what: refused (counter $refused0 -> $refused), tb rb lowat unchanged ($state)" \
		[ "$refused" -gt "$refused0" -a "$state" = "262144 $rb0 0" ]
done
target "$cookie" 0 0 0 0
pass_now
refused0=$(counter 5) applied0=$(counter 3)
pass_now; pass_now
state="$(counter 5) $(counter 3) $(skmem tb 5701)"
check "an all-zero target is left alone: neither applied nor refused (refused, applied, tb: $state)" \
	[ "$state" = "$refused0 $applied0 262144" ]

# --- dest_sizes: what a new connection to the held one's /24 starts with ---
# key: cgroup id, family AF_INET, 6 bytes of padding, the /24 prefix
IFS=. read -r a b c _ <<<"$S4"
dest() {
	local cg
	for cg in "$cgroup" 0; do
		bpftool map update pinned "$PIN_DIR/dest_sizes" key hex $(le 8 "$cg") $(le 2 2) 00 00 00 00 00 00 \
			$(printf '%02x %02x %02x 00' "$a" "$b" "$c") $(le 12 0) \
			value hex $(le 4 "$1") $(le 4 "$2") $(le 4 0) $(le 4 0) $(le 4 0) $(le 4 0) $(le 2 0) $(le 2 0) $(le 4 0) $(le 4 0) $(le 4 0) $(le 8 0)
	done
}
dest 65536 0
hold 5702 || fail "a second connection is established"
check "a valid learned size written by another process starts a new connection: tb $(skmem tb 5702) = 65536" [ "$(skmem tb 5702)" = 65536 ]
dest 8192 0xffffffff
hold 5703 || fail "a third connection is established"
state="$(skmem tb 5703) $(skmem rb 5703)"
check "learned sizes below min-buf or negative are not applied: tb rb $state (the kernel's: $tb0 $rb0)" \
	[ "$state" = "$tb0 $rb0" ]

# --- flows: a garbage entry, in a namespace the agent walks ---
# (the agent's next pass may sweep it at once: that the write succeeded is
# the proof it was there)
fake=0x7ffffffffff0001
check "a garbage entry is written into flows" bpftool map update pinned "$PIN_DIR/flows" key hex $(le 8 $fake) \
	value hex $(le 8 "$netns") $(python3 -c 'print(" ".join(["ff"] * '"$(bpftool -j map show pinned "$PIN_DIR/flows" | jq '.bytes_value - 8')"'))')
pass_now
check "flows --json with a garbage entry is still valid JSON" jq -e 'length > 0' "$OUT/flows.json"
check "flows (table) with a garbage entry" "$TCPTUNE" flows
check "no target out of bounds for it" \
	sh -c "! bpftool -j map lookup pinned $PIN_DIR/targets key hex $(le 8 $fake) 2>/dev/null | jq -e '(.formatted.value // empty) | [.sndbuf, .rcvbuf] | any(. != 0 and (. < $MIN or . > $MAX))'"
check "the garbage entry is dropped: no socket backs it" \
	wait_for 10 sh -c "! bpftool map lookup pinned $PIN_DIR/flows key hex $(le 8 $fake) >/dev/null 2>&1"
check "the agent runs on" kill -0 "$AGENT_PID"
check "the agent stops cleanly" agent_stop
finish
