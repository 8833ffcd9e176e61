#!/usr/bin/python3
"""HA drill: three `phalanx serve` replicas behind HAProxy, monitored by Prometheus and
Alertmanager, under steady load, through failures and rollouts. Standard library only.

Topology (all loopback; the ports of deploy/haproxy/*.cfg, optionally shifted by --port-shift):
  replica i (1..3, the canary is 4): gRPC 1805i, HTTP probes + /metrics 1808i, OpenAI API 1800i,
      HAProxy agent 1809i; `--threads 1 --kv-cache-mb 16` on stories260K
  HAProxy: deploy/haproxy/haproxy-agent.cfg itself, or a generated copy (with --port-shift, or
      with the canary server r4 at weight 0 for scenario d); gRPC front 18050, runtime API 18405
  Prometheus: a copy of deploy/prometheus/prometheus.yml with 1 s scrape and evaluation
      intervals and the phalanx targets in a file_sd file (so the canary can be added), loading
      deploy/prometheus/rules/phalanx.rules.yml unchanged; free port, temporary storage
  Alertmanager: a copy of deploy/alertmanager/alertmanager.yml with the same routes and inhibit
      rules, group_wait / group_interval of 1 s, and every receiver replaced by a webhook to a
      recorder in this process (receiver name in the path); free ports, temporary storage
Load, through HAProxy's gRPC front, from two phalanx-bench processes running for the whole drill:
  unary    open loop, Poisson arrivals at --rate (default 20/s), 16 prompt / 32 output tokens,
           --retries 3 (UNAVAILABLE, RESOURCE_EXHAUSTED), 30 s deadline
  stream   closed loop of --streams (default 2) GenerateStream calls, 16 / 200 tokens,
           --retries 3 (refusals only: a stream that delivered tokens is never resent)
  Every finished request is one line of phalanx-bench --samples; a request belongs to the phase
  in which its first attempt started.

Scenarios (--short: b then a; full: baseline, b, a, c, d):
  (b) drain     SIGTERM one replica, wait for its exit (code 0), start it again, wait for
                /readyz and for HAProxy to report it UP.
  (a) kill      SIGKILL one replica; wait until Prometheus fires ReplicaDown for it (and
                Alertmanager has it); start it again; wait until the alert resolved.
  (c) rolling   for each replica in turn: SIGTERM, wait exit (code 0), start, wait /readyz and
                HAProxy UP, next.
  (d) canary    start r4, set its weight over the runtime API to 33 (nominally 10%: the agents
                keep r1..r3 at up to 100 each) then to 256 (HAProxy's maximum, nominally 50%),
                then roll back: weight 0, `state drain`, SIGTERM, wait exit. With leastconn the
                share follows the weights only under load; the observed share is reported.

Definitions:
  sent            requests whose first attempt started in the phase (a retried request counts once)
  succeeded       of those, the ones that finished OK (after retries, if any)
  failed          the others (lost); for streams this includes broken streams
  retried         requests that needed at least one retry
  streams broken  streams that ended without a finish message after delivering tokens
  time to recover for each request that failed or needed a retry, take the start of its first
                  attempt minus the time of the phase's latest event at or before that start
                  (a request that started before the phase's first event counts as 0: it was
                  in flight when the event happened); the phase's time to recover is the
                  largest of these, 0 when no request failed or was retried.
  alerts          transitions seen by polling Prometheus /api/v1/alerts and Alertmanager
                  /api/v2/alerts every 0.5 s (pending, firing, resolved = gone from the list),
                  plus the notifications the recorder received (firing / resolved, receiver).

Goals (exit status 1 when one fails): baseline loses nothing; (b) and (c) lose 0 requests, break
0 streams and the stopped replicas exit 0; (a) every unary request succeeds (after retries), the
only failures are streams that started before the kill and ended within 2 s after it (those in
flight on the killed replica), and ReplicaDown fires for the killed replica (Prometheus and
Alertmanager) and resolves after the restart; (d) loses 0 requests and the canary serves traffic
at the 50% step; every phase recovers in under 2 s.

  tests/ha/run.sh [--short] [--out FILE]        (or this script with --phalanx/--bench)
"""
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "deploy/haproxy/haproxy-agent.cfg"
PROM_CFG = ROOT / "deploy/prometheus/prometheus.yml"
RULES = ROOT / "deploy/prometheus/rules/phalanx.rules.yml"
AM_CFG = ROOT / "deploy/alertmanager/alertmanager.yml"
RECOVERY_GOAL_S = 2.0
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:7.2f}s] {msg}", flush=True)


