#!/usr/bin/python3
"""Structural tests of the container image (deploy/container/Dockerfile and its .dockerignore;
Docker is not available here), run by tests/deploy/check.sh: stages, packages, COPY sources,
the non-root runtime user, and ENTRYPOINT + CMD against docs/configuration.md.

    /usr/bin/python3 -m unittest discover -s tests/deploy -p 'test_*.py' -v
"""
import json
import re
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from manifest_lib import (  # noqa: E402
    DEFAULT_PORTS, DEPLOY, FLAGS, ROOT, args_map)


class TestDockerfile(unittest.TestCase):
    def instructions(self):
        text = (DEPLOY / "container/Dockerfile").read_text()
        text = re.sub(r"\\\n", " ", text)
        out = []
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            word, _, rest = s.partition(" ")
            out.append((word.upper(), rest.strip()))
        return out

    def test_dockerfile(self):
        ins = self.instructions()
        stages, copies, runs = [], [], {}
        for word, rest in ins:
            if word == "FROM":
                parts = rest.split()
                stages.append(parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None)
                runs[stages[-1]] = []
            elif word == "RUN":
                runs[stages[-1]].append(rest)
            elif word == "COPY":
                copies.append((stages[-1], rest))
        self.assertEqual(stages, ["build", "runtime"])
        args = {r.split("=")[0]: r.split("=", 1)[1] for w, r in ins if w == "ARG" and "=" in r}
        self.assertRegex(args["DEBIAN_IMAGE"], r"^debian:12(\.\d+)?$")
        self.assertRegex(args["DEBIAN_SLIM_IMAGE"], r"^debian:12(\.\d+)?-slim$")
        build_runs = " ".join(runs["build"])
        self.assertIn("cmake -S . -B build -G Ninja", build_runs)
        self.assertIn("ninja -C build phalanx", build_runs)
        self.assertIn("cuda-toolkit-", build_runs)
        deps = (ROOT / "scripts/install-deps").read_text()
        pkgs = re.search(r'PKGS="(.*?)"', deps, re.S).group(1).replace("\\\n", " ").split()
        for pkg in re.findall(r"\b(lib[a-z0-9+.-]+-dev|protobuf-compiler(?:-grpc)?|grpc-proto|prometheus-cpp-dev|nlohmann-json3-dev)\b", build_runs):
            self.assertIn(pkg, pkgs, f"{pkg} is not a package of scripts/install-deps")
        for stage, rest in copies:
            parts = rest.split()
            frm = [p for p in parts if p.startswith("--from=")]
            srcs = [p for p in parts if not p.startswith("--")][:-1]
            self.assertTrue(srcs, rest)
            for src in srcs:
                if frm:
                    origin = frm[0].split("=", 1)[1]
                    self.assertIn(origin, stages[:stages.index(stage)], f"COPY --from={origin} must name an earlier stage")
                    produced = " ".join(runs[origin]) + " " + " ".join(r for s, r in copies if s == origin)
                    leaf = Path(src).name
                    self.assertIn(leaf, produced, f"{src} is not produced in stage {origin}")
                    if src.startswith("/src/build/"):
                        self.assertIn("/src", [r for w, r in ins if w == "WORKDIR"])
                else:
                    self.assertTrue((ROOT / src).exists(), f"COPY source {src} is not in the repository")
                    self.assertFalse(src.endswith(".gguf"), "models are mounted, never copied")
        runtime = ins[[i for i, (w, r) in enumerate(ins) if w == "FROM"][1]:]
        users = [r for w, r in runtime if w == "USER"]
        self.assertTrue(users)
        uid = users[-1].split(":")[0]
        self.assertNotIn(uid, ("0", "root"), "the runtime user must not be root")
        entry = [json.loads(r) for w, r in runtime if w == "ENTRYPOINT"]
        self.assertEqual(entry, [["phalanx"]])
        cmd = json.loads([r for w, r in runtime if w == "CMD"][-1])
        self.assertEqual(cmd[0], "serve")
        a = args_map(cmd)
        for flag in a:
            self.assertIn(flag, FLAGS)
        self.assertEqual(a["--model"], "/models/model.gguf")
        self.assertEqual(int(a["--grpc-port"]), DEFAULT_PORTS["grpc"])
        self.assertEqual(int(a["--http-port"]), DEFAULT_PORTS["http"])
        exposed = {int(p) for w, r in runtime if w == "EXPOSE" for p in r.split()}
        self.assertEqual(exposed, set(DEFAULT_PORTS.values()))

    def test_dockerignore(self):
        lines = [l.strip() for l in (DEPLOY / "container/Dockerfile.dockerignore").read_text().splitlines()
                 if l.strip() and not l.startswith("#")]
        self.assertEqual(lines[0], "*", "allow-list: exclude everything first")
        self.assertIn("**/*.gguf", lines)
        allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
        copied = {r.split()[0].rstrip("/") for w, r in self.instructions() if w == "COPY" and "--from" not in r}
        self.assertEqual(copied - allowed, set(), "every COPY source must be let through")


if __name__ == "__main__":
    unittest.main()
