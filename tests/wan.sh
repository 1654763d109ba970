# shellcheck shell=bash
# Emulated WAN paths for the tuning tests and benchmarks: this kernel has no
# netem (see shared KERNEL-NOTES), so the propagation delay comes from a
# userspace delay line (tests/tools/delayline.c) over two TUN devices, and the
# bottleneck is a TBF qdisc. Source it after tests/lib.sh:
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$(dirname "$0")/../wan.sh"
#   wan_path "${UNIQ}w" 200mbit 100 2500kb || { fail "WAN path set up"; finish; }
#   wan_buffers $((64 << 20))          # tcp_rmem/tcp_wmem max + net.core.*mem_max
#   wan_cc bbr                          # congestion control in both end namespaces
#   in_ns "$NS_C" iperf3 -c "$S4" ...
#
# Topology of `wan_path NAME RATE RTT_MS QUEUE [REV_RATE [REV_QUEUE]]`:
#
#   NAMEc (client)          NAMEr (router)                              NAMEs (server)
#   eth0 C4 ---veth--- vethc   dla ==delayline== dlb   veths[TBF] ---veth--- eth0 S4
#
# In the router, policy routing sends what comes in on vethc to the TUN device
# dla, and what comes in on veths to dlb. The delay line (in NAMEr) reads a
# packet from dla and writes it to dlb RTT_MS/2 later (and the other way
# round); a packet written to a TUN device is received on it by the router,
# whose main table sends it on to the other veth. The TBF on veths (towards
# the server) is the bottleneck of the client->server direction: rate RATE
# (tc units: 200mbit, 1gbit), queue limit QUEUE bytes (tc sizes: 2500kb, 4mb).
# It sits after the delay, which for a FIFO path is the same as before it.
# With REV_RATE, a TBF on vethc limits the server->client direction too
# (limit REV_QUEUE, default QUEUE). No TBF on the client's side: TCP small
# queues would keep a local bottleneck queue from ever filling.
#
# The TUN devices take GSO packets (virtio_net_hdr, TSO offload): a sender's
# 64 KiB TSO packet crosses the router and the delay line as one packet, which
# is what lets a 2-core machine carry multi-Gbit/s. TBF still charges each
# segment's 1514-byte frame, so the goodput ceiling of a bulk TCP flow with
# timestamps is RATE x 1448/1514 (wan_ceiling). But a GSO packet no bigger
# than the TBF burst is queued, sent and dropped as a whole (like a TSO burst
# arriving at line rate at a full tail-drop queue); larger ones TBF splits
# into frames. TBF's packet counts count such a packet as 0 (bytes are
# right). WAN_OFFLOAD=0 makes every hop per-frame instead: the delay line's
# thread then carries the server's receive path for each frame, and on the
# 2-vCPU reference VM it saturates around 400-500 Mbit/s (it falls behind,
# adding delay, and the TUN device drops).
#
# Sets NS_C NS_R NS_S, C4 S4 (198.19.N.2 / .130), C6 S6 (fd00:198:18::/48),
# WAN_DL_PID and WAN_DL_LOG (the delay line's output) for the path just made.
# Everything is removed by wan_teardown, which cleanup_add schedules for exit
# and which a test may also call itself (then it is a no-op at exit): it
# aborts the end namespaces' TCP sockets, stops the delay lines (their exit
# counters are logged), deletes the namespaces and restores every global
# sysctl changed with wan_global_sysctl.
#
# Environment:
#   WAN_DELAYLINE      delay line binary (default build/delayline, built with cc
#                      from tests/tools/delayline.c when missing or older)
#   WAN_DELAY_CS_MS    one-way delay client->server (default RTT_MS/2)
#   WAN_DELAY_SC_MS    one-way delay server->client (default RTT_MS/2)
#   WAN_QUEUE_MB       delay line queue per direction (default 64 MiB: holds
#                      2 Gbit/s x 250 ms of one-way delay)
#   WAN_DELAYLINE_ARGS more delay line options (e.g. --quantum-us 0)
#   WAN_OFFLOAD        0: no GSO through the TUN devices (delayline --no-offload)
#   WAN_BURST          TBF burst (default: 1 ms at the TBF's rate, at least 32kb)
#   WAN_TBF_ARGS       more TBF options (e.g. "peakrate 10gbit mtu 1514": every
#                      GSO packet split into frames at the bottleneck; costs
#                      throughput above ~500 Mbit/s here)
#   WAN_TUN_TXQLEN     packets a TUN device holds before the delay line reads
#                      them (default 10000; the kernel drops beyond, counted as
#                      the device's TX drops, see wan_stats)
#   WAN_CC             congestion control default of the end namespaces
#                      (default: unchanged, i.e. copied from the initial namespace)

