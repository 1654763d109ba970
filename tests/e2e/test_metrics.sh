#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # helpers run through check and wait_for are reachable
# `run --metrics ADDR:PORT` serves the Prometheus text format at /metrics:
# promtool accepts the page, the histograms are complete, other paths are 404,
# and a real Prometheus server scrapes it (target up, tcptune_connections >= 1
# by PromQL). --metrics-per-connection adds per-connection series, `--metrics
# off` listens nowhere, a bad value is a usage error (2).
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
	skip "prometheus and promtool are not installed (tests/install-deps.sh installs them)"
fi

TMP=$(mktemp -d /tmp/tcptune-metrics.XXXXXX)
cleanup_add "rm -rf $TMP"


# http_get URL [FILE]: GET URL, the body to FILE; prints "STATUS CONTENT-TYPE",
# or "refused" when nothing listens, "error REASON" on any other failure.
http_get() {
	python3 - "$@" <<'EOF'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError as e:
    r = e
except urllib.error.URLError as e:
    print("refused" if isinstance(e.reason, ConnectionRefusedError) else "error %s" % e.reason)
    sys.exit(0)
except OSError as e:
    print("error %s" % e)
    sys.exit(0)
body = r.read()
if len(sys.argv) > 2:
    with open(sys.argv[2], "wb") as f:
        f.write(body)
print(r.status, r.headers.get("Content-Type", "-"))
EOF
}

# histograms_complete FILE: every series of every histogram family has
# non-decreasing buckets ending in le="+Inf", a _sum, and a _count equal to
# the +Inf bucket. Prints what is wrong.
histograms_complete() {
	python3 - "$1" <<'EOF'
import re, sys
hist, series, bad = set(), {}, []
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)')
for line in open(sys.argv[1]):
    m = re.match(r'^# TYPE (\S+) histogram$', line)
    if m:
        hist.add(m.group(1))
        continue
    m = sample.match(line)
    if not m:
        continue
    name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[:-len(suffix)] in hist:
            le = re.search(r'(?:^|,)le="([^"]*)"', labels)
            rest = re.sub(r'(?:^|,)le="[^"]*"', "", labels).lstrip(",")
            s = series.setdefault((name[:-len(suffix)], rest), {"buckets": []})
            if suffix == "_bucket":
                s["buckets"].append((float(le.group(1)) if le else None, value))
            else:
                s[suffix] = value
for h in sorted(hist):
    if not any(k[0] == h for k in series):
        bad.append("%s: no samples" % h)
for (h, labels), s in sorted(series.items()):
    what = "%s{%s}" % (h, labels)
    b = s["buckets"]
    if not b or b[-1][0] != float("inf"):
        bad.append('%s: no le="+Inf" bucket last' % what)
    if any(le is None for le, _ in b) or [le for le, _ in b] != sorted(le for le, _ in b if le is not None):
        bad.append("%s: bucket bounds missing or out of order" % what)
    if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
        bad.append("%s: bucket counts decrease" % what)
    for suffix in ("_sum", "_count"):
        if suffix not in s:
            bad.append("%s: no %s" % (what, suffix))
    if b and "_count" in s and b[-1][1] != s["_count"]:
        bad.append("%s: _count %g != +Inf bucket %g" % (what, s["_count"], b[-1][1]))
if not hist:
    bad.append("no histogram families")
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
}

# histogram_series NAME LABELS FILE: NAME has a le="+Inf" bucket, a _sum and
# a _count with LABELS (as printed, le last; "" for none)
histogram_series() {
	local name=$1 l=$2 f=$3 sel=
	[ -n "$l" ] && sel="{$l}"
	grep -qF "${name}_bucket{${l:+$l,}le=\"+Inf\"} " "$f" &&
		grep -qF "${name}_sum$sel " "$f" && grep -qF "${name}_count$sel " "$f"
}
# first_value NAME FILE: the value of the first sample of NAME (no labels)
first_value() { awk -v n="$1" '$1 == n { print $2; exit }' "$2"; }
# at_least MIN VALUE: VALUE is a number >= MIN
at_least() { awk -v m="$1" -v v="$2" 'BEGIN { exit !(v != "" && v + 0 == v && v >= m) }'; }
# not CMD...: CMD fails
not() { ! "$@"; }
# text_format CONTENT-TYPE: Prometheus text format 0.0.4
text_format() { [[ "$1" == "text/plain;"*"version=0.0.4"* ]]; }
# tcptune_prog_runs: the runs the kernel counted of tcptune's loaded programs
tcptune_prog_runs() {
	bpftool prog show --json 2>/dev/null |
		jq '[.[] | select(.name != null and (.name | test("^(tcptune_|inet_sock_set_state$)"))) | (.run_cnt // 0)] | add // 0'
}
# agent_listens: the TCP sockets the agent listens on, as ADDR:PORT lines
agent_listens() { ss -Hltnp | awk -v p="pid=$AGENT_PID," 'index($0, p) { print $4 }'; }

