#!/usr/bin/env bash
# The one prepared script for the lent GPU machine (tests/gpu/README.md gives the exact device
# call). Run from the repository root with .gpu-assets carried (scripts/build-gpu makes it here:
# binaries, their shared libraries, stories260K and the Llama SPM vocabulary).
#
#   1. nvidia-smi and `ldd | grep 'not found'` first;
#   2. the correctness suites, each in its own process with its own timeout (a crash or a hang
#      ends one suite, not the run): gemm, gemv, attention, fused, family, sampling, engine;
#      the riskiest - the wgmma GEMM and the engine on it - last;
#   3. the benchmarks: kernels in one process, the model-level ones in one more, PyTorch's in a
#      third (every ratio measured in this run);
#   4. compute-sanitizer memcheck on the attention suite if time is left;
#   5. the Markdown report $OUT/gpu-report.md, printed last (the device tool returns the last
#      12,000 characters); everything is also in $OUT/gpu.log.
# `rc=` follows every program. A fixed seed is printed (PHX_GPU_SEED overrides it). The whole run
# keeps to PHX_GPU_BUDGET seconds (default 540): steps that would not fit are reported skipped.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/phx-gpu-out}
mkdir -p "$OUT"
SEED=${PHX_GPU_SEED:-20261117}
BUDGET=${PHX_GPU_BUDGET:-540}
A=${PHX_GPU_ASSETS:-.gpu-assets}
BIN=$A/bin
LOGS=$(mktemp -d)  # per-step logs (only gpu.log and gpu-report.md go back: 8 files at most)
START=$(date +%s)
declare -a ROWS=()  # report rows: name|rc|seconds|pass|fail|skip

elapsed() { echo $(($(date +%s) - START)); }
left() { echo $((BUDGET - $(elapsed))); }

# step NAME MAX_SECONDS CMD...: runs CMD with its output tee'd to $LOGS/NAME.log, under
# `timeout` (MAX_SECONDS or what is left of the budget, less 20 s for the report).
step() {
  local name=$1 max=$2
  shift 2
  local t=$(($(left) - 20))
  ((t > max)) && t=$max
  if ((t < 15)); then
    echo "=== $name: SKIPPED (no time left: $(elapsed) s of $BUDGET used)"
    ROWS+=("$name|skipped|0|0|0|0")
    return
  fi
  echo
  echo "=== $name (timeout ${t}s): $*"
  local t0
  t0=$(date +%s)
  timeout -k 10 "$t" "$@" 2>&1 | tee "$LOGS/$name.log"
  local rc=${PIPESTATUS[0]}
  local secs=$(($(date +%s) - t0))
  echo "rc=$rc ($name, ${secs}s)"
  local pass fail skip
  pass=$(grep -c '^PASS' "$LOGS/$name.log")
  fail=$(grep -c '^FAIL' "$LOGS/$name.log")
  skip=$(grep -c '^SKIP' "$LOGS/$name.log")
  ROWS+=("$name|$rc|$secs|$pass|$fail|$skip")
}

rc_meaning() {
  case $1 in
    0) echo "ok" ;;
    1) echo "checks failed" ;;
    2) echo "aborted (CUDA or launch error, see log)" ;;
    124) echo "TIMEOUT" ;;
    137) echo "killed (timeout -k or out of memory)" ;;
    134) echo "abort (SIGABRT)" ;;
    139) echo "segfault" ;;
    skipped) echo "skipped (time budget)" ;;
    absent) echo "not run (tool absent)" ;;
    *) echo "exit $1" ;;
  esac
}

report() {
  local r=$OUT/gpu-report.md
  {
    echo "# GPU run report"
    echo
    echo "- commit: $(cat "$A/COMMIT" 2>/dev/null || echo unknown); seed $SEED; $(date -u +%FT%TZ)"
    echo "- device: $(nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null | head -1)"
    echo "- driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1); CUDA toolkit there: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo none)"
    echo "- torch: $(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)"
    echo "- total $(elapsed) s of a $BUDGET s budget"
    echo
    echo "| step | rc | meaning | s | PASS | FAIL | SKIP |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    local row name rc secs pass fail skip
    for row in "${ROWS[@]}"; do
      IFS='|' read -r name rc secs pass fail skip <<<"$row"
      echo "| $name | $rc | $(rc_meaning "$rc") | $secs | $pass | $fail | $skip |"
    done
    echo
    echo "## Failures (first lines) and crash tails"
    local any=0
    for row in "${ROWS[@]}"; do
      IFS='|' read -r name rc secs pass fail skip <<<"$row"
      [[ -f $LOGS/$name.log ]] || continue
      if ((fail > 0)); then
        any=1
        echo
        echo "### $name: $fail FAIL"
        echo '```'
        grep '^FAIL' "$LOGS/$name.log" | head -8 | cut -c1-220
        echo '```'
      fi
      if [[ $rc != 0 && $rc != 1 ]]; then
        any=1
        echo
        echo "### $name: rc $rc ($(rc_meaning "$rc")), last lines"
        echo '```'
        tail -6 "$LOGS/$name.log" | cut -c1-220
        echo '```'
      fi
    done
    ((any == 0)) && echo && echo "none"
    echo
    echo "## Benchmarks"
    local table
    table=$(sed -n '/^== Benchmark/,/^$/p' "$LOGS/bench-kernels.log" 2>/dev/null | grep -v '^$' |
      cut -c1-150)
    [[ -n $table ]] && printf '\n```\n%s\n```\n' "$table"
    table=$(grep '^bench [^|]' "$LOGS/bench-model.log" 2>/dev/null | cut -c1-200)
    [[ -n $table ]] && printf '\n```\n%s\n```\n' "$table"
    if [[ -f $LOGS/bench-torch.log ]]; then
      echo
      grep '^|' "$LOGS/bench-torch.log"
    fi
  } >"$r"
  echo
  echo "=================================================================="
  cat "$r"
}

