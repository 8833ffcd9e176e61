// VecKernels for the scalar level (see vec_impl.h).
#define PHX_ISA_NS scalar
#define PHX_VEC_WIDTH 4
#include "ops/cpu/vec_impl.h"

namespace phx::ops::cpu::scalar {

VecKernels GetVecKernels() { return MakeVecKernels(); }

}  // namespace phx::ops::cpu::scalar
