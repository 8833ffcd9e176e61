#!/usr/bin/env bash
# The one script run on the lent GPU machine, from the repository root, with build-gpu/ carried
# (built here by scripts/build-gpu). Correctness of every kernel (PASS/FAIL lines), the benchmark
# table, then PyTorch comparisons when torch is installed; the short table is printed last.
# Budget: well under 8 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=build-gpu/tests/gpu/phx_gpu_kernels
[[ -x "$bin" ]] || { echo "missing $bin: run scripts/build-gpu and carry build-gpu"; exit 2; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
out=$(mktemp)
timeout 360 "$bin" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  timeout 90 python3 tests/gpu/torch_ref.py "$out" 2>&1 | tee -a "$out.torch" || true
  cat "$out.torch" >> "$out"; rm -f "$out.torch"
else
  echo "torch not available: PyTorch comparisons skipped"
fi
echo
echo "===== summary ====="
grep -E '^FAIL' "$out" || true
sed -n '/^== Benchmark/,/^$/p' "$out"
grep -E '^torch ' "$out" || true
grep -E 'ALL PASS|FAILED:' "$out" || true
rm -f "$out"
exit "$rc"