# --- the metrics endpoint ----------------------------------------------------
PORT=$(free_port 19977)
[ -n "$PORT" ] || { fail "a free port for the metrics endpoint"; finish; }
URL=http://127.0.0.1:$PORT
log "metrics on 127.0.0.1:$PORT"
agent_start --interval 0.5 --metrics "127.0.0.1:$PORT" || { fail "agent starts with --metrics 127.0.0.1:$PORT"; finish; }
private_netns m || { fail "namespace set up"; finish; }
iperf_server "$NS" 5302
in_ns "$NS" iperf3 -c 127.0.0.1 -p 5302 -t 60 -b 100M >/dev/null 2>&1 &
cleanup_add "kill $! 2>/dev/null"
sleep 2

listens=$(agent_listens)
check "the agent listens on 127.0.0.1:$PORT and nowhere else (${listens//$'\n'/ })" [ "$listens" = "127.0.0.1:$PORT" ]

resp=$(http_get "$URL/metrics" "$TMP/page")
log "GET /metrics: $resp"
check "GET /metrics is 200" [ "${resp%% *}" = 200 ]
check "content type is text/plain; version=0.0.4 (${resp#* })" text_format "${resp#* }"
lint=$(promtool check metrics <"$TMP/page" 2>&1)
rc=$?
[ -n "$lint" ] && log "promtool: $lint"
check "promtool check metrics accepts the page (rc $rc)" [ "$rc" = 0 ]
n=$(first_value tcptune_connections "$TMP/page")
check "tcptune_connections >= 1 ($n)" at_least 1 "$n"
for f in connections:gauge buffer_assigned_bytes:gauge cgroup_connections:gauge \
	destination_connections:gauge srtt_seconds:histogram buffer_size_bytes:histogram \
	buffer_changes_total:counter bpf_events_total:counter agent_cpu_seconds_total:counter \
	agent_resident_memory_bytes:gauge ticks_total:counter; do
	check "family tcptune_${f%%:*} is a ${f#*:}" grep -qx "# TYPE tcptune_${f%%:*} ${f#*:}" "$TMP/page"
done
check 'srtt_seconds has a le="+Inf" bucket, _sum, _count' histogram_series tcptune_srtt_seconds "" "$TMP/page"
for buf in sndbuf rcvbuf; do
	check "buffer_size_bytes{buffer=\"$buf\"} has a le=\"+Inf\" bucket, _sum, _count" \
		histogram_series tcptune_buffer_size_bytes "buffer=\"$buf\"" "$TMP/page"
done
hist=$(histograms_complete "$TMP/page")
rc=$?
[ -n "$hist" ] && log "histograms: ${hist//$'\n'/; }"
check "every histogram series: ordered buckets to +Inf, _sum, _count = +Inf bucket" [ "$rc" = 0 ]
check "a cgroup_connections series has a cgroup label" grep -qE '^tcptune_cgroup_connections\{cgroup="[^"]+"\} [1-9]' "$TMP/page"
check "a destination_connections series has a destination label" \
	grep -qE '^tcptune_destination_connections\{destination="[^"]+"\} [1-9]' "$TMP/page"
check "bpf_events_total counts created connections" grep -qE '^tcptune_bpf_events_total\{event="created"\} [1-9]' "$TMP/page"
check "no per-connection series without --metrics-per-connection" not grep -q '^tcptune_connection_' "$TMP/page"
check "no BPF program series without --metrics-bpf-stats" not grep -q '^# TYPE tcptune_bpf_program_' "$TMP/page"
# the kernel's statistics stay off: the agent's programs, run on every
# write of the iperf3 transfer, count no runs
if [ "$(sysctl -n kernel.bpf_stats_enabled)" = 0 ]; then
	runs=$(tcptune_prog_runs)
	check "without --metrics-bpf-stats the kernel counts no runs of tcptune's programs ($runs)" [ "$runs" = 0 ]
