#!/usr/bin/python3
"""Starts the real `phalanx serve` with the exact arguments of the deployment manifests.

For every container spec below, the arguments are taken from the manifest as written, then:
  - the model path (the --model value) becomes stories260K,
  - every port flag (--grpc-port, --http-port, --api-port, a non-zero --lb-agent-port) gets a
    free loopback port, and the manifest's containerPorts are mapped to the same ports,
  - paths under a mounted Secret volume (API keys, TLS) point to generated files of the same
    names in a temporary directory (a self-signed CA, a server certificate for 127.0.0.1 and a
    client certificate; an API-keys file with one key),
  - `--host 127.0.0.1` is appended (loopback only; the manifests listen on 0.0.0.0).
Then: `phalanx serve --check-config ARGS` must exit 0; `phalanx serve ARGS` must start; every
probe of the manifest must pass as the kubelet would run it (httpGet: 200 on its path and port;
grpc: grpc.health.v1 Check SERVING, plaintext, as the kubelet's gRPC probes have no TLS);
every named container port must answer (http: /metrics with phalanx_ series; grpc: health
SERVING over TLS when --tls-cert is set; api: GET /v1/models 200 with the key over TLS when set);
a non-zero --lb-agent-port must answer `ready up NN%`; SIGTERM must end it with exit code 0
within --drain-timeout-s + 5 s.

Specs: deploy/k8s/base, overlays production, cpu-dev and canary (the small kustomize of
kustomize_lite.py); the chart (tests/deploy/gotemplate.py) with its defaults, values-cpu-dev.yaml,
values-canary.yaml and the everything-on scenario of manifest_lib.py; and the Dockerfile's
ENTRYPOINT + CMD (check-config and start, probes of the base manifest's paths).

  manifest_args.py --phalanx BUILD/bin/phalanx --model stories260K.gguf
"""
import argparse
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import manifest_lib as tm  # noqa: E402  (chart renderer, object helpers)
from kustomize_lite import kustomize_build  # noqa: E402

PORT_FLAGS = {"--grpc-port": "grpc", "--http-port": "http", "--api-port": "api", "--lb-agent-port": "agent"}
FAILURES = []


def fail(where, msg):
    FAILURES.append(f"{where}: {msg}")
    print(f"  FAIL {msg}", flush=True)


def ok(msg):
    print(f"  ok   {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- secrets ------------------------------------------------------------------------------------

def make_secrets(d):
    """CA, server cert (127.0.0.1), client cert, API keys file. Returns {name: path}, key."""
    def run(*argv):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=phalanx-test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("tls", "127.0.0.1"), ("client", "phalanx-test-client")):
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr")
        extra = ["-extfile", "san.cnf"] if name == "tls" else []
        run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra)
    key = "manifest-test-key-0123456789"
    import hashlib
    (d / "api-keys.yaml").write_text(
        f"keys:\n  - id: manifest-test\n    sha256: {hashlib.sha256(key.encode()).hexdigest()}\n")
    return key


# ---- specs --------------------------------------------------------------------------------------

def container_specs():
    """[(name, container dict, pod spec volumes)] of every phalanx container in the manifests."""
    out = []
    builds = {f"k8s/{n}": kustomize_build(tm.K8S / n)
              for n in ("base", "overlays/production", "overlays/cpu-dev", "overlays/canary")}
    for name, values in tm.SCENARIOS.items():
        builds[f"chart[{name}]"] = tm.strip_meta(tm.render(values)[0])
    for where, objs in builds.items():
        for dep in tm.by_kind(objs, "Deployment"):
            spec = tm.pod_spec(dep)
            for c in spec["containers"]:
                if c["name"] == "phalanx":
                    out.append((f"{where} {dep['metadata']['name']}", c, spec.get("volumes", [])))
    if not out:
        raise SystemExit("no phalanx containers found in the manifests")
    return out


def dockerfile_args():
    text = re.sub(r"\\\n", " ", (tm.DEPLOY / "container/Dockerfile").read_text())
    entry = cmd = None
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word.upper() == "ENTRYPOINT":
            entry = json.loads(rest)
        elif word.upper() == "CMD":
            cmd = json.loads(rest)
    if entry != ["phalanx"] or not cmd or cmd[0] != "serve":
        raise SystemExit(f"Dockerfile: expected ENTRYPOINT [\"phalanx\"] and CMD [\"serve\", ...], got {entry} {cmd}")
    return cmd


# ---- the server ---------------------------------------------------------------------------------

