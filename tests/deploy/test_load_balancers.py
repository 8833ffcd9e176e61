#!/usr/bin/python3
"""Structural tests of the load-balancer configs under deploy/ (run by tests/deploy/check.sh):
the HAProxy variants (deploy/haproxy/*.cfg; `haproxy -c` runs in check.sh) and the Envoy config
(deploy/envoy/envoy.yaml; Envoy is not available here).

    /usr/bin/python3 -m unittest discover -s tests/deploy -p 'test_*.py' -v
"""
import sys
import unittest
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from manifest_lib import (  # noqa: E402
    DEPLOY)


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


if __name__ == "__main__":
    unittest.main()