class DrillError(Exception):
    pass


# ---- processes ----------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG: a child never outlives the drill, even if the drill is SIGKILLed.
    _libc.prctl(1, signal.SIGKILL)


class Procs:
    """Every child process, so that all of them are stopped on every way out."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.live = []

    def start(self, name, argv, **kw):
        out = open(self.logdir / f"{name}.log", "ab")
        out.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(map(str, argv))}\n".encode())
        out.flush()
        p = subprocess.Popen([str(a) for a in argv], stdout=kw.pop("stdout", out), stderr=out,
                             stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent, **kw)
        p.drill_name = name
        self.live.append(p)
        return p

    def wait(self, p, timeout):
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            if p.poll() is not None and p in self.live:
                self.live.remove(p)

    def stop_all(self):
        for p in list(self.live):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for p in list(self.live):
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.live.clear()


def port_free(port):
    """No one listens on the port (a bind test would trip over the TIME_WAIT connections of a
    previous run; the servers themselves bind with SO_REUSEADDR / SO_REUSEPORT)."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2.0):
    """(status, body); status 0 when the connection failed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, ValueError):
        return 0, b""


def wait_until(what, fn, timeout, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise DrillError(f"timed out after {timeout:.0f} s waiting for {what}")


def agent_answer(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(64).decode().strip()
    except OSError:
        return None


# ---- the tier -----------------------------------------------------------------------------------

class Tier:
    def __init__(self, a, procs, tmp):
        self.a, self.procs, self.tmp = a, procs, tmp
        self.shift = a.port_shift
        self.replicas = {}  # i -> Popen
        self.prom_port = free_port()
        self.am_port = free_port()
        self.hook_port = None
        self.sd_file = tmp / "phalanx-targets.json"

    def port(self, base):
        return base + self.shift

    def ports(self, i):
        return {"grpc": self.port(18050 + i), "http": self.port(18080 + i),
                "api": self.port(18000 + i), "agent": self.port(18090 + i)}

    def instance(self, i):
        return f"127.0.0.1:{self.ports(i)['http']}"

    # -- replicas
    def start_replica(self, i):
        p = self.ports(i)
        argv = [self.a.phalanx, "serve", "--model", self.a.model, "--host", "127.0.0.1",
                "--threads", "1", "--kv-cache-mb", "16", "--grpc-port", p["grpc"],
                "--http-port", p["http"], "--api-port", p["api"], "--lb-agent-port", p["agent"],
                "--drain-timeout-s", "15", "--log-format", "text"]
        self.replicas[i] = self.procs.start(f"r{i}", argv)
        return self.replicas[i]

    def wait_ready(self, i, timeout=30):
        p = self.replicas[i]

        def ready():
            if p.poll() is not None:
                raise DrillError(f"r{i} exited with {p.returncode} while starting (see r{i}.log)")
            return http_get(f"http://127.0.0.1:{self.ports(i)['http']}/readyz", 1)[0] == 200
        wait_until(f"r{i} /readyz", ready, timeout)

    def signal_replica(self, i, sig):
        self.replicas[i].send_signal(sig)

    def wait_exit(self, i, timeout):
        rc = self.procs.wait(self.replicas[i], timeout)
        if rc is None:
            raise DrillError(f"r{i} did not exit within {timeout} s")
        return rc

    # -- HAProxy
    def haproxy_config(self, canary):
        text = HAPROXY_CFG.read_text()
        if not canary and self.shift == 0:
            return HAPROXY_CFG
        if self.shift:
            text = re.sub(r"(?<![\d.])(18\d\d\d)(?!\d)", lambda m: str(int(m.group(1)) + self.shift), text)
        if canary:
            # The canary has no agent-check: agent weights are a percentage of the configured
            # weight (0 here), so they would pin it to 0; the runtime API sets its weight.
            p = self.ports(4)
            for backend, line in (
                    ("be_grpc", f"    server r4 127.0.0.1:{p['grpc']} proto h2 check port {p['http']} check-proto h1 weight 0\n"),
                    ("be_api", f"    server r4 127.0.0.1:{p['api']} check port {p['http']} weight 0\n")):
                m = re.search(rf"^backend {backend}\n(?:.+\n)*?    server r3 .*\n", text, re.M)
                if not m:
                    raise DrillError(f"cannot find server r3 of {backend} in {HAPROXY_CFG}")
                text = text[:m.end()] + line + text[m.end():]
        out = self.tmp / "haproxy.cfg"
        out.write_text("# Generated by tests/ha/drill.py from deploy/haproxy/haproxy-agent.cfg\n" + text)
        return out

    def start_haproxy(self, canary):
        cfg = self.haproxy_config(canary)
        subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], check=True)
        self.haproxy = self.procs.start("haproxy", ["haproxy", "-f", cfg])
        wait_until("HAProxy runtime API", lambda: self.haproxy_cmd("show info") is not None, 10)
        log(f"HAProxy started with {cfg}")

    def haproxy_cmd(self, cmd):
        try:
            with socket.create_connection(("127.0.0.1", self.port(18405)), timeout=2) as s:
                s.sendall((cmd + "\n").encode())
                chunks = []
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
                return b"".join(chunks).decode()
        except OSError:
            return None

    def haproxy_servers(self):
        """{(backend, server): {'status':..., 'weight':..., 'stot':...}}"""
        out = self.haproxy_cmd("show stat") or ""
        lines = out.strip().splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        head = lines[0][2:].split(",")
        res = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(",")))
            if row.get("svname") not in ("FRONTEND", "BACKEND"):
                res[(row["pxname"], row["svname"])] = row
        return res

    def wait_haproxy_up(self, i, timeout=20):
        def up():
            s = self.haproxy_servers()
            return all(s.get((b, f"r{i}"), {}).get("status") == "UP" for b in ("be_grpc", "be_api"))
        wait_until(f"HAProxy to report r{i} UP in be_grpc and be_api", up, timeout)

    # -- Prometheus and Alertmanager
    def write_targets(self, canary=False):
        groups = [{"targets": [self.instance(i) for i in (1, 2, 3)], "labels": {"track": "stable"}}]
        if canary:
            groups.append({"targets": [self.instance(4)], "labels": {"track": "canary"}})
        tmp = self.sd_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        tmp.replace(self.sd_file)

    def prometheus_config(self):
        text = PROM_CFG.read_text()

        def sub(pattern, repl, count=1):  # count None: at least once
            nonlocal text
            text, n = re.subn(pattern, repl, text)
            if (n < 1) if count is None else (n != count):
                raise DrillError(f"{PROM_CFG}: expected {count} match(es) of {pattern!r}, found {n}")
        sub(r"scrape_interval: \d+s", "scrape_interval: 1s")
        sub(r"scrape_timeout: \d+s", "scrape_timeout: 1s")
        sub(r"evaluation_interval: \d+s", "evaluation_interval: 1s")
        sub(r"- rules/phalanx\.rules\.yml", f"- {RULES}")
        sub(r"127\.0\.0\.1:9093", f"127.0.0.1:{self.am_port}", None)
        sub(r"127\.0\.0\.1:9090", f"127.0.0.1:{self.prom_port}", None)
        sub(r"127\.0\.0\.1:18404", f"127.0.0.1:{self.port(18404)}")
        sub(r"static_configs:\n(\s+)- targets:\n(?:\s+- 127\.0\.0\.1:1808\d\n)+",
            lambda m: f"file_sd_configs:\n{m.group(1)}- files: [{self.sd_file}]\n")
        out = self.tmp / "prometheus.yml"
        out.write_text("# Generated by tests/ha/drill.py from deploy/prometheus/prometheus.yml\n" + text)
        return out

    def alertmanager_config(self):
        text = AM_CFG.read_text()
        text, n1 = re.subn(r"group_wait: \d+[sm]", "group_wait: 1s", text)
        text, n2 = re.subn(r"group_interval: \d+[sm]", "group_interval: 1s", text)
        names = re.findall(r"^  - name: (\S+)", text[text.index("\nreceivers:"):], re.M)
        if not n1 or not n2 or not names:
            raise DrillError(f"{AM_CFG}: unexpected layout (group_wait/group_interval/receivers)")
        recv = "\n".join(f"  - name: {n}\n    webhook_configs:\n"
                         f"      - url: http://127.0.0.1:{self.hook_port}/{n}\n        send_resolved: true"
                         for n in names)
        text = text[:text.index("\nreceivers:")] + "\nreceivers:\n" + recv + "\n"
        out = self.tmp / "alertmanager.yml"
        out.write_text("# Generated by tests/ha/drill.py from deploy/alertmanager/alertmanager.yml "
                       "(receivers -> the drill's webhook recorder)\n" + text)
        return out

    def start_monitoring(self):
        self.write_targets()
        pcfg = self.prometheus_config()
        subprocess.run(["promtool", "check", "config", str(pcfg)], check=True, stdout=subprocess.DEVNULL)
        acfg = self.alertmanager_config()
        subprocess.run(["amtool", "check-config", str(acfg)], check=True, stdout=subprocess.DEVNULL)
        (self.tmp / "am-data").mkdir()
        (self.tmp / "prom-data").mkdir()
        self.procs.start("alertmanager", [
            self.a.alertmanager, f"--config.file={acfg}", f"--storage.path={self.tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.am_port}", "--cluster.listen-address="])
        self.procs.start("prometheus", [
            "prometheus", f"--config.file={pcfg}", f"--storage.tsdb.path={self.tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{self.prom_port}"])
        wait_until("Alertmanager", lambda: http_get(f"http://127.0.0.1:{self.am_port}/-/ready")[0] == 200, 20)
        wait_until("Prometheus", lambda: http_get(f"http://127.0.0.1:{self.prom_port}/-/ready")[0] == 200, 30)
        log(f"Prometheus :{self.prom_port}, Alertmanager :{self.am_port}, webhook recorder :{self.hook_port}")

    def prom_query(self, q):
        s, body = http_get(f"http://127.0.0.1:{self.prom_port}/api/v1/query?" +
                           urllib.parse.urlencode({"query": q}))
        if s != 200:
            return None
        return json.loads(body)["data"]["result"]

    def replica_requests(self, i):
        """Generation requests a replica finished (its own /metrics), or None."""
        s, body = http_get(f"http://127.0.0.1:{self.ports(i)['http']}/metrics")
        if s != 200:
            return None
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith("phalanx_requests_total{") and re.search(r'rpc="Generate(Stream)?"', line):
                total += float(line.rsplit(" ", 1)[1])
        return total


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


# ---- load -----------------------------------------------------------------------------------------

def start_load(a, tier, procs, tmp):
    target = f"127.0.0.1:{tier.port(18050)}"
    common = [a.bench, "--target", target, "--duration", "3600", "--requests", "200000",
              "--prompt-tokens", "16", "--retries", "3", "--timeout", "30", "--quiet", "--json"]
    unary = procs.start("bench-unary", common + ["--no-stream", "--rate", str(a.rate), "--gen-tokens", "32",
                                                 "--seed", "1", "--samples", tmp / "unary.jsonl"],
                        stdout=open(tmp / "bench-unary.json", "wb"))
    stream = procs.start("bench-stream", common + ["--concurrency", str(a.streams), "--gen-tokens", "200",
                                                   "--seed", "2", "--samples", tmp / "stream.jsonl"],
                         stdout=open(tmp / "bench-stream.json", "wb"))
    return [unary, stream]


def stop_load(benches, procs):
    for b in benches:
        if b.poll() is None:
            b.send_signal(signal.SIGINT)  # stop issuing; in-flight requests finish
    hung = []
    for b in benches:
        rc = procs.wait(b, 45)
        if rc is None:
            hung.append(b.drill_name)
            b.kill()
            procs.wait(b, 5)
        elif rc != 0:
            raise DrillError(f"{b.drill_name} exited with {rc}")
    if hung:
        raise DrillError(f"{', '.join(hung)}: requests still unfinished 45 s after the load stopped")


def read_samples(tmp):
    out = []
    for kind in ("unary", "stream"):
        p = tmp / f"{kind}.jsonl"
        if p.exists():
            for line in p.read_text().splitlines():
                if line.strip():
                    s = json.loads(line)
                    s["kind"] = kind
                    out.append(s)
    return out


# ---- scenarios --------------------------------------------------------------------------------------

class Phase:
    def __init__(self, name, title):
        self.name, self.title = name, title
        self.start = time.time()
        self.end = None
        self.events = []   # (time, description)
        self.checks = []   # (ok, description)
        self.notes = []

    def event(self, what):
        self.events.append((time.time(), what))
        log(f"  event: {what}")

    def check(self, ok, what):
        self.checks.append((bool(ok), what))
        log(f"  {'ok  ' if ok else 'FAIL'} {what}")


def scenario_baseline(tier, watch, a):
    ph = Phase("baseline", "steady load")
    time.sleep(a.settle)
    return ph


def observe_drain_agent(tier, i, seconds):
    """Agent answers of replica i after SIGTERM until it stops answering (or `seconds`)."""
    answers = []
    end = time.time() + seconds
    while time.time() < end:
        ans = agent_answer(tier.ports(i)["agent"])
        if ans is None:
            break
        if not answers or answers[-1] != ans:
            answers.append(ans)
        time.sleep(0.02)
    return answers


def restart_cycle(tier, ph, i, sig_name="SIGTERM"):
    """SIGTERM replica i, wait for exit 0, start it, wait /readyz and HAProxy UP."""
    tier.signal_replica(i, signal.SIGTERM)
    ph.event(f"SIGTERM r{i}")
    time.sleep(0.05)  # signal delivery is asynchronous
    answers = observe_drain_agent(tier, i, 15)
    ph.check(all(x == "drain" for x in answers),
             f"r{i} agent answered only `drain` while draining (saw {answers or 'nothing'})")
    rc = tier.wait_exit(i, 20)
    ph.check(rc == 0, f"r{i} exited with code {rc} after the drain")
    tier.start_replica(i)
    ph.event(f"start r{i}")
    tier.wait_ready(i)
    ans = agent_answer(tier.ports(i)["agent"])
    ph.check(ans is not None and ans.startswith("ready up "), f"r{i} agent answers `{ans}` once ready")
    tier.wait_haproxy_up(i)
    log(f"  r{i} ready and UP in HAProxy")


def scenario_drain(tier, watch, a):
    ph = Phase("b", "drain one replica (SIGTERM) and restart it")
    time.sleep(a.settle)
    restart_cycle(tier, ph, 2)
    time.sleep(a.settle)
    return ph


def scenario_kill(tier, watch, a):
    ph = Phase("a", "kill one replica (SIGKILL), restart after ReplicaDown fired")
    time.sleep(a.settle)
    i = 1
    inst = tier.instance(i)
    key = f"ReplicaDown{{{inst}}}"
    tier.signal_replica(i, signal.SIGKILL)
    ph.event(f"SIGKILL r{i}")
    kill_t = ph.events[-1][0]
    tier.wait_exit(i, 5)
    try:
        wait_until(f"Prometheus to fire {key}", lambda: watch.seen("prometheus", key, "firing", kill_t), 75, 0.2)
        ph.check(True, f"Prometheus fired {key} after {time.time() - kill_t:.1f} s")
        wait_until(f"Alertmanager to hold {key}", lambda: watch.seen("alertmanager", key, "firing", kill_t), 15, 0.2)
        ph.check(True, f"Alertmanager received {key}")
        # Restart only once the page went out: Alertmanager sends a resolved notification only
        # for an alert it notified as firing.
        wait_until("the firing notification", lambda: watch.notified("firing", "ReplicaDown", kill_t), 15, 0.2)
        ph.check(True, "firing ReplicaDown notification delivered to the webhook")
    except DrillError as e:
        ph.check(False, str(e))
    tier.start_replica(i)
    ph.event(f"start r{i}")
    # The alert can resolve (next scrape) before HAProxy's check marks the replica UP, so
    # resolution is looked for from the restart on.
    restart_t = ph.events[-1][0]
    tier.wait_ready(i)
    tier.wait_haproxy_up(i)
    log(f"  r{i} ready and UP in HAProxy")
    try:
        wait_until(f"{key} to resolve in Prometheus", lambda: watch.seen("prometheus", key, "resolved", restart_t), 20, 0.2)
        ph.check(True, f"{key} resolved in Prometheus")
        wait_until(f"{key} to resolve in Alertmanager", lambda: watch.seen("alertmanager", key, "resolved", restart_t), 20, 0.2)
        ph.check(True, f"{key} resolved in Alertmanager")
        wait_until("the resolved notification", lambda: watch.notified("resolved", "ReplicaDown", restart_t), 15, 0.2)
        ph.check(True, "resolved ReplicaDown notification delivered to the webhook")
    except DrillError as e:
        ph.check(False, str(e))
    time.sleep(a.settle)
    ph.kill_t = kill_t
    return ph


def scenario_rolling(tier, watch, a):
    ph = Phase("c", "rolling restart of all three replicas")
    time.sleep(a.settle)
    for i in (1, 2, 3):
        restart_cycle(tier, ph, i)
    time.sleep(a.settle)
    return ph


def scenario_canary(tier, watch, a):
    ph = Phase("d", "canary r4 at 10% then 50%, then rollback")
    time.sleep(a.settle)
    tier.start_replica(4)
    tier.wait_ready(4)
    tier.write_targets(canary=True)
    wait_until("HAProxy to see r4 UP", lambda: all(
        tier.haproxy_servers().get((b, "r4"), {}).get("status") in ("UP", "SOFT STOP") for b in ("be_grpc", "be_api")), 20)
    ph.shares = {}
    step_s = max(6.0, a.settle * 2)
    for label, weight in (("10%", 33), ("50%", 256)):
        before = {i: tier.replica_requests(i) for i in (1, 2, 3, 4)}
        for b in ("be_grpc", "be_api"):
            r = tier.haproxy_cmd(f"set weight {b}/r4 {weight}")
            if r is None or r.strip():
                raise DrillError(f"set weight {b}/r4 {weight}: {r!r}")
        ph.event(f"canary weight {weight} ({label})")
        time.sleep(step_s)
        after = {i: tier.replica_requests(i) for i in (1, 2, 3, 4)}
        served = {i: (after[i] or 0) - (before[i] or 0) for i in before}
        total = sum(served.values())
        share = served[4] / total if total else 0.0
        ph.shares[label] = {"weight": weight, "canary_requests": served[4], "all_requests": total,
                            "canary_share": round(share, 3)}
        ph.notes.append(f"{label}: weight {weight}, canary served {served[4]:.0f} of {total:.0f} ({share:.0%})")
        log(f"  {ph.notes[-1]}")
    ph.check(ph.shares["50%"]["canary_requests"] > 0, "the canary served requests at the 50% step")
    # Rollback: no new traffic, drain, stop.
    for b in ("be_grpc", "be_api"):
        tier.haproxy_cmd(f"set weight {b}/r4 0")
        tier.haproxy_cmd(f"set server {b}/r4 state drain")
    ph.event("rollback: canary weight 0, state drain")
    tier.write_targets(canary=False)  # out of monitoring before it stops (as a deleted pod)
    time.sleep(1.0)
    tier.signal_replica(4, signal.SIGTERM)
    ph.event("SIGTERM r4")
    rc = tier.wait_exit(4, 20)
    ph.check(rc == 0, f"r4 exited with code {rc} after the drain")
    time.sleep(a.settle)
    return ph


# ---- evaluation ----------------------------------------------------------------------------------------

def evaluate(ph, samples, watch):
    mine = [s for s in samples if ph.start <= s["start"] < ph.end]
    failed = [s for s in mine if not s["ok"]]
    retried = [s for s in mine if s["retried"]]
    broken = [s for s in mine if s["stream_broken"]]
    ev_times = [t for t, _ in ph.events]
    recovery = 0.0
    worst = None
    for s in failed + retried:
        prior = [t for t in ev_times if t <= s["start"]]
        r = s["start"] - prior[-1] if prior else 0.0
        if r > recovery:
            recovery, worst = r, s
    by_kind = {}
    for kind in ("unary", "stream"):
        k = [s for s in mine if s["kind"] == kind]
        by_kind[kind] = {"sent": len(k), "succeeded": sum(s["ok"] for s in k),
                         "failed": sum(not s["ok"] for s in k), "retried": sum(s["retried"] for s in k),
                         "codes": sorted({s["code"] for s in k if not s["ok"]})}
    ev, notes = watch.summary(ph.start, ph.end + 0.01)
    alerts = {}
    for t, source, key, st in ev:
        alerts.setdefault(key, []).append(f"{source} {st} +{t - ph.start:.1f}s")
    fired = sorted({k for _, s, k, st in ev if st == "firing"})
    resolved = sorted({k for _, s, k, st in ev if st == "resolved" and k in fired})
    pending_only = sorted({k for _, s, k, st in ev if st == "pending"} - set(fired))
    res = {"phase": ph.name, "title": ph.title, "duration_s": round(ph.end - ph.start, 1),
           "sent": len(mine), "succeeded": len(mine) - len(failed), "failed": len(failed),
           "retried": len(retried), "streams_broken": len(broken), "recovery_s": round(recovery, 3),
           "by_kind": by_kind,
           "events": [(round(t - ph.start, 2), w) for t, w in ph.events],
           "alerts_fired": fired, "alerts_resolved": resolved, "alerts_pending_only": pending_only,
           "alert_timeline": alerts,
           "notifications": [(round(t - ph.start, 1), r, st, a) for t, r, st, a in notes],
           "notes": ph.notes}
    if worst is not None:
        res["recovery_request"] = {k: worst[k] for k in ("kind", "code", "ok", "retried")}
    checks = list(ph.checks)
    if not mine:
        checks.append((False, "no requests were sent in this phase"))
    if ph.name in ("baseline", "b", "c", "d"):
        checks.append((not failed, f"no request lost ({len(failed)} failed: {by_kind['unary']['codes'] + by_kind['stream']['codes']})"))
        checks.append((not broken, f"no stream broken ({len(broken)})"))
    if ph.name == "a":
        kt = ph.kill_t
        stray = [s for s in failed if not (s["kind"] == "stream" and s["start"] < kt
                                           and kt <= s["start"] + s["e2e"] <= kt + 2.0)]
        checks.append((by_kind["unary"]["failed"] == 0,
                       f"every unary request succeeded ({by_kind['unary']['failed']} failed)"))
        checks.append((not stray, f"the only failures are streams in flight on the killed replica "
                                  f"({len(failed) - len(stray)} such, {len(stray)} others"
                                  f"{': ' + str(sorted({s['code'] for s in stray})) if stray else ''})"))
    checks.append((recovery < RECOVERY_GOAL_S, f"time to recover {recovery:.3f} s < {RECOVERY_GOAL_S} s"))
    res["checks"] = [{"ok": ok, "check": what} for ok, what in checks]
    res["ok"] = all(ok for ok, _ in checks)
    return res


def table(results):
    head = ("| scenario | sent | succeeded | failed | retried | streams broken | time to recover | "
            "alerts fired → resolved | goals |")
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in results:
        fired = ", ".join(f"{k} → {'resolved' if k in r['alerts_resolved'] else 'still firing'}"
                          for k in r["alerts_fired"]) or "none"
        if r["alerts_pending_only"]:
            fired += "; pending only: " + ", ".join(r["alerts_pending_only"])
        lines.append(f"| ({r['phase']}) {r['title']} | {r['sent']} | {r['succeeded']} | {r['failed']} | "
                     f"{r['retried']} | {r['streams_broken']} | {r['recovery_s']:.2f} s | {fired} | "
                     f"{'pass' if r['ok'] else 'FAIL'} |")
    return "\n".join(lines)


# ---- main ------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phalanx", default=str(ROOT / "build/bin/phalanx"))
    ap.add_argument("--bench", default=str(ROOT / "build/bin/phalanx-bench"))
    ap.add_argument("--model", default=str(ROOT.parent / "shared/models/stories260K.gguf"))
    ap.add_argument("--alertmanager", default=shutil.which("prometheus-alertmanager") or
                    shutil.which("alertmanager") or "prometheus-alertmanager")
    ap.add_argument("--short", action="store_true", help="CI form: (b) then (a)")
    ap.add_argument("--scenarios", help="comma-separated subset of baseline,b,a,c,d (overrides --short)")
    ap.add_argument("--rate", type=float, default=20, help="unary arrivals per second")
    ap.add_argument("--streams", type=int, default=2, help="streams in flight (closed loop)")
    ap.add_argument("--settle", type=float, default=3, help="steady seconds before and after each event group")
    ap.add_argument("--port-shift", type=int, default=0, help="add this to every fixed port")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--keep", help="copy the logs and generated configs to this directory")
    a = ap.parse_args()
    order = a.scenarios.split(",") if a.scenarios else (["b", "a"] if a.short else ["baseline", "b", "a", "c", "d"])
    funcs = {"baseline": scenario_baseline, "b": scenario_drain, "a": scenario_kill,
             "c": scenario_rolling, "d": scenario_canary}
    for s in order:
        if s not in funcs:
            ap.error(f"unknown scenario {s}")
    for f in (a.phalanx, a.bench, a.model):
        if not Path(f).exists():
            ap.error(f"{f} does not exist (build with -DPHALANX_BENCH=ON)")
    for tool in ("haproxy", "prometheus", "promtool", "amtool", a.alertmanager):
        if not shutil.which(tool):
            ap.error(f"{tool} not found (scripts/install-deps installs it)")

    # SIGTERM/SIGINT of the drill itself: unwind through `finally` and stop every child.
    def on_signal(sig, _):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)

    tmp = Path(tempfile.mkdtemp(prefix="phalanx-ha-drill-"))
    procs = Procs(tmp)
    watch = None
    results, ok = [], False
    started = time.time()
    try:
        tier = Tier(a, procs, tmp)
        fixed = [tier.port(p) for p in (18050, 18000, 18404, 18405)] + \
                [v for i in (1, 2, 3, 4) for v in tier.ports(i).values()]
        busy = [p for p in fixed if not port_free(p)]
        if busy:
            raise DrillError(f"ports in use: {busy} (another drill or server?); try --port-shift")
        watch = AlertWatch(tier)
        tier.hook_port = start_recorder(watch).server_address[1]
        for i in (1, 2, 3):
            tier.start_replica(i)
        for i in (1, 2, 3):
            tier.wait_ready(i)
        log("replicas r1..r3 ready")
        tier.start_haproxy(canary="d" in order)
        for i in (1, 2, 3):
            tier.wait_haproxy_up(i)
        tier.start_monitoring()
        threading.Thread(target=watch.run, daemon=True).start()
        wait_until("Prometheus to scrape all replicas", lambda: len([
            r for r in (tier.prom_query('up{job="phalanx"} == 1') or [])]) == 3, 20, 0.5)
        benches = start_load(a, tier, procs, tmp)
        time.sleep(2)  # let the load reach steady state
        phases = []
        cursor = time.time()  # phases are contiguous: every request belongs to exactly one
        for s in order:
            log(f"scenario ({s})")
            ph = funcs[s](tier, watch, a)
            ph.start, ph.end = cursor, time.time()
            cursor = ph.end
            phases.append(ph)
        stop_load(benches, procs)
        samples = read_samples(tmp)
        phases[-1].end = max([phases[-1].end] + [s["start"] + 1e-6 for s in samples])
        results = [evaluate(ph, samples, watch) for ph in phases]
        ok = all(r["ok"] for r in results)
    except (DrillError, subprocess.CalledProcessError, KeyboardInterrupt) as e:
        log(f"drill aborted: {e}")
        ok = False
    finally:
        if watch:
            watch.stop.set()
        procs.stop_all()
        if a.keep:
            shutil.copytree(tmp, a.keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("prom-data", "am-data"))
        if not ok:
            for name in sorted(tmp.glob("*.log")):
                tail = name.read_text(errors="replace").splitlines()[-15:]
                print(f"--- {name.name} (last lines)\n" + "\n".join(tail))
        shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.time() - started
    for r in results:
        print(f"\n({r['phase']}) {r['title']}: {r['duration_s']} s, events {r['events']}")
        for k, v in r["by_kind"].items():
            print(f"    {k:6s} sent {v['sent']} succeeded {v['succeeded']} failed {v['failed']} "
                  f"retried {v['retried']}{' codes ' + str(v['codes']) if v['codes'] else ''}")
        for k, v in r["alert_timeline"].items():
            print(f"    alert {k}: {', '.join(v)}")
        for t, rcv, st, al in r["notifications"]:
            print(f"    notification +{t}s {rcv} {st} {al}")
        for n in r["notes"]:
            print(f"    {n}")
        for c in r["checks"]:
            print(f"    {'ok  ' if c['ok'] else 'FAIL'} {c['check']}")
    if results:
        print("\n" + table(results))
    print(f"\ndrill {'passed' if ok else 'FAILED'} in {elapsed:.0f} s")
    if a.out:
        Path(a.out).write_text(json.dumps({"ok": ok, "elapsed_s": round(elapsed, 1),
                                           "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                                           "mode": "short" if order == ["b", "a"] else ",".join(order),
                                           "phases": results}, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
