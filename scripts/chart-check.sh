#!/usr/bin/env bash
# Offline checks of the Kubernetes packaging (make chart-check):
#   1. helm lint --strict of charts/keel, with default values and each charts/keel/ci/*.yaml
#   2. helm template of each scenario; every rendered object validated with
#      kubernetes-validate --strict against pinned Kubernetes versions, and every
#      workload checked against the chart's pod-security defaults
#   3. the kustomize dev overlay (helmCharts generator) and k8s/bootstrap, same checks
#      and the references between objects (Service/PDB/NetworkPolicy/HPA/Ingress/ServiceMonitor
#      selectors and targets, Secret and ConfigMap references, the gateway's env, probes,
#      policy mount and NetworkPolicy; training: the API's and workers' env points at the
#      registry Service and Redis that are rendered, worker queues/GPUs/probes/mounts, the
#      API's default queue consumed by a rendered worker, the KEDA ScaledObject targeting
#      the worker Deployment with one redis trigger per queue and its TriggerAuthentication's
#      Secret keys, the PodMonitor's port, the PriorityClass; ingestion: the API's and build
#      workers' env (database URL from a Secret, inference/registry/Redis targets that are
#      rendered, one queue and time limit for both), ports, probes and mounts, SQLite on one
#      claim shared on one node, and the NetworkPolicies admitting the gateway and Prometheus;
#      feedback: env (database URL from a Secret, Redis, consumer settings), ports, probes,
#      SQLite on one claim with one replica, the gateway's target and egress, the
#      NetworkPolicy admitting the gateway and Prometheus)
#   4. negative cases: values that must be refused (schema or template checks)
#   5. skaffold.yaml wiring (images -> chart values by name; releases render)
# Kinds served by CRDs (ServiceMonitor, PodMonitor, RayService, ScaledObject,
# TriggerAuthentication, ...) have no core schema: they are skipped by name and listed in
# the output (they still get the reference checks above); any other kind without a schema
# fails. A RayService still gets checked here: its head and worker pod templates against the same
# pod-security policy, and its structure (serveConfigV2 parses and names the keel-inference
# app, head/worker groups, the keel_grpc_front resource, /dev/shm and /tmp volumes, GPU
# limits matching the scenario's values, rayVersion equal to the ray pin in constraints.txt).
#
# Tools: HELM, KUBECTL, KUBERNETES_VALIDATE (defaults below; `python scripts/fetch_tools.py`
# fetches helm and kubectl), PYTHON (an interpreter with PyYAML; default: the one beside
# kubernetes-validate), K8S_VERSIONS (space-separated, default "1.27.0 1.33.0").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

HELM=${HELM:-.tools/bin/helm}
KUBECTL=${KUBECTL:-.tools/bin/kubectl}
KUBERNETES_VALIDATE=${KUBERNETES_VALIDATE:-.venv/bin/kubernetes-validate}
K8S_VERSIONS=${K8S_VERSIONS:-"1.27.0 1.33.0"}
CHART=charts/keel
RELEASE=keel
NAMESPACE=keel
# The chart refuses to render the gateway without an API-key pepper (and never generates
# one): the default scenario, NOTES.txt and the negative cases get this one.
CI_PEPPER=chart-check-pepper-0123456789abcdef
# Kinds that come from CRDs (prometheus-operator, KubeRay, KEDA): no core schema to check against.
export CRD_KINDS="ServiceMonitor PodMonitor PrometheusRule RayService RayCluster RayJob ScaledObject ScaledJob TriggerAuthentication ClusterTriggerAuthentication"

die() { echo "chart-check: $*" >&2; exit 2; }

for tool in "$HELM" "$KUBECTL" "$KUBERNETES_VALIDATE"; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x "$tool" ]] \
    || die "$tool not found (helm/kubectl: python scripts/fetch_tools.py; kubernetes-validate: the dev venv)"
done
if [[ -z "${PYTHON:-}" ]]; then
  kv_path=$(command -v "$KUBERNETES_VALIDATE")
  PYTHON="$(dirname "$kv_path")/python"
  [[ -x "$PYTHON" ]] || PYTHON=python3
fi
"$PYTHON" -c 'import yaml' 2>/dev/null || die "$PYTHON cannot import yaml (set PYTHON)"

kv_args=(--strict --quiet)
for v in $K8S_VERSIONS; do kv_args+=(-k "$v"); done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
summary=()

# split_and_police RENDERED OUTDIR: writes one file per object to OUTDIR (CRD kinds left
# out and reported), checks workloads against the pod-security defaults; prints
# "objects=N skipped=M" on its last line.
# SCENARIO_VALUES (env, optional): the scenario's values file, for the checks that depend
# on what the scenario asked for (inference mode, GPUs).
split_and_police() {
  "$PYTHON" - "$1" "$2" <<'PY'
import json, os, re, shlex, sys, yaml

src, outdir = sys.argv[1], sys.argv[2]
crd_kinds = set(os.environ["CRD_KINDS"].split())
os.makedirs(outdir, exist_ok=True)
with open(src) as fh:
    docs = [d for d in yaml.safe_load_all(fh) if d]

problems, written, skipped = [], 0, 0
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}

values_file = os.environ.get("SCENARIO_VALUES", "")
values = {}
if values_file:
    with open(values_file) as fh:
        values = yaml.safe_load(fh) or {}
inference_values = values.get("inference") or {}
expect_gpu = bool((inference_values.get("gpu") or {}).get("enabled"))
expect_mode = inference_values.get("mode", "deployment")
ray_pin = None
if os.path.exists("constraints.txt"):
    with open("constraints.txt") as fh:
        for line in fh:
            m = re.match(r"^ray(\[[^\]]*\])?==([^\s;#]+)", line.strip())
            if m:
                ray_pin = m.group(2)

def pod_spec(obj):
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {})

def police(obj, ref=None, ps=None, token_allowed=False):
    ref = ref or f'{obj["kind"]}/{obj["metadata"]["name"]}'
    ps = pod_spec(obj) if ps is None else ps
    psc = ps.get("securityContext", {})
    if ps.get("automountServiceAccountToken") is not False and not token_allowed:
        problems.append(f"{ref}: automountServiceAccountToken must be false")
    if psc.get("runAsNonRoot") is not True:
        problems.append(f"{ref}: pod securityContext.runAsNonRoot must be true")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{ref}: pod seccompProfile must be RuntimeDefault")
    for c in ps.get("initContainers", []) + ps.get("containers", []):
        cref, sc = f'{ref} container {c["name"]}', c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cref}: allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cref}: readOnlyRootFilesystem must be true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{cref}: capabilities.drop must contain ALL")
        if sc.get("privileged"):
            problems.append(f"{cref}: privileged")
        if not c.get("resources", {}).get("requests"):
            problems.append(f"{cref}: no resource requests")
        if not (c.get("readinessProbe") and c.get("livenessProbe")):
            problems.append(f"{cref}: readiness and liveness probes required")
        image = c.get("image", "")
        if not re.search(r"(:[^/:]+|@sha256:[0-9a-f]{64})$", image) or image.endswith(":latest"):
            problems.append(f"{cref}: image {image!r} must have a pinned tag or digest")

def gpu_limits(container):
    limits = container.get("resources", {}).get("limits", {}) or {}
    return {k: int(v) for k, v in limits.items() if k.endswith("/gpu")}

def check_ray_volumes(ref, ps):
    """NCCL and Ray's object store need a memory-backed /dev/shm; Ray needs a writable /tmp."""
    volumes = {v["name"]: v for v in ps.get("volumes", [])}
    for c in ps.get("containers", []):
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        shm = volumes.get(mounts.get("/dev/shm", ""), {})
        if (shm.get("emptyDir") or {}).get("medium") != "Memory":
            problems.append(f"{ref} container {c['name']}: /dev/shm must be a memory-backed emptyDir")
        if c.get("securityContext", {}).get("readOnlyRootFilesystem") and "/tmp" not in mounts:
            problems.append(f"{ref} container {c['name']}: read-only root without a /tmp volume (Ray writes there)")

def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}

seen = {"RayService": 0, "inference Deployment": 0}

def check_inference_deployment(obj):
    ref = f'Deployment/{obj["metadata"]["name"]}'
    seen["inference Deployment"] += 1
    ps = pod_spec(obj)
    check_ray_volumes(ref, ps)
    c = ps["containers"][0]
    if "startupProbe" not in c:
        problems.append(f"{ref}: no startupProbe (model load)")
    env = env_of(c)
    need = int(env.get("KEEL_INFERENCE_TENSOR_PARALLEL_SIZE") or 1) * int(env.get("KEEL_INFERENCE_NUM_REPLICAS") or 1)
    gpus = gpu_limits(c)
    if expect_gpu and not gpus:
        problems.append(f"{ref}: inference.gpu.enabled but no GPU limit")
    if values_file and not expect_gpu and gpus:
        problems.append(f"{ref}: GPU limits without inference.gpu.enabled")
    for k, n in gpus.items():
        if n < need:
            problems.append(f"{ref}: {k}={n} is below tensor_parallel_size x num_replicas = {need}")

def check_rayservice(obj):
    name = obj["metadata"]["name"]
    ref = f"RayService/{name}"
    seen["RayService"] += 1
    if obj["apiVersion"] != "ray.io/v1":
        problems.append(f"{ref}: apiVersion {obj['apiVersion']} (want ray.io/v1)")
    spec = obj.get("spec", {})
    tp, ports = 1, {}
    raw = spec.get("serveConfigV2")
    if not isinstance(raw, str):
        problems.append(f"{ref}: spec.serveConfigV2 must be a YAML string")
    else:
        try:
            cfg = yaml.safe_load(raw) or {}
        except yaml.YAMLError as exc:
            cfg = {}
            problems.append(f"{ref}: serveConfigV2 does not parse: {exc}")
        apps = cfg.get("applications") or [{}]
        app = apps[0]
        if app.get("import_path") != "keel_inference.app:build_app" or app.get("name") != "keel-inference":
            problems.append(f"{ref}: applications[0] must be keel-inference from keel_inference.app:build_app")
        deployments = {d.get("name"): d for d in app.get("deployments") or []}
        front = deployments.get("InferenceFront") or {}
        if ((front.get("ray_actor_options") or {}).get("resources") or {}).get("keel_grpc_front") != 1:
            problems.append(f"{ref}: InferenceFront must ask for resources.keel_grpc_front: 1")
        if "LLMEngine" not in deployments:
            problems.append(f"{ref}: no LLMEngine deployment in serveConfigV2")
        args = app.get("args") or {}
        tp = int(args.get("tensor_parallel_size", 1))
        ports = {args.get("grpc_port", 50052): "grpc", args.get("http_port", 8082): "http-metrics"}
    rc = spec.get("rayClusterConfig") or {}
    if ray_pin and rc.get("rayVersion") != ray_pin:
        problems.append(f"{ref}: rayVersion {rc.get('rayVersion')!r} differs from constraints.txt ray=={ray_pin}")
    autoscaling = bool(rc.get("enableInTreeAutoscaling"))
    groups = []
    head = rc.get("headGroupSpec")
    if not head:
        problems.append(f"{ref}: no headGroupSpec")
    else:
        groups.append(("head", head))
        params = head.get("rayStartParams") or {}
        try:
            custom = json.loads(shlex.split(str(params.get("resources", "")))[0])
        except (ValueError, IndexError):
            custom = {}
        if custom.get("keel_grpc_front", 0) < 1:
            problems.append(f"{ref}: head rayStartParams.resources must give keel_grpc_front")
        containers = head.get("template", {}).get("spec", {}).get("containers") or [{}]
        have = {p.get("containerPort"): p.get("name") for p in containers[0].get("ports", [])}
        for port, pname in ports.items():
            if have.get(port) != pname:
                problems.append(f"{ref}: head container lacks port {port} named {pname}")
    workers = rc.get("workerGroupSpecs") or []
    if not workers:
        problems.append(f"{ref}: no workerGroupSpecs")
    for w in workers:
        gname = w.get("groupName")
        groups.append((f"worker group {gname}", w))
        if not gname:
            problems.append(f"{ref}: a worker group without groupName")
        lo, n, hi = (int(w.get(k, -1)) for k in ("minReplicas", "replicas", "maxReplicas"))
        if not 0 <= lo <= n <= hi:
            problems.append(f"{ref} worker group {gname}: need 0 <= minReplicas <= replicas <= maxReplicas")
        containers = w.get("template", {}).get("spec", {}).get("containers") or [{}]
        gpus = gpu_limits(containers[0])
        if expect_gpu and not gpus:
            problems.append(f"{ref} worker group {gname}: inference.gpu.enabled but no GPU limit")
        if values_file and not expect_gpu and gpus:
            problems.append(f"{ref} worker group {gname}: GPU limits without inference.gpu.enabled")
        for k, count in gpus.items():
            if count < tp:
                problems.append(f"{ref} worker group {gname}: {k}={count} < tensor_parallel_size {tp} (STRICT_PACK)")
            if str((w.get("rayStartParams") or {}).get("num-gpus")) != str(count):
                problems.append(f"{ref} worker group {gname}: rayStartParams num-gpus must equal the {k} limit")
    for where, group in groups:
        for k, v in (group.get("rayStartParams") or {}).items():
            if not isinstance(v, str):
                problems.append(f"{ref} {where}: rayStartParams.{k} must be a string")
        ps = group.get("template", {}).get("spec", {})
        gref = f"{ref} {where}"
        police(obj, gref, ps, token_allowed=(where == "head" and autoscaling))
        check_ray_volumes(gref, ps)
    print(f"  check {ref}: serveConfigV2, {len(groups)} pod templates (policy, /dev/shm, /tmp)")

