#!/usr/bin/python3
"""CLI test for `phalanx model render-chat`: for every template in ../shared/templates and a few
requests, the bytes on stdout equal what the Python reference (jinja_ref.py: Jinja2 configured as
transformers configures it) renders for the same variables; a template that raises makes the
command exit 1 with the template's message on stderr; with --model, the vocabulary's BOS/EOS
texts fill in bos_token/eos_token only where the request has none; --ids keeps user text out of
control tokens.
    /usr/bin/python3 tests/chat/render_chat_test.py BUILD/bin/phalanx
"""
import datetime
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jinja_ref  # noqa: E402

PHALANX = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared")
NOW = "2024-07-26T12:00:00"
failures = []


def run(args):
    return subprocess.run([PHALANX, "model", "render-chat"] + args, capture_output=True)


def check(name, cond, detail=""):
    if not cond:
        failures.append(f"{name}: {detail}")


conv = json.load(open(os.path.join(ROOT, "tests/chat/conversations.json")))
requests = {
    "multi_turn": {"messages": conv["conversations"]["multi_turn"], "add_generation_prompt": True,
                   "bos_token": "<s>", "eos_token": "</s>"},
    "tools": {"messages": conv["conversations"]["tool_calls"], "tools": conv["simple_tools"],
              "add_generation_prompt": False, "bos_token": "<B>", "eos_token": "<E>",
              "enable_thinking": False, "custom_key": [1, "x"]},
    "unicode": {"messages": conv["conversations"]["unicode"], "add_generation_prompt": True,
                "bos_token": "", "eos_token": ""},
}
now = datetime.datetime.fromisoformat(NOW)
with tempfile.TemporaryDirectory() as tmp:
    files = {}
    for rname, req in requests.items():
        files[rname] = os.path.join(tmp, rname + ".json")
        with open(files[rname], "w") as f:
            json.dump(req, f, ensure_ascii=False)
    templates = sorted(glob.glob(os.path.join(SHARED, "templates", "*.jinja")))
    check("templates", len(templates) >= 20, len(templates))
    rendered = 0
    for t in templates:
        src = open(t, encoding="utf-8").read()
        for rname, req in requests.items():
            kind, want = jinja_ref.render(src, req, now)
            got = run(["--template", t, "--request", files[rname], "--now", NOW])
            name = f"{os.path.basename(t)} / {rname}"
            if kind == "ok":
                rendered += 1
                check(name, got.returncode == 0 and got.stdout == want.encode("utf-8"),
                      f"rc={got.returncode} stderr={got.stderr[:300]!r}\n  want {want[:300]!r}\n  got  {got.stdout[:300]!r}")
            elif kind == "TemplateError":
                check(name, got.returncode == 1 and got.stdout == b""
                      and got.stderr == (want + "\n").encode("utf-8"),
                      f"raise: rc={got.returncode} stderr={got.stderr!r} want {want!r}")
            else:
                check(name, got.returncode == 1, f"python raised {kind}; rc={got.returncode}")
    check("rendered", rendered >= 30, rendered)

    # --model: the model's own template, and its BOS/EOS texts where the request has none.
    qwen = os.path.join(SHARED, "vocab/hf/ggml-vocab-qwen3.gguf")
    llama = os.path.join(SHARED, "vocab/hf/ggml-vocab-llama3.gguf")
    bare = os.path.join(tmp, "bare.json")
    with open(bare, "w") as f:
        json.dump({"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": True}, f)
    got = run(["--model", llama, "--request", bare, "--now", NOW])
    check("llama3 bos", got.returncode == 0 and got.stdout.startswith(b"<|begin_of_text|><|start_header_id|>system"),
          got.stdout[:80])
    got = run(["--model", llama, "--request", files["tools"], "--now", NOW])
    check("request bos wins", got.returncode == 0 and got.stdout.startswith(b"<B><|start_header_id|>"), got.stdout[:40])
    got = run(["--model", qwen, "--request", bare])
    check("qwen3 model template", got.stdout == b"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", got.stdout)
    # --template overrides the model's; built-in names work.
    got = run(["--model", qwen, "--template", "llama3", "--request", bare])
    check("builtin override", got.stdout == b"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
          b"<|start_header_id|>assistant<|end_header_id|>\n\n", got.stdout)
    # --ids: the user's "<|im_start|>" is text.
    inj = os.path.join(tmp, "inj.json")
    with open(inj, "w") as f:
        json.dump({"messages": [{"role": "user", "content": "<|im_start|>"}], "add_generation_prompt": True}, f)
    got = run(["--model", qwen, "--request", inj, "--ids"])
    ids = got.stdout.split()
    check("ids", got.returncode == 0 and ids.count(b"151644") == 2, got.stdout)
    # Errors: no template source, unreadable request, not an object, unknown name.
    check("no source", run(["--request", bare]).returncode == 1)
    check("no request", run(["--template", "chatml", "--request", os.path.join(tmp, "none.json")]).returncode == 1)
    arr = os.path.join(tmp, "arr.json")
    with open(arr, "w") as f:
        f.write("[1]")
    check("array request", run(["--template", "chatml", "--request", arr]).returncode == 1)
    bad = run(["--template", "no-such-template", "--request", bare])
    check("bad name", bad.returncode == 1 and b"chatml" in bad.stderr, bad.stderr)

if failures:
    print("\n".join(failures))
    print(f"{len(failures)} failures")
    sys.exit(1)
print("render-chat: all checks passed")
