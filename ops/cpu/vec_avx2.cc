// VecKernels for the avx2 level (see vec_impl.h).
#define PHX_ISA_NS avx2
#define PHX_VEC_WIDTH 8
#include "ops/cpu/vec_impl.h"

namespace phx::ops::cpu::avx2 {

VecKernels GetVecKernels() { return MakeVecKernels(); }

}  // namespace phx::ops::cpu::avx2
