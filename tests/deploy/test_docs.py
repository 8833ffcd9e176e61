#!/usr/bin/python3
"""Structural tests of the operations documentation (run by tests/deploy/check.sh): the canary
criteria kept identical in docs/operations.md and deploy/helm/phalanx/README.md, and the
sections, flags and paths of docs/operations.md.

    /usr/bin/python3 -m unittest discover -s tests/deploy -p 'test_*.py' -v
"""
import re
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from manifest_lib import (  # noqa: E402
    ALL_SERVE_FLAGS, CHART, RECORDED, ROOT, server_flag_mentions)


class TestDocs(unittest.TestCase):
    def criteria(self, path):
        text = path.read_text()
        m = re.search(r"<!-- canary-criteria:begin.*?<!-- canary-criteria:end -->", text, re.S)
        self.assertIsNotNone(m, f"{path}: canary criteria block missing")
        return m.group(0)

    def test_canary_criteria(self):
        ops = self.criteria(ROOT / "docs/operations.md")
        self.assertEqual(ops, self.criteria(CHART / "README.md"), "criteria differ between the two documents")
        for rec in re.findall(r"`(job:[a-z_:0-9]+)", ops):
            self.assertIn(rec, RECORDED, rec)
        for word in ("error ratio", "TTFT p99", "goodput ratio", "30 minutes"):
            self.assertIn(word, ops)

    def test_operations_sections(self):
        text = (ROOT / "docs/operations.md").read_text()
        for h in ("## 1. Prepare", "## 2. Deploy", "## 3. Tune", "## 4. Validate", "## 5. Canary",
                  "## 6. Full rollout and drain", "## 7. Monitor", "## 8. Backup and restore", "## 9. Logs",
                  "## 10. Capacity planning", "## Drill results"):
            self.assertIn(h, text)
        drill = text.split("## Drill results", 1)[1]
        # The full drill's printed table: every scenario, each meeting its goals.
        for scenario in ("(baseline)", "(a) kill", "(b) drain", "(c) rolling", "(d) canary"):
            rows = [l for l in drill.splitlines() if l.startswith(f"| {scenario}")]
            self.assertEqual(len(rows), 1, f"drill table row for {scenario}")
            self.assertTrue(rows[0].rstrip().endswith("| pass |"), rows[0])
        for flag in server_flag_mentions(text):
            self.assertIn(flag, ALL_SERVE_FLAGS, f"docs/operations.md: {flag}")
        for path in re.findall(r"`(deploy/[A-Za-z0-9_./-]+)`", text):
            if "{" in path or "<" in path:
                continue
            self.assertTrue((ROOT / path).exists(), f"docs/operations.md names {path}")


if __name__ == "__main__":
    unittest.main()
