#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2119,SC2317 # single quotes on purpose (sh -c scripts); helpers run through check are reachable; agent_stop and wait_no_progs take no arguments here
# deploy/: the Kubernetes manifest, the Prometheus configuration and the
# Grafana dashboard, each through the strongest offline checker to be had:
# - YAML: yamllint.
# - Kubernetes: every object against python3-kubernetes' API models (unknown
#   fields, types, required fields), kubernetes-models' JSON-schema validators
#   (enums, formats such as quantities), tsc with kubernetes-models' types
#   (unknown fields, Kubernetes 1.34), and the rules the API server adds and
#   tcptune needs (labels, volumes, ports, probes, annotations, capabilities,
#   mounts); the ConfigMap passes `tcptune check-config`; the Dockerfile's
#   packages hold the libraries the binary links.
# - The agent run as the pod runs it: only the container's capabilities,
#   /proc/sys and the cgroup2 mount read-only, after the init container's
#   script: it starts, serves /metrics, and sees a connection in a namespace
#   of another user's process (not without SYS_PTRACE). Without the init
#   container it cannot start.
# - Prometheus: promtool check config (with file_sd in place of the Kubernetes
#   discovery, which Debian's promtool lacks, checked by its documented keys),
#   and a real Prometheus whose file_sd targets are pods as the discovery
#   describes them: the annotated pod is scraped at its annotated port with
#   the node as instance, the others are dropped.
# - Grafana: the JSON parses, tsc with @grafana/schema's types (dashboard and
#   each panel's options), every PromQL expression parses (promtool check
#   rules), names only metrics the agent serves, all of them, and returns data
#   from that Prometheus.
# npm packages (pinned below) are installed into the test's temporary folder.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

DEPLOY=$ROOT/deploy
MANIFEST=$DEPLOY/kubernetes/tcptune-daemonset.yaml
DOCKERFILE=$DEPLOY/kubernetes/Dockerfile
PROMCFG=$DEPLOY/prometheus/prometheus.yml
DASHBOARD=$DEPLOY/grafana/tcptune-dashboard.json
PY=/usr/bin/python3 # Debian's, with python3-yaml and python3-kubernetes
NPM_PACKAGES=(kubernetes-models@5.1.0 @grafana/schema@12.4.11 typescript@5.9.3)
REAL_TCPTUNE=$TCPTUNE

missing=()
for tool in yamllint promtool prometheus jq node npm setpriv unshare nsenter ip readelf dpkg-query; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
"$PY" -c 'import yaml, kubernetes' 2>/dev/null || missing+=("python3-yaml/python3-kubernetes for $PY")
if [ ${#missing[@]} != 0 ]; then
	fail "tools missing: ${missing[*]} (tests/install-deps.sh installs the Debian ones; node and npm come with the machine)"
	finish
fi
for f in "$MANIFEST" "$DOCKERFILE" "$PROMCFG" "$DASHBOARD"; do
	[ -f "$f" ] || { fail "$f is missing"; finish; }
done

TMP=$(mktemp -d /tmp/tcptune-deploy.XXXXXX)
cleanup_add "rm -rf $TMP"
mkdir "$TMP/npm"

# check_out WHAT CMD...: pass if CMD succeeds, else fail and show its output
check_out() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$what"
	else
		fail "$what"
		printf '%s\n' "$out" | head -n 25 | sed 's/^/#   /'
	fi
}


# http_status URL [FILE]: the HTTP status of GET URL (body to FILE), or "error"
http_status() {
	"$PY" - "$@" <<'EOF'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError as e:
    r = e
except OSError:
    print("error")
    sys.exit(0)
body = r.read()
if len(sys.argv) > 2:
    open(sys.argv[2], "wb").write(body)
print(r.status)
EOF
}

# ------------------------------------------------------------ the helpers
cat >"$TMP/k8s.py" <<'EOF'
"""Checks of deploy/kubernetes/tcptune-daemonset.yaml with Debian's
python3-yaml and python3-kubernetes. Usage: k8s.py COMMAND MANIFEST [ARG]
  json OUT       every document, as a JSON array (for the npm validators)
  models         each object against the Kubernetes API models of
                 python3-kubernetes: unknown fields, types, required fields
  semantics      what the API server and tcptune need beyond the schema
  get KEY        one value for the test: caps, init-script, init-want,
                 args, config, config-path, metrics-port
Problems go to stdout, one a line; exit 1 when there is any."""
import difflib
import json
import re
import sys

import yaml

CMD, PATH = sys.argv[1], sys.argv[2]
with open(PATH) as f:
    DOCS = [d for d in yaml.safe_load_all(f) if d is not None]
PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)


def done():
    for p in PROBLEMS:
        print(p)
    sys.exit(1 if PROBLEMS else 0)


def the(kind):
    found = [d for d in DOCS if d.get("kind") == kind]
    if len(found) != 1:
        problem(f"want exactly one {kind}, found {len(found)}")
        done()
    return found[0]


def agent_container(ds):
    cs = [c for c in ds["spec"]["template"]["spec"]["containers"] if c.get("name") == "tcptune"]
    if len(cs) != 1:
        problem("the DaemonSet has no container named tcptune")
        done()
    return cs[0]


