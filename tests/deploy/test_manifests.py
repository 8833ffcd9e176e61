#!/usr/bin/python3
"""Structural tests of the deployment artifacts under deploy/ (run by tests/deploy/check.sh).

Helm, kubectl, kustomize, Envoy and Docker are not available here, so this renders the chart
with tests/deploy/gotemplate.py, builds the kustomize overlays with the small builder below
(resources, components, strategic-merge patches, images, namespace), and checks what they
produce against the contracts: docs/configuration.md (flags, ports, probe paths),
docs/metrics.md (metric names), and each other (chart defaults = deploy/k8s/base).

    /usr/bin/python3 -m unittest discover -s tests/deploy -p 'test_*.py' -v
"""
import copy
import http.server
import json
import re
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import dashboard_queries  # noqa: E402
import gotemplate  # noqa: E402

ROOT = HERE.parents[1]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm/phalanx"
K8S = DEPLOY / "k8s"
PYTHON = sys.executable


# ---- contracts ----------------------------------------------------------------------------------

def documented_flags():
    """{flag: default text} from the table of docs/configuration.md."""
    flags = {}
    for line in (ROOT / "docs/configuration.md").read_text().splitlines():
        if not line.startswith("| `--"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        m = re.match(r"`([^`]*)`", cells[2])
        for flag in re.findall(r"`(--[a-z0-9-]+)`", cells[0]):
            flags[flag] = m.group(1) if m else cells[2]
    return flags


FLAGS = documented_flags()
# Flags of `phalanx serve` documented anywhere in docs/configuration.md (table and prose).
ALL_SERVE_FLAGS = set(FLAGS) | set(re.findall(r"(--[a-z][a-z0-9-]+)", (ROOT / "docs/configuration.md").read_text()))


def server_flag_mentions(text):
    """Flags a document attributes to the server: backticked spans that start with a flag, and
    every flag of a `phalanx serve` command line (continuation lines joined)."""
    text = text.replace("\\\n", " ")
    found = set(re.findall(r"`(--[a-z][a-z0-9-]+)[^`]*`", text))
    for line in text.splitlines():
        if "phalanx serve" in line:
            found |= set(re.findall(r"\s(--[a-z][a-z0-9-]+)", line.split("phalanx serve", 1)[1]))
    return found
DEFAULT_PORTS = {"grpc": int(FLAGS["--grpc-port"]), "http": int(FLAGS["--http-port"]),
                 "api": int(FLAGS["--api-port"])}
PROBE_PATHS = {"startupProbe": "/startupz", "readinessProbe": "/readyz", "livenessProbe": "/livez"}
RULES = yaml.safe_load((DEPLOY / "prometheus/rules/phalanx.rules.yml").read_text())
ALERTS = [r for g in RULES["groups"] for r in g["rules"] if "alert" in r]
RECORDED = {r["record"] for g in RULES["groups"] for r in g["rules"] if "record" in r}
DASHBOARD = json.loads((DEPLOY / "grafana/phalanx.json").read_text())


def load_docs(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d is not None]


def args_map(args):
    """{--flag: value} of a `serve` argument list (flags here all take a value)."""
    out = {}
    i = 1
    while i < len(args):
        if not args[i].startswith("--"):
            raise AssertionError(f"expected a flag at {args[i:i + 2]} in {args}")
        out[args[i]] = args[i + 1] if i + 1 < len(args) else None
        i += 2
    return out


# ---- a small kustomize --------------------------------------------------------------------------

MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
              "volumeMounts": "mountPath", "ports": "containerPort"}
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "components", "patches", "images",
                        "namespace"}


