#!/usr/bin/env bash
# Phalanx vs llama.cpp (node-llama-cpp 3.21.1, CPU) on the same GGUF files in one run: prefill P
# and decode G tokens, median of RUNS runs each after a warm-up; only the token loops are timed,
# not model loading. Phalanx runs with THREADS threads; llama.cpp runs with 1 and with 2 threads
# and each phase is compared with its better figure (on a 2-vCPU VM, 2 llama.cpp threads are
# often slower than 1). The machine's read bandwidth (bench/membw.cc, 1 GiB buffer) is measured
# in the same run: at 1 and 2 threads at the start, and at THREADS threads right before and
# right after each model's Phalanx run; each decode row shows its weight traffic (the bytes of
# every matrix a token reads, times tokens/s) as a share of the larger of the two readings
# around it (on a shared VM the bandwidth moves by up to 2x within minutes, so one reading at
# the start says little about a row measured 20 minutes later; the larger reading, because
# other tenants can only take bandwidth away). Meaningful where the weights do not fit in the
# last-level cache; there only the ratio counts. Goals (issue 28, ~1B-class rows): prefill >=
# 1.5x llama.cpp, decode >= the larger of 1.1x llama.cpp and 85% of the read bandwidth. Prints
# one line per model, a Markdown table, and writes the table between the markers in
# docs/benchmarks.md (DOCS=0: don't).
#
#   bench/cpu_vs_llamacpp/run.sh [BUILD_DIR]
#   env: THREADS=2 P=128 G=64 RUNS=3 MODELS="llama1b-Q4_K_M ..." (scripts/synth-models names,
#        or paths to .gguf files) DOCS=1
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
threads=${THREADS:-2}
P=${P:-128}
G=${G:-64}
runs=${RUNS:-3}
# One entry per model: a scripts/synth-models name (SHAPE-TYPE) or a .gguf path.
default_models=(
  llama100m-Q4_K_M llama100m-Q5_K_M llama100m-q6_K llama100m-iq4_xs llama100m-q8_0 llama100m-f16
  llama1b-Q4_K_M llama1b-Q5_K_M
  llama1b-q4_0 llama1b-q4_1 llama1b-q5_0 llama1b-q5_1 llama1b-q8_0 llama1b-q2_K llama1b-q3_K
  llama1b-q4_K llama1b-q5_K llama1b-q6_K llama1b-iq4_nl llama1b-iq4_xs llama1b-mxfp4
  llama1b-f16 llama1b-bf16 llama1b-f32
  qwen3moe1b-q8_0
)
read -r -a models <<<"${MODELS:-${default_models[*]}}"
peer_dir=$("$root/scripts/peer-setup")
synth_names=()
for m in "${models[@]}"; do [[ $m == *.gguf ]] || synth_names+=("$m"); done
models_dir=$("$root/scripts/synth-models" "$build" "${synth_names[@]}")
for b in phalanx; do [ -x "$build/bin/$b" ] || { echo "no $build/bin/$b" >&2; exit 1; }; done
membw="$build/bench/membw"
[ -x "$membw" ] || { echo "no $membw (ninja -C $build membw)" >&2; exit 1; }

# The CPU as lscpu names it, with its x86 family and model (AMD family 25: Zen 3/4, 26: Zen 5;
# VMs often give only "AMD EPYC") and whether it has AMX (llama.cpp's prefill uses it there).
cpu="$(lscpu | sed -n 's/^Model name: *//p') (x86 family $(lscpu | sed -n 's/^CPU family: *//p')"
cpu+=", model $(lscpu | sed -n 's/^Model: *//p'); AMX $(grep -qw amx_tile /proc/cpuinfo && echo yes || echo no))"
llc_mib=$(lscpu -B | awk '/^L3 cache:/ {print int($3 / 1048576)}')
bw1=$("$membw" --threads 1 --json | jq -r .read_gb_per_s)
bw2=$("$membw" --threads 2 --json | jq -r .read_gb_per_s)
echo "read bandwidth: $bw1 GB/s (1 thread), $bw2 GB/s (2 threads); LLC ${llc_mib:-?} MiB"

# Bytes of every matrix a decode step reads: all 2-D weights but an untied token_embd (which
# it reads one row of), from `phalanx model inspect`'s tensor table.
weight_bytes() {
  "$build/bin/phalanx" model inspect "$1" | awk '
    BEGIN {
      split("f32:1:4 f16:1:2 bf16:1:2 q4_0:32:18 q4_1:32:20 q5_0:32:22 q5_1:32:24 q8_0:32:34 " \
            "q2_K:256:84 q3_K:256:110 q4_K:256:144 q5_K:256:176 q6_K:256:210 iq4_nl:32:18 " \
            "iq4_xs:256:136 mxfp4:32:17", ts, " ")
      for (i in ts) { split(ts[i], f, ":"); be[f[1]] = f[2]; bb[f[1]] = f[3] }
    }
    /^tensors:/ { t = 1; next }
    t && $1 ~ /^[0-9]+$/ && $4 ~ /,/ { names[$2] = 1; bytes[$2] = $(NF - 1) / be[$3] * bb[$3] }
    END {
      s = 0
      for (n in bytes) if (n != "token_embd.weight" || !("output.weight" in names)) s += bytes[n]
      printf "%.0f", s
    }'
}