# ---------------------------------------------------------------- models
def models():
    import kubernetes.client as K

    kinds = {("v1", "Namespace"): "V1Namespace", ("v1", "ServiceAccount"): "V1ServiceAccount",
             ("v1", "ConfigMap"): "V1ConfigMap", ("apps/v1", "DaemonSet"): "V1DaemonSet"}
    prims = {"str": str, "bool": bool, "int": int, "float": (int, float), "datetime": str, "date": str}

    def apparmor(value, path):
        # securityContext.appArmorProfile is Kubernetes 1.30, newer than
        # python3-kubernetes' models (1.22): checked by hand
        if not isinstance(value, dict) or set(value) - {"type", "localhostProfile"}:
            problem(f"{path}: want an object with type (and localhostProfile)")
        elif value.get("type") not in ("RuntimeDefault", "Unconfined", "Localhost"):
            problem(f"{path}.type: {value.get('type')!r} is not RuntimeDefault, Unconfined or Localhost")
        elif (value["type"] == "Localhost") != ("localhostProfile" in value):
            problem(f"{path}: localhostProfile goes with type Localhost, and only with it")

    newer = {("V1SecurityContext", "appArmorProfile"): apparmor}
    cfg = K.Configuration()
    cfg.client_side_validation = True

    def walk(value, typ, path):
        if typ.startswith("list["):
            if not isinstance(value, list):
                return problem(f"{path}: want a list ({typ}), got {type(value).__name__}")
            for i, v in enumerate(value):
                walk(v, typ[5:-1], f"{path}[{i}]")
            return
        m = re.fullmatch(r"dict\(([^,]+), (.+)\)", typ)
        if m:
            if not isinstance(value, dict):
                return problem(f"{path}: want a map ({typ}), got {type(value).__name__}")
            for k, v in value.items():
                if not isinstance(k, str):
                    problem(f"{path}: key {k!r} is not a string")
                walk(v, m.group(2), f"{path}.{k}")
            return
        if typ == "object":  # IntOrString, RawExtension
            return
        if typ in prims:
            ok = isinstance(value, prims[typ]) and not (typ in ("int", "float") and isinstance(value, bool))
            if not ok:
                problem(f"{path}: want {typ}, got {type(value).__name__} {value!r}")
            return
        cls = getattr(K, typ, None)
        if cls is None:
            return problem(f"{path}: no model {typ} in python3-kubernetes")
        if not isinstance(value, dict):
            return problem(f"{path}: want an object ({typ}), got {type(value).__name__}")
        attr = {j: p for p, j in cls.attribute_map.items()}
        kwargs = {}
        for key, v in value.items():
            if (typ, key) in newer:
                newer[(typ, key)](v, f"{path}.{key}")
            elif key not in attr:
                near = difflib.get_close_matches(key, attr, 1)
                problem(f"{path}: unknown field {key!r} in {typ}" + (f" (did you mean {near[0]!r}?)" if near else ""))
            else:
                walk(v, cls.openapi_types[attr[key]], f"{path}.{key}")
                kwargs[attr[key]] = v
        try:  # the models' own checks: required fields
            cls(local_vars_configuration=cfg, **kwargs)
        except (ValueError, TypeError) as e:
            problem(f"{path} ({typ}): {e}")

    for i, d in enumerate(DOCS):
        key = (d.get("apiVersion"), d.get("kind"))
        if key not in kinds:
            problem(f"document {i}: no model for apiVersion {key[0]!r} kind {key[1]!r}")
            continue
        walk(d, kinds[key], f"{key[1]}")
    done()


# ------------------------------------------------------------- semantics
DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?")


