"""A small renderer for the subset of Go templates + Sprig that deploy/helm/phalanx uses.

Helm is not installed here; this renders the chart well enough to parse and check its output.
It follows Go text/template semantics for what it supports and raises TemplateError on
anything else, so a template that uses an unsupported construct fails the tests instead of
rendering wrongly.

Supported: {{ pipeline }}, {{- -}} trimming, {{/* comments */}}, if / else if / else / end,
range (with else), with (with else), define / include / template, $ and $var := pipeline,
field chains (.Values.a.b, $.Release.Name, $var.field), parenthesised pipelines, string /
number / bool literals, and the functions in FUNCS below. Like Helm, a missing value prints as
an empty string, while a field of a missing value is an error.
"""
import base64
import re

import yaml


class TemplateError(Exception):
    pass


# ---- lexing -----------------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def _lex(text, name):
    """Returns a list of ('text', str) and ('action', str) with trim markers applied."""
    parts = []
    pos = 0
    for m in _ACTION.finditer(text):
        parts.append(["text", text[pos:m.start()]])
        parts.append(["action", m.group(2).strip(), bool(m.group(1)), bool(m.group(3))])
        pos = m.end()
    parts.append(["text", text[pos:]])
    for i, p in enumerate(parts):
        if p[0] != "action":
            continue
        if p[2] and i > 0:
            parts[i - 1][1] = parts[i - 1][1].rstrip(" \t\r\n")
        if p[3] and i + 1 < len(parts):
            parts[i + 1][1] = parts[i + 1][1].lstrip(" \t\r\n")
    out = []
    for p in parts:
        if p[0] == "text":
            if p[1]:
                out.append(("text", p[1]))
        elif not (p[1].startswith("/*") and p[1].endswith("*/")):
            out.append(("action", p[1]))
    return out


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<assign>:=)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<pipe>\|)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)


def _tokens(expr):
    pos = 0
    out = []
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise TemplateError(f"cannot parse {expr[pos:]!r} in {{{{ {expr} }}}}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        out.append((kind, m.group(kind)))
    return out


# ---- parsing ----------------------------------------------------------------------------------

def _parse_pipeline(tokens, i=0, closing=None):
    """Parses commands separated by '|' until `closing` (or the end). Returns (pipeline, i)."""
    pipeline = []
    cmd = []
    while i < len(tokens):
        kind, val = tokens[i]
        if closing and kind == closing:
            break
        if kind == "pipe":
            if not cmd:
                raise TemplateError("empty command in pipeline")
            pipeline.append(cmd)
            cmd = []
            i += 1
        elif kind == "lp":
            sub, i = _parse_pipeline(tokens, i + 1, "rp")
            if i >= len(tokens):
                raise TemplateError("missing )")
            cmd.append(("pipeline", sub))
            i += 1
        elif kind == "rp":
            raise TemplateError("unexpected )")
        else:
            cmd.append((kind, val))
            i += 1
    if cmd:
        pipeline.append(cmd)
    if not pipeline:
        raise TemplateError("empty pipeline")
    return pipeline, i


def _parse_expr(expr):
    toks = _tokens(expr)
    if len(toks) >= 2 and toks[0][0] == "var" and toks[1][0] == "assign":
        pipe, _ = _parse_pipeline(toks[2:])
        return ("assign", toks[0][1], pipe)
    pipe, _ = _parse_pipeline(toks)
    return ("pipe", pipe)


def _parse(items, name):
    """Builds a tree: list of nodes; returns (nodes, defines)."""
    defines = {}
    pos = [0]

    def block(stop_words):
        nodes = []
        while pos[0] < len(items):
            kind, val = items[pos[0]]
            pos[0] += 1
            if kind == "text":
                nodes.append(("text", val))
                continue
            word = val.split(None, 1)[0] if val else ""
            rest = val[len(word):].strip()
            if word in stop_words:
                return nodes, word, rest
            if word == "if":
                branches = []
                cond = _parse_expr(rest)
                body, stop, srest = block({"else", "end"})
                branches.append((cond, body))
                else_body = []
                while stop == "else":
                    if srest.startswith("if "):
                        cond = _parse_expr(srest[3:])
                        body, stop, srest = block({"else", "end"})
                        branches.append((cond, body))
                    else:
                        else_body, stop, srest = block({"end"})
                nodes.append(("if", branches, else_body))
            elif word in ("range", "with"):
                arg = _parse_expr(rest)
                body, stop, _ = block({"else", "end"})
                else_body = []
                if stop == "else":
                    else_body, _, _ = block({"end"})
                nodes.append((word, arg, body, else_body))
            elif word == "define":
                dname = _literal(rest)
                body, _, _ = block({"end"})
                defines[dname] = body
            elif word == "template":
                toks = _tokens(rest)
                tname = _literal(toks[0][1])
                arg = _parse_pipeline(toks[1:])[0] if len(toks) > 1 else None
                nodes.append(("template", tname, arg))
            elif word in ("else", "end"):
                raise TemplateError(f"{name}: unexpected {{{{ {val} }}}}")
            elif word in ("block", "break", "continue"):
                raise TemplateError(f"{name}: unsupported {{{{ {val} }}}}")
            else:
                nodes.append(("action", _parse_expr(val)))
        if stop_words:
            raise TemplateError(f"{name}: missing {{{{ end }}}}")
        return nodes, None, None

    nodes, _, _ = block(set())
    return nodes, defines


def _literal(tok):
    tok = tok.strip()
    if tok.startswith('"'):
        return bytes(tok[1:-1], "utf-8").decode("unicode_escape")
    if tok.startswith("`"):
        return tok[1:-1]
    raise TemplateError(f"expected a string literal, got {tok!r}")


# ---- values and functions ---------------------------------------------------------------------

def truthy(v):
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, dict, tuple)):
        return len(v) > 0
    return True