WAN_DELAYLINE=${WAN_DELAYLINE:-$ROOT/build/delayline}
_WAN_INDEX=0
_WAN_CLEANUP=0
_WAN_PATHS=()  # "c r s pid log" per path
declare -gA _WAN_SAVED=() # global sysctl key -> value to restore

# wan_build: build the delay line if missing or older than its source.
wan_build() {
	local src=$ROOT/tests/tools/delayline.c tmp
	[ -x "$WAN_DELAYLINE" ] && { [ "$WAN_DELAYLINE" -nt "$src" ] || [ ! -f "$src" ]; } && return 0
	mkdir -p "$(dirname "$WAN_DELAYLINE")" || return 1
	tmp="$WAN_DELAYLINE.tmp.$$"
	# not $CC: the benches use CC for the congestion control
	# shellcheck disable=SC2086
	if ! ${HOSTCC:-cc} -O2 -Wall -Wextra -Werror -std=gnu11 -pthread "$src" -o "$tmp"; then
		rm -f "$tmp"
		return 1
	fi
	mv -f "$tmp" "$WAN_DELAYLINE"
}

_wan_cleanup_once() {
	[ "$_WAN_CLEANUP" = 1 ] && return 0
	cleanup_add wan_teardown
	_WAN_CLEANUP=1
}

# _wan_bps RATE: a tc rate (bit, kbit, mbit, gbit, bps, kbps...) in bit/s
_wan_bps() {
	awk -v r="$1" 'BEGIN {
		if (!match(r, /^[0-9]+(\.[0-9]+)?/)) exit 1
		n = substr(r, 1, RLENGTH); u = tolower(substr(r, RLENGTH + 1))
		m["bit"] = 1; m[""] = 1; m["kbit"] = 1e3; m["mbit"] = 1e6; m["gbit"] = 1e9; m["tbit"] = 1e12
		m["bps"] = 8; m["kbps"] = 8e3; m["mbps"] = 8e6; m["gbps"] = 8e9
		m["kibit"] = 1024; m["mibit"] = 1048576; m["gibit"] = 1073741824
		if (!(u in m)) exit 1
		printf "%.0f\n", n * m[u] }'
}

# _wan_burst BPS: TBF burst in bytes for a rate in bit/s (WAN_BURST if set)
_wan_burst() {
	[ -n "${WAN_BURST:-}" ] && { echo "$WAN_BURST"; return; }
	awk -v b="$1" 'BEGIN { v = b / 8 / 1000; if (v < 32768) v = 32768; printf "%.0f\n", v }'
}

# wan_ceiling RATE: goodput ceiling in bit/s of one bulk TCP flow (1448 payload
# bytes per 1514-byte frame) through a TBF of RATE
wan_ceiling() { local bps; bps=$(_wan_bps "$1") && echo $((bps * 1448 / 1514)); }

# _wan_gone PID: the process is gone (or a zombie)
_wan_gone() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ]
}