def quantity(q):
    m = re.fullmatch(r"([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(q))
    mult = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return float(m.group(1)) * mult[m.group(2)]


def semantics():
    ns, sa, cm, ds = the("Namespace"), the("ServiceAccount"), the("ConfigMap"), the("DaemonSet")
    name = ns["metadata"]["name"]
    for d in DOCS:
        md = d["metadata"]
        if not DNS1123.fullmatch(md["name"]) or len(md["name"]) > 63:
            problem(f"{d['kind']} name {md['name']!r} is not a DNS-1123 label")
        if d is not ns and md.get("namespace") != name:
            problem(f"{d['kind']} {md['name']} is not in namespace {name}")
    if ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "privileged":
        problem("the namespace must allow privileged pods (pod-security.kubernetes.io/enforce: privileged)")

    spec = ds["spec"]
    tpl = spec["template"]
    pod = tpl["spec"]
    sel = spec["selector"].get("matchLabels", {})
    labels = tpl["metadata"].get("labels", {})
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        problem(f"selector {sel} does not match the template's labels {labels}")
    if pod.get("serviceAccountName") != sa["metadata"]["name"]:
        problem("the pod does not use the ServiceAccount of the manifest")
    if not pod.get("hostNetwork"):
        problem("hostNetwork must be true (the host's namespace, metrics on the node's address)")
    if not pod.get("hostPID"):
        problem("hostPID must be true (/proc lists every process: their network namespaces)")
    if pod.get("hostNetwork") and pod.get("dnsPolicy") not in (None, "ClusterFirstWithHostNet", "Default", "None"):
        problem(f"dnsPolicy {pod.get('dnsPolicy')} on hostNetwork")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounted = set()
    containers = pod.get("initContainers", []) + pod["containers"]
    for c in containers:
        names = [c["name"] for c in containers]
        if names.count(c["name"]) != 1:
            problem(f"container name {c['name']} is not unique")
        sc = c.get("securityContext", {})
        caps = sc.get("capabilities", {})
        if sc.get("allowPrivilegeEscalation") is False and (sc.get("privileged") or "SYS_ADMIN" in caps.get("add", [])):
            problem(f"{c['name']}: allowPrivilegeEscalation false with privileged or SYS_ADMIN is refused by the API")
        for m in c.get("volumeMounts", []):
            mounted.add(m["name"])
            if m["name"] not in volumes:
                problem(f"{c['name']}: volumeMount {m['name']} has no volume")
            prop = m.get("mountPropagation", "None")
            if prop not in ("None", "HostToContainer", "Bidirectional"):
                problem(f"{c['name']}: mountPropagation {prop}")
            if prop == "Bidirectional" and not sc.get("privileged"):
                problem(f"{c['name']}: Bidirectional propagation needs a privileged container")
        ports = c.get("ports", [])
        pnames = []
        for p in ports:
            if "name" in p:
                pnames.append(p["name"])
                if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?", p["name"]) or not re.search("[a-z]", p["name"]):
                    problem(f"{c['name']}: port name {p['name']!r} is not an IANA service name (15 chars)")
            if pod.get("hostNetwork") and p.get("hostPort", p["containerPort"]) != p["containerPort"]:
                problem(f"{c['name']}: on hostNetwork hostPort must equal containerPort")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            hg = c.get(probe, {}).get("httpGet")
            if hg and isinstance(hg["port"], str) and hg["port"] not in pnames:
                problem(f"{c['name']}: {probe} port {hg['port']} is not a named port")
        env = {e["name"] for e in c.get("env", [])}
        for a in c.get("args", []) + c.get("command", []):
            for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
                if ref not in env:
                    problem(f"{c['name']}: $({ref}) is not an env var of the container")
        res = c.get("resources", {})
        for r, lim in res.get("limits", {}).items():
            for q in (lim, res.get("requests", {}).get(r, "0")):
                if not QUANTITY.fullmatch(str(q)):
                    problem(f"{c['name']}: {r} {q!r} is not a quantity")
            if QUANTITY.fullmatch(str(lim)) and quantity(res.get("requests", {}).get(r, "0")) > quantity(lim):
                problem(f"{c['name']}: {r} request above its limit")
        if "limits" not in res or "requests" not in res:
            problem(f"{c['name']}: resources want requests and limits")
    for v in volumes:
        if v not in mounted:
            problem(f"volume {v} is not mounted")

    # the agent container: tcptune's own needs
    c = agent_container(ds)
    sc = c.get("securityContext", {})
    if sc.get("privileged"):
        problem("the agent container is privileged: its capabilities are enough")
    caps = sc.get("capabilities", {})
    if caps.get("drop") != ["ALL"]:
        problem("the agent container should drop ALL capabilities and add back what it needs")
    # what `tcptune run` checks for, and SYS_PTRACE for other users' namespaces
    want = {"BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"}
    if not want <= set(caps.get("add", [])):
        problem(f"capabilities.add lacks {sorted(want - set(caps.get('add', [])))} (the agent needs them)")
    if not sc.get("readOnlyRootFilesystem"):
        problem("readOnlyRootFilesystem should be true (the agent writes only below /run/tcptune and /sys/fs/bpf)")
    hostpaths = {v["hostPath"]["path"]: n for n, v in volumes.items() if "hostPath" in v}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    for path, why in (("/sys/fs/bpf", "pins (bpffs)"), ("/sys/fs/cgroup", "the cgroup2 root"),
                      ("/run/tcptune", "lock and state"), ("/run/netns", "named network namespaces")):
        m = mounts.get(path)
        if not m or m["name"] != hostpaths.get(path):
            problem(f"the agent needs the host's {path} ({why}) mounted at {path}")
    if mounts.get("/run/netns", {}).get("mountPropagation") != "HostToContainer":
        problem("/run/netns needs mountPropagation HostToContainer (namespaces created later)")
    if mounts.get("/run/tcptune", {}).get("readOnly") or mounts.get("/sys/fs/bpf", {}).get("readOnly"):
        problem("/run/tcptune and /sys/fs/bpf must be writable")

    args = c.get("args", [])
    def arg(flag):
        if flag in args and args.index(flag) + 1 < len(args):
            return args[args.index(flag) + 1]
        return None
    if args[:1] != ["run"]:
        problem("the agent's args must start with run")
    conf = arg("--config")
    cmvols = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == cm["metadata"]["name"]]
    conf_dir, _, conf_key = (conf or "").rpartition("/")
    if not cmvols or not any(m["name"] in cmvols and m["mountPath"] == conf_dir for m in mounts.values()):
        problem(f"--config {conf}: the ConfigMap is not mounted at {conf_dir}")
    if conf_key not in cm.get("data", {}):
        problem(f"--config {conf}: the ConfigMap has no key {conf_key}")
    metrics = arg("--metrics") or ""
    mport = metrics.rpartition(":")[2]
    ann = tpl["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true":
        problem("annotation prometheus.io/scrape must be \"true\"")
    if ann.get("prometheus.io/path") != "/metrics":
        problem("annotation prometheus.io/path must be /metrics")
    cports = [str(p["containerPort"]) for p in c.get("ports", [])]
    if not (ann.get("prometheus.io/port") == mport and mport in cports):
        problem(f"prometheus.io/port {ann.get('prometheus.io/port')}, --metrics {metrics} and the "
                f"container ports {cports} disagree")
    if metrics.startswith("0.0.0.0") or metrics.startswith("127."):
        problem(f"--metrics {metrics}: want the node's address (loopback is not scraped, 0.0.0.0 is every interface)")
    for probe in ("livenessProbe",):
        hg = c.get(probe, {}).get("httpGet", {})
        if hg.get("path") != "/metrics":
            problem(f"{probe} should GET /metrics")
    if not 0 < pod.get("terminationGracePeriodSeconds", 30) <= 120:
        problem("terminationGracePeriodSeconds out of range")
    done()


# -------------------------------------------------------------------- get
def get(key):
    ds, cm = the("DaemonSet"), the("ConfigMap")
    c = agent_container(ds)
    if key == "caps":
        print(",".join("+" + x.lower() for x in c["securityContext"]["capabilities"]["add"]))
    elif key == "args":
        print("\n".join(c["args"]))
    elif key == "config":
        args = c["args"]
        conf = args[args.index("--config") + 1]
        sys.stdout.write(cm["data"][conf.rpartition("/")[2]])
    elif key in ("init-script", "init-want"):
        init = [i for i in ds["spec"]["template"]["spec"].get("initContainers", [])
                if any("/proc/sys/net/core" in a for a in i.get("command", []) + i.get("args", []))]
        if len(init) != 1:
            sys.exit("no init container raises the net.core sysctls")
        if key == "init-script":
            cmd = init[0]["command"]
            if cmd[:2] != ["/bin/sh", "-c"]:
                sys.exit("the init container's command is not /bin/sh -c SCRIPT")
            sys.stdout.write(cmd[2])
        else:
            print({e["name"]: e.get("value") for e in init[0].get("env", [])}["WANT_CORE_MEM_MAX"])
    else:
        sys.exit(f"unknown key {key}")


if CMD == "json":
    with open(sys.argv[3], "w") as f:
        json.dump(DOCS, f)
elif CMD == "models":
    models()
elif CMD == "semantics":
    semantics()
elif CMD == "get":
    get(sys.argv[3])
else:
    sys.exit(f"unknown command {CMD}")
EOF
cat >"$TMP/prom.py" <<'EOF'
"""deploy/prometheus/prometheus.yml for a test run. Usage:
  prom.py sd CONFIG          the kubernetes_sd_configs blocks, by the keys and
                             values Prometheus documents (Debian's promtool is
                             built without Kubernetes discovery)
  prom.py variant CONFIG OUT PORT TARGETS
                             the same configuration with each
                             kubernetes_sd_configs replaced by a file_sd_configs
                             reading TARGETS (pods as the discovery would
                             describe them, written here), the static target
                             127.0.0.1:9977 moved to 127.0.0.1:PORT, and 1 s
                             scrapes. The relabeling is kept as it is."""
import json
import sys

import yaml

cmd, path = sys.argv[1], sys.argv[2]
with open(path) as f:
    cfg = yaml.safe_load(f)
jobs = cfg.get("scrape_configs", [])
problems = []

if cmd == "sd":
    keys = {"api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata",
            "basic_auth", "authorization", "oauth2", "proxy_url", "no_proxy", "proxy_from_environment",
            "proxy_connect_header", "follow_redirects", "enable_http2", "tls_config"}
    roles = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}
    found = 0
    for job in jobs:
        for sd in job.get("kubernetes_sd_configs", []):
            found += 1
            where = f"job {job['job_name']}: kubernetes_sd_configs"
            for k in set(sd) - keys:
                problems.append(f"{where}: unknown key {k}")
            if sd.get("role") not in roles:
                problems.append(f"{where}: role {sd.get('role')!r} is not one of {sorted(roles)}")
            ns = sd.get("namespaces", {})
            if set(ns) - {"names", "own_namespace"}:
                problems.append(f"{where}: namespaces has unknown keys {sorted(set(ns) - {'names', 'own_namespace'})}")
            if not all(isinstance(n, str) for n in ns.get("names", [])):
                problems.append(f"{where}: namespaces.names must be strings")
            if sd.get("role") == "pod" and not any(
                    r.get("action") == "keep" and "__meta_kubernetes_pod_annotation_prometheus_io_scrape"
                    in r.get("source_labels", []) for r in job.get("relabel_configs", [])):
                problems.append(f"job {job['job_name']}: no keep rule on the prometheus.io/scrape annotation")
    if found == 0:
        problems.append("no kubernetes_sd_configs job")
