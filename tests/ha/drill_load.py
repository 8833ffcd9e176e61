"""HA drill (tests/ha/drill.py): the load (two phalanx-bench processes through HAProxy's gRPC
front) and its accounting: the per-request samples, split by phase, against the goals (sent,
succeeded, failed, retried, broken streams, time to recover, alerts). Standard library only.
"""
import json
import signal

from drill_procs import DrillError

RECOVERY_GOAL_S = 2.0


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