# wan_path NAME RATE RTT_MS QUEUE [REV_RATE [REV_QUEUE]]: see the top of this file.
wan_path() {
	[ $# -ge 4 ] || { log "usage: wan_path NAME RATE RTT_MS QUEUE [REV_RATE [REV_QUEUE]]"; return 1; }
	local name=$1 rate=$2 rtt=$3 queue=$4 rrate=${5:-} rqueue=${6:-$4}
	local n c s r bps rbps burst cs sc p6c p6s i dlargs=()
	wan_build || { log "cannot build $WAN_DELAYLINE"; return 1; }
	bps=$(_wan_bps "$rate") || { log "bad rate $rate"; return 1; }
	_wan_cleanup_once
	_WAN_INDEX=$((_WAN_INDEX + 1))
	n=$((($$ + _WAN_INDEX) % 250 + 1))
	c="${name}c" r="${name}r" s="${name}s"
	NS_C=$c NS_R=$r NS_S=$s
	C4="198.19.$n.2" S4="198.19.$n.130"
	p6c=$(printf 'fd00:198:18:%x' $((0xc000 + 2 * n))) p6s=$(printf 'fd00:198:18:%x' $((0xc001 + 2 * n)))
	C6="$p6c::2" S6="$p6s::2"
	cs=${WAN_DELAY_CS_MS:-$(awk -v r="$rtt" 'BEGIN { printf "%.3f", r / 2 }')}
	sc=${WAN_DELAY_SC_MS:-$(awk -v r="$rtt" 'BEGIN { printf "%.3f", r / 2 }')}
	burst=$(_wan_burst "$bps")
	[[ "$rtt" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { log "bad RTT_MS $rtt"; return 1; }
	if [ -n "$rrate" ]; then
		rbps=$(_wan_bps "$rrate") || { log "bad reverse rate $rrate"; return 1; }
	fi

	# registered first, so that a half-built path is removed too
	_WAN_PATHS+=("$c $r $s - -")
	for i in "$c" "$r" "$s"; do
		ip netns add "$i" || return 1
		ip -n "$i" link set lo up
		# no duplicate address detection: link-local addresses usable at once
		ip netns exec "$i" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	# router: forwarding, no reverse-path filter (what comes back from a TUN
	# device has a source address routed via the other veth)
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 || return 1
	ip link add eth0 netns "$c" type veth peer name vethc netns "$r" || return 1
	ip link add eth0 netns "$s" type veth peer name veths netns "$r" || return 1
	for i in dla dlb; do
		ip -n "$r" tuntap add dev "$i" mode tun || return 1
		ip -n "$r" link set "$i" txqueuelen "${WAN_TUN_TXQLEN:-10000}" up || return 1
	done
	ip -n "$r" addr add "198.19.$n.1/25" dev vethc &&
		ip -n "$r" addr add "198.19.$n.129/25" dev veths &&
		ip -n "$r" addr add "$p6c::1/64" dev vethc nodad &&
		ip -n "$r" addr add "$p6s::1/64" dev veths nodad &&
		ip -n "$r" link set vethc up && ip -n "$r" link set veths up || return 1
	for i in -4 -6; do
		ip -n "$r" "$i" rule add iif vethc lookup 100 pref 100 &&
			ip -n "$r" "$i" rule add iif veths lookup 101 pref 101 &&
			ip -n "$r" "$i" route add default dev dla table 100 &&
			ip -n "$r" "$i" route add default dev dlb table 101 || return 1
	done
	ip -n "$c" addr add "$C4/25" dev eth0 && ip -n "$c" addr add "$C6/64" dev eth0 nodad &&
		ip -n "$c" link set eth0 up &&
		ip -n "$c" route add default via "198.19.$n.1" &&
		ip -n "$c" -6 route add default via "$p6c::1" || return 1
	ip -n "$s" addr add "$S4/25" dev eth0 && ip -n "$s" addr add "$S6/64" dev eth0 nodad &&
		ip -n "$s" link set eth0 up &&
		ip -n "$s" route add default via "198.19.$n.129" &&
		ip -n "$s" -6 route add default via "$p6s::1" || return 1
	# shellcheck disable=SC2086
	tc -n "$r" qdisc add dev veths root tbf rate "$rate" burst "$burst" limit "$queue" \
		${WAN_TBF_ARGS:-} || return 1
	if [ -n "$rrate" ]; then
		# shellcheck disable=SC2086
		tc -n "$r" qdisc add dev vethc root tbf rate "$rrate" burst "$(_wan_burst "$rbps")" \
			limit "$rqueue" ${WAN_TBF_ARGS:-} || return 1
	fi
	if [ -n "${WAN_CC:-}" ]; then
		wan_cc "$WAN_CC" || return 1
	fi

	[ "${WAN_OFFLOAD:-1}" = 0 ] && dlargs+=(--no-offload)
	WAN_DL_LOG=$(mktemp /tmp/tcptune-delayline.XXXXXX)
	# shellcheck disable=SC2086
	ip netns exec "$r" "$WAN_DELAYLINE" --dev-a dla --dev-b dlb --delay-ab-ms "$cs" \
		--delay-ba-ms "$sc" --queue-mb "${WAN_QUEUE_MB:-64}" \
		"${dlargs[@]}" ${WAN_DELAYLINE_ARGS:-} \
		>"$WAN_DL_LOG" 2>&1 &
	WAN_DL_PID=$!
	_WAN_PATHS[${#_WAN_PATHS[@]} - 1]="$c $r $s $WAN_DL_PID $WAN_DL_LOG"
	for ((i = 0; i < 50; i++)); do
		grep -q '^delayline: ready' "$WAN_DL_LOG" && break
		_wan_gone "$WAN_DL_PID" && break
		sleep 0.1
	done
	grep -q '^delayline: ready' "$WAN_DL_LOG" || {
		log "delay line did not start: $(cat "$WAN_DL_LOG")"
		return 1
	}
	log "wan path $name: $rate, RTT ${cs}+${sc} ms, TBF burst $burst limit $queue${rrate:+, reverse $rrate limit $rqueue}; $C4 -> $S4"
}

# _wan_stop_delayline PID: SIGTERM, wait up to 5 s, then SIGKILL. Returns
# its exit status (0: it stopped cleanly on SIGTERM).
_wan_stop_delayline() {
	local pid=$1 i rc=0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		_wan_gone "$pid" && break
		sleep 0.1
	done
	_wan_gone "$pid" || { kill -KILL "$pid" 2>/dev/null; rc=137; }
	wait "$pid" 2>/dev/null
	i=$?
	[ "$i" = 0 ] || [ "$i" = 127 ] || rc=$i # 127: not this shell's child
	return $rc
}

# wan_teardown: remove every path and restore the global sysctls. Logs each
# delay line's exit counters. Idempotent. Returns 1 if a delay line did not
# exit cleanly on SIGTERM or a sysctl could not be restored.
wan_teardown() {
	local i c r s pid logf key line rc=0
	for ((i = ${#_WAN_PATHS[@]} - 1; i >= 0; i--)); do
		read -r c r s pid logf <<<"${_WAN_PATHS[$i]}"
		# abort connections first: orphans would charge TCP memory for minutes
		ip netns exec "$c" ss -K >/dev/null 2>&1
		ip netns exec "$s" ss -K >/dev/null 2>&1
		if [ "$pid" != - ]; then
			_wan_stop_delayline "$pid" || { log "delay line of $r: exit status $?"; rc=1; }
			while read -r line; do
				log "$r $line"
			done < <(grep -v '^delayline: \(ready\|now\)' "$logf" 2>/dev/null)
			grep -q '^delayline: exit' "$logf" 2>/dev/null || rc=1
			rm -f "$logf"
		fi
		ip netns del "$c" 2>/dev/null
		ip netns del "$r" 2>/dev/null
		ip netns del "$s" 2>/dev/null
	done
	_WAN_PATHS=()
	for key in "${!_WAN_SAVED[@]}"; do
		sysctl -qw "$key=${_WAN_SAVED[$key]}" || { log "could not restore $key=${_WAN_SAVED[$key]}"; rc=1; }
		unset "_WAN_SAVED[$key]"
	done
	return $rc
}

# wan_sysctl NS KEY VALUE: set a per-namespace sysctl (tcp_rmem, tcp_wmem,
# tcp_congestion_control...) in namespace NS.
wan_sysctl() { ip netns exec "$1" sysctl -qw "$2=$3"; }

# wan_global_sysctl KEY VALUE: set a sysctl of the initial namespace (such as
# net.core.rmem_max, which namespaces cannot write); the first value seen is
# restored by wan_teardown.
wan_global_sysctl() {
	local key=$1 val=$2 old
	_wan_cleanup_once
	if [ -z "${_WAN_SAVED[$key]+set}" ]; then
		old=$(sysctl -n "$key") || return 1
		_WAN_SAVED[$key]=$old
	fi
	sysctl -qw "$key=$val"
}

# wan_buffers MAX [NS...]: TCP buffers may grow to MAX bytes in the namespaces
# (default NS_C and NS_S): tcp_rmem/tcp_wmem max = MAX, and the global
# net.core.rmem_max/wmem_max raised to MAX (for SO_RCVBUF/SO_SNDBUF) if lower.
wan_buffers() {
	local max=$1 ns key
	shift
	[ $# -gt 0 ] || set -- "$NS_C" "$NS_S"
	for ns in "$@"; do
		wan_sysctl "$ns" net.ipv4.tcp_rmem "4096 131072 $max" &&
			wan_sysctl "$ns" net.ipv4.tcp_wmem "4096 16384 $max" || return 1
	done
	for key in net.core.rmem_max net.core.wmem_max; do
		[ "$(sysctl -n "$key")" -ge "$max" ] || wan_global_sysctl "$key" "$max" || return 1
	done
}

# wan_cc CC [NS...]: default congestion control in the namespaces (default
# NS_C and NS_S). A namespace may only default to one of the initial
# namespace's net.ipv4.tcp_allowed_congestion_control (iperf3 -C sets any
# loaded one per socket).
wan_cc() {
	local cc=$1 ns
	shift
	[ $# -gt 0 ] || set -- "$NS_C" "$NS_S"
	for ns in "$@"; do
		wan_sysctl "$ns" net.ipv4.tcp_congestion_control "$cc" || return 1
	done
}

# wan_stats: counters of the last path: its TBF qdiscs, TUN devices (TX
# drops: packets the delay line did not read in time) and delay line.
wan_stats() {
	local dev
	for dev in veths vethc; do
		tc -n "$NS_R" -s qdisc show dev "$dev" | awk -v d="$dev" '
			/^qdisc tbf/ { q = 1; next } q && /Sent/ { print "wan: tbf " d ": " $0; q = 0 }'
	done
	for dev in dla dlb; do
		echo "wan: tun $dev tx_dropped=$(ip netns exec "$NS_R" cat "/sys/class/net/$dev/statistics/tx_dropped")"
	done
	kill -USR1 "$WAN_DL_PID" 2>/dev/null && sleep 0.1
	grep '^delayline: now' "$WAN_DL_LOG" | tail -2
}

# wan_delayline_cpu_ms: CPU time (user + system, ms) the last path's delay line used so far
wan_delayline_cpu_ms() {
	local hz
	hz=$(getconf CLK_TCK)
	awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1000 / hz }' "/proc/$WAN_DL_PID/stat"
}

# wan_path_join CLIENT_NS NAME RATE RTT_MS QUEUE [REV_RATE [REV_QUEUE]]: a
# second path from an existing client namespace (made by wan_path) to a new
# server, with its own router, delay line and bottleneck. Built by wan_path
# (so the same options and environment apply), after which the new path's
# client-side veth end moves into CLIENT_NS as ethN (the first free N >= 1)
# with the new client address and a route to the new server's /25 (not a
# default route: the first path keeps that); the namespace NAMEc stays, empty,
# and goes with the path at teardown.
#
#   CLIENT_NS ethN C4 ---veth--- NAMEr (delay line, TBF) ---veth--- NAMEs S4
#
# Sets NS_C=CLIENT_NS, NS_R, NS_S, C4, S4, C6, S6, WAN_DL_PID, WAN_DL_LOG and
# WAN_JOIN_DEV (ethN) for the joined path. IPv6 is routed too.
wan_path_join() {
	[ $# -ge 5 ] || { log "usage: wan_path_join CLIENT_NS NAME RATE RTT_MS QUEUE [REV_RATE [REV_QUEUE]]"; return 1; }
	local client=$1 i dev gw4 gw6 p4 p6
	shift
	[ -e "/run/netns/$client" ] || { log "no namespace $client"; return 1; }
	wan_path "$@" || return 1
	for ((i = 1; i < 100; i++)); do
		ip -n "$client" link show "eth$i" >/dev/null 2>&1 || break
	done
	dev=eth$i
	# the router side's addresses: .1 (v4) and ::1 (v6) of the client's subnet
	gw4=${C4%.*}.$((${C4##*.} - 1))
	gw6=${C6%::2}::1
	p4=${S4%.*}.128/25
	p6=${S6%::2}::/64
	ip -n "$NS_C" link set eth0 down &&
		ip -n "$NS_C" link set eth0 name "$dev" &&
		ip -n "$NS_C" link set "$dev" netns "$client" || { log "cannot move $NS_C eth0 into $client"; return 1; }
	NS_C=$client
	# shellcheck disable=SC2034 # for the caller
	WAN_JOIN_DEV=$dev
	ip -n "$client" addr add "$C4/25" dev "$dev" &&
		ip -n "$client" addr add "$C6/64" dev "$dev" nodad &&
		ip -n "$client" link set "$dev" up &&
		ip -n "$client" route add "$p4" via "$gw4" dev "$dev" &&
		ip -n "$client" -6 route add "$p6" via "$gw6" dev "$dev" ||
		{ log "cannot address $dev in $client"; return 1; }
	log "wan path $1 joined to $client as $dev: $C4 -> $S4"
}