rows=()
bw_now() { "$membw" --threads "$threads" --json | jq -r .read_gb_per_s; }
printf '%-18s %8s %10s %10s %10s %7s %8s %7s %s\n' model phase phalanx "llama 1t" "llama 2t" ratio \
  "% bw" "bw GB/s" kernels
for m in "${models[@]}"; do
  f=$m
  [[ $m == *.gguf ]] || f="$models_dir/$m.gguf"
  name=$(basename "$f" .gguf)
  bw_before=$(bw_now)
  ours=$("$build/bin/phalanx" bench --model "$f" --threads "$threads" --prompt-tokens "$P" \
    --gen-tokens "$G" --runs "$runs" --json 2>/dev/null)
  bw_after=$(bw_now)
  bw_row=$(awk -v a="$bw_before" -v b="$bw_after" 'BEGIN { printf "%.1f", (a > b ? a : b) }')
  peer=()
  for t in 1 2; do
    peer+=("$(PHX_PEER_DIR="$peer_dir" node "$root/tests/peer/llama_peer.mjs" --model "$f" --bench \
      --threads "$t" --prompt-tokens "$P" --gen-tokens "$G" --runs "$runs")")
  done
  wb=$(weight_bytes "$f")
  kernels=$(jq -r '.kernels // .backend' <<<"$ours")
  for phase in prefill decode; do
    a=$(jq -r ".${phase}_tokens_per_s" <<<"$ours")
    b1=$(jq -r ".bench.${phase}_tokens_per_second" <<<"${peer[0]}")
    b2=$(jq -r ".bench.${phase}_tokens_per_second" <<<"${peer[1]}")
    read -r r best share < <(awk -v a="$a" -v b1="$b1" -v b2="$b2" -v wb="$wb" -v bw="$bw_row" \
      -v llc="${llc_mib:-0}" -v ph="$phase" 'BEGIN {
        b = b1 > b2 ? b1 : b2
        s = "-"
        if (ph == "decode") s = wb < llc * 1048576 ? "(LLC)" : sprintf("%.0f%%", 100 * a * wb / (bw * 1e9))
        printf "%.2f %.1f %s\n", a / b, b, s }')
    tok=$([ $phase = prefill ] && echo "$P" || echo "$G")
    bwc=$([ $phase = decode ] && echo "$bw_row" || echo -)
    printf '%-18s %8s %10.1f %10.1f %10.1f %7s %8s %7s %s\n' "$name" "$phase" "$a" "$b1" "$b2" "$r" \
      "$share" "$bwc" "$([ $phase = prefill ] && echo "$kernels")"
    rows+=("| $name | $phase $tok | $(printf %.1f "$a") | $(printf %.1f "$b1") | $(printf %.1f "$b2") | $r | $share | $bwc |")
  done
done
table=$(
  echo "| model | phase (tokens) | Phalanx tok/s | llama.cpp 1 thread | llama.cpp 2 threads | Phalanx / best llama.cpp | decode weight traffic / read bandwidth | read bandwidth around the row (GB/s) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Phalanx $threads threads, median of $runs runs after a warm-up; $(nproc) vCPUs: $cpu, LLC" \
    "${llc_mib:-?} MiB; read bandwidth at the start $bw1 GB/s (1 thread), $bw2 GB/s (2" \
    "threads), around each decode row (the larger of the readings at $threads threads right" \
    "before and after Phalanx's run) in the last column;" \
    "$(date -u +%Y-%m-%d). Phalanx kernels: $(jq -r '.kernels // .backend' <<<"$ours" | cut -d';' -f1)" \
    "(the weights PrepareMatmul repacked: Kx16 for Q2_K..Q6_K and IQ4_XS, Q32x16 for the other" \
    "4-5-bit types, Q8x16 for Q8_0, F32/F16/BF16 in 64-row groups on AVX-512)."
)
echo
echo "$table"
if [ "${DOCS:-1}" = 1 ]; then
  doc="$root/docs/benchmarks.md"
  begin='<!-- cpu_vs_llamacpp:begin -->'
  end='<!-- cpu_vs_llamacpp:end -->'
  if grep -q "$begin" "$doc"; then
    tmp=$(mktemp)
    awk -v b="$begin" -v e="$end" -v t="$table" '
      $0 == b { print; print t; skip = 1; next }
      $0 == e { skip = 0 }
      !skip { print }' "$doc" >"$tmp"
    cat "$tmp" >"$doc" && rm -f "$tmp"
    echo "table written to docs/benchmarks.md"
  fi
fi
