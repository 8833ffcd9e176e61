"""HA drill (tests/ha/drill.py): the phases and the scenarios (baseline; (b) drain, (a) kill,
(c) rolling restart, (d) canary); each returns its Phase with its events, checks and notes.
Standard library only.
"""
import signal
import time

from drill_procs import DrillError, agent_answer, log, wait_until


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
