#!/usr/bin/python3
"""Extracts every PromQL expression of the Grafana dashboard and checks it.

Template variables are replaced so that each expression runs as it is on any Prometheus:
  $job, $instance, $track, ... (any dashboard variable)  -> .*   (regex match-all)
  $__rate_interval, $__interval                          -> --rate-interval (default 1m)
  $__range                                               -> --range (default 1h)

Modes (combine as needed):
  --list                 print "panel title<TAB>expression" for every query
  --check-names          fail unless every metric name is in docs/metrics.md (histograms with
                         their _bucket/_sum/_count series), a recording rule of
                         deploy/prometheus/rules/phalanx.rules.yml, or Prometheus' `up`
  --emit-rules FILE      write the queries as recording rules, so that
                         `promtool check rules FILE` parses every expression
  --prometheus URL       run each query through URL/api/v1/query; fail on an error or an empty
                         result, except for queries whose tags are given with --allow-empty
                         (tags: gpu = GPU metrics, only on GPU builds; event = series that exist
                         only once the event happened: rejections, degraded answers, feedback,
                         preemptions)

Exit status: 0 when every requested check passed, 1 otherwise.
"""
import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/phalanx.json"
METRICS_DOC = ROOT / "docs/metrics.md"
RULES = ROOT / "deploy/prometheus/rules/phalanx.rules.yml"

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "bool", "offset", "inf", "nan", "atan2"}
EVENT_METRICS = {"phalanx_rejected_total", "phalanx_degraded_responses_total", "phalanx_feedback_total",
                 "phalanx_preemptions_total"}


def panels(dashboard):
    """Yields every panel, rows' nested panels included."""
    for p in dashboard.get("panels", []):
        yield p
        for inner in p.get("panels", []) or []:
            yield inner


def extract(dashboard, rate_interval="1m", range_="1h"):
    """Returns [(panel title, expression with variables substituted)]."""
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    builtin = {"__rate_interval": rate_interval, "__interval": rate_interval, "__range": range_}

    def sub(m):
        name = m.group(1) or m.group(2)
        if name in builtin:
            return builtin[name]
        if name in variables:
            return ".*"
        raise ValueError(f"unknown template variable ${name}")

    out = []
    for p in panels(dashboard):
        for t in p.get("targets", []) or []:
            expr = t.get("expr")
            if not expr:
                continue
            # ${name} / ${name:format} / $name
            expr = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", sub, expr)
            out.append((p.get("title", ""), expr))
    return out


def metric_names(expr):
    """Metric names used by a PromQL expression (a small tokenizer, enough for dashboards)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    s = re.sub(r"\{[^}]*\}", " ", s)                                            # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)                                           # ranges
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", s):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def known_names():
    """Names from docs/metrics.md (with histogram series) and the recording rules."""
    names = {"up"}
    for line in METRICS_DOC.read_text().splitlines():
        m = re.match(r"\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*([a-z ()0-9]+?)\s*\|", line)
        if not m:
            continue
        name, kind = m.group(1), m.group(2)
        names.add(name)
        if kind.startswith("histogram"):
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    for m in re.finditer(r"^\s*-\s*record:\s*(\S+)", RULES.read_text(), re.M):
        names.add(m.group(1))
    return names


def tags(expr):
    names = metric_names(expr)
    out = set()
    if any(n.startswith("phalanx_gpu_") for n in names):
        out.add("gpu")
    if names & EVENT_METRICS:
        out.add("event")
    return out


def query(url, expr, timeout):
    q = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/query?{q}", timeout=timeout) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dashboard", default=str(DASHBOARD))
    ap.add_argument("--rate-interval", default="1m")
    ap.add_argument("--range", default="1h")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--check-names", action="store_true")
    ap.add_argument("--emit-rules", metavar="FILE")
    ap.add_argument("--prometheus", metavar="URL")
    ap.add_argument("--allow-empty", action="append", default=[], choices=["gpu", "event"])
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()

    queries = extract(json.loads(Path(a.dashboard).read_text()), a.rate_interval, a.range)
    if not queries:
        print("no queries found in the dashboard", file=sys.stderr)
        return 1
    failed = 0

    if a.list:
        for title, expr in queries:
            print(f"{title}\t{expr}")

    if a.check_names:
        known = known_names()
        for title, expr in queries:
            unknown = metric_names(expr) - known
            if unknown:
                failed += 1
                print(f"FAIL [{title}] unknown metric name(s) {sorted(unknown)}: {expr}", file=sys.stderr)
        if not failed:
            print(f"check-names: {len(queries)} queries use only documented metrics and recording rules")

    if a.emit_rules:
        lines = ["groups:", "  - name: dashboard-queries", "    rules:"]
        for i, (title, expr) in enumerate(queries):
            lines.append(f"      - record: dashboard:query_{i}")
            lines.append(f"        expr: {json.dumps(expr)}")
        Path(a.emit_rules).write_text("\n".join(lines) + "\n")

    if a.prometheus:
        ok = 0
        for title, expr in queries:
            try:
                r = query(a.prometheus, expr, a.timeout)
            except (urllib.error.URLError, OSError, ValueError) as e:
                body = e.read().decode(errors="replace") if isinstance(e, urllib.error.HTTPError) else ""
                failed += 1
                print(f"FAIL [{title}] {e} {body}: {expr}", file=sys.stderr)
                continue
            if r.get("status") != "success":
                failed += 1
                print(f"FAIL [{title}] {r.get('errorType')}: {r.get('error')}: {expr}", file=sys.stderr)
                continue
            if not r["data"]["result"]:
                allowed = tags(expr) & set(a.allow_empty)
                if allowed:
                    print(f"skip [{title}] empty, allowed ({', '.join(sorted(allowed))}): {expr}")
                    continue
                failed += 1
                print(f"FAIL [{title}] empty result: {expr}", file=sys.stderr)
                continue
            ok += 1
        print(f"prometheus: {ok} of {len(queries)} queries returned data")

    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
