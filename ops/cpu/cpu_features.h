// Run-time CPU feature detection and the SIMD level the CPU backend dispatches to.
#pragma once

#include <optional>
#include <string_view>

namespace phx::ops::cpu {

// Kernel sets, lowest first. kAvx512 needs AVX-512 F/BW/VL/DQ/VNNI (plus AVX2/FMA/F16C);
// kAvx2 needs AVX2/FMA/F16C. kScalar is portable C++.
enum class IsaLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx512bf16 = false;
};

// Detected once (cpuid via __builtin_cpu_supports); all false on non-x86 builds.
const CpuFeatures& GetCpuFeatures();
// The best level this CPU and this build support.
IsaLevel BestIsa();
std::string_view IsaName(IsaLevel isa);
std::optional<IsaLevel> ParseIsa(std::string_view name);  // "scalar", "avx2", "avx512"
// PHX_CPU_ISA from the environment capped at BestIsa(); BestIsa() when unset or unparsable.
IsaLevel IsaFromEnv();

}  // namespace phx::ops::cpu