def substitute(args, container, volumes, model, secrets_dir):
    """Returns (argv after `phalanx`, {port name: host port}, flags)."""
    mounts = {}
    secret_vols = {v["name"] for v in volumes if "secret" in v}
    for m in container.get("volumeMounts", []):
        if m["name"] in secret_vols:
            mounts[m["mountPath"].rstrip("/")] = secrets_dir
    out, ports, flags = [args[0]], {}, {}
    i = 1
    while i < len(args):
        flag, value = args[i], args[i + 1] if i + 1 < len(args) else None
        if not flag.startswith("--") or value is None:
            raise SystemExit(f"unexpected argument layout at {args[i:]}")
        if flag == "--model":
            value = str(model)
        elif flag in PORT_FLAGS and not (flag == "--lb-agent-port" and value == "0"):
            ports[PORT_FLAGS[flag]] = (int(value), free_port())
            value = str(ports[PORT_FLAGS[flag]][1])
        else:
            for mp, d in mounts.items():
                if value.startswith(mp + "/"):
                    value = str(Path(d) / value[len(mp) + 1:])
                    if not Path(value).exists():
                        raise SystemExit(f"{flag} {args[i + 1]}: the test has no file for {Path(value).name}")
        flags[flag] = value
        out += [flag, value]
        i += 2
    out += ["--host", "127.0.0.1"]
    return out, ports, flags


def http(url, ctx=None, headers=None, timeout=2):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, ValueError) as e:
        return 0, str(e).encode()


def grpc_health(port, secrets_dir=None, tls=False, timeout=3):
    """grpc.health.v1.Health/Check for service "" -> status number (1 = SERVING) or an error string."""
    import grpc
    target = f"127.0.0.1:{port}"
    if tls:
        d = Path(secrets_dir)
        creds = grpc.ssl_channel_credentials(root_certificates=(d / "ca.crt").read_bytes(),
                                             private_key=(d / "client.key").read_bytes(),
                                             certificate_chain=(d / "client.crt").read_bytes())
        ch = grpc.secure_channel(target, creds)
    else:
        ch = grpc.insecure_channel(target)
    try:
        check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
        resp = check(b"", timeout=timeout)  # HealthCheckRequest{service: ""}
        # HealthCheckResponse{status = 1}: field 1, varint -> b"\x08\x01"
        return resp[1] if len(resp) == 2 and resp[0] == 0x08 else f"unexpected response {resp!r}"
    except grpc.RpcError as e:
        return f"{e.code().name}: {e.details()}"
    finally:
        ch.close()