for i, obj in enumerate(docs):
    if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
        problems.append(f"document {i} has no kind/apiVersion")
        continue
    kind, name = obj["kind"], obj.get("metadata", {}).get("name", "?")
    if kind == "List":
        problems.append(f"document {i} is a List; expected plain objects")
        continue
    if kind == "RayService":
        check_rayservice(obj)
    if kind in crd_kinds:
        print(f"  skip {kind}/{name} ({obj['apiVersion']}: CRD kind, not in the core schema)")
        skipped += 1
        continue
    if kind in WORKLOADS or kind == "CronJob":
        police(obj)
    if kind == "Deployment" and obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "inference":
        check_inference_deployment(obj)
    if kind == "Namespace":
        labels = obj.get("metadata", {}).get("labels", {})
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            problems.append(f"Namespace/{name}: pod-security enforce label must be restricted")
    written += 1
    with open(os.path.join(outdir, f"{written:03d}-{kind.lower()}-{name}.yaml"), "w") as out:
        yaml.safe_dump(obj, out, sort_keys=False)

# ---- references between rendered objects: selectors, scale targets, Secrets and ConfigMaps
def pod_templates():
    """(ref, labels, pod spec) of every pod template rendered, RayService groups included."""
    out = []
    for obj in docs:
        if not isinstance(obj, dict):
            continue
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name", "?")
        if kind in WORKLOADS or kind == "CronJob":
            spec = obj.get("spec", {})
            if kind == "CronJob":
                spec = spec.get("jobTemplate", {}).get("spec", {})
            tmpl = spec.get("template", {})
            out.append((f"{kind}/{name}", tmpl.get("metadata", {}).get("labels", {}) or {}, tmpl.get("spec", {})))
        elif kind == "RayService":
            rc = obj.get("spec", {}).get("rayClusterConfig", {}) or {}
            groups = [rc.get("headGroupSpec") or {}] + list(rc.get("workerGroupSpecs") or [])
            for g in groups:
                tmpl = g.get("template", {})
                out.append((f"RayService/{name}", tmpl.get("metadata", {}).get("labels", {}) or {}, tmpl.get("spec", {})))
    return out

def selects(selector, labels):
    """matchLabels plus the In/NotIn/Exists/DoesNotExist expressions of a LabelSelector."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if (op == "In" and labels.get(k) not in vals) or (op == "NotIn" and labels.get(k) in vals) \
                or (op == "Exists" and k not in labels) or (op == "DoesNotExist" and k in labels):
            return False
    return True

def string_leaves(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from string_leaves(v)
    elif isinstance(node, list):
        for v in node:
            yield from string_leaves(v)
    elif isinstance(node, str):
        yield node

pods = pod_templates()
by_kind = {}
for obj in docs:
    if isinstance(obj, dict) and "kind" in obj:
        by_kind.setdefault(obj["kind"], {})[obj.get("metadata", {}).get("name")] = obj
# Secrets the scenario says exist already (existingSecret and friends): any string in its values.
external_names = set(string_leaves(values))

def data_keys(obj):
    return set((obj.get("data") or {}).keys()) | set((obj.get("stringData") or {}).keys())

def check_ref(ref, kind, name, key=None):
    obj = by_kind.get(kind, {}).get(name)
    if obj is None:
        if name not in external_names:
            problems.append(f"{ref}: {kind} {name!r} is neither rendered nor named in the scenario values")
    elif key is not None and key not in data_keys(obj):
        problems.append(f"{ref}: {kind}/{name} has no key {key!r}")

for pref, labels, ps in pods:
    for c in ps.get("initContainers", []) + ps.get("containers", []):
        cref = f"{pref} container {c.get('name')}"
        for e in c.get("env", []):
            src = e.get("valueFrom") or {}
            if "secretKeyRef" in src and not src["secretKeyRef"].get("optional"):
                check_ref(f"{cref} env {e['name']}", "Secret", src["secretKeyRef"]["name"], src["secretKeyRef"].get("key"))
            if "configMapKeyRef" in src and not src["configMapKeyRef"].get("optional"):
                check_ref(f"{cref} env {e['name']}", "ConfigMap", src["configMapKeyRef"]["name"], src["configMapKeyRef"].get("key"))
        for ef in c.get("envFrom", []):
            for kind, field in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                if field in ef and not ef[field].get("optional"):
                    check_ref(f"{cref} envFrom", kind, ef[field]["name"])
    for vol in ps.get("volumes", []):
        if "configMap" in vol and not vol["configMap"].get("optional"):
            check_ref(f"{pref} volume {vol['name']}", "ConfigMap", vol["configMap"]["name"])
        if "secret" in vol and not vol["secret"].get("optional"):
            check_ref(f"{pref} volume {vol['name']}", "Secret", vol["secret"]["secretName"])

def selected_pods(selector):
    return [(r, l, ps) for r, l, ps in pods if selects(selector, l)]

def container_port_names(matched):
    return {p.get("name") for _, _, ps in matched for c in ps.get("containers", []) for p in c.get("ports", [])}

for name, svc in by_kind.get("Service", {}).items():
    sel = svc.get("spec", {}).get("selector") or {}
    if not sel:
        continue
    matched = selected_pods({"matchLabels": sel})
    if not matched:
        problems.append(f"Service/{name}: selector {sel} matches no rendered pod template")
        continue
    names = container_port_names(matched)
    for port in svc["spec"].get("ports", []):
        tp = port.get("targetPort")
        if isinstance(tp, str) and tp not in names:
            problems.append(f"Service/{name} port {port.get('name')}: targetPort {tp!r} is not a container port of its pods")

def replica_floor(target_ref):
    """The fewest pods a workload runs: its HPA's minReplicas, else spec.replicas (None: unknown)."""
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        t = hpa["spec"]["scaleTargetRef"]
        if f"{t['kind']}/{t['name']}" == target_ref:
            return int(hpa["spec"].get("minReplicas", 1))
    kind, name = target_ref.split("/", 1)
    obj = by_kind.get(kind, {}).get(name)
    if obj is not None and "replicas" in obj.get("spec", {}):
        return int(obj["spec"]["replicas"])
    return None

for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
    matched = selected_pods(pdb["spec"].get("selector") or {})
    if not matched:
        problems.append(f"PodDisruptionBudget/{name}: selector matches no rendered pod template")
        continue
    spec = pdb["spec"]
    if ("minAvailable" in spec) == ("maxUnavailable" in spec):
        problems.append(f"PodDisruptionBudget/{name}: set exactly one of minAvailable and maxUnavailable")
    floor = replica_floor(matched[0][0])
    if isinstance(spec.get("minAvailable"), int) and floor is not None and spec["minAvailable"] >= floor:
        problems.append(f"PodDisruptionBudget/{name}: minAvailable {spec['minAvailable']} with only {floor} pod(s) blocks every eviction")

for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
    spec, ref = hpa["spec"], f"HorizontalPodAutoscaler/{name}"
    t = spec["scaleTargetRef"]
    target = by_kind.get(t["kind"], {}).get(t["name"])
    if target is None:
        problems.append(f"{ref}: scaleTargetRef {t['kind']}/{t['name']} is not rendered")
        continue
    if "replicas" in target.get("spec", {}):
        problems.append(f"{ref}: {t['kind']}/{t['name']} sets spec.replicas (every upgrade would reset the HPA's count)")
    if not 1 <= int(spec.get("minReplicas", 1)) <= int(spec["maxReplicas"]):
        problems.append(f"{ref}: need 1 <= minReplicas <= maxReplicas")
    for m in spec.get("metrics", []):
        res = (m.get("resource") or {}).get("name")
        if m.get("type") == "Resource" and (m["resource"].get("target") or {}).get("type") == "Utilization":
            for c in pod_spec(target).get("containers", []):
                if res not in (c.get("resources", {}).get("requests") or {}):
                    problems.append(f"{ref}: {res} utilisation target but container {c['name']} requests no {res}")

scaled = {f"{h['spec']['scaleTargetRef']['kind']}/{h['spec']['scaleTargetRef']['name']}" for h in by_kind.get("HorizontalPodAutoscaler", {}).values()}
scaled |= {f"{(o['spec'].get('scaleTargetRef') or {}).get('kind', 'Deployment')}/{(o['spec'].get('scaleTargetRef') or {}).get('name')}" for o in by_kind.get("ScaledObject", {}).values()}
for name, dep in by_kind.get("Deployment", {}).items():
    if "replicas" not in dep.get("spec", {}) and f"Deployment/{name}" not in scaled:
        problems.append(f"Deployment/{name}: no spec.replicas and no HPA or KEDA ScaledObject (it would run one pod)")

for name, np_ in by_kind.get("NetworkPolicy", {}).items():
    spec, ref = np_["spec"], f"NetworkPolicy/{name}"
    sel = spec.get("podSelector") or {}
    if sel and not selected_pods(sel):
        problems.append(f"{ref}: podSelector matches no rendered pod template")
    for rule in spec.get("egress", []):
        for peer in rule.get("to", []):
            if "podSelector" in peer and "namespaceSelector" not in peer and not selected_pods(peer["podSelector"]):
                problems.append(f"{ref}: egress peer {peer['podSelector']} matches no rendered pod template")