else
	log "kernel.bpf_stats_enabled is on here: the statistics' staying off is not checked"
fi
resp=$(http_get "$URL/nope")
check "GET /nope is 404 ($resp)" [ "${resp%% *}" = 404 ]

# --- a real Prometheus server scrapes it ------------------------------------
PPORT=$(free_port $((PORT + 1)))
PROM=http://127.0.0.1:$PPORT
mkdir "$TMP/prom"
cat >"$TMP/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tcptune
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
prometheus --config.file="$TMP/prom/prometheus.yml" --storage.tsdb.path="$TMP/prom/data" \
	--web.listen-address="127.0.0.1:$PPORT" >"$TMP/prom/log" 2>&1 &
PROM_PID=$!
prom_stop() { [ -n "${PROM_PID:-}" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID"; PROM_PID=; }
cleanup_add prom_stop

# prom_api PATH [QUERY]: the JSON of GET PATH (?query=QUERY, encoded)
prom_api() {
	python3 - "$PROM$1" "${2-}" <<'EOF'
import sys, urllib.parse, urllib.request
url = sys.argv[1] + ("?" + urllib.parse.urlencode({"query": sys.argv[2]}) if sys.argv[2] else "")
sys.stdout.write(urllib.request.urlopen(url, timeout=5).read().decode())
EOF
}
prom_ready() { [[ "$(http_get "$PROM/-/ready")" == "200 "* ]]; }
target_up() {
	prom_api /api/v1/targets 2>/dev/null |
		jq -e --arg t "127.0.0.1:$PORT" '[.data.activeTargets[] | select(.labels.job == "tcptune" and .labels.instance == $t and .health == "up")] | length == 1' >/dev/null
}
# query_at_least EXPR MIN: the PromQL instant query's first sample is >= MIN
query_at_least() {
	at_least "$2" "$(prom_api /api/v1/query "$1" 2>/dev/null | jq -r '.data.result[0].value[1] // empty')"
}

if wait_for 20 prom_ready; then
	pass "prometheus is ready on 127.0.0.1:$PPORT"
	check "prometheus shows target 127.0.0.1:$PORT up" wait_for 30 target_up
	check "PromQL tcptune_connections >= 1" wait_for 30 query_at_least tcptune_connections 1
	check "PromQL up{job=\"tcptune\"} == 1" query_at_least 'up{job="tcptune"}' 1
	check "PromQL rate(tcptune_ticks_total[5s]) > 0 (ticks counted between scrapes)" \
		wait_for 15 query_at_least 'rate(tcptune_ticks_total[5s])' 0.1
	check "PromQL histogram_quantile over tcptune_srtt_seconds has a value" \
		query_at_least 'histogram_quantile(0.5, tcptune_srtt_seconds_bucket)' 0
else
	fail "prometheus is ready on 127.0.0.1:$PPORT"
fi
[ "$FAILED" = 0 ] || log "prometheus log: $(grep -E 'level=(warn|error)' "$TMP/prom/log" | tail -n 5)"
prom_stop
agent_stop TERM
rc=$?
check "the agent with a metrics server exits 0 on SIGTERM (rc $rc)" [ "$rc" = 0 ]
check "the metrics port is closed once the agent exits" [ "$(http_get "$URL/metrics")" = refused ]

# --- --metrics-per-connection and --metrics-bpf-stats (the iperf3 transfer
# still runs) -------------------------------------------------------------------
agent_start --interval 0.5 --metrics "127.0.0.1:$PORT" --metrics-per-connection --metrics-bpf-stats ||
	{ fail "agent starts with --metrics-per-connection --metrics-bpf-stats"; finish; }
resp=$(http_get "$URL/metrics" "$TMP/page")
check "--metrics-per-connection: GET /metrics is 200" [ "${resp%% *}" = 200 ]
check "--metrics-per-connection: promtool check metrics accepts the page" promtool check metrics <"$TMP/page"
check "--metrics-per-connection: tcptune_connection_srtt_seconds of the connection to :5302" \
	grep -qE '^tcptune_connection_srtt_seconds\{(.*,)?remote="127\.0\.0\.1:5302"' "$TMP/page"
for f in bpf_program_runs_total bpf_program_run_seconds_total; do
	check "--metrics-bpf-stats: family tcptune_$f is a counter" grep -qx "# TYPE tcptune_$f counter" "$TMP/page"
done
# a page rendered after some runs were counted: the programs' runs go up
page_counts_runs() {
	http_get "$URL/metrics" "$TMP/page" >/dev/null &&
		grep -qE '^tcptune_bpf_program_runs_total\{program="[a-z_]+"\} [1-9]' "$TMP/page"
}
check "--metrics-bpf-stats: a program's runs are counted" wait_for 10 page_counts_runs
runs=$(tcptune_prog_runs)
check "--metrics-bpf-stats: the kernel counts runs of tcptune's programs ($runs)" [ "${runs:-0}" -gt 0 ]
agent_stop TERM

# --- --metrics off -----------------------------------------------------------
default_free=$(http_get http://127.0.0.1:9977/metrics)
agent_start --interval 0.5 --metrics off || { fail "agent starts with --metrics off"; finish; }
listens=$(agent_listens)
check "with --metrics off the agent listens nowhere (${listens//$'\n'/ })" [ -z "$listens" ]
if [ "$default_free" = refused ]; then
	check "with --metrics off 127.0.0.1:9977 refuses connections" [ "$(http_get http://127.0.0.1:9977/metrics)" = refused ]
else
	log "127.0.0.1:9977 was in use before the agent started ($default_free): not checked"
fi
agent_stop TERM
rc=$?
check "the agent with --metrics off exits 0 on SIGTERM (rc $rc)" [ "$rc" = 0 ]

# --- bad input ---------------------------------------------------------------
timeout 5 "$TCPTUNE" run --metrics off --metrics-bpf-stats >"$TMP/out" 2>"$TMP/err"
rc=$?
log "--metrics off --metrics-bpf-stats: rc $rc, stderr: $(cat "$TMP/err")"
check "--metrics-bpf-stats without metrics: a non-zero exit (rc $rc) and one line saying it needs --metrics" \
	bash -c '[ "$1" != 0 ] && [ "$1" != 124 ] && [ "$(wc -l <"$2")" = 1 ] && grep -q -- "--metrics-bpf-stats needs --metrics" "$2"' _ "$rc" "$TMP/err"
# bounded: an agent that took the value would run until killed
timeout 5 "$TCPTUNE" run --metrics nonsense >"$TMP/out" 2>"$TMP/err"
rc=$?
err=$(cat "$TMP/err")
log "--metrics nonsense: rc $rc, stderr: $err"
check "--metrics nonsense exits 2 (rc $rc)" [ "$rc" = 2 ]
check "--metrics nonsense: one line on stderr" [ "$(wc -l <"$TMP/err")" = 1 ]
check "--metrics nonsense: the error names --metrics and the value" grep -qE -- "--metrics '?nonsense'? must be ADDR:PORT or off" "$TMP/err"
check "--metrics nonsense prints nothing on stdout" [ ! -s "$TMP/out" ]

# --- the port already taken ----------------------------------------------------
# one line, exit 1, and nothing loaded, attached, pinned or changed
if hold_port "$PORT"; then
	wmem_before=$(sysctl -n net.core.wmem_max)
	timeout 10 "$TCPTUNE" run --metrics "127.0.0.1:$PORT" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	log "--metrics on a taken port: rc $rc, stderr: $(cat "$TMP/err")"
	check "a taken metrics port: exit 1 (rc $rc)" [ "$rc" = 1 ]
	check "a taken metrics port: one line on stderr saying the address is in use" \
		bash -c '[ "$(wc -l <"$1")" = 1 ] && grep -q "in use" "$1"' _ "$TMP/err"
	check "a taken metrics port: no tcptune program loaded" wait_no_progs 5
	check "a taken metrics port: nothing pinned under $PIN_DIR" bash -c '! ls -A "$1" 2>/dev/null | grep -q .' _ "$PIN_DIR"
	check "a taken metrics port: net.core.wmem_max unchanged" [ "$(sysctl -n net.core.wmem_max)" = "$wmem_before" ]
else
	fail "a process holds 127.0.0.1:$PORT for the taken-port check"
fi
kill "$PORT_HOLDER" 2>/dev/null
finish
