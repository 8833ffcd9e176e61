#include "ops/cpu/cpu_features.h"

#include <algorithm>
#include <cstdlib>

namespace phx::ops::cpu {

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
#if defined(PHX_CPU_X86)
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2");
    f.fma = __builtin_cpu_supports("fma");
    f.f16c = __builtin_cpu_supports("f16c");
    f.avx512f = __builtin_cpu_supports("avx512f");
    f.avx512bw = __builtin_cpu_supports("avx512bw");
    f.avx512vl = __builtin_cpu_supports("avx512vl");
    f.avx512dq = __builtin_cpu_supports("avx512dq");
    f.avx512vnni = __builtin_cpu_supports("avx512vnni");
    f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
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