for name, ing in by_kind.get("Ingress", {}).items():
    for rule in ing["spec"].get("rules", []):
        for path in (rule.get("http") or {}).get("paths", []):
            svc_ref = (path.get("backend") or {}).get("service") or {}
            svc = by_kind.get("Service", {}).get(svc_ref.get("name"))
            if svc is None:
                problems.append(f"Ingress/{name}: backend Service {svc_ref.get('name')!r} is not rendered")
                continue
            port = svc_ref.get("port") or {}
            ports = svc["spec"].get("ports", [])
            if not any(p.get("name") == port.get("name") if "name" in port else p.get("port") == port.get("number") for p in ports):
                problems.append(f"Ingress/{name}: Service/{svc_ref['name']} has no port {port}")

for name, sm in by_kind.get("ServiceMonitor", {}).items():
    sel = sm.get("spec", {}).get("selector") or {}
    svcs = [s for s in by_kind.get("Service", {}).values() if selects(sel, s["metadata"].get("labels", {}))]
    if not svcs:
        problems.append(f"ServiceMonitor/{name}: selector matches no rendered Service")
    for ep in sm.get("spec", {}).get("endpoints", []):
        if svcs and not any(p.get("name") == ep.get("port") for s in svcs for p in s["spec"].get("ports", [])):
            problems.append(f"ServiceMonitor/{name}: no selected Service has a port named {ep.get('port')!r}")

def check_target(ref, var, target, required_service=False):
    """A host:port that names one of the chart's Services (<name>.<ns>.svc) must hit one of its ports."""
    host, _, tport = (target or "").rpartition(":")
    if not host or not tport.isdigit():
        problems.append(f"{ref}: {var}={target!r} is not host:port")
        return
    svc = by_kind.get("Service", {}).get(host.split(".")[0])
    if host.endswith(".svc") and svc is None:
        problems.append(f"{ref}: {var}={target} names a Service that is not rendered")
    elif svc is not None and int(tport) not in {p.get("port") for p in svc["spec"].get("ports", [])}:
        problems.append(f"{ref}: {var}={target}: Service/{svc['metadata']['name']} has no port {tport}")
    elif required_service and svc is None:
        problems.append(f"{ref}: {var}={target} is not one of the rendered Services")

# ---- the gateway
gateway_values = values.get("gateway") or {}
GATEWAY_ENV = ("KEEL_GATEWAY_HOST", "KEEL_GATEWAY_HTTP_PORT", "KEEL_GATEWAY_WORKERS",
               "KEEL_GATEWAY_REGISTRY_TARGET", "KEEL_GATEWAY_INFERENCE_TARGET", "KEEL_REDIS_URL",
               "KEEL_GATEWAY_KEY_PEPPER", "KEEL_GATEWAY_DEFAULT_RPM", "KEEL_GATEWAY_DEFAULT_TPM",
               "KEEL_GATEWAY_DEFAULT_CONCURRENCY", "KEEL_GATEWAY_INTERACTIONS_MAXLEN",
               "KEEL_LOG_JSON", "HF_HUB_OFFLINE")

def tcp_ports(rule):
    return {p.get("port") for p in rule.get("ports", []) if p.get("protocol", "TCP") == "TCP"}

def check_gateway(dep):
    ref = f"Deployment/{dep['metadata']['name']}"
    ps = pod_spec(dep)
    c = ps["containers"][0]
    env = {e["name"]: e for e in c.get("env", [])}
    for n in GATEWAY_ENV:
        if n not in env:
            problems.append(f"{ref}: env {n} missing")
    if "value" in env.get("KEEL_GATEWAY_KEY_PEPPER", {}):
        problems.append(f"{ref}: KEEL_GATEWAY_KEY_PEPPER must come from a Secret, not a literal")
    port = int(env_of(c).get("KEEL_GATEWAY_HTTP_PORT") or 0)
    if {"name": "http", "containerPort": port, "protocol": "TCP"} not in c.get("ports", []):
        problems.append(f"{ref}: no TCP container port {port} named http")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if (get.get("path"), get.get("port")) != (path, "http"):
            problems.append(f"{ref}: {probe} must GET {path} on port http")
    # gRPC targets that name one of the chart's Services must hit one of its ports.
    if any(d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "training"
           for d in by_kind.get("Deployment", {}).values()) and "KEEL_GATEWAY_TRAINING_TARGET" not in env:
        problems.append(f"{ref}: the training API is rendered but KEEL_GATEWAY_TRAINING_TARGET is not set")
    if any(d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "ingestion"
           for d in by_kind.get("Deployment", {}).values()) and "KEEL_GATEWAY_INGESTION_TARGET" not in env:
        problems.append(f"{ref}: the ingestion API is rendered but KEEL_GATEWAY_INGESTION_TARGET is not set")
    if any(d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "feedback"
           for d in by_kind.get("Deployment", {}).values()) and "KEEL_GATEWAY_FEEDBACK_TARGET" not in env:
        problems.append(f"{ref}: feedback is rendered but KEEL_GATEWAY_FEEDBACK_TARGET is not set")
    for var in ("KEEL_GATEWAY_REGISTRY_TARGET", "KEEL_GATEWAY_INFERENCE_TARGET", "KEEL_GATEWAY_TRAINING_TARGET",
                "KEEL_GATEWAY_INGESTION_TARGET", "KEEL_GATEWAY_FEEDBACK_TARGET"):
        if var in ("KEEL_GATEWAY_TRAINING_TARGET", "KEEL_GATEWAY_INGESTION_TARGET",
                   "KEEL_GATEWAY_FEEDBACK_TARGET") and var not in env:
            continue
        check_target(ref, var, env_of(c).get(var))
    # The policy: mounted from a rendered ConfigMap whose policy.yaml is a YAML map.
    path = env_of(c).get("KEEL_GATEWAY_POLICY_PATH")
    if values_file and bool(gateway_values.get("policy")) != bool(path):
        problems.append(f"{ref}: gateway.policy {'set' if gateway_values.get('policy') else 'unset'} but KEEL_GATEWAY_POLICY_PATH {path!r}")
    if path:
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        vols = {v["name"]: v for v in ps.get("volumes", [])}
        vol = vols.get(mounts.get(os.path.dirname(path), ""), {})
        cm = by_kind.get("ConfigMap", {}).get((vol.get("configMap") or {}).get("name"))
        if cm is None:
            problems.append(f"{ref}: KEEL_GATEWAY_POLICY_PATH={path} is not a rendered ConfigMap's mount")
        else:
            try:
                doc = yaml.safe_load((cm.get("data") or {}).get(os.path.basename(path), ""))
            except yaml.YAMLError as exc:
                doc = f"does not parse: {exc}"
            if not isinstance(doc, dict):
                problems.append(f"{ref}: ConfigMap/{cm['metadata']['name']} {os.path.basename(path)} is not a YAML map")
        if "checksum/policy" not in dep["spec"]["template"]["metadata"].get("annotations", {}):
            problems.append(f"{ref}: no checksum/policy pod annotation (a policy change would not roll the pods)")
    # Its NetworkPolicy: the http port in, DNS and every upstream out.
    nps = [n for n in by_kind.get("NetworkPolicy", {}).values()
           if selects(n["spec"].get("podSelector") or {}, dep["spec"]["template"]["metadata"].get("labels", {}))]
    if gateway_values.get("networkPolicy", {}).get("enabled", True) and not nps:
        problems.append(f"{ref}: no NetworkPolicy selects the gateway pods")
    for n in nps:
        nref = f"NetworkPolicy/{n['metadata']['name']}"
        if not any(port in tcp_ports(r) for r in n["spec"].get("ingress", [])):
            problems.append(f"{nref}: ingress does not allow the http port {port}")
        egress = n["spec"].get("egress", [])
        for proto in ("UDP", "TCP"):
            if not any(p.get("port") == 53 and p.get("protocol") == proto for r in egress for p in r.get("ports", [])):
                problems.append(f"{nref}: egress does not allow DNS over {proto}")
        for var in ("KEEL_GATEWAY_REGISTRY_TARGET", "KEEL_GATEWAY_INFERENCE_TARGET", "KEEL_GATEWAY_TRAINING_TARGET",
                    "KEEL_GATEWAY_INGESTION_TARGET", "KEEL_GATEWAY_FEEDBACK_TARGET", "KEEL_REDIS_URL"):
            target = env_of(c).get(var)
            m = re.search(r":(\d+)(/[^/]*)?$", target or "")
            if target is None:  # from a Secret: the URL is not known here
                continue
            if m and not any(int(m.group(1)) in tcp_ports(r) for r in egress):
                problems.append(f"{nref}: egress does not allow {var} port {m.group(1)}")

