#!/usr/bin/python3
"""Structural tests of the monitoring artifacts under deploy/ (run by tests/deploy/check.sh): the
alert rules and their promtool test cases, the runbooks, the Alertmanager routes and inhibit
rules, and the Grafana dashboard with the query tools of tests/deploy/dashboard_queries.py.

    /usr/bin/python3 -m unittest discover -s tests/deploy -p 'test_*.py' -v
"""
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
from manifest_lib import (  # noqa: E402
    ALERTS, ALL_SERVE_FLAGS, DASHBOARD, DEPLOY, PYTHON, ROOT, RULES, server_flag_mentions)


# ---- rules, alerts, runbooks, Alertmanager ------------------------------------------------------

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


# ---- the Grafana dashboard ----------------------------------------------------------------------

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


if __name__ == "__main__":
    unittest.main()
