#!/usr/bin/python3
"""Reference renderer for the chat-template tests: Debian's python3-jinja2 configured exactly as
Hugging Face transformers' apply_chat_template configures it (chat_template_utils.py:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker,
jinja2.ext.loopcontrols]), its tojson filter and its raise_exception and strftime_now globals).

Reads {"now": "YYYY-MM-DDTHH:MM:SS", "cases": [{"template": str, "vars": {...}}, ...]} on stdin
and writes {"results": [...]} on stdout, one per case, in order:
  {"ok": true, "text": "<rendered>"} or
  {"ok": false, "kind": "<exception class>", "message": "<str(exception)>"}.
`now` pins the clock strftime_now reads (the C++ test pins the engine's clock to the same time).
Run with /usr/bin/python3 (Debian's jinja2), not a pyenv python.
"""
import datetime
import json
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(Extension):
    # transformers' {% generation %} tag: a call block that renders its body.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def make_env(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return now.strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(template, variables, now):
    """One render, as apply_chat_template would do it: ("ok", text) or (exception class, message)."""
    env = make_env(now)
    try:
        return "ok", env.from_string(template).render(**variables)
    except Exception as e:
        return type(e).__name__, str(e)


def main():
    req = json.load(sys.stdin)
    now = datetime.datetime.fromisoformat(req.get("now", "2024-07-26T12:00:00"))
    env = make_env(now)
    compiled = {}
    results = []
    for case in req["cases"]:
        try:
            src = case["template"]
            if src not in compiled:
                compiled[src] = env.from_string(src)
            text = compiled[src].render(**case["vars"])
            results.append({"ok": True, "text": text})
        except Exception as e:  # every failure is reported, with its class
            results.append({"ok": False, "kind": type(e).__name__, "message": str(e)})
    json.dump({"results": results}, sys.stdout, ensure_ascii=True)


if __name__ == "__main__":
    main()
