#!/usr/bin/env bash
# The CPU backend's per-ISA files (compiled with -mavx2 / -mavx512*, ops/cpu/CMakeLists.txt) must
# not define code that other files define too (a weak, COMDAT function: an inline function or a
# template instance outside their own ISA namespace). The linker keeps one copy of such a symbol
# for the whole program, and if it keeps the AVX-512 file's, the scalar and AVX2 levels run
# AVX-512 instructions on CPUs without them. Allowed: phx::ops::cpu::avx2:: and ::avx512::.
#   tests/unit/isa_symbols_test.sh NM OBJECT...   (the objects of phx_ops_cpu; others are skipped)
set -euo pipefail
nm_tool=$1
shift
checked=0
bad=0
for o in "$@"; do
  case $(basename "$o") in
    *avx2*.o | *avx512*.o) ;;
    *) continue ;;
  esac
  checked=$((checked + 1))
  # Weak functions (W; weak objects, V and u, are data: the same bytes in every file), mangled;
  # ISA-namespace entities and their local entities (lambdas: _ZZ...) pass.
  while read -r sym; do
    [[ $sym =~ ^_ZZ?NK?3phx3ops3cpu(4avx2|6avx512) ]] && continue
    echo "isa_symbols_test: $(basename "$o") defines the shared function $(c++filt "$sym")" >&2
    bad=$((bad + 1))
  done < <("$nm_tool" --defined-only "$o" | awk '$2 == "W" { print $3 }')
done
if [ "$checked" -eq 0 ]; then
  echo "isa_symbols_test: no AVX2/AVX-512 objects among the arguments" >&2
  exit 1
fi
if [ "$bad" -gt 0 ]; then
  echo "isa_symbols_test: FAIL ($bad shared functions in $checked ISA objects)" >&2
  exit 1
fi
echo "isa_symbols_test: PASS ($checked ISA objects define no shared function)"