def to_text(v):
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        raise TemplateError(f"printing a {type(v).__name__} directly; use toYaml")
    return str(v)


def _to_yaml(v):
    if v is None:
        return "null"
    out = yaml.safe_dump(v, default_flow_style=False, sort_keys=True, width=1000)
    if out.endswith("\n...\n"):
        out = out[:-5]
    return out.rstrip("\n")


def _indent(n, s):
    pad = " " * int(n)
    return pad + to_text(s).replace("\n", "\n" + pad)


def _quote(*args):
    out = []
    for a in args:
        if a is None:
            continue
        s = to_text(a)
        out.append('"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"')
    return " ".join(out)


def _printf(fmt, *args):
    py = re.sub(r"%v|%s|%d", "%s", fmt)
    return py % tuple(to_text(a) for a in args)


def _default(d, v=None):
    return v if truthy(v) else d


def _required(msg, v=None):
    if v is None or v == "":
        raise TemplateError(f"required: {msg}")
    return v


def _and(*args):
    for a in args:
        if not truthy(a):
            return a
    return args[-1]


def _or(*args):
    for a in args:
        if truthy(a):
            return a
    return args[-1]


def _num(v):
    if isinstance(v, bool) or v is None:
        raise TemplateError(f"not a number: {v!r}")
    return int(float(v))


FUNCS = {
    "toYaml": _to_yaml,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "indent": _indent,
    "quote": _quote,
    "squote": lambda *a: " ".join("'" + to_text(x) + "'" for x in a if x is not None),
    "default": _default,
    "required": _required,
    "dict": lambda *kv: {to_text(kv[i]): kv[i + 1] for i in range(0, len(kv), 2)},
    "list": lambda *a: list(a),
    "add": lambda *a: sum(_num(x) for x in a),
    "sub": lambda a, b: _num(a) - _num(b),
    "mul": lambda a, b: _num(a) * _num(b),
    "int": _num,
    "toString": to_text,
    "printf": _printf,
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda a: not truthy(a),
    "and": _and,
    "or": _or,
    "empty": lambda a=None: not truthy(a),
    "hasKey": lambda d, k: k in d,
    "trunc": lambda n, s: to_text(s)[:int(n)],
    "trimSuffix": lambda suf, s: to_text(s)[:-len(suf)] if suf and to_text(s).endswith(suf) else to_text(s),
    "replace": lambda old, new, s: to_text(s).replace(old, new),
    "lower": lambda s: to_text(s).lower(),
    "upper": lambda s: to_text(s).upper(),
    "contains": lambda sub, s: sub in to_text(s),
    "b64enc": lambda s: base64.b64encode(to_text(s).encode()).decode(),
    "ternary": lambda t, f, c: t if truthy(c) else f,
    "fail": lambda msg: (_ for _ in ()).throw(TemplateError(f"fail: {msg}")),
}


class Files:
    def __init__(self, root):
        self.root = root

    def Get(self, path):
        p = self.root / path
        return p.read_text() if p.is_file() else ""


# ---- evaluation -------------------------------------------------------------------------------