def run_one(where, argv, ports, flags, container, phalanx, secrets_dir, key, logdir):
    print(f"\n== {where}\n   phalanx {' '.join(argv)}", flush=True)
    r = subprocess.run([phalanx, *argv, "--check-config"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail(where, f"--check-config exited {r.returncode}: {r.stderr.strip()}")
        return
    ok("--check-config exit 0")
    logf = open(logdir / f"{re.sub(r'[^A-Za-z0-9]+', '_', where)}.log", "w+")
    p = subprocess.Popen([phalanx, *argv], stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        check_running(where, p, ports, flags, container, secrets_dir, key)
        if "--max-batch" in flags:  # a flag given twice takes its last value (chart extraArgs)
            logf.flush()
            text = Path(logf.name).read_text()
            want = f"max batch {flags['--max-batch']}"
            (ok if want in text else lambda m: fail(where, m))(f"effective --max-batch: log says `{want}`")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            limit = float(flags.get("--drain-timeout-s", 30)) + 5
            try:
                rc = p.wait(timeout=limit)
                (ok if rc == 0 else lambda m: fail(where, m))(f"SIGTERM: exit code {rc}")
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                fail(where, f"still running {limit:.0f} s after SIGTERM")
        else:
            fail(where, f"exited early with {p.returncode}")
        if any(f.startswith(where) for f in FAILURES):
            logf.seek(0)
            print("   server log (last lines):\n" + "".join(logf.readlines()[-20:]))
        logf.close()


def check_running(where, p, ports, flags, container, secrets_dir, key):
    http_port = ports["http"][1]
    named = {cp["name"]: cp["containerPort"] for cp in container.get("ports", [])}
    by_container_port = {orig: new for orig, new in ports.values()}

    def host_port(port):
        cport = named.get(port, port) if isinstance(port, str) else port
        if cport not in by_container_port:
            raise SystemExit(f"{where}: probe port {port} is no port the server listens on")
        return by_container_port[cport]

    # Startup: as the kubelet, poll the startup probe (bounded here by 60 s: stories260K loads fast).
    sp = container.get("startupProbe", {}).get("httpGet", {"path": "/startupz", "port": "http"})
    deadline = time.time() + 60
    while time.time() < deadline:
        if p.poll() is not None:
            fail(where, f"exited with {p.returncode} during startup")
            return
        if http(f"http://127.0.0.1:{host_port(sp['port'])}{sp['path']}", timeout=1)[0] == 200:
            break
        time.sleep(0.1)
    else:
        fail(where, f"startup probe {sp['path']} not 200 within 60 s")
        return
    # Readiness can lag startup by a moment (the health loop publishes every 50 ms).
    time.sleep(0.3)
    tls = "--tls-cert" in flags
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        pr = container.get(probe)
        if pr is None:
            if container is not None and probe in ("readinessProbe", "livenessProbe"):
                fail(where, f"no {probe}")
            continue
        if "httpGet" in pr and pr["httpGet"]:
            g = pr["httpGet"]
            s, body = http(f"http://127.0.0.1:{host_port(g['port'])}{g['path']}", timeout=pr.get("timeoutSeconds", 1))
            (ok if s == 200 else lambda m: fail(where, m))(f"{probe} httpGet {g['path']} on {g['port']}: {s}")
        elif "grpc" in pr:
            port = host_port(pr["grpc"]["port"])
            st = grpc_health(port, tls=False, timeout=pr.get("timeoutSeconds", 1))
            (ok if st == 1 else lambda m: fail(where, m))(
                f"{probe} grpc on {pr['grpc']['port']} (plaintext, as the kubelet): {'SERVING' if st == 1 else st}")
        else:
            fail(where, f"{probe}: neither httpGet nor grpc: {pr}")
    for name, cport in named.items():
        if cport not in by_container_port:
            fail(where, f"containerPort {name}={cport} is not a port the arguments open")
            continue
        port = by_container_port[cport]
        if name == "http":
            s, body = http(f"http://127.0.0.1:{port}/metrics")
            good = s == 200 and b"\nphalanx_ready " in body and b"\nphalanx_build_info{" in body
            (ok if good else lambda m: fail(where, m))(f"port {name}: GET /metrics {s}")
        elif name == "grpc":
            st = grpc_health(port, secrets_dir, tls=tls)
            (ok if st == 1 else lambda m: fail(where, m))(
                f"port {name}: grpc.health.v1 Check {'SERVING' if st == 1 else st}{' (TLS)' if tls else ''}")
        elif name == "api":
            ctx = None
            if tls:
                ctx = ssl.create_default_context(cafile=str(Path(secrets_dir) / "ca.crt"))
                ctx.load_cert_chain(str(Path(secrets_dir) / "client.crt"), str(Path(secrets_dir) / "client.key"))
            headers = {"Authorization": f"Bearer {key}"} if "--api-keys" in flags else {}
            s, body = http(f"{'https' if tls else 'http'}://127.0.0.1:{port}/v1/models", ctx, headers)
            (ok if s == 200 else lambda m: fail(where, m))(f"port {name}: GET /v1/models {s}{' (TLS)' if tls else ''}")
        elif name == "lb-agent" and "agent" in ports and ports["agent"][1] == port:
            pass  # answered below
        else:
            fail(where, f"containerPort {name}: the test does not know how to check it")
    if "agent" in ports:
        port = ports["agent"][1]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                ans = s.recv(64).decode().strip()
        except OSError as e:
            ans = str(e)
        (ok if ans.startswith("ready up ") else lambda m: fail(where, m))(f"lb agent answers `{ans}`")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phalanx", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="phalanx-manifest-args-"))
    try:
        secrets = tmp / "secrets"
        secrets.mkdir()
        key = make_secrets(secrets)
        specs = container_specs()
        print(f"{len(specs)} phalanx containers in the manifests, plus the Dockerfile")
        seen = {}
        for where, c, vols in specs:
            argv, ports, flags = substitute(c["args"], c, vols, a.model, secrets)
            # Identical argument lists (e.g. base and production) are started once.
            sig = json.dumps([c["args"], c.get("ports"), c.get("startupProbe"), c.get("readinessProbe"),
                              c.get("livenessProbe")], sort_keys=True)
            if sig in seen:
                print(f"\n== {where}: same arguments and probes as {seen[sig]}")
                continue
            seen[sig] = where
            if "http" not in ports:
                fail(where, "no --http-port: probes and /metrics would be on the default port")
                continue
            run_one(where, argv, ports, flags, c, a.phalanx, secrets, key, tmp)
        # Dockerfile: ENTRYPOINT ["phalanx"] + CMD, probed like the base manifest's container.
        base = next(c for w, c, _ in specs if w.startswith("k8s/base"))
        cmd = dockerfile_args()
        argv, ports, flags = substitute(cmd, {"volumeMounts": []}, [], a.model, secrets)
        docker_container = {"ports": [{"name": n, "containerPort": orig} for n, (orig, _) in ports.items()
                                      if n != "agent"],
                            **{k: base[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}}
        run_one("Dockerfile CMD", argv, ports, flags, docker_container, a.phalanx, secrets, key, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        print(f"\n{len(FAILURES)} failure(s):\n  " + "\n  ".join(FAILURES))
        return 1
    print("\nmanifest args: every manifest's arguments start a server that passes its probes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
