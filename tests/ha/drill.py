#!/usr/bin/python3
"""HA drill: three `phalanx serve` replicas behind HAProxy, monitored by Prometheus and
Alertmanager, under steady load, through failures and rollouts. Standard library only.

Topology (all loopback; the ports of deploy/haproxy/*.cfg, optionally shifted by --port-shift):
  replica i (1..3, the canary is 4): gRPC 1805i, HTTP probes + /metrics 1808i, OpenAI API 1800i,
      HAProxy agent 1809i; `--threads 1 --kv-cache-mb 16 --drain-grace-s 2` on stories260K
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
# Modules (next to this file): drill_procs.py (log, child processes, loopback helpers),
# drill_tier.py (replicas, HAProxy, Prometheus, Alertmanager), drill_alerts.py (alert watching,
# webhook recorder), drill_load.py (phalanx-bench load, samples, evaluation against the goals),
# drill_scenarios.py (phases and scenarios); this file: the command line, the run, the report.
import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drill_alerts import AlertWatch, start_recorder  # noqa: E402
from drill_load import evaluate, read_samples, start_load, stop_load  # noqa: E402
from drill_procs import DrillError, Procs, log, port_free, wait_until  # noqa: E402
from drill_scenarios import (scenario_baseline, scenario_canary, scenario_drain,  # noqa: E402
                             scenario_kill, scenario_rolling)
from drill_tier import ROOT, Tier  # noqa: E402


# ---- report ----------------------------------------------------------------------------------------------

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
