#!/usr/bin/python3
"""Structural tests of the deployment artifacts under deploy/ (run by tests/deploy/check.sh).

Helm, kubectl, kustomize, Envoy and Docker are not available here, so the tests render the
chart with tests/deploy/gotemplate.py, build the kustomize overlays with the small builder of
kustomize_lite.py (resources, components, strategic-merge patches, images, namespace), and check
what they produce against the contracts (manifest_lib.py): docs/configuration.md (flags, ports,
probe paths), docs/metrics.md (metric names), and each other (chart defaults = deploy/k8s/base).

This file: the rendered manifests (the Helm chart and the kustomize layout). The others:
  test_load_balancers.py  HAProxy variants and the Envoy config
  test_dockerfile.py      the container image (Dockerfile, .dockerignore)
  test_monitoring.py      alert rules, runbooks, Alertmanager, the Grafana dashboard
  test_docs.py            docs/operations.md and the canary criteria

    /usr/bin/python3 -m unittest discover -s tests/deploy -p 'test_*.py' -v
"""
import json
import re
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gotemplate  # noqa: E402
from kustomize_lite import kustomize_build  # noqa: E402
from manifest_lib import (  # noqa: E402
    CHART, DASHBOARD, DEFAULT_PORTS, DEPLOY, FLAGS, K8S, PROBE_PATHS, RULES, SCENARIOS, args_map,
    by_kind, load_docs, one, pod_spec, render, strip_meta)


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


if __name__ == "__main__":
    unittest.main()