elif cmd == "variant":
    out, port, targets = sys.argv[3], sys.argv[4], sys.argv[5]
    cfg.setdefault("global", {}).update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    moved = 0
    for job in jobs:
        for sc in job.get("static_configs", []):
            if "127.0.0.1:9977" in sc.get("targets", []):
                sc["targets"] = [f"127.0.0.1:{port}" if t == "127.0.0.1:9977" else t for t in sc["targets"]]
                moved += 1
        if "kubernetes_sd_configs" in job:
            del job["kubernetes_sd_configs"]
            job["file_sd_configs"] = [{"files": [targets], "refresh_interval": "1s"}]
    if moved != 1:
        problems.append("no static target 127.0.0.1:9977 (the agent's default address)")
    with open(out, "w") as f:
        yaml.safe_dump(cfg, f)
else:
    sys.exit(f"unknown command {cmd}")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF
cat >"$TMP/dash.py" <<'EOF'
"""Checks of deploy/grafana/tcptune-dashboard.json. Usage: dash.py COMMAND DASHBOARD [ARGS]
  check                 structure: variables, datasources, ids, layout, every
                        query filtered by $job and $instance
  rules OUT             every PromQL expression, Grafana's variables replaced,
                        as recording rules (for `promtool check rules`)
  metrics               the metric names the expressions use, one a line
  eval URL JOB INSTANCE every expression as an instant query on a Prometheus:
                        it must succeed and return data
Problems go to stdout, one a line; exit 1 when there is any."""
import json
import re
import sys
import urllib.parse
import urllib.request

cmd, path = sys.argv[1], sys.argv[2]
with open(path) as f:
    dash = json.load(f)
problems = []
panels = [p for top in dash.get("panels", []) for p in [top] + top.get("panels", [])]
queries = [(p, t) for p in panels for t in p.get("targets", [])]
variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
BUILTIN = {"__rate_interval", "__interval", "__range"}


def substitute(expr, values):
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], expr)


if cmd == "check":
    if not dash.get("uid") or not dash.get("title"):
        problems.append("the dashboard needs a uid and a title")
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problems.append(f"schemaVersion {dash.get('schemaVersion')}: want 36 or later (datasource variables by uid)")
    ds = variables.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("want a variable 'datasource' of type datasource, query prometheus")
    for name in ("job", "instance"):
        v = variables.get(name, {})
        if v.get("type") != "query" or "tcptune_" not in json.dumps(v.get("query")):
            problems.append(f"want a query variable '{name}' over tcptune's series")
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"panel ids must be unique: {ids}")
    boxes = []
    for p in panels:
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24 or g["w"] < 1 or g["h"] < 1:
            problems.append(f"panel {p.get('id')} \"{p.get('title')}\": gridPos {g} is not within 24 columns")
            continue
        for q, h in boxes:
            if g["x"] < h["x"] + h["w"] and h["x"] < g["x"] + g["w"] and g["y"] < h["y"] + h["h"] and h["y"] < g["y"] + g["h"]:
                problems.append(f"panels {q} and {p.get('id')} overlap")
        boxes.append((p.get("id"), g))
        if p.get("type") == "row":
            continue
        if not p.get("title"):
            problems.append(f"panel {p.get('id')} has no title")
        refs = [t.get("refId") for t in p.get("targets", [])]
        if not refs or len(refs) != len(set(refs)):
            problems.append(f"panel {p.get('id')} \"{p.get('title')}\": needs targets with distinct refIds")
        for where in [p] + p.get("targets", []):
            if where.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                problems.append(f"panel {p.get('id')} \"{p.get('title')}\": datasource must be ${{datasource}}")
                break
    for p, t in queries:
        expr = t.get("expr", "")
        where = f"panel {p['id']} \"{p.get('title')}\" {t.get('refId')}"
        for var in re.findall(r"\$\{?(\w+)\}?", expr):
            if var not in variables and var not in BUILTIN:
                problems.append(f"{where}: undefined variable ${var}")
        selectors = re.findall(r"\btcptune_\w+(\{[^}]*\})?", expr)
        if not selectors:
            problems.append(f"{where}: no tcptune_ metric in {expr}")
        for sel in selectors:
            if 'job=~"$job"' not in sel or 'instance=~"$instance"' not in sel:
                problems.append(f"{where}: a selector without job=~\"$job\",instance=~\"$instance\": {expr}")
                break
elif cmd == "rules":
    values = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "job": ".*", "instance": ".*"}
    values.update({n: v.get("current", {}).get("value", "x") for n, v in variables.items() if v.get("type") == "custom"})
    rules = [{"record": f"dashboard:panel{p['id']}:{t['refId']}", "expr": substitute(t["expr"], values)}
             for p, t in queries]
    with open(sys.argv[3], "w") as f:
        json.dump({"groups": [{"name": "tcptune-dashboard", "rules": rules}]}, f, indent=1)
elif cmd == "metrics":
    names = set()
    for _, t in queries:
        names.update(re.findall(r"\btcptune_\w+", t["expr"]))
    print("\n".join(sorted(names)))