main() {
  echo "== phx GPU run: $(date -u +%FT%TZ), seed $SEED, budget ${BUDGET}s, assets $A"
  grep -v '\.so' "$A/MANIFEST" 2>/dev/null
  echo
  echo "=== nvidia-smi"
  nvidia-smi
  echo "rc=$? (nvidia-smi)"
  echo
  echo "=== ldd (lines 'not found' are missing libraries)"
  local missing=0 b
  for b in "$BIN/phx_gpu_kernels" "$BIN/phx_gpu_engine"; do
    if [[ ! -x $b ]]; then
      echo "missing $b: run scripts/build-gpu here and carry $A"
      missing=1
      continue
    fi
    if ldd "$b" | grep 'not found'; then missing=1; fi
  done
  if ((missing)); then
    # cuBLAS from PyTorch's wheels (nvidia-cublas) when /usr/local/cuda has none.
    local sites so
    sites=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
    so=$(find $sites /usr/local/cuda* -name 'libcublas.so.13*' 2>/dev/null | head -1)
    [[ -n $so ]] && export LD_LIBRARY_PATH="$(dirname "$so")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "retry with LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    for b in "$BIN/phx_gpu_kernels" "$BIN/phx_gpu_engine"; do [[ -x $b ]] && ldd "$b" | grep 'not found'; done
  fi
  echo "rc=$missing (ldd)"
  local sanitizer
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  echo "compute-sanitizer: ${sanitizer:-absent}"

  local K=("$BIN/phx_gpu_kernels" --seed "$SEED")
  local E=("$BIN/phx_gpu_engine" --assets "$A" --tmp "${TMPDIR:-/tmp}")
  step gemm 90 "${K[@]}" --only gemm
  step gemv 90 "${K[@]}" --only gemv
  step attention 120 "${K[@]}" --only attention
  step fused 60 "${K[@]}" --only fused
  step family 60 "${K[@]}" --only family
  step sampling 60 "${K[@]}" --only sampling
  step engine 200 "${E[@]}" --no-wgmma \
    --models stories260K,synth-f16-hd64,synth-f32-hd64,synth-q8_0-hd64,synth-q4_K-hd64,synth-bf16-hd128,synth-Q4_K_M-hd64,synth-Q5_K_M-hd64,synth-Q3_K_M-hd64,synth-q5_0-hd64,synth-iq4_xs-hd64,synth-mxfp4-hd64
  step engine-family 90 "${E[@]}" --no-wgmma \
    --models synth-qwen3-f16-hd128,synth-gemma2-f16-hd64,synth-qwen3moe-q8_0-hd64
  step wgmma 90 "${K[@]}" --only wgmma
  local wgmma_ok=0 row
  for row in "${ROWS[@]}"; do [[ $row == wgmma\|0\|* ]] && wgmma_ok=1; done
  if ((wgmma_ok)); then
    step engine-wgmma 90 "${E[@]}" --models synth-bf16-hd128,synth-q8_0-hd64
  fi

  local suites=gemm,gemv,attention,fused,sampling
  ((wgmma_ok)) && suites=$suites,wgmma
  local no_wgmma=()
  ((wgmma_ok)) || no_wgmma=(--no-wgmma)
  step bench-kernels 100 "${K[@]}" --no-check --bench --only "$suites"
  step bench-model 200 "${E[@]}" --bench "${no_wgmma[@]}" ${PHX_GPU_BENCH_ARGS:-}
  if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    step bench-torch 120 env PYTHONUNBUFFERED=1 python3 tests/gpu/torch_ref.py \
      "$LOGS/bench-kernels.log" "$LOGS/bench-model.log"
  else
    echo "=== bench-torch: not run (no python3 with a CUDA torch)"
    ROWS+=("bench-torch|absent|0|0|0|0")
  fi
  if [[ -n $sanitizer ]]; then
    step memcheck-attention 120 "$sanitizer" --tool memcheck --error-exitcode 3 \
      "${K[@]}" --only attention
  else
    ROWS+=("memcheck-attention|absent|0|0|0|0")
  fi
  report
  for row in "${ROWS[@]}"; do
    IFS='|' read -r _ rc _ _ fail _ <<<"$row"
    [[ $rc == 0 || $rc == skipped || $rc == absent ]] && ((fail == 0)) || return 1
  done
  return 0
}

main 2>&1 | tee "$OUT/gpu.log"
exit "${PIPESTATUS[0]}"
