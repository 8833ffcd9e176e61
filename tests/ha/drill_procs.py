"""HA drill (tests/ha/drill.py): the drill's log, its error, every child process (stopped on
every way out, and never outliving the drill), and the loopback helpers (ports, HTTP GET,
polling, the HAProxy agent protocol). Standard library only.
"""
import ctypes
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

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