def smp(base, patch):
    """Strategic merge patch for the built-in kinds' fields used here."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = copy.deepcopy(base) if isinstance(base, dict) else {}
    for k, v in patch.items():
        if k == "$patch":
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in MERGE_KEYS and isinstance(out.get(k), list):
            key = MERGE_KEYS[k]
            items = copy.deepcopy(out[k])
            for p in v:
                idx = [i for i, b in enumerate(items) if b.get(key) == p.get(key)]
                if p.get("$patch") == "delete":
                    if not idx:
                        raise AssertionError(f"patch deletes {k}[{key}={p.get(key)}], which does not exist")
                    items.pop(idx[0])
                elif idx:
                    items[idx[0]] = smp(items[idx[0]], p)
                else:
                    items.append(smp({}, p))
            out[k] = items
        elif isinstance(v, dict):
            out[k] = smp(out.get(k), v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def kustomize_build(directory, component=False, _resources=None):
    """Returns the list of objects `kustomize build directory` would produce (for what is used)."""
    directory = Path(directory)
    kfile = directory / "kustomization.yaml"
    k = yaml.safe_load(kfile.read_text())
    unknown = set(k) - KUSTOMIZATION_FIELDS
    if unknown:
        raise AssertionError(f"{kfile}: fields this builder does not know: {sorted(unknown)}")
    want_kind = "Component" if component else "Kustomization"
    if k.get("kind") != want_kind:
        raise AssertionError(f"{kfile}: kind {k.get('kind')}, expected {want_kind}")
    objs = [] if _resources is None else _resources
    for r in k.get("resources", []):
        p = (directory / r).resolve()
        if p.is_dir():
            objs.extend(kustomize_build(p))
        elif p.is_file():
            objs.extend(load_docs(p))
        else:
            raise AssertionError(f"{kfile}: resource {r} does not exist")
    for c in k.get("components", []):
        p = (directory / c).resolve()
        if not (p / "kustomization.yaml").is_file():
            raise AssertionError(f"{kfile}: component {c} does not exist")
        objs = kustomize_build(p, component=True, _resources=objs)
    for patch in k.get("patches", []):
        if set(patch) != {"path"}:
            raise AssertionError(f"{kfile}: only `path:` patches are supported here: {patch}")
        p = directory / patch["path"]
        if not p.is_file():
            raise AssertionError(f"{kfile}: patch {patch['path']} does not exist")
        for doc in load_docs(p):
            matches = [i for i, o in enumerate(objs)
                       if o["kind"] == doc["kind"] and o["metadata"]["name"] == doc["metadata"]["name"]
                       and o["apiVersion"].split("/")[0] == doc["apiVersion"].split("/")[0]]
            if len(matches) != 1:
                raise AssertionError(f"{p}: patch target {doc['kind']}/{doc['metadata']['name']} "
                                     f"matches {len(matches)} objects")
            if doc.get("$patch") == "delete":
                objs.pop(matches[0])
            else:
                objs[matches[0]] = smp(objs[matches[0]], doc)
    for img in k.get("images", []):
        for o in objs:
            for c in pod_containers(o):
                name = re.split(r"[:@]", c["image"].rsplit("/", 1)[-1])[0]
                repo = c["image"][: len(c["image"].rsplit("/", 1)[0]) + 1] if "/" in c["image"] else ""
                if repo + name == img["name"]:
                    c["image"] = f"{img.get('newName', img['name'])}:{img['newTag']}"
    if "namespace" in k:
        for o in objs:
            o["metadata"]["namespace"] = k["namespace"]
    return objs


def pod_spec(obj):
    if obj.get("kind") == "Deployment":
        return obj["spec"]["template"]["spec"]
    return None


def pod_containers(obj):
    spec = pod_spec(obj)
    if not spec:
        return []
    return spec.get("containers", []) + spec.get("initContainers", [])


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def one(objs, kind, name):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        raise AssertionError(f"{kind}/{name}: {len(found)} objects")
    return found[0]


# ---- chart rendering ----------------------------------------------------------------------------

EVERYTHING_ON = {
    "model": {"fetch": {"enabled": True, "url": "https://models.example.com/m.gguf",
                        "sha256": "0" * 64}},
    "server": {"ports": {"lbAgent": 9100}, "rateLimitRps": 20, "rateLimitTpm": 1000000,
               "extraArgs": ["--ctx", "8192"]},
    "apiKeys": {"keys": [{"id": "team-a", "sha256": "3c9909afec25354d551dae21590bb26e38d53f2173b8d3dc3eee4c047e7ab1c1",
                          "requests_per_second": 20, "tokens_per_minute": 200000},
                         {"id": "batch", "sha256": "a" * 64, "revoked": True}]},
    "tls": {"clientCA": True},
    "dashboard": {"enabled": True},
    "canary": {"enabled": True, "weight": 50, "replicas": 2, "image": {"tag": "0.2.0"},
               "extraArgs": ["--max-batch", "32"]},
    "hpa": {"enabled": False},
    "gateway": {"hostnames": ["llm.example.com"]},
}


def render(values=None):
    out = gotemplate.render_chart(CHART, values)
    objs = []
    for name, text in out.items():
        if name.endswith(".txt"):
            continue
        for d in yaml.safe_load_all(text):
            if d is not None:
                d.setdefault("_template", name)
                objs.append(d)
    return objs, out


def strip_meta(objs):
    for o in objs:
        o.pop("_template", None)
    return objs


SCENARIOS = {
    "default": None,
    "cpu-dev": yaml.safe_load((CHART / "values-cpu-dev.yaml").read_text()),
    "canary": yaml.safe_load((CHART / "values-canary.yaml").read_text()),
    "everything-on": EVERYTHING_ON,
}


# ---- shared checks ------------------------------------------------------------------------------

class Checks(unittest.TestCase):
    def check_deployment(self, dep, where):
        """A Phalanx Deployment follows docs/configuration.md and drains safely."""
        spec = pod_spec(dep)
        self.assertEqual(spec["containers"][0]["name"], "phalanx", where)
        c = spec["containers"][0]
        args = c["args"]
        self.assertEqual(args[0], "serve", where)
        a = args_map(args)
        for flag in a:
            self.assertIn(flag, FLAGS, f"{where}: {flag} is not a documented flag")
        for flag in ("--model", "--grpc-port", "--http-port", "--api-port", "--lb-agent-port",
                     "--drain-timeout-s"):
            self.assertIn(flag, a, f"{where}: {flag} missing")
        self.assertTrue(a["--model"].startswith("/models/") and a["--model"].endswith(".gguf"), where)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports["grpc"], int(a["--grpc-port"]), where)
        self.assertEqual(ports["http"], int(a["--http-port"]), where)
        if int(a["--api-port"]):
            self.assertEqual(ports["api"], int(a["--api-port"]), where)
        if int(a["--lb-agent-port"]):
            self.assertEqual(ports["lb-agent"], int(a["--lb-agent-port"]), where)
        # Probes: paths of docs/configuration.md on the HTTP port, or gRPC on the gRPC port.
        for probe, path in PROBE_PATHS.items():
            p = c[probe]
            self.assertEqual(p["timeoutSeconds"], 1, f"{where}: {probe}")
            if "grpc" in p:
                self.assertEqual(probe, "readinessProbe", f"{where}: only readiness may use gRPC")
                self.assertEqual(p["grpc"]["port"], int(a["--grpc-port"]), where)
                self.assertNotIn("--tls-cert", a, f"{where}: the kubelet's gRPC probe is plaintext only")
                self.assertNotIn("httpGet", p, where)
            else:
                self.assertEqual(p["httpGet"]["path"], path, f"{where}: {probe}")
                port = p["httpGet"]["port"]
                self.assertEqual(ports.get(port, port), int(a["--http-port"]), f"{where}: {probe} port")
        self.assertGreaterEqual(c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"], 300,
                                f"{where}: the startup probe must allow minutes for the model load")
        # Drain: grace period > preStop sleep + --drain-timeout-s.
        cmd = c["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(Path(cmd[0]).name, "sleep", where)
        sleep_s = int(cmd[1])
        self.assertGreaterEqual(sleep_s, 1, where)
        self.assertGreater(spec["terminationGracePeriodSeconds"], int(a["--drain-timeout-s"]) + sleep_s,
                           f"{where}: terminationGracePeriodSeconds must exceed drain timeout + preStop")
        # Volumes: every mount has a volume; the model is read-only at /models.
        volumes = {v["name"]: v for v in spec["volumes"]}
        for ctr in spec["containers"] + spec.get("initContainers", []):
            for m in ctr.get("volumeMounts", []):
                self.assertIn(m["name"], volumes, f"{where}: mount {m['name']} has no volume")
        models = [m for m in c["volumeMounts"] if m["mountPath"] == "/models"]
        self.assertEqual(len(models), 1, where)
        self.assertTrue(models[0].get("readOnly"), f"{where}: the server mounts the model read-only")
        mv = volumes[models[0]["name"]]
        if "persistentVolumeClaim" in mv:
            self.assertTrue(mv["persistentVolumeClaim"].get("readOnly"), where)
        else:
            self.assertIn("emptyDir", mv, where)
            init = [i for i in spec.get("initContainers", []) if any(m["mountPath"] == "/models" for m in i["volumeMounts"])]
            self.assertEqual(len(init), 1, f"{where}: an emptyDir model needs the fetch init container")
            env = {e["name"]: e["value"] for e in init[0]["env"]}
            self.assertRegex(env["MODEL_SHA256"], r"^[0-9a-f]{64}$", where)
            self.assertEqual("/models/" + env["MODEL_FILE"], a["--model"], where)
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        for flag in ("--tls-cert", "--tls-key", "--tls-client-ca", "--api-keys"):
            if flag in a:
                d = str(Path(a[flag]).parent)
                self.assertIn(d, mounts, f"{where}: {flag} {a[flag]} is not under a mount")
                self.assertIn("secret", volumes[mounts[d]["name"]], where)
        # Non-root, no privilege escalation.
        self.assertTrue(spec["securityContext"]["runAsNonRoot"], where)
        self.assertNotEqual(spec["securityContext"]["runAsUser"], 0, where)
        self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"], where)
        # GPU on the cuda/auto device, none on CPU.
        limits = c.get("resources", {}).get("limits", {})
        if a.get("--device") == "cpu":
            self.assertNotIn("nvidia.com/gpu", limits, where)
        else:
            self.assertGreaterEqual(int(limits.get("nvidia.com/gpu", 0)), 1, f"{where}: GPU limit missing")
        # The selector selects the template's pods.
        sel = dep["spec"]["selector"]["matchLabels"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        for k, v in sel.items():
            self.assertEqual(labels.get(k), v, f"{where}: selector {k}")
        self.assertIn(labels.get("track"), ("stable", "canary"), where)
        return a

    def check_services(self, objs, where):
        pods = [o["spec"]["template"] for o in by_kind(objs, "Deployment")]
        for svc in by_kind(objs, "Service"):
            sel = svc["spec"]["selector"]
            targets = [p for p in pods if all(p["metadata"]["labels"].get(k) == v for k, v in sel.items())]
            self.assertTrue(targets, f"{where}: Service {svc['metadata']['name']} selects no pods")
            for t in targets:
                names = {p["name"] for p in t["spec"]["containers"][0]["ports"]}
                for port in svc["spec"]["ports"]:
                    self.assertIn(port["targetPort"], names, f"{where}: {svc['metadata']['name']}")
            grpc = [p for p in svc["spec"]["ports"] if p["name"] == "grpc"]
            if grpc:
                self.assertEqual(grpc[0].get("appProtocol"), "kubernetes.io/h2c", where)

    def check_routes(self, objs, where, canary):
        services = {s["metadata"]["name"]: s for s in by_kind(objs, "Service")}
        for kind in ("GRPCRoute", "HTTPRoute"):
            routes = by_kind(objs, kind)
            self.assertEqual(len(routes), 1, f"{where}: {kind}")
            self.assertEqual(routes[0]["apiVersion"], "gateway.networking.k8s.io/v1", where)
            for rule in routes[0]["spec"]["rules"]:
                refs = rule["backendRefs"]
                for ref in refs:
                    self.assertIn(ref["name"], services, f"{where}: {kind} backend {ref['name']}")
                    self.assertIn(ref["port"], [p["port"] for p in services[ref["name"]]["spec"]["ports"]], where)
                if canary:
                    self.assertEqual(len(refs), 2, where)
                    self.assertEqual(sum(r["weight"] for r in refs), 100, f"{where}: {kind} weights")
                    self.assertTrue(any(r["name"].endswith("-canary") for r in refs), where)
                else:
                    self.assertEqual(len(refs), 1, where)
            if kind == "GRPCRoute":
                services_matched = [m["method"]["service"] for r in routes[0]["spec"]["rules"] for m in r["matches"]]
                self.assertIn("phalanx.v1.Generation", services_matched, where)


# ---- the Helm chart -----------------------------------------------------------------------------

class TestChart(Checks):
    @classmethod
    def setUpClass(cls):
        cls.rendered = {name: render(v) for name, v in SCENARIOS.items()}

    def test_chart_metadata(self):
        chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
        self.assertEqual(chart["apiVersion"], "v2")
        self.assertEqual(chart["name"], "phalanx")
        self.assertRegex(chart["version"], r"^\d+\.\d+\.\d+$")
        values = yaml.safe_load((CHART / "values.yaml").read_text())
        self.assertEqual(values["server"]["ports"], {**DEFAULT_PORTS, "lbAgent": int(FLAGS["--lb-agent-port"])})
        self.assertEqual(values["server"]["drainTimeoutSeconds"], int(FLAGS["--drain-timeout-s"]))

    def test_every_document_parses_and_is_unique(self):
        for name, (objs, _) in self.rendered.items():
            seen = set()
            for o in objs:
                for key in ("apiVersion", "kind", "metadata"):
                    self.assertIn(key, o, f"{name}: {o.get('_template')}")
                ident = (o["kind"], o["metadata"]["name"])
                self.assertNotIn(ident, seen, f"{name}: duplicate {ident}")
                seen.add(ident)

    def test_deployments(self):
        for name, (objs, _) in self.rendered.items():
            deps = by_kind(objs, "Deployment")
            self.assertEqual(len(deps), 2 if (SCENARIOS[name] or {}).get("canary", {}).get("enabled") else 1, name)
            for d in deps:
                self.check_deployment(d, f"chart[{name}] {d['metadata']['name']}")

    def test_default_production_shape(self):
        objs, _ = self.rendered["default"]
        dep = one(objs, "Deployment", "phalanx")
        spec = pod_spec(dep)
        keys = {t["topologyKey"] for t in spec["topologySpreadConstraints"]}
        self.assertEqual(keys, {"kubernetes.io/hostname", "topology.kubernetes.io/zone"})
        a = args_map(spec["containers"][0]["args"])
        for flag, port in (("--grpc-port", "grpc"), ("--http-port", "http"), ("--api-port", "api")):
            self.assertEqual(int(a[flag]), DEFAULT_PORTS[port], "chart defaults = documented defaults")
        self.assertEqual(a["--drain-timeout-s"], FLAGS["--drain-timeout-s"])
        self.assertIn("--tls-cert", a)
        self.assertIn("--api-keys", a)
        for kind in ("PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor",
                     "PrometheusRule", "GRPCRoute", "HTTPRoute", "Secret", "ServiceAccount"):
            self.assertEqual(len(by_kind(objs, kind)), 1, kind)
        self.assertNotIn("replicas", dep["spec"], "the HPA owns the replica count")
        services = {s["metadata"]["name"]: s for s in by_kind(objs, "Service")}
        self.assertEqual(services["phalanx-headless"]["spec"]["clusterIP"], "None")
        self.assertEqual(services["phalanx"]["spec"]["type"], "ClusterIP")

    def test_services_select_pods(self):
        for name, (objs, _) in self.rendered.items():
            self.check_services(objs, f"chart[{name}]")

    def test_pdb_and_hpa(self):
        objs, _ = self.rendered["default"]
        pdb = one(objs, "PodDisruptionBudget", "phalanx")
        hpa = one(objs, "HorizontalPodAutoscaler", "phalanx")
        self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
        self.assertEqual(hpa["spec"]["scaleTargetRef"], {"apiVersion": "apps/v1", "kind": "Deployment", "name": "phalanx"})
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 2)
        self.assertLess(pdb["spec"]["maxUnavailable"], hpa["spec"]["minReplicas"])
        dep = one(objs, "Deployment", "phalanx")
        for k, v in pdb["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(dep["spec"]["template"]["metadata"]["labels"][k], v)
        names = set()
        for m in hpa["spec"]["metrics"]:
            self.assertEqual(m["type"], "Pods")
            self.assertEqual(m["pods"]["target"]["type"], "AverageValue")
            names.add(m["pods"]["metric"]["name"])
        self.assertEqual(names, {"phalanx_requests_waiting", "phalanx_kv_cache_usage_ratio"})
        adapter = yaml.safe_load((DEPLOY / "helm/prometheus-adapter-values.yaml").read_text())
        served = {r["name"]["as"] for r in adapter["rules"]["custom"]}
        self.assertEqual(names, served, "prometheus-adapter must serve every HPA metric")
        for r in adapter["rules"]["custom"]:
            self.assertIn(r["name"]["as"], r["seriesQuery"])
            self.assertEqual(set(r["resources"]["overrides"]), {"namespace", "pod"})
            for token in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
                self.assertIn(token, r["metricsQuery"])

    def test_network_policy(self):
        objs, _ = self.rendered["everything-on"]
        np = one(objs, "NetworkPolicy", "phalanx")
        self.assertEqual(set(np["spec"]["policyTypes"]), {"Ingress", "Egress"})
        ports = {p["name"] for p in pod_spec(one(objs, "Deployment", "phalanx"))["containers"][0]["ports"]}
        for rule in np["spec"]["ingress"]:
            self.assertTrue(rule["from"], "an empty `from` admits everyone")
            for p in rule["ports"]:
                self.assertIn(p["port"], ports)
        egress_ports = {p["port"] for r in np["spec"]["egress"] for p in r["ports"]}
        self.assertEqual(egress_ports, {53, 443}, "DNS, and HTTPS for the model fetch")
        self.assertEqual({p["port"] for r in one(self.rendered["default"][0], "NetworkPolicy", "phalanx")["spec"]["egress"]
                          for p in r["ports"]}, {53})

    def test_routes_and_canary(self):
        self.check_routes(self.rendered["default"][0], "chart[default]", canary=False)
        self.check_routes(self.rendered["canary"][0], "chart[canary]", canary=True)
        self.check_routes(self.rendered["everything-on"][0], "chart[everything-on]", canary=True)
        objs, _ = self.rendered["canary"]
        canary = one(objs, "Deployment", "phalanx-canary")
        self.assertTrue(canary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.2.0"))
        self.assertEqual(canary["spec"]["template"]["metadata"]["labels"]["track"], "canary")
        stable = one(objs, "Deployment", "phalanx")
        self.assertTrue(stable["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.1.0"))
        weights = [r["weight"] for r in one(objs, "GRPCRoute", "phalanx")["spec"]["rules"][0]["backendRefs"]]
        self.assertEqual(weights, [90, 10])
        objs, _ = self.rendered["everything-on"]
        a = args_map(pod_spec(one(objs, "Deployment", "phalanx-canary"))["containers"][0]["args"])
        self.assertEqual(a["--max-batch"], "32", "canary.extraArgs come last and win")

    def test_monitoring_objects(self):
        objs, _ = self.rendered["default"]
        sm = one(objs, "ServiceMonitor", "phalanx")
        self.assertEqual(sm["spec"]["jobLabel"], "app.kubernetes.io/name")
        self.assertIn("track", sm["spec"]["podTargetLabels"])
        self.assertEqual(sm["spec"]["endpoints"][0]["port"], "http")
        self.assertEqual(sm["spec"]["endpoints"][0]["path"], "/metrics")
        scraped = [s for s in by_kind(objs, "Service")
                   if all(s["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())]
        self.assertEqual([s["metadata"]["name"] for s in scraped], ["phalanx"], "scrape each pod once")
        self.assertEqual(scraped[0]["metadata"]["labels"]["app.kubernetes.io/name"], "phalanx", "job label = phalanx")
        rule = one(objs, "PrometheusRule", "phalanx")
        self.assertEqual(rule["spec"], RULES)
        canary_objs, _ = self.rendered["canary"]
        scraped = [s["metadata"]["name"] for s in by_kind(canary_objs, "Service")
                   if all(s["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())]
        self.assertEqual(sorted(scraped), ["phalanx", "phalanx-canary"])
        cm = one(self.rendered["everything-on"][0], "ConfigMap", "phalanx-dashboard")
        self.assertEqual(json.loads(cm["data"]["phalanx.json"]), DASHBOARD)

    def test_api_keys_secret(self):
        for name in ("default", "everything-on"):
            objs, _ = self.rendered[name]
            secret = one(objs, "Secret", "phalanx-api-keys")
            keys = yaml.safe_load(secret["stringData"]["api-keys.yaml"])
            self.assertEqual(set(keys), {"keys"})
            self.assertIsInstance(keys["keys"], list)
            for entry in keys["keys"]:
                self.assertLessEqual(set(entry), {"id", "sha256", "requests_per_second", "tokens_per_minute", "revoked"})
                self.assertRegex(entry["sha256"], r"^[0-9a-f]{64}$")
        self.assertEqual(len(yaml.safe_load(one(self.rendered["everything-on"][0], "Secret", "phalanx-api-keys")
                                            ["stringData"]["api-keys.yaml"])["keys"]), 2)
        self.assertEqual(by_kind(self.rendered["cpu-dev"][0], "Secret"), [])

    def test_large_numbers_are_not_exponents(self):
        objs, _ = self.rendered["everything-on"]
        a = args_map(pod_spec(one(objs, "Deployment", "phalanx"))["containers"][0]["args"])
        self.assertEqual(a["--rate-limit-tpm"], "1000000")
        self.assertEqual(a["--tls-client-ca"], "/etc/phalanx/tls/ca.crt")
        self.assertEqual(a["--ctx"], "8192")

    def test_template_guards(self):
        bad = [
            ({"probes": {"readiness": {"type": "grpc"}}}, "plaintext"),
            ({"canary": {"enabled": True, "weight": 150}}, "0..100"),
            ({"networkPolicy": {"apiFrom": []}}, "admits everyone"),
            ({"model": {"fetch": {"enabled": True}}}, "model.fetch.url"),
        ]
        for values, message in bad:
            with self.assertRaisesRegex(gotemplate.TemplateError, re.escape(message)):
                render(values)

    def test_files_are_copies(self):
        self.assertEqual((CHART / "files/phalanx.rules.yml").read_text(),
                         (DEPLOY / "prometheus/rules/phalanx.rules.yml").read_text())
        self.assertEqual((CHART / "files/phalanx.json").read_text(), (DEPLOY / "grafana/phalanx.json").read_text())


# ---- kustomize layout ---------------------------------------------------------------------------

class TestKustomize(Checks):
    @classmethod
    def setUpClass(cls):
        cls.builds = {name: kustomize_build(K8S / name) for name in
                      ("base", "overlays/production", "overlays/canary", "overlays/cpu-dev")}
        cls.chart = {name: strip_meta(render(v)[0]) for name, v in SCENARIOS.items()}

    def test_every_yaml_parses(self):
        files = sorted(K8S.rglob("*.yaml"))
        self.assertGreater(len(files), 10)
        for f in files:
            self.assertTrue(load_docs(f), f)

    def test_deployments(self):
        for name, objs in self.builds.items():
            for d in by_kind(objs, "Deployment"):
                self.check_deployment(d, f"k8s[{name}] {d['metadata']['name']}")
            self.check_services(objs, f"k8s[{name}]")

    def test_base_equals_chart_defaults(self):
        base = self.builds["base"]
        chart = self.chart["default"]
        for kind, name in (("Deployment", "phalanx"), ("Service", "phalanx"), ("Service", "phalanx-headless"),
                           ("PodDisruptionBudget", "phalanx"), ("HorizontalPodAutoscaler", "phalanx"),
                           ("NetworkPolicy", "phalanx"), ("ServiceAccount", "phalanx")):
            b, c = one(base, kind, name), one(chart, kind, name)
            self.assertEqual(b.get("spec"), c.get("spec"), f"{kind}/{name}: deploy/k8s/base differs from the chart defaults")
        prod = self.builds["overlays/production"]
        for kind in ("ServiceMonitor", "GRPCRoute", "HTTPRoute"):
            self.assertEqual(by_kind(prod, kind)[0]["spec"], by_kind(chart, kind)[0]["spec"], kind)
        self.assertEqual(one(prod, "PrometheusRule", "phalanx")["spec"], RULES)

    def test_overlays_equal_chart_scenarios(self):
        cpu = one(self.builds["overlays/cpu-dev"], "Deployment", "phalanx")
        self.assertEqual(cpu["spec"], one(self.chart["cpu-dev"], "Deployment", "phalanx")["spec"],
                         "overlays/cpu-dev differs from the chart with values-cpu-dev.yaml")
        canary = one(self.builds["overlays/canary"], "Deployment", "phalanx-canary")
        self.assertEqual(canary["spec"], one(self.chart["canary"], "Deployment", "phalanx-canary")["spec"],
                         "overlays/canary differs from the chart with values-canary.yaml")
        self.assertEqual(one(self.builds["overlays/canary"], "Service", "phalanx-canary")["spec"],
                         one(self.chart["canary"], "Service", "phalanx-canary")["spec"])

    def test_overlay_shapes(self):
        prod = self.builds["overlays/production"]
        self.assertTrue(all(o["metadata"].get("namespace") == "phalanx" for o in prod))
        self.check_routes(prod, "k8s[production]", canary=False)
        canary = self.builds["overlays/canary"]
        self.assertTrue(all(o["metadata"].get("namespace") == "phalanx" for o in canary))
        self.check_routes(canary, "k8s[canary]", canary=True)
        images = {d["metadata"]["name"]: pod_spec(d)["containers"][0]["image"] for d in by_kind(canary, "Deployment")}
        self.assertEqual(images["phalanx"], "registry.example.com/phalanx/phalanx:0.1.0")
        self.assertEqual(images["phalanx-canary"], "registry.example.com/phalanx/phalanx:0.2.0")
        cpu = self.builds["overlays/cpu-dev"]
        self.assertEqual(sorted({o["kind"] for o in cpu}), ["Deployment", "Service", "ServiceAccount"])
        self.assertEqual(one(cpu, "Deployment", "phalanx")["spec"]["replicas"], 1)

    def test_builder_rejects_bad_layouts(self):
        with tempfile.TemporaryDirectory() as t:
            t = Path(t)
            (t / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                                  "resources: [missing.yaml]\n")
            with self.assertRaisesRegex(AssertionError, "does not exist"):
                kustomize_build(t)
            (t / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                                  f"resources: [{K8S}/base]\npatches: [{{path: p.yaml}}]\n")
            (t / "p.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nope}\n")
            with self.assertRaisesRegex(AssertionError, "matches 0 objects"):
                kustomize_build(t)


# ---- load balancers -----------------------------------------------------------------------------

class TestHaproxy(unittest.TestCase):
    FILES = sorted((DEPLOY / "haproxy").glob("*.cfg"))

    def sections(self, text):
        out, cur = {}, None
        for line in text.splitlines():
            s = line.split("#", 1)[0].rstrip()
            if not s.strip():
                continue
            if not line.startswith((" ", "\t")):
                cur = s.strip()
                out[cur] = []
            else:
                out[cur].append(s.strip())
        return out

    def test_variants(self):
        self.assertEqual({f.name for f in self.FILES}, {"haproxy-roundrobin.cfg", "haproxy-weighted.cfg",
                                                        "haproxy-leastconn.cfg", "haproxy-agent.cfg"})
        prom = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
        targets = [t for j in prom["scrape_configs"] if j["job_name"] == "phalanx" for s in j["static_configs"] for t in s["targets"]]
        self.assertEqual(targets, ["127.0.0.1:18081", "127.0.0.1:18082", "127.0.0.1:18083"])
        for f in self.FILES:
            sec = self.sections(f.read_text())
            d = sec["defaults"]
            self.assertIn("mode http", d, f.name)
            retry = [l for l in d if l.startswith("retry-on ")][0].split()[1:]
            self.assertIn("conn-failure", retry, f.name)
            self.assertIn("503", retry, f.name)
            timeouts = {l.split()[1]: l.split()[2] for l in d if l.startswith("timeout ")}
            for t in ("client", "server"):
                self.assertRegex(timeouts[t], r"^\d+[mh]$", f"{f.name}: timeout {t} must suit long streams")
            self.assertEqual(timeouts["check"], "1s", f.name)
            self.assertTrue(any("observe layer7" in l for l in d), f.name)
            self.assertIn("bind 127.0.0.1:18050 proto h2", sec["frontend fe_grpc"], f.name)
            for be, proto in (("backend be_grpc", True), ("backend be_api", False)):
                lines = sec[be]
                self.assertIn("option httpchk GET /readyz", lines, f"{f.name} {be}")
                servers = [l.split() for l in lines if l.startswith("server ")]
                self.assertEqual(len(servers), 3, f"{f.name} {be}")
                for i, s in enumerate(servers, 1):
                    port = int(s[2].split(":")[1])
                    self.assertEqual(port, (18050 if proto else 18000) + i, f"{f.name} {be}")
                    self.assertEqual(s[s.index("port") + 1], str(18080 + i), f"{f.name} {be}: check port = HTTP port")
                    if proto:
                        self.assertEqual(s[s.index("proto") + 1], "h2", f.name)
                        self.assertEqual(s[s.index("check-proto") + 1], "h1", f"{f.name}: /readyz speaks HTTP/1")
                    if "agent" in f.name:
                        self.assertIn("agent-check", s, f.name)
                        self.assertEqual(s[s.index("agent-port") + 1], str(18090 + i), f.name)
                        self.assertEqual(s[s.index("agent-inter") + 1], "1s", f.name)
                    else:
                        self.assertNotIn("agent-check", s, f.name)
                balance = [l for l in lines if l.startswith("balance ")][0].split()[1]
                want = {"haproxy-roundrobin.cfg": "roundrobin", "haproxy-weighted.cfg": "roundrobin",
                        "haproxy-leastconn.cfg": "leastconn", "haproxy-agent.cfg": "leastconn"}[f.name]
                self.assertEqual(balance, want, f.name)
                if "weighted" in f.name:
                    weights = [int(s[s.index("weight") + 1]) for s in servers]
                    self.assertGreater(len(set(weights)), 1, "weighted variant with equal weights")


class TestEnvoy(unittest.TestCase):
    def test_structure(self):
        cfg = yaml.safe_load((DEPLOY / "envoy/envoy.yaml").read_text())
        clusters = {c["name"]: c for c in cfg["static_resources"]["clusters"]}
        self.assertEqual(set(clusters), {"phalanx_grpc", "phalanx_api"})
        for name, serving_base in (("phalanx_grpc", 18050), ("phalanx_api", 18000)):
            c = clusters[name]
            self.assertEqual(c["lb_policy"], "LEAST_REQUEST")
            od = c["outlier_detection"]
            self.assertIn("consecutive_5xx", od)
            self.assertLessEqual(od["max_ejection_percent"], 34)
            hc = c["health_checks"][0]
            self.assertEqual(hc["http_health_check"]["path"], "/readyz")
            self.assertEqual(hc["timeout"], "1s")
            budget = c["circuit_breakers"]["thresholds"][0]["retry_budget"]
            self.assertGreater(budget["budget_percent"]["value"], 0)
            eps = [e["endpoint"] for g in c["load_assignment"]["endpoints"] for e in g["lb_endpoints"]]
            self.assertEqual(len(eps), 3)
            for i, ep in enumerate(eps, 1):
                self.assertEqual(ep["address"]["socket_address"]["port_value"], serving_base + i)
                self.assertEqual(ep["health_check_config"]["port_value"], 18080 + i, "health checks go to the HTTP port")
        h2 = clusters["phalanx_grpc"]["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        self.assertEqual(h2["@type"], "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
        self.assertIn("http2_protocol_options", h2["explicit_http_config"])
        routes = {}
        for lst in cfg["static_resources"]["listeners"]:
            hcm = lst["filter_chains"][0]["filters"][0]["typed_config"]
            self.assertEqual(hcm["@type"], "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager")
            self.assertEqual(hcm["http_filters"][-1]["name"], "envoy.filters.http.router")
            for vh in hcm["route_config"]["virtual_hosts"]:
                for r in vh["routes"]:
                    routes[r["route"]["cluster"]] = r
        grpc = routes["phalanx_grpc"]
        self.assertIn("grpc", grpc["match"])
        retry_on = grpc["route"]["retry_policy"]["retry_on"].split(",")
        self.assertIn("unavailable", retry_on)
        self.assertIn("resource-exhausted", retry_on)
        self.assertGreaterEqual(grpc["route"]["retry_policy"]["num_retries"], 1)
        api = routes["phalanx_api"]["route"]["retry_policy"]
        self.assertIn(503, api["retriable_status_codes"])


# ---- the container image ------------------------------------------------------------------------

class TestDockerfile(unittest.TestCase):
    def instructions(self):
        text = (DEPLOY / "container/Dockerfile").read_text()
        text = re.sub(r"\\\n", " ", text)
        out = []
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            word, _, rest = s.partition(" ")
            out.append((word.upper(), rest.strip()))
        return out

    def test_dockerfile(self):
        ins = self.instructions()
        stages, copies, runs = [], [], {}
        for word, rest in ins:
            if word == "FROM":
                parts = rest.split()
                stages.append(parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None)
                runs[stages[-1]] = []
            elif word == "RUN":
                runs[stages[-1]].append(rest)
            elif word == "COPY":
                copies.append((stages[-1], rest))
        self.assertEqual(stages, ["build", "runtime"])
        args = {r.split("=")[0]: r.split("=", 1)[1] for w, r in ins if w == "ARG" and "=" in r}
        self.assertRegex(args["DEBIAN_IMAGE"], r"^debian:12(\.\d+)?$")
        self.assertRegex(args["DEBIAN_SLIM_IMAGE"], r"^debian:12(\.\d+)?-slim$")
        build_runs = " ".join(runs["build"])
        self.assertIn("cmake -S . -B build -G Ninja", build_runs)
        self.assertIn("ninja -C build phalanx", build_runs)
        self.assertIn("cuda-toolkit-", build_runs)
        deps = (ROOT / "scripts/install-deps").read_text()
        pkgs = re.search(r'PKGS="(.*?)"', deps, re.S).group(1).replace("\\\n", " ").split()
        for pkg in re.findall(r"\b(lib[a-z0-9+.-]+-dev|protobuf-compiler(?:-grpc)?|grpc-proto|prometheus-cpp-dev|nlohmann-json3-dev)\b", build_runs):
            self.assertIn(pkg, pkgs, f"{pkg} is not a package of scripts/install-deps")
        for stage, rest in copies:
            parts = rest.split()
            frm = [p for p in parts if p.startswith("--from=")]
            srcs = [p for p in parts if not p.startswith("--")][:-1]
            self.assertTrue(srcs, rest)
            for src in srcs:
                if frm:
                    origin = frm[0].split("=", 1)[1]
                    self.assertIn(origin, stages[:stages.index(stage)], f"COPY --from={origin} must name an earlier stage")
                    produced = " ".join(runs[origin]) + " " + " ".join(r for s, r in copies if s == origin)
                    leaf = Path(src).name
                    self.assertIn(leaf, produced, f"{src} is not produced in stage {origin}")
                    if src.startswith("/src/build/"):
                        self.assertIn("/src", [r for w, r in ins if w == "WORKDIR"])
                else:
                    self.assertTrue((ROOT / src).exists(), f"COPY source {src} is not in the repository")
                    self.assertFalse(src.endswith(".gguf"), "models are mounted, never copied")
        runtime = ins[[i for i, (w, r) in enumerate(ins) if w == "FROM"][1]:]
        users = [r for w, r in runtime if w == "USER"]
        self.assertTrue(users)
        uid = users[-1].split(":")[0]
        self.assertNotIn(uid, ("0", "root"), "the runtime user must not be root")
        entry = [json.loads(r) for w, r in runtime if w == "ENTRYPOINT"]
        self.assertEqual(entry, [["phalanx"]])
        cmd = json.loads([r for w, r in runtime if w == "CMD"][-1])
        self.assertEqual(cmd[0], "serve")
        a = args_map(cmd)
        for flag in a:
            self.assertIn(flag, FLAGS)
        self.assertEqual(a["--model"], "/models/model.gguf")
        self.assertEqual(int(a["--grpc-port"]), DEFAULT_PORTS["grpc"])
        self.assertEqual(int(a["--http-port"]), DEFAULT_PORTS["http"])
        exposed = {int(p) for w, r in runtime if w == "EXPOSE" for p in r.split()}
        self.assertEqual(exposed, set(DEFAULT_PORTS.values()))

    def test_dockerignore(self):
        lines = [l.strip() for l in (DEPLOY / "container/Dockerfile.dockerignore").read_text().splitlines()
                 if l.strip() and not l.startswith("#")]
        self.assertEqual(lines[0], "*", "allow-list: exclude everything first")
        self.assertIn("**/*.gguf", lines)
        allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
        copied = {r.split()[0].rstrip("/") for w, r in self.instructions() if w == "COPY" and "--from" not in r}
        self.assertEqual(copied - allowed, set(), "every COPY source must be let through")


# ---- rules, alerts, runbooks, dashboard, docs -----------------------------------------------------

class TestAlerting(unittest.TestCase):
    EXPECTED = {"ReplicaDown", "NoReadyReplicas", "HighErrorRate", "HighTTFTp99", "HighQueueWait",
                "KVCacheNearFull", "RateLimitSpike", "DegradedServing", "GPUMemoryHigh", "GPUUnhealthy"}

    def test_alerts(self):
        self.assertEqual({a["alert"] for a in ALERTS}, self.EXPECTED)
        replica_down = [a for a in ALERTS if a["alert"] == "ReplicaDown"][0]
        self.assertEqual(replica_down["expr"].strip(), 'up{job="phalanx"} == 0')
        self.assertEqual(replica_down["for"], "30s")
        for a in ALERTS:
            self.assertIn(a["labels"]["severity"], ("page", "ticket"), a["alert"])
            for k in ("summary", "description", "runbook_url"):
                self.assertTrue(a["annotations"].get(k), f"{a['alert']}: {k}")
            self.assertEqual(a["annotations"]["runbook_url"], f"deploy/runbooks/{a['alert']}.md")

    def test_metric_names_in_rules(self):
        known = dashboard_queries.known_names()
        for g in RULES["groups"]:
            for r in g["rules"]:
                unknown = dashboard_queries.metric_names(r["expr"]) - known
                self.assertEqual(unknown, set(), r.get("alert") or r.get("record"))

    def test_every_alert_has_firing_and_quiet_cases(self):
        fires, quiet = set(), set()
        for f in (DEPLOY / "prometheus/tests").glob("*.yml"):
            t = yaml.safe_load(f.read_text())
            self.assertEqual(t["rule_files"], ["../rules/phalanx.rules.yml"], f.name)
            for case in t["tests"]:
                for at in case.get("alert_rule_test", []):
                    (fires if at.get("exp_alerts") else quiet).add(at["alertname"])
        self.assertEqual(fires, self.EXPECTED, "alerts without a firing test case")
        self.assertEqual(quiet, self.EXPECTED, "alerts without a non-firing test case")

    def test_runbooks(self):
        sections = ("## Meaning", "## Impact", "## Look at", "## Commands", "## Mitigation", "## Escalation")
        titles = {p["title"] for p in dashboard_queries.panels(DASHBOARD)}
        for a in ALERTS:
            text = (ROOT / a["annotations"]["runbook_url"]).read_text()
            self.assertTrue(text.startswith(f"# {a['alert']}\n"), a["alert"])
            for s in sections:
                self.assertIn(s, text, f"{a['alert']}: {s}")
            self.assertIn(f"**Severity:** {a['labels']['severity']}.", text, a["alert"])
            for panel in re.findall(r'panel\s+"([^"]+)"', text):
                panel = " ".join(panel.split())
                self.assertIn(panel, titles, f"{a['alert']} runbook names a panel the dashboard lacks")
            for flag in server_flag_mentions(text):
                self.assertIn(flag, ALL_SERVE_FLAGS, f"{a['alert']} runbook: {flag}")

    def test_alertmanager(self):
        am = yaml.safe_load((DEPLOY / "alertmanager/alertmanager.yml").read_text())
        receivers = {r["name"]: r for r in am["receivers"]}
        kinds = {k for r in receivers.values() for k in r if k.endswith("_configs")}
        self.assertLessEqual({"email_configs", "webhook_configs", "wechat_configs"}, kinds)
        urls = [w["url"] for r in receivers.values() for w in r.get("webhook_configs", [])]
        self.assertTrue(any("dingtalk" in u for u in urls) and any("wecom" in u for u in urls))
        self.assertTrue(any("sms" in u for u in urls) and any("voice" in u for u in urls))
        severities = {a["labels"]["severity"] for a in ALERTS}
        routed = {m.split("=", 1)[1].strip('"') for r in am["route"]["routes"] for m in r["matchers"]}
        self.assertEqual(severities, routed)
        for rule in am["inhibit_rules"]:
            for m in rule["source_matchers"] + rule["target_matchers"]:
                names = re.match(r'alertname=~?"([^"]+)"', m).group(1).split("|")
                for n in names:
                    self.assertIn(n, self.EXPECTED, m)
        nrr = [r for r in am["inhibit_rules"] if r["source_matchers"] == ['alertname="NoReadyReplicas"']]
        self.assertTrue(nrr and "ReplicaDown" in nrr[0]["target_matchers"][0])


class TestDashboard(unittest.TestCase):
    def test_shape(self):
        self.assertEqual(DASHBOARD["schemaVersion"], 39)
        variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
        self.assertEqual(variables["DS_PROMETHEUS"]["type"], "datasource")
        self.assertEqual(variables["instance"]["type"], "query")
        self.assertTrue(variables["instance"]["includeAll"])
        ids = [p["id"] for p in dashboard_queries.panels(DASHBOARD)]
        self.assertEqual(len(ids), len(set(ids)))
        for p in dashboard_queries.panels(DASHBOARD):
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${DS_PROMETHEUS}", p["title"])

    def test_coverage(self):
        used = set()
        for _, expr in dashboard_queries.extract(DASHBOARD):
            used |= dashboard_queries.metric_names(expr)
        for name in ("phalanx_requests_total", "phalanx_time_to_first_token_seconds_bucket",
                     "phalanx_inter_token_latency_seconds_bucket", "phalanx_request_duration_seconds_bucket",
                     "phalanx_queue_wait_seconds_bucket", "phalanx_requests_running", "phalanx_requests_waiting",
                     "phalanx_kv_cache_usage_ratio", "phalanx_kv_cache_blocks", "phalanx_prefix_cache_hits_total",
                     "phalanx_prefix_cache_queries_total", "phalanx_rejected_total", "phalanx_degraded_responses_total",
                     "phalanx_goodput_requests_total", "phalanx_feedback_total", "phalanx_gpu_utilization_ratio",
                     "phalanx_gpu_memory_used_bytes", "phalanx_gpu_temperature_celsius", "process_cpu_seconds_total",
                     "process_resident_memory_bytes"):
            self.assertIn(name, used)

    def test_query_tools(self):
        names = dashboard_queries.metric_names(
            'sum by (le) (rate(a_bucket{x="y{z}"}[5m])) / on (job) group_left (k) b offset 1d + time() - c:rec:rate5m')
        self.assertEqual(names, {"a_bucket", "b", "c:rec:rate5m"})
        exprs = [e for _, e in dashboard_queries.extract(DASHBOARD)]
        self.assertTrue(exprs and not any("$" in e for e in exprs), "every variable substituted")
        with tempfile.TemporaryDirectory() as t:
            bad = json.loads(json.dumps(DASHBOARD))
            bad["panels"][1]["targets"][0]["expr"] = "sum(phalanx_no_such_metric_total)"
            p = Path(t) / "bad.json"
            p.write_text(json.dumps(bad))
            r = subprocess.run([PYTHON, str(HERE / "dashboard_queries.py"), "--dashboard", str(p), "--check-names"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("phalanx_no_such_metric_total", r.stderr)

    def test_prometheus_mode_against_a_fake_server(self):
        """--prometheus: errors and empty results fail, except tags allowed with --allow-empty."""
        class Handler(http.server.BaseHTTPRequestHandler):
            mode = "ok"

            def do_GET(self):
                q = self.path
                if Handler.mode == "error" and "phalanx_ready" in q:
                    body = {"status": "error", "errorType": "bad_data", "error": "parse error"}
                elif "phalanx_gpu" in q or (Handler.mode == "empty" and "phalanx_requests_total" in q):
                    body = {"status": "success", "data": {"resultType": "vector", "result": []}}
                else:
                    body = {"status": "success", "data": {"resultType": "vector",
                                                         "result": [{"metric": {}, "value": [0, "1"]}]}}
                data = json.dumps(body).encode()
                self.send_response(400 if body["status"] == "error" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        cmd = [PYTHON, str(HERE / "dashboard_queries.py"), "--prometheus", url, "--timeout", "5"]
        try:
            self.assertEqual(subprocess.run(cmd, capture_output=True).returncode, 1, "GPU panels are empty on CPU")
            r = subprocess.run(cmd + ["--allow-empty", "gpu"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            Handler.mode = "empty"
            self.assertEqual(subprocess.run(cmd + ["--allow-empty", "gpu"], capture_output=True).returncode, 1)
            Handler.mode = "error"
            r = subprocess.run(cmd + ["--allow-empty", "gpu"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("parse error", r.stderr)
        finally:
            srv.shutdown()
            srv.server_close()


class TestDocs(unittest.TestCase):
    def criteria(self, path):
        text = path.read_text()
        m = re.search(r"<!-- canary-criteria:begin.*?<!-- canary-criteria:end -->", text, re.S)
        self.assertIsNotNone(m, f"{path}: canary criteria block missing")
        return m.group(0)

    def test_canary_criteria(self):
        ops = self.criteria(ROOT / "docs/operations.md")
        self.assertEqual(ops, self.criteria(CHART / "README.md"), "criteria differ between the two documents")
        for rec in re.findall(r"`(job:[a-z_:0-9]+)", ops):
            self.assertIn(rec, RECORDED, rec)
        for word in ("error ratio", "TTFT p99", "goodput ratio", "30 minutes"):
            self.assertIn(word, ops)

    def test_operations_sections(self):
        text = (ROOT / "docs/operations.md").read_text()
        for h in ("## 1. Prepare", "## 2. Deploy", "## 3. Tune", "## 4. Validate", "## 5. Canary",
                  "## 6. Full rollout and drain", "## 7. Monitor", "## 8. Backup and restore", "## 9. Logs",
                  "## 10. Capacity planning", "## Drill results"):
            self.assertIn(h, text)
        drill = text.split("## Drill results", 1)[1]
        self.assertIsNone(re.search(r"\d+(\.\d+)?\s*(ms|s|%|req)", drill), "the drill fills in the numbers")
        for flag in server_flag_mentions(text):
            self.assertIn(flag, ALL_SERVE_FLAGS, f"docs/operations.md: {flag}")
        for path in re.findall(r"`(deploy/[A-Za-z0-9_./-]+)`", text):
            if "{" in path or "<" in path:
                continue
            self.assertTrue((ROOT / path).exists(), f"docs/operations.md names {path}")


if __name__ == "__main__":
    unittest.main()