elif cmd == "eval":
    url, job, instance = sys.argv[3:6]
    values = {"__rate_interval": "5s", "__interval": "1s", "__range": "1m", "job": job, "instance": instance}
    values.update({n: v.get("current", {}).get("value", "x") for n, v in variables.items() if v.get("type") == "custom"})
    for p, t in queries:
        expr = substitute(t["expr"], values)
        q = urllib.parse.urlencode({"query": expr})
        try:
            r = json.load(urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=10))
        except Exception as e:  # an HTTP 400 carries PromQL's error
            body = getattr(e, "read", lambda: b"")().decode(errors="replace")
            problems.append(f"panel {p['id']} \"{p['title']}\" {t['refId']}: {e} {body[:200]} ({expr})")
            continue
        if r.get("status") != "success":
            problems.append(f"panel {p['id']} \"{p['title']}\" {t['refId']}: {r.get('error')} ({expr})")
        elif not r["data"]["result"]:
            # the per-program series come only with --metrics-bpf-stats
            if "tcptune_bpf_program_" in expr:
                print(f"panel {p['id']} \"{p['title']}\" {t['refId']}: no data, as expected without --metrics-bpf-stats")
            else:
                problems.append(f"panel {p['id']} \"{p['title']}\" {t['refId']}: no data ({expr})")
else:
    sys.exit(f"unknown command {cmd}")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF
cat >"$TMP/npm/k8s-models.mjs" <<'EOF'
// Each object of the manifest through kubernetes-models' validators (ajv,
// from the Kubernetes OpenAPI schema): types, required fields, enums, formats.
import { readFileSync } from "node:fs";
const docs = JSON.parse(readFileSync(process.argv[2], "utf8"));
let bad = 0;
for (const [i, d] of docs.entries()) {
  const [group, version] = d.apiVersion.includes("/") ? d.apiVersion.split("/") : [null, d.apiVersion];
  const mod = await import(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
  const Model = mod[d.kind];
  if (!Model) {
    console.log(`document ${i}: kubernetes-models has no ${d.apiVersion} ${d.kind}`);
    bad = 1;
    continue;
  }
  try {
    new Model(d).validate();
  } catch (e) {
    bad = 1;
    for (const err of e.errors ?? [e]) console.log(`${d.kind}${err.instancePath ?? ""}: ${err.message}`);
  }
}
process.exit(bad);
EOF
cat >"$TMP/npm/gen-ts.mjs" <<'EOF'
// Writes k8s.ts and dashboard.ts: the manifest's objects and the dashboard as
// object literals typed with kubernetes-models' and @grafana/schema's
// declarations, so that tsc reports unknown fields (excess properties),
// wrong types and missing required fields.
import { readFileSync, writeFileSync } from "node:fs";
const [docsFile, dashFile, outDir] = process.argv.slice(2);
const docs = JSON.parse(readFileSync(docsFile, "utf8"));
const lit = (v) => JSON.stringify(v, null, 1);
let k8s = "";
const seen = new Set();
docs.forEach((d, i) => {
  const [group, version] = d.apiVersion.includes("/") ? d.apiVersion.split("/") : [null, d.apiVersion];
  const mod = group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  const alias = `I${d.kind}_${(group ?? "core").replace(/\W/g, "_")}_${version}`;
  if (!seen.has(alias)) {
    k8s = `import type { I${d.kind} as ${alias} } from "${mod}";\n` + k8s;
    seen.add(alias);
  }
  k8s += `export const doc${i}: ${alias} = ${lit(d)};\n`;
});
writeFileSync(`${outDir}/k8s.ts`, k8s);

const dash = JSON.parse(readFileSync(dashFile, "utf8"));
const cfg = "@grafana/schema/dist/esm/raw/composable";
const plugins = { timeseries: "TimeSeries", stat: "Stat", table: "Table", heatmap: "Heatmap" };
let ts = `import type { Dashboard, Panel, FieldConfigSource, FieldConfig } from "@grafana/schema";\n`;
for (const [id, name] of Object.entries(plugins))
  ts += `import type * as ${name} from "${cfg}/${id}/panelcfg/x/${name}PanelCfg_types.gen";\n`;
ts += `
// string enums of the schema as their literal values (JSON has no enums)
type Lit<T> = T extends string ? (string extends T ? string : \`\${T}\`)
  : T extends number | boolean | null | undefined ? T
  : T extends ReadonlyArray<infer U> ? Array<Lit<U>>
  : T extends object ? { [K in keyof T]: Lit<T[K]> } : T;
// Grafana fills in panel options left out
type DeepPartial<T> = T extends ReadonlyArray<infer U> ? Array<DeepPartial<U>>
  : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
type PanelOf<O, F> = Omit<Lit<Panel>, "options" | "fieldConfig"> & {
  options?: Lit<DeepPartial<O>>;
  fieldConfig?: Omit<Lit<FieldConfigSource>, "defaults"> & {
    defaults: Omit<Lit<FieldConfig>, "custom"> & { custom?: Lit<DeepPartial<F>> };
  };
};
export const dashboard: Lit<Dashboard> = ${lit(dash)};
`;
const panels = (dash.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
let unknown = 0;
for (const p of panels) {
  if (p.type === "row") continue;
  const name = plugins[p.type];
  if (!name) {
    console.log(`panel ${p.id} "${p.title}": no schema for panel type ${p.type}`);
    unknown = 1;
    continue;
  }
  const fc = p.type === "stat" ? "Record<string, never>" : `${name}.FieldConfig`;
  ts += `export const panel${p.id}: PanelOf<${name}.Options, ${fc}> = ${lit(p)};\n`;
}
writeFileSync(`${outDir}/dashboard.ts`, ts);
process.exit(unknown);
EOF
cat >"$TMP/npm/tsconfig.json" <<'EOF'
{ "compilerOptions": { "strict": true, "noEmit": true, "module": "esnext", "moduleResolution": "bundler",
  "target": "es2022", "skipLibCheck": true, "types": [] }, "files": ["k8s.ts", "dashboard.ts"] }
EOF

# ------------------------------------------------------------------- YAML
check_out "yamllint: $(basename "$MANIFEST") and $(basename "$PROMCFG")" \
	yamllint -s -d '{extends: default, rules: {line-length: {max: 120}}}' "$MANIFEST" "$PROMCFG"

# ------------------------------------------------------------- Kubernetes
check_out "manifest: every object matches python3-kubernetes' models (fields, types, required)" \
	"$PY" "$TMP/k8s.py" models "$MANIFEST"
check_out "manifest: API server rules and tcptune's needs (labels, volumes, ports, probes, annotations, capabilities, mounts)" \
	"$PY" "$TMP/k8s.py" semantics "$MANIFEST"
"$PY" "$TMP/k8s.py" json "$MANIFEST" "$TMP/docs.json" || fail "manifest as JSON"

if (cd "$TMP/npm" && npm install --no-audit --no-fund --ignore-scripts --no-update-notifier --loglevel=error \
	--cache "$TMP/npm-cache" "${NPM_PACKAGES[@]}") >"$TMP/npm.log" 2>&1; then
	pass "npm installed ${NPM_PACKAGES[*]}"
	check_out "manifest: kubernetes-models' validators (OpenAPI schema: types, required, enums, formats)" \
		node "$TMP/npm/k8s-models.mjs" "$TMP/docs.json"
	check_out "manifest and dashboard as typed literals" \
		node "$TMP/npm/gen-ts.mjs" "$TMP/docs.json" "$DASHBOARD" "$TMP/npm"
	check_out "tsc: manifest against kubernetes-models' types, dashboard and panels against @grafana/schema's" \
		"$TMP/npm/node_modules/.bin/tsc" -p "$TMP/npm/tsconfig.json"
else
	fail "npm install ${NPM_PACKAGES[*]}: $(tail -n 5 "$TMP/npm.log")"
fi

"$PY" "$TMP/k8s.py" get "$MANIFEST" config >"$TMP/tcptune.conf"
check_out "the ConfigMap's tcptune.conf passes tcptune check-config" "$TCPTUNE" check-config "$TMP/tcptune.conf"
# the init container raises the sysctls to what the agent would: half the largest max_buf
max_buf=$("$TCPTUNE" check-config "$TMP/tcptune.conf" 2>/dev/null | grep -oE '\.\.[0-9]+ bytes' | tr -dc '0-9\n' | sort -n | tail -n 1)
WANT=$("$PY" "$TMP/k8s.py" get "$MANIFEST" init-want)
check "init container's WANT_CORE_MEM_MAX ($WANT) is half the largest max_buf (${max_buf:-?})" \
	test "$WANT" = "$((${max_buf:-1} / 2))"

# The image: debian:12-slim (this machine's release) with a package for each
# library the binary links (the names are real: installed here).
debian=$(cut -d. -f1 /etc/debian_version)
check "Dockerfile: FROM debian:$debian-slim, the release the binary is built on" \
	grep -qE "^FROM debian:$debian-slim\$" "$DOCKERFILE"
check "Dockerfile: COPY build/tcptune (what make builds)" grep -qE '^COPY build/tcptune ' "$DOCKERFILE"
image_pkgs=$(grep -oE 'apt-get install [^&]*' "$DOCKERFILE" | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vxE 'apt-get|install')
[ -n "$image_pkgs" ] || fail "Dockerfile: no apt-get install line"
for pkg in $image_pkgs; do
	check "Dockerfile: package $pkg is a Debian package (installed here)" dpkg-query -W "$pkg"
done
# the binary the image gets (COPY build/tcptune), not $TCPTUNE: make sanitize
# runs these tests with an ASan build that links the sanitizer runtimes
IMAGE_BIN=$ROOT/build/tcptune
for lib in $(readelf -d "$IMAGE_BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
	case $lib in libc.so.6 | libm.so.6) continue ;; esac # libc6: in every image
	path=$(ldd "$IMAGE_BIN" | awk -v l="$lib" '$1 == l { print $3 }')
	pkg=$({ dpkg -S "$path" || dpkg -S "$(readlink -f "$path")"; } 2>/dev/null | head -n 1 | cut -d: -f1)
	check "Dockerfile installs ${pkg:-?}, which holds $lib" grep -qwF -- "${pkg:-none}" <<<"$image_pkgs"
done

# ------------------------------------------------------------- Prometheus
if out=$(promtool check config "$PROMCFG" 2>&1); then
	pass "promtool check config $(basename "$PROMCFG")"
elif grep -q "field kubernetes_sd_configs not found" <<<"$out"; then
	log "this promtool is built without Kubernetes discovery (Debian's): checking the rest with file_sd in its place"
else
	fail "promtool check config: $out"
fi
check_out "prometheus.yml: kubernetes_sd_configs by Prometheus' documented keys and roles" \
	"$PY" "$TMP/prom.py" sd "$PROMCFG"

# ---------------------------------------------------------------- Grafana
check "dashboard: valid JSON" jq -e . "$DASHBOARD"
check_out "dashboard: variables, datasource, ids, layout, \$job/\$instance in every selector" \
	"$PY" "$TMP/dash.py" check "$DASHBOARD"
"$PY" "$TMP/dash.py" rules "$DASHBOARD" "$TMP/dashboard-rules.json"
check_out "dashboard: every PromQL expression parses (promtool check rules, $(jq '.groups[0].rules | length' "$TMP/dashboard-rules.json") expressions)" \
	promtool check rules "$TMP/dashboard-rules.json"

# ------------------------------------------------- the agent, as the pod runs it
# One agent per host, and this part judges what it sees: a quiet host.
if [ -e /run/tcptune/agent.lock ] && ! flock -n -s /run/tcptune/agent.lock true; then
	fail "an agent is running (pid $(cat /run/tcptune/agent.lock 2>/dev/null)): the pod's agent cannot be run"
	finish
fi
[ -n "$CG2" ] || { fail "no cgroup2 filesystem is mounted"; finish; }
CAPS=$("$PY" "$TMP/k8s.py" get "$MANIFEST" caps)
mapfile -t POD_ARGS < <("$PY" "$TMP/k8s.py" get "$MANIFEST" args)
"$PY" "$TMP/k8s.py" get "$MANIFEST" init-script >"$TMP/init.sh"
PORT=$(free_port 19870)

# the container's args, on this host: the ConfigMap's file, loopback, a free port
args=()
for a in "${POD_ARGS[@]:1}"; do
	case $a in
	/etc/tcptune/tcptune.conf) args+=("$TMP/tcptune.conf") ;;
	'$(NODE_IP):9977') args+=("127.0.0.1:$PORT") ;;
	*) args+=("$a") ;;
	esac
done
log "pod args: ${POD_ARGS[*]} -> run ${args[*]}; capabilities $CAPS"

