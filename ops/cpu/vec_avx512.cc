// VecKernels for the avx512 level (see vec_impl.h).
#define PHX_ISA_NS avx512
#define PHX_VEC_WIDTH 16
#include "ops/cpu/vec_impl.h"

namespace phx::ops::cpu::avx512 {

VecKernels GetVecKernels() { return MakeVecKernels(); }

}  // namespace phx::ops::cpu::avx512
