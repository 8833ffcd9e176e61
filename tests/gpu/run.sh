#!/usr/bin/env bash
# The one script run on the lent GPU machine, from the repository root, with build-gpu/ carried
# (built here by scripts/build-gpu). The engine-level check of the CUDA backend (phx_gpu_engine),
# then correctness of every kernel (PASS/FAIL lines), the benchmark
# table, then PyTorch comparisons when torch is installed; the short table is printed last.
# Budget: well under 8 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=build-gpu/tests/gpu/phx_gpu_kernels
[[ -x "$bin" ]] || { echo "missing $bin: run scripts/build-gpu and carry build-gpu/tests/gpu"; exit 2; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
out=$(mktemp)
# The engine-level check first (CUDA backend vs CPU backend through the runtime; tiny models, well under a minute).
engine_bin=build-gpu/tests/gpu/phx_gpu_engine
engine_rc=0
model_dir=""
for d in shared/models ../shared/models; do
  [[ -f "$d/stories260K.gguf" ]] && { model_dir=$d; break; }
done
if [[ -x "$engine_bin" && -n "$model_dir" ]]; then
  LD_LIBRARY_PATH="$(dirname "$engine_bin")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    timeout 60 "$engine_bin" --model-dir "$model_dir" 2>&1 | tee "$out"
  engine_rc=${PIPESTATUS[0]}
elif [[ -x "$engine_bin" ]]; then
  echo "FAIL engine: stories260K.gguf not found in shared/models or ../shared/models" | tee "$out"
  engine_rc=2
else
  echo "missing $engine_bin: engine check skipped" | tee "$out"
  engine_rc=2
fi
timeout 360 "$bin" 2>&1 | tee -a "$out"
rc=${PIPESTATUS[0]}
[[ $rc -eq 0 ]] && rc=$engine_rc
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
grep -E '^SKIP' "$out" || true
grep -E 'ALL PASS|FAILED:' "$out" || true
rm -f "$out"
exit "$rc"