# `tcptune` as the container runs it: only the capabilities in the bounding
# set (root gets no others at exec), /proc/sys read-only (as in every
# container that is not privileged) and the cgroup2 mount read-only; with
# POD_STATE, that folder as /run/tcptune.
cat >"$TMP/pod-tcptune" <<'EOF'
#!/bin/sh
exec unshare -m --propagation private sh -c '
	mount -o bind,ro /proc/sys /proc/sys && mount -o remount,bind,ro "$POD_CG2" || exit 1
	if [ -n "${POD_STATE:-}" ]; then mkdir -p /run/tcptune && mount --bind "$POD_STATE" /run/tcptune || exit 1; fi
	exec setpriv --bounding-set="-all,$POD_CAPS" --inh-caps=-all "$POD_REAL" "$@"' sh "$@"
EOF
chmod 700 "$TMP/pod-tcptune"
export POD_CG2=$CG2 POD_REAL=$REAL_TCPTUNE

# A process of another user (nobody) in a network namespace of its own, not
# named under /run/netns, with an open connection: the agent finds it only
# through /proc/PID/ns/net.
CONN='
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
c = socket.create_connection(s.getsockname()); a, _ = s.accept()
c.sendall(b"x" * 65536); a.recv(65536)
print(s.getsockname()[1], flush=True)
time.sleep(float(sys.argv[1]))
'
unshare -n sh -c 'ip link set lo up && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$0" -c "$1" 50' \
	"$PY" "$CONN" >"$TMP/conn.port" 2>&1 &
CONN_PID=$!
cleanup_add "kill $CONN_PID"
wait_for 5 grep -qE '^[0-9]+$' "$TMP/conn.port" || { fail "the other user's connection: $(cat "$TMP/conn.port")"; finish; }
CONN_PORT=$(cat "$TMP/conn.port")
# `tcptune flows` in the agent's mount namespace, as `kubectl exec` would run
# it (where the host has no bpffs at /sys/fs/bpf, the agent mounts its own)
sees_conn() {
	nsenter -t "$AGENT_PID" -m "$REAL_TCPTUNE" flows --json 2>/dev/null | jq -e --argjson p "$CONN_PORT" '[.[] | select(.dport == $p or .sport == $p)] | length >= 1' >/dev/null
}

not() { ! "$@"; }
sysctls() { echo "$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)"; }
SYSCTLS0=$(sysctls)
cleanup_add "sysctl -qw net.core.wmem_max=${SYSCTLS0% *} net.core.rmem_max=${SYSCTLS0#* }"

# Without the init container: /proc/sys is read-only and the agent, tuning,
# cannot raise the sysctls (when they are below what it wants). Its state
# folder is a temporary one. The refused start must not leave sysctl.saved
# there: the old values are recorded before the write that failed, and a
# later start could not write them back through a read-only /proc/sys.
if [ "$(sysctl -n net.core.wmem_max)" -lt "$WANT" ]; then
	rc=0
	mkdir "$TMP/state"
	POD_STATE=$TMP/state POD_CAPS=$CAPS timeout 20 "$TMP/pod-tcptune" run "${args[@]}" >"$TMP/noinit.log" 2>&1 || rc=$?
	refused=no
	[ "$rc" = 1 ] && grep -q "cannot raise net.core.wmem_max" "$TMP/noinit.log" && refused=yes
	check "without the init container the pod's agent cannot start (rc $rc: $(grep -o 'cannot raise[^:]*' "$TMP/noinit.log"))" \
		[ "$refused" = yes ]
	wait_no_progs || fail "programs left loaded after the refused start"
	check "the refused start leaves no sysctl.saved behind (nothing was changed)" [ ! -e "$TMP/state/sysctl.saved" ]
else
	log "net.core.wmem_max is already >= $WANT: the case without the init container is not run"
fi

# The init container's script, as it is in the manifest.
check_out "the init container's script raises net.core.wmem_max and rmem_max to $WANT" \
	env WANT_CORE_MEM_MAX="$WANT" sh "$TMP/init.sh"
check "sysctls now at least $WANT ($(sysctls))" [ "$(sysctl -n net.core.wmem_max)" -ge "$WANT" ]

# Without SYS_PTRACE the other user's namespace is skipped: why it is in the list.
if POD_CAPS=${CAPS/,+sys_ptrace/} TCPTUNE=$TMP/pod-tcptune agent_start "${args[@]}"; then
	sleep 1
	check "without SYS_PTRACE the agent does not see the other user's connection" not sees_conn
	agent_stop
else
	fail "the agent starts with the pod's capabilities less SYS_PTRACE: $(cat "$AGENT_LOG")"
fi
if ! POD_CAPS=$CAPS TCPTUNE=$TMP/pod-tcptune agent_start "${args[@]}"; then
	fail "the agent starts as the pod runs it: $(tail -n 5 "$AGENT_LOG")"
	finish
fi
pass "the agent starts as the pod runs it (capabilities $CAPS, /proc/sys and $CG2 read-only)"
check "it changed no sysctl (the init container did): $(grep -c raised "$AGENT_LOG") raised" not grep -q "raised net.core" "$AGENT_LOG"
check "it sees the connection of another user's process in an unnamed namespace" wait_for 5 sees_conn
status=$(http_status "http://127.0.0.1:$PORT/metrics" "$TMP/page")
check "the liveness probe's GET /metrics is 200 ($status)" [ "$status" = 200 ]

# The dashboard's metric names, against the families the agent serves. The
# per-program families come only with --metrics-bpf-stats (test_metrics checks
# them), which the manifest leaves off: the dashboard's panels on them stay
# empty unless an operator turns it on.
awk '$1 == "#" && $2 == "TYPE" { print $3, $4 }' "$TMP/page" | sort >"$TMP/families"
"$PY" "$TMP/dash.py" metrics "$DASHBOARD" |
	grep -vxE 'tcptune_bpf_program_(runs|run_seconds)_total' >"$TMP/used"
unknown=$(while read -r m; do
	base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$m")
	grep -q "^$m " "$TMP/families" || { grep -q "^$base histogram" "$TMP/families" && [ "$base" != "$m" ]; } || echo "$m"
done <"$TMP/used")
check "every metric the dashboard uses is served by the agent${unknown:+ (not served: ${unknown//$'\n'/ })}" [ -z "$unknown" ]
unshown=$(cut -d' ' -f1 "$TMP/families" | while read -r fam; do grep -qE "^${fam}(_bucket|_sum|_count)?\$" "$TMP/used" || echo "$fam"; done)
check "every family the agent serves is on the dashboard${unshown:+ (missing: ${unshown//$'\n'/ })}" [ -z "$unshown" ]