class Renderer:
    def __init__(self):
        self.defines = {}

    def add(self, text, name):
        nodes, defines = _parse(_lex(text, name), name)
        self.defines.update(defines)
        return nodes

    def render(self, nodes, dot):
        return self._exec(nodes, dot, {"$": dot})

    def include(self, name, dot):
        if name not in self.defines:
            raise TemplateError(f"no template {name!r}")
        return self._exec(self.defines[name], dot, {"$": dot})

    # -- internals --
    def _exec(self, nodes, dot, scope):
        out = []
        for n in nodes:
            kind = n[0]
            if kind == "text":
                out.append(n[1])
            elif kind == "action":
                v = self._expr(n[1], dot, scope)
                if n[1][0] != "assign":
                    out.append(to_text(v))
            elif kind == "if":
                for cond, body in n[1]:
                    if truthy(self._expr(cond, dot, scope)):
                        out.append(self._exec(body, dot, dict(scope)))
                        break
                else:
                    out.append(self._exec(n[2], dot, dict(scope)))
            elif kind == "with":
                v = self._expr(n[1], dot, scope)
                out.append(self._exec(n[2] if truthy(v) else n[3], v if truthy(v) else dot, dict(scope)))
            elif kind == "range":
                v = self._expr(n[1], dot, scope)
                items = list(v.values()) if isinstance(v, dict) else (v or [])
                if not items:
                    out.append(self._exec(n[3], dot, dict(scope)))
                for item in items:
                    out.append(self._exec(n[2], item, dict(scope)))
            elif kind == "template":
                arg = self._pipeline(n[2], dot, scope) if n[2] else None
                out.append(self.include(n[1], arg))
        return "".join(out)

    def _expr(self, e, dot, scope):
        if e[0] == "assign":
            v = self._pipeline(e[2], dot, scope)
            scope[e[1]] = v
            return v
        return self._pipeline(e[1], dot, scope)

    def _pipeline(self, pipeline, dot, scope):
        val = _NOTHING = object()
        for cmd in pipeline:
            args = [] if val is _NOTHING else [val]
            val = self._command(cmd, dot, scope, args)
        return val

    def _command(self, cmd, dot, scope, piped):
        head_kind, head = cmd[0]
        if head_kind == "ident" and head not in ("true", "false", "nil"):
            if head == "include":
                args = [self._operand(o, dot, scope) for o in cmd[1:]] + piped
                return self.include(args[0], args[1] if len(args) > 1 else None)
            if head not in FUNCS:
                raise TemplateError(f"unsupported function {head!r}")
            args = [self._operand(o, dot, scope) for o in cmd[1:]] + piped
            try:
                return FUNCS[head](*args)
            except TypeError as ex:
                raise TemplateError(f"{head}: {ex}") from ex
        target = self._operand(cmd[0], dot, scope)
        if callable(target):
            return target(*([self._operand(o, dot, scope) for o in cmd[1:]] + piped))
        if len(cmd) > 1 or piped:
            raise TemplateError(f"{head!r} is not a function")
        return target

    def _operand(self, op, dot, scope):
        kind, val = op
        if kind == "pipeline":
            return self._pipeline(val, dot, scope)
        if kind == "str":
            return _literal(val)
        if kind == "raw":
            return val[1:-1]
        if kind == "num":
            return float(val) if "." in val else int(val)
        if kind == "ident":
            return {"true": True, "false": False, "nil": None}[val]
        if kind == "field":
            return self._walk(dot, val[1:].split(".") if val != "." else [], val)
        if kind == "var":
            name, _, path = val.partition(".")
            if name not in scope:
                raise TemplateError(f"undefined variable {name}")
            return self._walk(scope[name], path.split(".") if path else [], val)
        raise TemplateError(f"unexpected {val!r}")

    @staticmethod
    def _walk(v, path, text):
        for i, key in enumerate(path):
            if v is None:
                raise TemplateError(f"nil pointer evaluating {text}: no {'.'.join(path[:i])}")
            if isinstance(v, dict):
                v = v.get(key)
            elif hasattr(v, key):
                v = getattr(v, key)
            else:
                raise TemplateError(f"can't evaluate field {key} in {text}")
        return v


def deep_merge(base, override):
    """Helm's coalescing: maps merge, anything else replaces, and null deletes the key."""
    out = dict(base)
    for k, v in (override or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def render_chart(chart_dir, values_override=None, release="phalanx", namespace="phalanx"):
    """Renders every template of a chart. Returns {template path: rendered text}."""
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    values = deep_merge(values, values_override or {})
    dot = {
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": True},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart.get("appVersion", "")},
        "Files": Files(chart_dir),
    }
    r = Renderer()
    templates = sorted((chart_dir / "templates").glob("*"))
    parsed = {}
    for t in templates:
        if t.suffix in (".yaml", ".yml", ".tpl", ".txt"):
            parsed[t] = r.add(t.read_text(), t.name)
    out = {}
    for t, nodes in parsed.items():
        if t.name.startswith("_"):
            continue
        out[str(t.relative_to(chart_dir))] = r.render(nodes, dot)
    return out
