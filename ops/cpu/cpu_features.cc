#include "ops/cpu/cpu_features.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#if defined(PHX_CPU_X86)
#include <cpuid.h>
#endif

namespace phx::ops::cpu {

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
#if defined(PHX_CPU_X86)
    // cpuid directly (GCC's and clang's __builtin_cpu_supports know different feature names),
    // plus XGETBV: the OS must save the YMM/ZMM state for AVX/AVX-512 to be usable.
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
      const bool osxsave = (c >> 27) & 1;
      uint64_t xcr0 = 0;
      if (osxsave) {
        uint32_t lo = 0, hi = 0;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
      }
      const bool ymm = (xcr0 & 0x6) == 0x6;
      const bool zmm = ymm && (xcr0 & 0xE0) == 0xE0;
      const bool avx = ymm && ((c >> 28) & 1);
      f.fma = avx && ((c >> 12) & 1);
      f.f16c = avx && ((c >> 29) & 1);
      if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.avx2 = avx && ((b >> 5) & 1);
        f.avx512f = zmm && ((b >> 16) & 1);
        f.avx512dq = zmm && ((b >> 17) & 1);
        f.avx512bw = zmm && ((b >> 30) & 1);
        f.avx512vl = zmm && ((b >> 31) & 1);
        f.avx512vnni = zmm && ((c >> 11) & 1);
      }
      if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512bf16 = zmm && ((a >> 5) & 1);
    }
#endif
    return f;
  }();
  return features;
}

IsaLevel BestIsa() {
  const CpuFeatures& f = GetCpuFeatures();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  if (avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni) {
    return IsaLevel::kAvx512;
  }
  return avx2 ? IsaLevel::kAvx2 : IsaLevel::kScalar;
}

std::string_view IsaName(IsaLevel isa) {
  switch (isa) {
    case IsaLevel::kScalar:
      return "scalar";
    case IsaLevel::kAvx2:
      return "avx2";
    case IsaLevel::kAvx512:
      return "avx512";
  }
  return "?";
}

std::optional<IsaLevel> ParseIsa(std::string_view name) {
  for (IsaLevel l : {IsaLevel::kScalar, IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    if (name == IsaName(l)) return l;
  }
  return std::nullopt;
}

IsaLevel IsaFromEnv() {
  const char* env = std::getenv("PHX_CPU_ISA");
  const IsaLevel best = BestIsa();
  if (env == nullptr) return best;
  const auto parsed = ParseIsa(env);
  if (!parsed) return best;
  return std::min(*parsed, best);
}

}  // namespace phx::ops::cpu