# ------------------------------------- a real Prometheus with prometheus.yml
PPORT=$(free_port $((PORT + 1)))
PROM=http://127.0.0.1:$PPORT
mkdir "$TMP/prom"
# pods as the Kubernetes discovery (role pod, namespace tcptune) describes them
cat >"$TMP/prom/pods.json" <<EOF
[
 {"targets": ["127.0.0.1:9977"], "labels": {"__meta_kubernetes_namespace": "tcptune",
  "__meta_kubernetes_pod_name": "tcptune-aaaaa", "__meta_kubernetes_pod_node_name": "node-a",
  "__meta_kubernetes_pod_ip": "127.0.0.1", "__meta_kubernetes_pod_label_app_kubernetes_io_name": "tcptune",
  "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
  "__meta_kubernetes_pod_annotation_prometheus_io_port": "$PORT",
  "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics"}},
 {"targets": ["[0:0:0:0:0:0:0:1]:9977"], "labels": {"__meta_kubernetes_namespace": "tcptune",
  "__meta_kubernetes_pod_name": "tcptune-bbbbb", "__meta_kubernetes_pod_node_name": "node-b",
  "__meta_kubernetes_pod_ip": "0:0:0:0:0:0:0:1", "__meta_kubernetes_pod_label_app_kubernetes_io_name": "tcptune",
  "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
  "__meta_kubernetes_pod_annotation_prometheus_io_port": "$PORT",
  "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics"}},
 {"targets": ["127.0.0.2:9977"], "labels": {"__meta_kubernetes_namespace": "tcptune",
  "__meta_kubernetes_pod_name": "not-annotated", "__meta_kubernetes_pod_node_name": "node-c",
  "__meta_kubernetes_pod_ip": "127.0.0.2", "__meta_kubernetes_pod_label_app_kubernetes_io_name": "tcptune"}},
 {"targets": ["127.0.0.3:8080"], "labels": {"__meta_kubernetes_namespace": "tcptune",
  "__meta_kubernetes_pod_name": "other-app", "__meta_kubernetes_pod_node_name": "node-c",
  "__meta_kubernetes_pod_ip": "127.0.0.3", "__meta_kubernetes_pod_label_app_kubernetes_io_name": "other",
  "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
  "__meta_kubernetes_pod_annotation_prometheus_io_port": "8080"}}
]
EOF
check_out "prometheus.yml with file_sd for the Kubernetes discovery and the agent's port" \
	"$PY" "$TMP/prom.py" variant "$PROMCFG" "$TMP/prom/prometheus.yml" "$PORT" "$TMP/prom/pods.json"
check_out "promtool check config of that variant (relabeling, jobs)" promtool check config "$TMP/prom/prometheus.yml"
prometheus --config.file="$TMP/prom/prometheus.yml" --storage.tsdb.path="$TMP/prom/data" \
	--web.listen-address="127.0.0.1:$PPORT" >"$TMP/prom/log" 2>&1 &
PROM_PID=$!
prom_stop() { [ -n "${PROM_PID:-}" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID"; PROM_PID=; }
cleanup_add prom_stop

targets() { "$PY" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$PROM/api/v1/targets" 2>/dev/null; }
# target_is JQ-FILTER: some active target of job tcptune-kubernetes matches
target_is() { targets | jq -e "[.data.activeTargets[] | select(.labels.job == \"tcptune-kubernetes\") | select($1)] | length == 1" >/dev/null; }
query_count() {
	"$PY" - "$PROM" "$1" <<'EOF'
import json, sys, urllib.parse, urllib.request
r = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]}), timeout=5))
res = r["data"]["result"]
print(res[0]["value"][1] if res else 0)
EOF
}
prom_ready() { [ "$(http_status "$PROM/-/ready")" = 200 ]; }
# the two pods without the annotation or of another app dropped, the two others active
kept_and_dropped() {
	targets | jq -e '([.data.droppedTargets[] | select(.discoveredLabels.job == "tcptune-kubernetes")] | length == 2) and
		([.data.activeTargets[] | select(.labels.job == "tcptune-kubernetes")] | length == 2)' >/dev/null
}
static_up() { targets | jq -e '[.data.activeTargets[] | select(.labels.job == "tcptune" and .health == "up")] | length == 1' >/dev/null; }
enough_samples() { [ "$(query_count 'count_over_time(tcptune_ticks_total{instance="node-a"}[30s])')" -ge 4 ]; }

if wait_for 20 prom_ready; then
	pass "prometheus is ready on 127.0.0.1:$PPORT"
	check "the annotated pod is scraped at its pod IP and annotated port, instance = its node, namespace and pod labels" \
		wait_for 10 target_is ".scrapeUrl == \"http://127.0.0.1:$PORT/metrics\" and .labels.instance == \"node-a\" and .labels.namespace == \"tcptune\" and .labels.pod == \"tcptune-aaaaa\""
	check "an IPv6 pod IP becomes [IP]:PORT" target_is ".scrapeUrl == \"http://[0:0:0:0:0:0:0:1]:$PORT/metrics\" and .labels.instance == \"node-b\""
	check "the pods without the annotation or of another app are dropped (2 dropped, 2 active)" kept_and_dropped
	check "the annotated pod's target is up" wait_for 15 target_is '.labels.instance == "node-a" and .health == "up"'
	check "the static job's target (the agent on this host) is up" wait_for 10 static_up
	if wait_for 20 enough_samples; then
		check_out "every dashboard query returns data from this Prometheus (job tcptune-kubernetes, instance node-a)" \
			"$PY" "$TMP/dash.py" eval "$DASHBOARD" "$PROM" tcptune-kubernetes node-a
	else
		fail "4 scrapes of node-a within 20 s"
	fi
else
	fail "prometheus is ready on 127.0.0.1:$PPORT: $(tail -n 3 "$TMP/prom/log")"
fi
prom_stop
agent_stop
rc=$?
check "the pod's agent exits 0 on SIGTERM, as at a pod's termination (rc $rc)" [ "$rc" = 0 ]
check "nothing left pinned" test ! -e "$PIN_DIR"
wait_no_progs || fail "tcptune programs still loaded"
finish