for name, dep in by_kind.get("Deployment", {}).items():
    if dep["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "gateway":
        check_gateway(dep)

# ---- training: the API, the workers, their KEDA ScaledObject and PodMonitor
training_values = values.get("training") or {}
worker_values = values.get("trainingWorker") or {}
TRAINING_SHARED_ENV = ("KEEL_TRAINING_HOST", "KEEL_TRAINING_REGISTRY_TARGET", "KEEL_TRAINING_DEFAULT_QUEUE",
                       "KEEL_TRAINING_JOB_TIME_LIMIT_S", "KEEL_TRAINING_VISIBILITY_TIMEOUT_S",
                       "KEEL_REDIS_URL", "KEEL_ARTIFACT_ROOT", "KEEL_DATA_DIR", "KEEL_LOG_LEVEL")
TRAINING_QUEUES = {"train.gpu", "train.cpu"}

def check_redis_env(ref, c):
    """KEEL_REDIS_URL: a literal must point at a rendered Service port (or an external host);
    $(REDIS_PASSWORD) must be defined before it, from a Secret."""
    env = {e["name"]: e for e in c.get("env", [])}
    names = [e["name"] for e in c.get("env", [])]
    url = env.get("KEEL_REDIS_URL", {})
    if "valueFrom" in url:
        return
    value = url.get("value") or ""
    m = re.match(r"^rediss?://(?:[^@/]*@)?([^/:]+):(\d+)(/\d+)?$", value)
    if not m:
        problems.append(f"{ref}: KEEL_REDIS_URL={value!r} is not redis[s]://host:port/db")
        return
    check_target(ref, "KEEL_REDIS_URL", f"{m.group(1)}:{m.group(2)}")
    if "$(REDIS_PASSWORD)" in value:
        pw = env.get("REDIS_PASSWORD", {})
        if "secretKeyRef" not in (pw.get("valueFrom") or {}):
            problems.append(f"{ref}: KEEL_REDIS_URL uses $(REDIS_PASSWORD) but REDIS_PASSWORD is not from a Secret")
        elif names.index("REDIS_PASSWORD") > names.index("KEEL_REDIS_URL"):
            problems.append(f"{ref}: REDIS_PASSWORD must come before KEEL_REDIS_URL (dependent variable)")

def mounts_of(c):
    return {m["mountPath"]: m for m in c.get("volumeMounts", [])}

def check_training_common(ref, ps, c):
    env = env_of(c)
    for n in TRAINING_SHARED_ENV:
        if n not in {e["name"] for e in c.get("env", [])}:
            problems.append(f"{ref}: env {n} missing")
    if env.get("KEEL_TRAINING_HOST") != "0.0.0.0":
        problems.append(f"{ref}: KEEL_TRAINING_HOST must be 0.0.0.0 (probes and scrapes come from outside the pod)")
    check_target(ref, "KEEL_TRAINING_REGISTRY_TARGET", env.get("KEEL_TRAINING_REGISTRY_TARGET"))
    if values_file and not (values.get("registry") or {}).get("enabled", True) and not training_values.get("registryTarget"):
        problems.append(f"{ref}: registry disabled but no training.registryTarget")
    check_redis_env(ref, c)
    if env.get("KEEL_TRAINING_DEFAULT_QUEUE") not in TRAINING_QUEUES:
        problems.append(f"{ref}: KEEL_TRAINING_DEFAULT_QUEUE={env.get('KEEL_TRAINING_DEFAULT_QUEUE')!r} is not one of {sorted(TRAINING_QUEUES)}")
    try:
        limit, vis = int(env["KEEL_TRAINING_JOB_TIME_LIMIT_S"]), int(env["KEEL_TRAINING_VISIBILITY_TIMEOUT_S"])
        if vis <= limit:
            problems.append(f"{ref}: visibility timeout {vis} <= job time limit {limit}")
    except (KeyError, TypeError, ValueError):
        problems.append(f"{ref}: job time limit / visibility timeout are not integers")
    mounts, vols = mounts_of(c), {v["name"]: v for v in ps.get("volumes", [])}
    tmp = vols.get((mounts.get("/tmp") or {}).get("name"), {})
    if "emptyDir" not in tmp:
        problems.append(f"{ref}: /tmp must be an emptyDir (read-only root filesystem)")
    root = env.get("KEEL_ARTIFACT_ROOT") or ""
    if root.startswith("/"):
        m = mounts.get(root)
        if m is None or m.get("readOnly"):
            problems.append(f"{ref}: artifact root {root} is not a writable mount")
        elif "persistentVolumeClaim" not in vols.get(m["name"], {}):
            problems.append(f"{ref}: artifact root {root} is not a PersistentVolumeClaim")
    return env

def named_port(c, name):
    for p in c.get("ports", []):
        if p.get("name") == name:
            return p.get("containerPort")
    return None

def check_training_api(dep):
    ref = f"Deployment/{dep['metadata']['name']}"
    ps = pod_spec(dep)
    c = ps["containers"][0]
    env = check_training_common(ref, ps, c)
    if c.get("args", [])[:1] != ["serve"]:
        problems.append(f"{ref}: args must start with serve")
    for var, pname in (("KEEL_TRAINING_GRPC_PORT", "grpc"), ("KEEL_TRAINING_HTTP_PORT", "http-metrics")):
        if str(named_port(c, pname)) != str(env.get(var)):
            problems.append(f"{ref}: container port {pname} ({named_port(c, pname)}) differs from {var}={env.get(var)}")
    grpc_port = named_port(c, "grpc")
    for probe in ("startupProbe", "readinessProbe"):
        if (c.get(probe) or {}).get("grpc", {}).get("port") != grpc_port:
            problems.append(f"{ref}: {probe} must be gRPC health on port {grpc_port}")
    get = (c.get("livenessProbe") or {}).get("httpGet") or {}
    if (get.get("path"), get.get("port")) != ("/livez", "http-metrics"):
        problems.append(f"{ref}: livenessProbe must GET /livez on http-metrics")
    return env

def worker_args(c):
    args = c.get("args", [])
    out = {"cmd": args[:1]}
    for flag in ("--queues", "--concurrency"):
        if flag in args and args.index(flag) + 1 < len(args):
            out[flag] = args[args.index(flag) + 1]
    return out

def check_training_worker(dep):
    ref = f"Deployment/{dep['metadata']['name']}"
    ps = pod_spec(dep)
    c = ps["containers"][0]
    env = check_training_common(ref, ps, c)
    args = worker_args(c)
    queues = [q for q in (args.get("--queues") or "").split(",") if q]
    if args["cmd"] != ["worker"] or not queues or not str(args.get("--concurrency", "")).isdigit():
        problems.append(f"{ref}: args must be worker --queues <q,...> --concurrency <n>, got {c.get('args')}")
    for q in queues:
        if q not in TRAINING_QUEUES:
            problems.append(f"{ref}: unknown queue {q!r}")
    gpus = gpu_limits(c)
    if not gpus and "train.gpu" in queues:
        problems.append(f"{ref}: a CPU worker (no GPU limit) consumes train.gpu")
    if values_file and worker_values.get("enabled"):
        want = int((worker_values.get("gpu") or {}).get("count", 1))
        have = sum(gpus.values())
        if have != want:
            problems.append(f"{ref}: GPU limits {gpus} differ from trainingWorker.gpu.count={want}")
        if want and "cuda" not in c.get("image", ""):
            problems.append(f"{ref}: GPU worker runs image {c.get('image')!r}, not the CUDA build")
        if not want and "cuda" in c.get("image", ""):
            problems.append(f"{ref}: CPU worker runs the CUDA image {c.get('image')!r}")
        for k in ("nodeSelector", "tolerations"):
            if worker_values.get(k) and ps.get(k) != worker_values[k]:
                problems.append(f"{ref}: {k} differs from trainingWorker.{k}")
    mport = named_port(c, "http-metrics")
    if str(mport) != str(env.get("KEEL_TRAINING_WORKER_METRICS_PORT")):
        problems.append(f"{ref}: container port http-metrics ({mport}) differs from KEEL_TRAINING_WORKER_METRICS_PORT")
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if (get.get("path"), get.get("port")) != (path, "http-metrics"):
            problems.append(f"{ref}: {probe} must GET {path} on http-metrics")
    cache = env.get("KEEL_TRAINING_MODEL_CACHE_DIR")
    m = mounts_of(c).get(cache or "")
    if not cache or m is None or m.get("readOnly"):
        problems.append(f"{ref}: KEEL_TRAINING_MODEL_CACHE_DIR={cache!r} is not a writable mount")
    pc = ps.get("priorityClassName")
    if pc and pc not in by_kind.get("PriorityClass", {}) and pc not in external_names:
        problems.append(f"{ref}: priorityClassName {pc!r} is neither rendered nor named in the scenario values")
    if values_file and worker_values.get("priorityClass", {}).get("create") and not pc:
        problems.append(f"{ref}: trainingWorker.priorityClass.create but no priorityClassName")
    return queues

training_apis = [d for d in by_kind.get("Deployment", {}).values()
                 if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "training"]
training_workers = [d for d in by_kind.get("Deployment", {}).values()
                    if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "training-worker"]
api_envs = [check_training_api(d) for d in training_apis]
consumed = set()
for d in training_workers:
    consumed |= set(check_training_worker(d))
if training_workers:
    for env in api_envs:
        if env.get("KEEL_TRAINING_DEFAULT_QUEUE") not in consumed:
            problems.append(f"training API sends jobs to {env.get('KEEL_TRAINING_DEFAULT_QUEUE')!r}, which no rendered worker consumes ({sorted(consumed)})")
if values_file:
    if training_values.get("enabled", True) and not training_apis:
        problems.append("training.enabled but no training API Deployment rendered")
    if worker_values.get("enabled") and not training_workers:
        problems.append("trainingWorker.enabled but no worker Deployment rendered")
    if worker_values.get("enabled") and (worker_values.get("keda") or {}).get("enabled") \
            and not by_kind.get("ScaledObject"):
        problems.append("trainingWorker.keda.enabled but no ScaledObject rendered")

# ---- ingestion: the API, the build workers, the database they share, their NetworkPolicies
ingestion_values = values.get("ingestion") or {}
ingestion_worker_values = ingestion_values.get("worker") or {}
INGESTION_SHARED_ENV = ("KEEL_INGESTION_HOST", "KEEL_INGESTION_DATABASE_URL", "KEEL_INGESTION_REGISTRY_TARGET",
                        "KEEL_INGESTION_QUEUE", "KEEL_INGESTION_BUILD_TIME_LIMIT_S", "KEEL_INGESTION_SHARD_DOCUMENTS",
                        "KEEL_INGESTION_SHARD_CHUNKS", "KEEL_INGESTION_MAX_DOCUMENT_BYTES",
                        "KEEL_REDIS_URL", "KEEL_ARTIFACT_ROOT", "KEEL_DATA_DIR", "KEEL_LOG_LEVEL")
# Env both sides must agree on (one settings class reads them in the API and the workers).
INGESTION_AGREED_ENV = ("KEEL_INGESTION_QUEUE", "KEEL_INGESTION_BUILD_TIME_LIMIT_S", "KEEL_INGESTION_SHARD_DOCUMENTS",
                        "KEEL_INGESTION_SHARD_CHUNKS", "KEEL_INGESTION_BASE_MODELS", "KEEL_INGESTION_INFERENCE_TARGET",
                        "KEEL_INGESTION_REGISTRY_TARGET", "KEEL_ARTIFACT_ROOT")

def component_of(obj):
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")

def deployments_of(component):
    return [d for d in by_kind.get("Deployment", {}).values() if component_of(d) == component]

def secret_value(name, key):
    import base64
    obj = by_kind.get("Secret", {}).get(name) or {}
    if key in (obj.get("stringData") or {}):
        return obj["stringData"][key]
    if key in (obj.get("data") or {}):
        return base64.b64decode(obj["data"][key]).decode()
    return None

def colocated_with(ps):
    """Pod templates a pod must share a node with (required podAffinity on the hostname)."""
    terms = ((ps.get("affinity") or {}).get("podAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
    return {r for t in terms if t.get("topologyKey") == "kubernetes.io/hostname"
            for r, _, _ in selected_pods(t.get("labelSelector") or {})}

inference_rendered = bool(deployments_of("inference") or by_kind.get("RayService"))
registry_rendered = bool(deployments_of("registry"))

def sqlite_claim(ref, url, mounts, vols, problems):
    """The claim a SQLite URL's file lives on; a problem when it is not a writable PVC mount."""
    path = url.split("sqlite:///", 1)[-1]
    m = mounts.get(os.path.dirname(path))
    pvc = vols.get((m or {}).get("name"), {}).get("persistentVolumeClaim")
    if m is None or m.get("readOnly") or not pvc:
        problems.append(f"{ref}: SQLite database {path} is not on a writable PersistentVolumeClaim mount")
        return None
    return pvc["claimName"]


def check_ingestion_common(ref, ps, c):
    """Checks the API and the workers share; returns (env, SQLite claim name or None)."""
    env, entries = env_of(c), {e["name"]: e for e in c.get("env", [])}
    for n in INGESTION_SHARED_ENV:
        if n not in entries:
            problems.append(f"{ref}: env {n} missing")
    if env.get("KEEL_INGESTION_HOST") != "0.0.0.0":
        problems.append(f"{ref}: KEEL_INGESTION_HOST must be 0.0.0.0 (probes and scrapes come from outside the pod)")
    db_ref = (entries.get("KEEL_INGESTION_DATABASE_URL", {}).get("valueFrom") or {}).get("secretKeyRef")
    if not db_ref:
        problems.append(f"{ref}: KEEL_INGESTION_DATABASE_URL must come from a Secret (it may hold a password)")
    if inference_rendered and "KEEL_INGESTION_INFERENCE_TARGET" not in entries:
        problems.append(f"{ref}: inference is rendered but KEEL_INGESTION_INFERENCE_TARGET is not set (QA synthesis)")
    if "KEEL_INGESTION_INFERENCE_TARGET" in entries:
        check_target(ref, "KEEL_INGESTION_INFERENCE_TARGET", env.get("KEEL_INGESTION_INFERENCE_TARGET"))
    if env.get("KEEL_INGESTION_REGISTRY_TARGET"):
        check_target(ref, "KEEL_INGESTION_REGISTRY_TARGET", env["KEEL_INGESTION_REGISTRY_TARGET"])
    elif registry_rendered:
        problems.append(f"{ref}: the registry is rendered but KEEL_INGESTION_REGISTRY_TARGET is empty")
    if env.get("KEEL_INGESTION_QUEUE") in TRAINING_QUEUES:
        problems.append(f"{ref}: KEEL_INGESTION_QUEUE={env['KEEL_INGESTION_QUEUE']!r} is a training queue")
    if "KEEL_INGESTION_BASE_MODELS" in env:
        try:
            models = json.loads(env["KEEL_INGESTION_BASE_MODELS"])
            if not (isinstance(models, dict) and models and all(isinstance(v, str) for v in models.values())):
                raise ValueError("not a non-empty map of strings")
        except ValueError as exc:
            problems.append(f"{ref}: KEEL_INGESTION_BASE_MODELS is not a JSON map of id -> source: {exc}")
    check_redis_env(ref, c)
    mounts, vols = mounts_of(c), {v["name"]: v for v in ps.get("volumes", [])}
    if "emptyDir" not in vols.get((mounts.get("/tmp") or {}).get("name"), {}):
        problems.append(f"{ref}: /tmp must be an emptyDir (read-only root filesystem)")
    root = env.get("KEEL_ARTIFACT_ROOT") or ""
    if root.startswith("/"):
        m = mounts.get(root)
        if m is None or m.get("readOnly"):
            problems.append(f"{ref}: artifact root {root} is not a writable mount")
        elif "persistentVolumeClaim" not in vols.get(m["name"], {}):
            problems.append(f"{ref}: artifact root {root} is not a PersistentVolumeClaim")
    claim = None
    url = secret_value(db_ref["name"], db_ref.get("key")) if db_ref else None
    if url and url.startswith("sqlite:"):
        claim = sqlite_claim(ref, url, mounts, vols, problems)
    return env, claim

def check_ingestion_api(dep):
    ref = f"Deployment/{dep['metadata']['name']}"
    ps = pod_spec(dep)
    c = ps["containers"][0]
    env, claim = check_ingestion_common(ref, ps, c)
    if c.get("args", [])[:1] != ["serve"]:
        problems.append(f"{ref}: args must start with serve")
    for var, pname in (("KEEL_INGESTION_GRPC_PORT", "grpc"), ("KEEL_INGESTION_HTTP_PORT", "http-metrics")):
        if str(named_port(c, pname)) != str(env.get(var)):
            problems.append(f"{ref}: container port {pname} ({named_port(c, pname)}) differs from {var}={env.get(var)}")
    grpc_port = named_port(c, "grpc")
    for probe in ("startupProbe", "readinessProbe"):
        if (c.get(probe) or {}).get("grpc", {}).get("port") != grpc_port:
            problems.append(f"{ref}: {probe} must be gRPC health on port {grpc_port}")
    get = (c.get("livenessProbe") or {}).get("httpGet") or {}
    if (get.get("path"), get.get("port")) != ("/livez", "http-metrics"):
        problems.append(f"{ref}: livenessProbe must GET /livez on http-metrics")
    if claim:
        if dep["spec"].get("replicas") != 1:
            problems.append(f"{ref}: SQLite needs exactly 1 replica, got {dep['spec'].get('replicas')}")
        if (dep["spec"].get("strategy") or {}).get("type") != "Recreate":
            problems.append(f"{ref}: SQLite on a ReadWriteOnce claim needs the Recreate strategy")
    return env, claim

def check_ingestion_worker(dep):
    ref = f"Deployment/{dep['metadata']['name']}"
    ps = pod_spec(dep)
    c = ps["containers"][0]
    env, claim = check_ingestion_common(ref, ps, c)
    args = c.get("args", [])
    if len(args) != 3 or args[:2] != ["worker", "--concurrency"] or not str(args[2]).isdigit():
        problems.append(f"{ref}: args must be worker --concurrency <n> (the queue comes from KEEL_INGESTION_QUEUE), got {args}")
    if gpu_limits(c):
        problems.append(f"{ref}: ingestion workers are CPU only, got GPU limits {gpu_limits(c)}")
    mport = named_port(c, "http-metrics")
    if str(mport) != str(env.get("KEEL_INGESTION_WORKER_METRICS_PORT")):
        problems.append(f"{ref}: container port http-metrics ({mport}) differs from KEEL_INGESTION_WORKER_METRICS_PORT")
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if (get.get("path"), get.get("port")) != (path, "http-metrics"):
            problems.append(f"{ref}: {probe} must GET {path} on http-metrics")
    cache = env.get("KEEL_INGESTION_MODEL_CACHE_DIR")
    m = mounts_of(c).get(cache or "")
    if not cache or m is None or m.get("readOnly"):
        problems.append(f"{ref}: KEEL_INGESTION_MODEL_CACHE_DIR={cache!r} is not a writable mount")
    return env, claim

def ingress_rules_for(labels):
    nps = [n for n in by_kind.get("NetworkPolicy", {}).values()
           if selects(n["spec"].get("podSelector") or {}, labels)]
    return nps, [r for n in nps for r in n["spec"].get("ingress", [])]

ingestion_apis = deployments_of("ingestion")
ingestion_workers = deployments_of("ingestion-worker")
api_checked = [(d, *check_ingestion_api(d)) for d in ingestion_apis]
worker_checked = [(d, *check_ingestion_worker(d)) for d in ingestion_workers]
gateway_labels = [d["spec"]["template"]["metadata"].get("labels", {}) for d in deployments_of("gateway")]
for d, env, claim in api_checked:
    ref = f"Deployment/{d['metadata']['name']}"
    api_ps = pod_spec(d)
    for w, wenv, wclaim in worker_checked:
        wref = f"Deployment/{w['metadata']['name']}"
        for var in INGESTION_AGREED_ENV:
            if env.get(var) != wenv.get(var):
                problems.append(f"{wref}: {var}={wenv.get(var)!r} differs from the API's {env.get(var)!r}")
        if pod_spec(w)["containers"][0].get("image") != api_ps["containers"][0].get("image"):
            problems.append(f"{wref}: runs another image than the API (one ingestion image for both)")
        if claim != wclaim:
            problems.append(f"{wref}: SQLite claim {wclaim!r} differs from the API's {claim!r}")
        elif claim:
            wps = pod_spec(w)
            if ref not in colocated_with(wps) and not (colocated_with(wps) & colocated_with(api_ps)):
                problems.append(f"{wref}: shares the SQLite claim {claim} but is not pinned to the API's node")
    if ingestion_values.get("networkPolicy", {}).get("enabled", True):
        grpc_port, http_port = named_port(api_ps["containers"][0], "grpc"), named_port(api_ps["containers"][0], "http-metrics")
        nps, rules = ingress_rules_for(d["spec"]["template"]["metadata"].get("labels", {}))
        if not nps:
            problems.append(f"{ref}: no NetworkPolicy selects the ingestion API pods")
        for gl in gateway_labels:
            if not any(grpc_port in tcp_ports(r) and any("podSelector" in p and "namespaceSelector" not in p
                                                        and selects(p["podSelector"], gl) for p in r.get("from", []))
                       for r in rules):
                problems.append(f"{ref}: its NetworkPolicy does not admit the gateway pods on the gRPC port {grpc_port}")
        if nps and not any(http_port in tcp_ports(r) for r in rules):
            problems.append(f"{ref}: its NetworkPolicy does not admit Prometheus on the metrics port {http_port}")
    print(f"  check {ref}: {d['spec'].get('replicas')} replica(s), "
          f"{'SQLite on claim ' + claim if claim else 'database URL from a Secret'}, queue {env.get('KEEL_INGESTION_QUEUE')}")
for w, wenv, _ in worker_checked:
    wref = f"Deployment/{w['metadata']['name']}"
    if ingestion_values.get("networkPolicy", {}).get("enabled", True):
        mport = named_port(pod_spec(w)["containers"][0], "http-metrics")
        nps, rules = ingress_rules_for(w["spec"]["template"]["metadata"].get("labels", {}))
        if not nps:
            problems.append(f"{wref}: no NetworkPolicy selects the ingestion worker pods")
        elif not any(mport in tcp_ports(r) for r in rules):
            problems.append(f"{wref}: its NetworkPolicy does not admit Prometheus on the metrics port {mport}")
    if not ingestion_apis:
        problems.append(f"{wref}: ingestion workers without the ingestion API")
    print(f"  check {wref}: {w['spec'].get('replicas')} pod(s) x {pod_spec(w)['containers'][0].get('args', ['', '', '?'])[-1]} "
          f"process(es) on queue {wenv.get('KEEL_INGESTION_QUEUE')}")
if values_file:
    if ingestion_values.get("enabled", True) and not ingestion_apis:
        problems.append("ingestion.enabled but no ingestion API Deployment rendered")
    if ingestion_values.get("enabled", True) and ingestion_worker_values.get("enabled", True) and not ingestion_workers:
        problems.append("ingestion.worker.enabled but no ingestion worker Deployment rendered")
    if not ingestion_values.get("enabled", True) and (ingestion_apis or ingestion_workers):
        problems.append("ingestion.enabled is false but ingestion Deployments are rendered")

# ---- feedback: the API and stream consumer, its database, its NetworkPolicy
feedback_values = values.get("feedback") or {}
FEEDBACK_ENV = ("KEEL_FEEDBACK_HOST", "KEEL_FEEDBACK_GRPC_PORT", "KEEL_FEEDBACK_HTTP_PORT",
                "KEEL_FEEDBACK_DATABASE_URL", "KEEL_FEEDBACK_MIGRATE_ON_START", "KEEL_FEEDBACK_CONSUME",
                "KEEL_FEEDBACK_CONSUMER_GROUP", "KEEL_FEEDBACK_BATCH", "KEEL_FEEDBACK_BLOCK_MS",
                "KEEL_FEEDBACK_CLAIM_IDLE_S", "KEEL_REDIS_URL", "KEEL_DATA_DIR", "KEEL_LOG_LEVEL")

def check_feedback(dep):
    ref = f"Deployment/{dep['metadata']['name']}"
    ps = pod_spec(dep)
    c = ps["containers"][0]
    env, entries = env_of(c), {e["name"]: e for e in c.get("env", [])}
    for n in FEEDBACK_ENV:
        if n not in entries:
            problems.append(f"{ref}: env {n} missing")
    if env.get("KEEL_FEEDBACK_HOST") != "0.0.0.0":
        problems.append(f"{ref}: KEEL_FEEDBACK_HOST must be 0.0.0.0 (probes and scrapes come from outside the pod)")
    if "KEEL_FEEDBACK_CONSUMER_NAME" in entries:
        problems.append(f"{ref}: KEEL_FEEDBACK_CONSUMER_NAME is set: every replica would be the same consumer")
    try:
        if float(env["KEEL_FEEDBACK_CLAIM_IDLE_S"]) * 1000 <= int(env["KEEL_FEEDBACK_BLOCK_MS"]):
            problems.append(f"{ref}: KEEL_FEEDBACK_CLAIM_IDLE_S does not exceed KEEL_FEEDBACK_BLOCK_MS")
    except (KeyError, TypeError, ValueError):
        problems.append(f"{ref}: KEEL_FEEDBACK_CLAIM_IDLE_S / KEEL_FEEDBACK_BLOCK_MS are not numbers")
    if c.get("args", [])[:1] != ["serve"]:
        problems.append(f"{ref}: args must start with serve")
    if gpu_limits(c):
        problems.append(f"{ref}: feedback is CPU only, got GPU limits {gpu_limits(c)}")
    for var, pname in (("KEEL_FEEDBACK_GRPC_PORT", "grpc"), ("KEEL_FEEDBACK_HTTP_PORT", "http-metrics")):
        if str(named_port(c, pname)) != str(env.get(var)):
            problems.append(f"{ref}: container port {pname} ({named_port(c, pname)}) differs from {var}={env.get(var)}")
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if (get.get("path"), get.get("port")) != (path, "http-metrics"):
            problems.append(f"{ref}: {probe} must GET {path} on http-metrics")
    check_redis_env(ref, c)
    mounts, vols = mounts_of(c), {v["name"]: v for v in ps.get("volumes", [])}
    if "emptyDir" not in vols.get((mounts.get("/tmp") or {}).get("name"), {}):
        problems.append(f"{ref}: /tmp must be an emptyDir (read-only root filesystem)")
    db_ref = (entries.get("KEEL_FEEDBACK_DATABASE_URL", {}).get("valueFrom") or {}).get("secretKeyRef")
    if not db_ref:
        problems.append(f"{ref}: KEEL_FEEDBACK_DATABASE_URL must come from a Secret (it may hold a password)")
    claim = None
    url = secret_value(db_ref["name"], db_ref.get("key")) if db_ref else None
    if url and url.startswith("sqlite:"):
        claim = sqlite_claim(ref, url, mounts, vols, problems)
        if dep["spec"].get("replicas") != 1:
            problems.append(f"{ref}: SQLite needs exactly 1 replica, got {dep['spec'].get('replicas')}")
        if (dep["spec"].get("strategy") or {}).get("type") != "Recreate":
            problems.append(f"{ref}: SQLite on a ReadWriteOnce claim needs the Recreate strategy")
    if feedback_values.get("networkPolicy", {}).get("enabled", True):
        grpc_port, http_port = named_port(c, "grpc"), named_port(c, "http-metrics")
        nps, rules = ingress_rules_for(dep["spec"]["template"]["metadata"].get("labels", {}))
        if not nps:
            problems.append(f"{ref}: no NetworkPolicy selects the feedback pods")
        for gl in gateway_labels:
            if not any(grpc_port in tcp_ports(r) and any("podSelector" in p and "namespaceSelector" not in p
                                                        and selects(p["podSelector"], gl) for p in r.get("from", []))
                       for r in rules):
                problems.append(f"{ref}: its NetworkPolicy does not admit the gateway pods on the gRPC port {grpc_port}")
        if nps and not any(http_port in tcp_ports(r) for r in rules):
            problems.append(f"{ref}: its NetworkPolicy does not admit Prometheus on the metrics port {http_port}")
    print(f"  check {ref}: {dep['spec'].get('replicas')} replica(s), "
          f"{'SQLite on claim ' + claim if claim else 'database URL from a Secret'}, "
          f"{'consumer group ' + str(env.get('KEEL_FEEDBACK_CONSUMER_GROUP')) if env.get('KEEL_FEEDBACK_CONSUME') == 'true' else 'no consumer'}")

feedback_deps = deployments_of("feedback")
for d in feedback_deps:
    check_feedback(d)
if values_file:
    if feedback_values.get("enabled", True) and not feedback_deps:
        problems.append("feedback.enabled but no feedback Deployment rendered")
    if not feedback_values.get("enabled", True) and feedback_deps:
        problems.append("feedback.enabled is false but a feedback Deployment is rendered")

for name, so in by_kind.get("ScaledObject", {}).items():
    ref, spec = f"ScaledObject/{name}", so.get("spec", {})
    if so.get("apiVersion") != "keda.sh/v1alpha1":
        problems.append(f"{ref}: apiVersion {so.get('apiVersion')} (want keda.sh/v1alpha1)")
    t = spec.get("scaleTargetRef") or {}
    target = by_kind.get(t.get("kind", "Deployment"), {}).get(t.get("name"))
    if target is None:
        problems.append(f"{ref}: scaleTargetRef {t.get('kind', 'Deployment')}/{t.get('name')} is not rendered")
        continue
    if "replicas" in target.get("spec", {}):
        problems.append(f"{ref}: {t.get('kind')}/{t.get('name')} sets spec.replicas (every upgrade would reset KEDA's count)")
    lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi and hi >= 1):
        problems.append(f"{ref}: need 0 <= minReplicaCount <= maxReplicaCount, maxReplicaCount >= 1")
    for k in ("pollingInterval", "cooldownPeriod"):
        if k in spec and not isinstance(spec[k], int):
            problems.append(f"{ref}: {k} must be an integer")
    tc = pod_spec(target)["containers"][0]
    queues = [q for q in (worker_args(tc).get("--queues") or "").split(",") if q]
    listed = []
    triggers = spec.get("triggers") or []
    if not triggers:
        problems.append(f"{ref}: no triggers")
    for i, trig in enumerate(triggers):
        tref = f"{ref} trigger {i}"
        md = trig.get("metadata") or {}
        if trig.get("type") != "redis":
            problems.append(f"{tref}: type {trig.get('type')!r} (want redis)")
        for k, v in md.items():
            if not isinstance(v, str):
                problems.append(f"{tref}: metadata.{k} must be a string")
        listed.append(md.get("listName"))
        if not str(md.get("listLength", "")).isdigit() or int(md["listLength"]) < 1:
            problems.append(f"{tref}: listLength {md.get('listLength')!r} must be an integer >= 1")
        check_target(tref, "address", md.get("address"))
        auth = (trig.get("authenticationRef") or {}).get("name")
        if auth:
            ta = by_kind.get("TriggerAuthentication", {}).get(auth)
            if ta is None:
                problems.append(f"{tref}: authenticationRef {auth!r} is not a rendered TriggerAuthentication")
        elif "$(REDIS_PASSWORD)" in (env_of(tc).get("KEEL_REDIS_URL") or ""):
            problems.append(f"{tref}: Redis needs a password (the workers use one) but the trigger has no authenticationRef")
        if values_file and (values.get("redis") or {}).get("enabled", True) and (values.get("redis") or {}).get("auth", {}).get("enabled") and not auth:
            problems.append(f"{tref}: redis.auth.enabled but no authenticationRef")
    if sorted(listed) != sorted(queues):
        problems.append(f"{ref}: trigger listNames {listed} differ from the target's queues {queues}")
    print(f"  check {ref}: targets {t.get('kind')}/{t.get('name')}, {len(triggers)} redis trigger(s) on {listed}")

for name, ta in by_kind.get("TriggerAuthentication", {}).items():
    ref = f"TriggerAuthentication/{name}"
    refs = (ta.get("spec") or {}).get("secretTargetRef") or []
    if not refs:
        problems.append(f"{ref}: no secretTargetRef")
    for r in refs:
        if r.get("parameter") not in ("password", "username"):
            problems.append(f"{ref}: unexpected parameter {r.get('parameter')!r} for the redis scaler")
        check_ref(f"{ref} {r.get('parameter')}", "Secret", r.get("name"), r.get("key"))
    if not any((t.get("authenticationRef") or {}).get("name") == name
               for so in by_kind.get("ScaledObject", {}).values() for t in so["spec"].get("triggers", [])):
        problems.append(f"{ref}: no ScaledObject trigger uses it")

for name, pm in by_kind.get("PodMonitor", {}).items():
    matched = selected_pods(pm.get("spec", {}).get("selector") or {})
    if not matched:
        problems.append(f"PodMonitor/{name}: selector matches no rendered pod template")
    for ep in pm.get("spec", {}).get("podMetricsEndpoints", []):
        if matched and ep.get("port") not in container_port_names(matched):
            problems.append(f"PodMonitor/{name}: no selected pod has a container port named {ep.get('port')!r}")

if values_file and inference_values.get("enabled", True):
    want = "RayService" if expect_mode == "rayService" else "inference Deployment"
    if not seen[want]:
        problems.append(f"inference.mode={expect_mode} but no {want} rendered")

for p in problems:
    print(f"  POLICY {p}")
print(f"objects={written} skipped={skipped}")
sys.exit(1 if problems else 0)
PY
}

# check_rendered NAME RENDERED_FILE: police + schema-validate one rendered manifest set.
check_rendered() {
  local name=$1 rendered=$2 dir="$work/objects/${1//\//_}" out counts kv_out rc=0
  if ! out=$(SCENARIO_VALUES="${SCENARIO_VALUES:-}" split_and_police "$rendered" "$dir"); then rc=1; fi
  counts=$(tail -n 1 <<<"$out")
  sed '$d' <<<"$out"
  if [[ ! "$counts" =~ ^objects=([0-9]+)\ skipped=[0-9]+$ ]]; then
    echo "  could not split the rendered manifests"
    rc=1
  elif [[ "${BASH_REMATCH[1]}" -eq 0 ]]; then
    echo "  no objects rendered"
    rc=1
  else
    # --quiet prints only problems; a WARN means a kind without a schema that is not
    # a known CRD kind, which must not pass silently.
    kv_out=$("$KUBERNETES_VALIDATE" "${kv_args[@]}" "$dir"/*.yaml 2>&1) || rc=1
    if [[ -n "$kv_out" ]]; then
      sed -e "s|$dir/||g" -e 's/^/  /' <<<"$kv_out"
      grep -qE '^(WARN|ERROR|FATAL)' <<<"$kv_out" && rc=1
    fi
  fi
  if [[ $rc -eq 0 ]]; then
    summary+=("ok    $name: $counts (k8s $K8S_VERSIONS)")
  else
    summary+=("FAIL  $name: $counts")
    failures=$((failures + 1))
  fi
}

# ---------------------------------------------------------------- chart scenarios
scenarios=("default:")
for f in "$CHART"/ci/*.yaml; do
  [[ -e "$f" ]] && scenarios+=("$(basename "$f" .yaml):$f")
done

for entry in "${scenarios[@]}"; do
  name=${entry%%:*}
  file=${entry#*:}
  args=(--set-string "gateway.pepper.value=$CI_PEPPER")
  [[ -n "$file" ]] && args=(-f "$file")
  echo "== chart scenario: $name ${file:+($file)}"
  if ! "$HELM" lint --strict --quiet "$CHART" "${args[@]}" >"$work/lint.log" 2>&1; then
    sed 's/^/  /' "$work/lint.log"
    summary+=("FAIL  $name: helm lint --strict")
    failures=$((failures + 1))
    continue
  fi
  if ! "$HELM" template "$RELEASE" "$CHART" -n "$NAMESPACE" "${args[@]}" \
      >"$work/$name.yaml" 2>"$work/template.log"; then
    sed 's/^/  /' "$work/template.log"
    summary+=("FAIL  $name: helm template")
    failures=$((failures + 1))
    continue
  fi
  SCENARIO_VALUES="$file" check_rendered "chart/$name" "$work/$name.yaml"
done

# NOTES.txt renders (helm template skips it); client-side dry run needs no cluster.
echo "== chart NOTES.txt"
if "$HELM" install "$RELEASE" "$CHART" -n "$NAMESPACE" --dry-run=client \
      --set-string "gateway.pepper.value=$CI_PEPPER" >"$work/notes.log" 2>&1 \
    && grep -q "grpc.health.v1.Health/Check" "$work/notes.log" \
    && grep -q "exec deploy/$RELEASE-gateway -- keel-gateway keys create --tenant keel" "$work/notes.log" \
    && grep -q "port-forward svc/$RELEASE-gateway 8080:8080" "$work/notes.log" \
    && grep -q "WARNING: the registry uses SQLite" "$work/notes.log" \
    && grep -q "^Inference (gRPC :50052" "$work/notes.log" \
    && grep -q "scheduled on the" "$work/notes.log" \
    && grep -q "^Training API (gRPC :50053" "$work/notes.log" \
    && grep -q "NOTE: trainingWorker.enabled is false: jobs wait in queue train.gpu" "$work/notes.log" \
    && grep -q "^Ingestion API (gRPC :50054" "$work/notes.log" \
    && grep -q "^Ingestion build workers (Deployment $RELEASE-ingestion-worker" "$work/notes.log" \
    && grep -q "WARNING: ingestion uses SQLite" "$work/notes.log" \
    && grep -q "^Feedback (gRPC :50055" "$work/notes.log" \
    && grep -q "KEEL_GATEWAY_FEEDBACK_TARGET" "$work/notes.log" \
    && grep -q "WARNING: feedback uses SQLite" "$work/notes.log"; then
  summary+=("ok    chart/NOTES.txt: renders, SQLite and ReadWriteOnce notes shown, inference, gateway, training, ingestion and feedback sections")
else
  sed 's/^/  /' "$work/notes.log" | tail -n 20
  summary+=("FAIL  chart/NOTES.txt")
  failures=$((failures + 1))
fi

# ---------------------------------------------------------------- negative cases
# Each must be refused by values.schema.json or a template check, with the expected
# reason (an extended regex); a render, or a refusal for another reason, is a failure.
# Each is rendered with the CI pepper first, so that only its own values are wrong.
negatives=(
  "unknown registry key|additional properties 'replica' not allowed|--set registry.replica=2"
  "unknown top-level key|additional properties 'registy' not allowed|--set registy.enabled=true"
  "negative replicas|/registry/replicas|--set registry.replicas=-1"
  "relative artifacts root|/artifacts/root|--set artifacts.root=relative/path"
  "bad log level|/logLevel|--set logLevel=LOUD"
  "zero probe period|/registry/probes/readiness/periodSeconds|--set registry.probes.readiness.periodSeconds=0"
  "string replicas|/registry/replicas|--set-string registry.replicas=two"
  "database url and existingSecret|set url or existingSecret, not both|--set registry.database.url=postgresql+psycopg://h/db --set registry.database.existingSecret=s"
  "redis disabled, no externalRedis|set externalRedis.url or externalRedis.existingSecret|--set redis.enabled=false"
  "externalRedis next to in-cluster redis|set redis.enabled=false to use an external Redis|--set externalRedis.url=redis://r:6379/0"
  "2 replicas on a ReadWriteOnce artifact volume|needs a shared artifact store|--set registry.replicas=2 --set registry.database.url=postgresql+psycopg://h/db"
  "redis auth without a password|set redis.auth.password or redis.auth.existingSecret|--set redis.auth.enabled=true"
  "placeholder database password|registry.database.url still contains a placeholder|--set registry.database.url=postgresql+psycopg://keel:CHANGEME@h/db"
  "unknown inference key|additional properties 'tensorParallel' not allowed|--set inference.tensorParallel=2"
  "unknown inference mode|/inference/mode|--set inference.mode=rayCluster"
  "tensorParallelSize 0|/inference/tensorParallelSize|--set inference.tensorParallelSize=0"
  "numReplicas 0|/inference/numReplicas|--set inference.numReplicas=0"
  "gpu count 0|/inference/gpu/count|--set inference.gpu.enabled=true --set inference.gpu.count=0"
  "bad dtype|/inference/model/dtype|--set inference.model.dtype=fp8"
  "gpu count below tensorParallelSize (deployment)|inference.gpu.count \\(1\\) is less than inference.tensorParallelSize x numReplicas|--set inference.gpu.enabled=true --set inference.tensorParallelSize=2"
  "gpu count below TP x numReplicas (deployment)|inference.gpu.count \\(2\\) is less than .* \\(1 x 3\\)|--set inference.gpu.enabled=true --set inference.gpu.count=2 --set inference.numReplicas=3"
  "device cuda without gpu|device=cuda needs inference.gpu.enabled|--set inference.model.device=cuda"
  "rayService on a ReadWriteOnce artifact volume|rayService needs a shared artifact store|--set inference.mode=rayService"
  "rayService gpu count below tensorParallelSize|inference.gpu.count \\(2\\) is less than inference.tensorParallelSize \\(4\\)|--set inference.mode=rayService --set artifacts.root=s3://bucket --set inference.gpu.enabled=true --set inference.gpu.count=2 --set inference.tensorParallelSize=4"
  "rayService engine replicas do not fit the workers|do not fit on 1 worker|--set inference.mode=rayService --set artifacts.root=s3://bucket --set inference.gpu.enabled=true --set inference.numReplicas=2"
  "rayService worker replicas above maxReplicas|minReplicas \\(1\\) <= replicas \\(3\\) <= maxReplicas \\(1\\)|--set inference.mode=rayService --set artifacts.root=s3://bucket --set inference.rayService.worker.replicas=3"
  "rayService head without keel_grpc_front|must keep keel_grpc_front|--set inference.mode=rayService --set artifacts.root=s3://bucket --set-string inference.rayService.head.rayStartParams.resources=custom"
  "rayService string worker replicas|/inference/rayService/worker/replicas|--set inference.mode=rayService --set-string inference.rayService.worker.replicas=two"
  "no gateway pepper (the chart defaults)|gateway.pepper: set gateway.pepper.existingSecret .* or gateway.pepper.value|--set-string gateway.pepper.value="
  "gateway pepper value and existingSecret|gateway.pepper: set existingSecret or value, not both|--set gateway.pepper.existingSecret=keel-pepper"
  "short gateway pepper|/gateway/pepper/value|--set-string gateway.pepper.value=short"
  "placeholder gateway pepper|gateway.pepper.value still contains a placeholder|--set-string gateway.pepper.value=changeme-changeme-changeme"
  "unknown gateway key|additional properties 'replica' not allowed|--set gateway.replica=2"
  "string gateway workers|/gateway/workers|--set-string gateway.workers=two"
  "gateway workers 0|/gateway/workers|--set gateway.workers=0"
  "negative gateway rpm|/gateway/rateLimits/rpm|--set gateway.rateLimits.rpm=-1"
  "string gateway tpm|/gateway/rateLimits/tpm|--set-string gateway.rateLimits.tpm=lots"
  "interactions maxlen 0|/gateway/interactions/maxlen|--set gateway.interactions.maxlen=0"
  "autoscaling minReplicas 0|/gateway/autoscaling/minReplicas|--set gateway.autoscaling.minReplicas=0"
  "string autoscaling maxReplicas|/gateway/autoscaling/maxReplicas|--set-string gateway.autoscaling.maxReplicas=ten"
  "autoscaling min above max|minReplicas \\(5\\) is above maxReplicas \\(3\\)|--set gateway.autoscaling.minReplicas=5 --set gateway.autoscaling.maxReplicas=3"
  "autoscaling without a CPU request|gateway.autoscaling.enabled needs gateway.resources.requests.cpu|--set gateway.resources.requests.cpu=null"
  "pdb with neither bound|set gateway.pdb.minAvailable or gateway.pdb.maxUnavailable|--set-string gateway.pdb.minAvailable="
  "pdb bad percentage|/gateway/pdb/maxUnavailable|--set-string gateway.pdb.maxUnavailable=half"
  "policy not a map (number)|/gateway/policy|--set gateway.policy=3"
  "policy string not a YAML map|gateway.policy is not a YAML map|--set-string gateway.policy=[unclosed"
  "registry target without a port|/gateway/registryTarget|--set gateway.registryTarget=registry.example.com"
  "gateway without inference or inferenceTarget|gateway needs inference: enable inference or set gateway.inferenceTarget|--set inference.enabled=false"
  "gateway without registry or registryTarget|gateway needs the registry: enable registry or set gateway.registryTarget|--set registry.enabled=false"
  "ingress bad pathType|/gateway/ingress/pathType|--set gateway.ingress.enabled=true --set gateway.ingress.pathType=Regex"
  "ingress tls without secretName|/gateway/ingress/tls/0|--set gateway.ingress.enabled=true --set gateway.ingress.tls[0].hosts[0]=a.example.com"
  "networkPolicy from not a list|/gateway/networkPolicy/from|--set gateway.networkPolicy.from=anywhere"
  "training without registry or registryTarget|training needs the registry .*: enable registry or set training.registryTarget|--set registry.enabled=false --set gateway.registryTarget=r.example:50051"
  "training registryTarget without a port|/training/registryTarget|--set training.registryTarget=registry.example.com"
  "gateway trainingTarget without a port|/gateway/trainingTarget|--set gateway.trainingTarget=training.example.com"
  "unknown training defaultQueue|/training/defaultQueue|--set training.defaultQueue=train.tpu"
  "unknown trainingWorker key|additional properties 'queue' not allowed|--set trainingWorker.queue=train.gpu"
  "visibility timeout equal to the job time limit|visibilityTimeoutSeconds \\(21600\\) must be larger than trainingWorker.jobTimeLimitSeconds \\(21600\\)|--set trainingWorker.visibilityTimeoutSeconds=21600"
  "visibility timeout below the job time limit (workers on)|visibilityTimeoutSeconds \\(3600\\) must be larger than trainingWorker.jobTimeLimitSeconds \\(7200\\)|--set trainingWorker.enabled=true --set trainingWorker.jobTimeLimitSeconds=7200 --set trainingWorker.visibilityTimeoutSeconds=3600"
  "string job time limit|/trainingWorker/jobTimeLimitSeconds|--set-string trainingWorker.jobTimeLimitSeconds=6h"
  "negative worker gpu count|/trainingWorker/gpu/count|--set trainingWorker.enabled=true --set trainingWorker.gpu.count=-1"
  "CPU worker on the train.gpu queue|a CPU worker would take GPU jobs|--set trainingWorker.enabled=true --set trainingWorker.gpu.count=0"
  "unknown worker queue|/trainingWorker/queues/0|--set trainingWorker.queues[0]=train.tpu"
  "empty worker queue list|/trainingWorker/queues|--set-json trainingWorker.queues=[]"
  "duplicate worker queues|/trainingWorker/queues|--set-json trainingWorker.queues=[\"train.cpu\",\"train.cpu\"]"
  "worker concurrency 0|/trainingWorker/concurrency|--set trainingWorker.concurrency=0"
  "KEDA listLength 0|/trainingWorker/keda/listLength|--set trainingWorker.enabled=true --set trainingWorker.keda.enabled=true --set trainingWorker.keda.listLength=0"
  "KEDA maxReplicaCount 0|/trainingWorker/keda/maxReplicaCount|--set trainingWorker.enabled=true --set trainingWorker.keda.enabled=true --set trainingWorker.keda.maxReplicaCount=0"
  "KEDA min above max|trainingWorker.keda: minReplicaCount \\(5\\) is above maxReplicaCount \\(2\\)|--set trainingWorker.enabled=true --set trainingWorker.keda.enabled=true --set trainingWorker.keda.minReplicaCount=5 --set trainingWorker.keda.maxReplicaCount=2"
  "KEDA with the Redis URL in a Secret and no scaler address|KEDA cannot read|--set redis.enabled=false --set externalRedis.existingSecret=keel-redis --set trainingWorker.enabled=true --set trainingWorker.keda.enabled=true"
  "KEDA with a percent-encoded external Redis password|password in externalRedis.url is percent-encoded|--set redis.enabled=false --set externalRedis.url=redis://:p%40ss@redis.example:6379/0 --set trainingWorker.enabled=true --set trainingWorker.keda.enabled=true"
  "KEDA redis address without a port|/trainingWorker/keda/redis/address|--set trainingWorker.keda.redis.address=redis.example"
  "reserved PriorityClass name|/trainingWorker/priorityClass/name|--set trainingWorker.priorityClass.create=true --set trainingWorker.priorityClass.name=system-gpu"
  "PriorityClass value above 1e9|/trainingWorker/priorityClass/value|--set trainingWorker.priorityClass.value=2000000000"
  "unknown ingestion key|additional properties 'replica' not allowed|--set ingestion.replica=2"
  "unknown ingestion worker key|additional properties 'queues' not allowed|--set ingestion.worker.queues=ingest"
  "string ingestion replicas|/ingestion/replicas|--set-string ingestion.replicas=two"
  "ingestion database url and existingSecret|ingestion.database: set url or existingSecret, not both|--set ingestion.database.url=postgresql+psycopg://h/db --set ingestion.database.existingSecret=s"
  "placeholder ingestion database password|ingestion.database.url still contains a placeholder|--set ingestion.database.url=postgresql+psycopg://keel:CHANGEME@h/db"
  "ingestion database url not a URL|/ingestion/database/url|--set ingestion.database.url=postgres-host"
  "ingestion inferenceTarget without a port|/ingestion/inferenceTarget|--set ingestion.inferenceTarget=inference.example.com"
  "ingestion registryTarget without a port|/ingestion/registryTarget|--set ingestion.registryTarget=registry.example.com"
  "gateway ingestionTarget without a port|/gateway/ingestionTarget|--set gateway.ingestionTarget=ingestion.example.com"
  "ingestion queue shared with training|/ingestion/worker/queue|--set ingestion.worker.queue=train.cpu"
  "bad ingestion queue name|/ingestion/worker/queue|--set ingestion.worker.queue=ingest/builds"
  "ingestion worker concurrency 0|/ingestion/worker/concurrency|--set ingestion.worker.concurrency=0"
  "string ingestion worker replicas|/ingestion/worker/replicas|--set-string ingestion.worker.replicas=two"
  "ingestion build time limit below 10 s|/ingestion/worker/buildTimeLimitSeconds|--set ingestion.worker.buildTimeLimitSeconds=5"
  "ingestion shardChunks 0|/ingestion/worker/shardChunks|--set ingestion.worker.shardChunks=0"
  "ingestion maxBytes below 1 KiB|/ingestion/documents/maxBytes|--set ingestion.documents.maxBytes=100"
  "ingestion baseModels source not a string|/ingestion/baseModels|--set ingestion.baseModels.smol=3"
  "ingestion worker modelCache size not a quantity|/ingestion/worker/modelCache/sizeLimit|--set ingestion.worker.modelCache.sizeLimit=lots"
  "ingestion networkPolicy from not a list|/ingestion/networkPolicy/from|--set ingestion.networkPolicy.from=anywhere"
  "unknown feedback key|additional properties 'replica' not allowed|--set feedback.replica=2"
  "unknown feedback consumer key|additional properties 'name' not allowed|--set feedback.consumer.name=c1"
  "string feedback replicas|/feedback/replicas|--set-string feedback.replicas=two"
  "feedback database url and existingSecret|feedback.database: set url or existingSecret, not both|--set feedback.database.url=postgresql+psycopg://h/db --set feedback.database.existingSecret=s"
  "placeholder feedback database password|feedback.database.url still contains a placeholder|--set feedback.database.url=postgresql+psycopg://keel:CHANGEME@h/db"
  "feedback database url not a URL|/feedback/database/url|--set feedback.database.url=postgres-host"
  "gateway feedbackTarget without a port|/gateway/feedbackTarget|--set gateway.feedbackTarget=feedback.example.com"
  "feedback batch 0|/feedback/consumer/batch|--set feedback.consumer.batch=0"
  "feedback claim idle time within one read|feedback.consumer.claimIdleSeconds \\(1\\) must exceed one read's blockMs \\(1000 ms\\)|--set feedback.consumer.claimIdleSeconds=1"
  "feedback networkPolicy from not a list|/feedback/networkPolicy/from|--set feedback.networkPolicy.from=anywhere"
  "bad PriorityClass preemptionPolicy|/trainingWorker/priorityClass/preemptionPolicy|--set trainingWorker.priorityClass.preemptionPolicy=Always"
)
echo "== negative cases (each must be refused)"
neg_failed=0
for entry in "${negatives[@]}"; do
  IFS='|' read -r label expect set_args <<<"$entry"
  read -r -a neg_args <<<"$set_args"
  if "$HELM" template "$RELEASE" "$CHART" -n "$NAMESPACE" --set-string "gateway.pepper.value=$CI_PEPPER" \
      "${neg_args[@]}" >/dev/null 2>"$work/neg.log"; then
    echo "  NOT REFUSED: $label ($set_args)"
    neg_failed=$((neg_failed + 1))
  elif reason=$(grep -m1 -E -- "$expect" "$work/neg.log"); then
    echo "  refused: $label: $(sed -E 's/^.*(execution error at [^:]*:[0-9:]*: |at .)/\1/' <<<"$reason" | cut -c1-140)"
  else
    echo "  REFUSED FOR ANOTHER REASON: $label (wanted /$expect/):"
    sed 's/^/    /' "$work/neg.log"
    neg_failed=$((neg_failed + 1))
  fi
done
if [[ $neg_failed -eq 0 ]]; then
  summary+=("ok    chart/negative: ${#negatives[@]} bad value sets refused for the expected reason")
else
  summary+=("FAIL  chart/negative: $neg_failed of ${#negatives[@]} bad value sets not refused as expected")
  failures=$((failures + 1))
fi

# ---------------------------------------------------------------- k8s/ (kustomize)
kustomize_check() {
  local name=$1 dir=$2 file
  shift 2
  file="$work/kustomize-${name//\//_}.yaml"
  echo "== kustomize: $dir"
  if ! "$KUBECTL" kustomize "$@" "$dir" >"$file" 2>"$work/kustomize.log"; then
    sed 's/^/  /' "$work/kustomize.log"
    summary+=("FAIL  $name: kubectl kustomize")
    failures=$((failures + 1))
    return
  fi
  check_rendered "$name" "$file"
}

kustomize_check k8s/bootstrap k8s/bootstrap
# chartHome lies outside the overlay folder, hence LoadRestrictionsNone.
kustomize_check k8s/overlays/dev k8s/overlays/dev \
  --enable-helm --helm-command "$HELM" --load-restrictor LoadRestrictionsNone

# ---------------------------------------------------------------- skaffold.yaml
# No skaffold binary here: check the wiring statically. Every built image must reach the
# chart through setValueTemplates, every release must render with its values, and no
# profile may patch a list by index.
echo "== skaffold.yaml"
if out=$(HELM="$HELM" "$PYTHON" - skaffold.yaml <<'PY' 2>&1
import os, re, subprocess, sys, yaml

cfg = yaml.safe_load(open(sys.argv[1]))
cfg = {k: v for k, v in cfg.items() if not k.startswith(".")}  # anchor holders
problems = []
if not str(cfg.get("apiVersion", "")).startswith("skaffold/v4beta"):
    problems.append(f"apiVersion {cfg.get('apiVersion')!r} is not skaffold/v4beta*")
def artifact_images(artifacts, where):
    images = []
    for art in artifacts:
        images.append(art["image"])
        dockerfile = os.path.join(art.get("context", "."), art.get("docker", {}).get("dockerfile", "Dockerfile"))
        if not os.path.isfile(dockerfile):
            problems.append(f"{where} artifact {art['image']}: {dockerfile} not found")
            continue
        # One shared build stage: the artifact names its service (a services/ folder) and a
        # runtime stage of that Dockerfile whose name starts with it (inference-cuda, ...).
        docker = art.get("docker", {})
        stages = re.findall(r"(?im)^FROM\s+\S+\s+AS\s+(\S+)", open(dockerfile).read())
        target, service = docker.get("target"), docker.get("buildArgs", {}).get("SERVICE")
        if stages and target not in stages:
            problems.append(f"{where} artifact {art['image']}: target {target!r} is not a stage of {dockerfile}")
        if stages and not (service and os.path.isdir(os.path.join("services", service))):
            problems.append(f"{where} artifact {art['image']}: buildArgs.SERVICE {service!r} is not a service")
        elif stages and target and not target.startswith(service):
            problems.append(f"{where} artifact {art['image']}: target {target!r} does not match SERVICE {service!r}")
    return images

# A profile that restates build.artifacts builds those instead of the base list; its
# releases must wire every image it builds.
images = artifact_images(cfg.get("build", {}).get("artifacts", []), "base")
all_images = set(images)
releases = [("base", r, images) for r in cfg.get("deploy", {}).get("helm", {}).get("releases", [])]
for prof in cfg.get("profiles", []):
    prof_images = images
    if "artifacts" in prof.get("build", {}):
        prof_images = artifact_images(prof["build"]["artifacts"], f"profile {prof['name']}")
        all_images |= set(prof_images)
    releases += [(f"profile {prof['name']}", r, prof_images) for r in prof.get("deploy", {}).get("helm", {}).get("releases", [])]
    for patch in prof.get("patches", []):
        if re.search(r"/[0-9]+(/|$)", patch.get("path", "")):
            problems.append(f"profile {prof['name']}: patch path {patch['path']} uses a list index")
if not releases:
    problems.append("no helm releases")
for where, rel, images in releases:
    templates = rel.get("setValueTemplates", {})
    for image in images:
        key = image.replace("-", "_")
        for var in (f"IMAGE_REPO_{key}", f"IMAGE_TAG_{key}"):
            if not any(var in str(v) for v in templates.values()):
                problems.append(f"{where} release {rel['name']}: image {image} not wired ({var})")
    args = ["template", rel["name"], rel["chartPath"], "-n", rel.get("namespace", "default")]
    for k, v in templates.items():
        args += ["--set-string", f"{k}={re.sub(r'{{[^}]*}}', 'x', str(v))}"]
    for k, v in rel.get("setValues", {}).items():
        args += ["--set", f"{k}={v}"]
    proc = subprocess.run([os.environ["HELM"], *args], capture_output=True, text=True)
    if proc.returncode != 0:
        problems.append(f"{where} release {rel['name']} does not render: {proc.stderr.strip()[-300:]}")
for p in problems:
    print(f"  {p}")
print(f"images={len(all_images)} releases={len(releases)}")
sys.exit(1 if problems else 0)
PY
); then
  summary+=("ok    skaffold.yaml: $(tail -n 1 <<<"$out") wired and rendering")
else
  sed '$d' <<<"$out"
  summary+=("FAIL  skaffold.yaml: $(tail -n 1 <<<"$out")")
  failures=$((failures + 1))
fi

# ---------------------------------------------------------------- summary
echo
echo "chart-check summary ($(basename "$HELM") $("$HELM" version --short 2>/dev/null), kubernetes-validate $("$KUBERNETES_VALIDATE" --version 2>/dev/null)):"
printf '  %s\n' "${summary[@]}"
if [[ $failures -gt 0 ]]; then
  echo "chart-check: $failures check(s) failed"
  exit 1
fi
echo "chart-check: all checks passed"
