#!/usr/bin/python3
"""Contracts and helpers shared by the structural tests of deploy/ (test_*.py here) and by
manifest_args.py: the repository paths; what docs/configuration.md documents (flags and their
defaults, ports, probe paths); the alert rules and the dashboard; helpers over Kubernetes
objects; and the Helm chart rendered with tests/deploy/gotemplate.py for each values scenario.
"""
import json
import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gotemplate  # noqa: E402

ROOT = HERE.parents[1]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm/phalanx"
K8S = DEPLOY / "k8s"
PYTHON = sys.executable


# ---- contracts ----------------------------------------------------------------------------------

def documented_flags():
    """{flag: default text} from the table of docs/configuration.md."""
    flags = {}
    for line in (ROOT / "docs/configuration.md").read_text().splitlines():
        if not line.startswith("| `--"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        m = re.match(r"`([^`]*)`", cells[2])
        for flag in re.findall(r"`(--[a-z0-9-]+)`", cells[0]):
            flags[flag] = m.group(1) if m else cells[2]
    return flags


FLAGS = documented_flags()
# Flags of `phalanx serve` documented anywhere in docs/configuration.md (table and prose).
ALL_SERVE_FLAGS = set(FLAGS) | set(re.findall(r"(--[a-z][a-z0-9-]+)", (ROOT / "docs/configuration.md").read_text()))


def server_flag_mentions(text):
    """Flags a document attributes to the server: backticked spans that start with a flag, and
    every flag of a `phalanx serve` command line (continuation lines joined)."""
    text = text.replace("\\\n", " ")
    found = set(re.findall(r"`(--[a-z][a-z0-9-]+)[^`]*`", text))
    for line in text.splitlines():
        if "phalanx serve" in line:
            found |= set(re.findall(r"\s(--[a-z][a-z0-9-]+)", line.split("phalanx serve", 1)[1]))
    return found


DEFAULT_PORTS = {"grpc": int(FLAGS["--grpc-port"]), "http": int(FLAGS["--http-port"]),
                 "api": int(FLAGS["--api-port"])}
PROBE_PATHS = {"startupProbe": "/startupz", "readinessProbe": "/readyz", "livenessProbe": "/livez"}
RULES = yaml.safe_load((DEPLOY / "prometheus/rules/phalanx.rules.yml").read_text())
ALERTS = [r for g in RULES["groups"] for r in g["rules"] if "alert" in r]
RECORDED = {r["record"] for g in RULES["groups"] for r in g["rules"] if "record" in r}
DASHBOARD = json.loads((DEPLOY / "grafana/phalanx.json").read_text())


def load_docs(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d is not None]


def args_map(args):
    """{--flag: value} of a `serve` argument list (flags here all take a value)."""
    out = {}
    i = 1
    while i < len(args):
        if not args[i].startswith("--"):
            raise AssertionError(f"expected a flag at {args[i:i + 2]} in {args}")
        out[args[i]] = args[i + 1] if i + 1 < len(args) else None
        i += 2
    return out


# ---- Kubernetes objects -------------------------------------------------------------------------

def pod_spec(obj):
    if obj.get("kind") == "Deployment":
        return obj["spec"]["template"]["spec"]
    return None


def pod_containers(obj):
    spec = pod_spec(obj)
    if not spec:
        return []
    return spec.get("containers", []) + spec.get("initContainers", [])


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def one(objs, kind, name):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        raise AssertionError(f"{kind}/{name}: {len(found)} objects")
    return found[0]


# ---- chart rendering ----------------------------------------------------------------------------

EVERYTHING_ON = {
    "model": {"fetch": {"enabled": True, "url": "https://models.example.com/m.gguf",
                        "sha256": "0" * 64}},
    "server": {"ports": {"lbAgent": 9100}, "rateLimitRps": 20, "rateLimitTpm": 1000000,
               "extraArgs": ["--ctx", "8192"]},
    "apiKeys": {"keys": [{"id": "team-a", "sha256": "3c9909afec25354d551dae21590bb26e38d53f2173b8d3dc3eee4c047e7ab1c1",
                          "requests_per_second": 20, "tokens_per_minute": 200000},
                         {"id": "batch", "sha256": "a" * 64, "revoked": True}]},
    "tls": {"clientCA": True},
    "dashboard": {"enabled": True},
    "canary": {"enabled": True, "weight": 50, "replicas": 2, "image": {"tag": "0.2.0"},
               "extraArgs": ["--max-batch", "32"]},
    "hpa": {"enabled": False},
    "gateway": {"hostnames": ["llm.example.com"]},
}


def render(values=None):
    out = gotemplate.render_chart(CHART, values)
    objs = []
    for name, text in out.items():
        if name.endswith(".txt"):
            continue
        for d in yaml.safe_load_all(text):
            if d is not None:
                d.setdefault("_template", name)
                objs.append(d)
    return objs, out


def strip_meta(objs):
    for o in objs:
        o.pop("_template", None)
    return objs


SCENARIOS = {
    "default": None,
    "cpu-dev": yaml.safe_load((CHART / "values-cpu-dev.yaml").read_text()),
    "canary": yaml.safe_load((CHART / "values-canary.yaml").read_text()),
    "everything-on": EVERYTHING_ON,
}
