"""HA drill (tests/ha/drill.py): alert watching. AlertWatch polls Prometheus /api/v1/alerts and
Alertmanager /api/v2/alerts and records every transition (pending, firing, resolved); the
webhook recorder receives Alertmanager's notifications for every receiver. Standard library only.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from drill_procs import http_get, log


# ---- alert watching ------------------------------------------------------------------------------

class AlertWatch:
    """Polls Prometheus and Alertmanager; records (time, source, key, state) transitions."""

    def __init__(self, tier):
        self.tier = tier
        self.events = []
        self.notifications = []  # (time, receiver, status, [alertnames/instances])
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.prom_state, self.am_state = {}, {}

    @staticmethod
    def key(labels):
        return labels.get("alertname", "?") + (f"{{{labels['instance']}}}" if "instance" in labels else "")

    def _update(self, source, states, current):
        now = time.time()
        for k, st in current.items():
            if states.get(k) != st:
                self.events.append((now, source, k, st))
                states[k] = st
        for k in list(states):
            if k not in current:
                self.events.append((now, source, k, "resolved"))
                del states[k]

    def poll_once(self):
        t = self.tier
        s, body = http_get(f"http://127.0.0.1:{t.prom_port}/api/v1/alerts")
        if s == 200:
            cur = {self.key(a["labels"]): a["state"] for a in json.loads(body)["data"]["alerts"]}
            with self.lock:
                self._update("prometheus", self.prom_state, cur)
        s, body = http_get(f"http://127.0.0.1:{t.am_port}/api/v2/alerts")
        if s == 200:
            # Alertmanager lists active and suppressed (silenced / inhibited) alerts; a resolved
            # one leaves the list.
            cur = {}
            for a in json.loads(body):
                st = a["status"]["state"]
                if st in ("active", "suppressed"):
                    cur[self.key(a["labels"])] = "firing" if st == "active" else st
            with self.lock:
                self._update("alertmanager", self.am_state, cur)

    def run(self):
        while not self.stop.wait(0.5):
            try:
                self.poll_once()
            except Exception as e:  # keep polling; a bad answer is reported once
                log(f"alert poll: {e}")

    def seen(self, source, key, state, since):
        with self.lock:
            return any(t >= since and s == source and k == key and st == state
                       for t, s, k, st in self.events)

    def notified(self, receiver_status, key_part, since):
        with self.lock:
            return any(t >= since and st == receiver_status and any(key_part in x for x in alerts)
                       for t, _, st, alerts in self.notifications)

    def summary(self, start, end):
        with self.lock:
            ev = [e for e in self.events if start <= e[0] < end]
            no = [n for n in self.notifications if start <= n[0] < end]
        return ev, no


def start_recorder(watch):
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            try:
                body = json.loads(self.rfile.read(n))
                alerts = [AlertWatch.key(a.get("labels", {})) for a in body.get("alerts", [])]
                with watch.lock:
                    watch.notifications.append((time.time(), self.path.strip("/"), body.get("status"), alerts))
            except ValueError:
                pass
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
