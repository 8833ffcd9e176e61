// head_dim/dtype dispatch of the attention launchers (host compiler; the kernels are in .cu files).
#include "kernels/attention.h"
#include "kernels/dispatch.h"

namespace phx::kernels {

cudaError_t LaunchPagedDecode(const PagedDecodeParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidatePagedDecode(p); e != cudaSuccess) return e;
  if (p.num_work == 0) return cudaSuccess;
  cudaError_t e = DispatchHeadDim(p.kv.head_dim, [&](auto hd) {
    return DispatchKvType(p.kv.dtype, [&](auto kv) {
      constexpr int kHd = decltype(hd)::value;
      constexpr DType kKv = decltype(kv)::value;
      if (p.softcap > 0.f || p.window > 0) {
        return p.f32_io ? RunPagedDecode<kHd, kKv, true, true>(p, stream)
                        : RunPagedDecode<kHd, kKv, false, true>(p, stream);
      }
      return p.f32_io ? RunPagedDecode<kHd, kKv, true, false>(p, stream)
                      : RunPagedDecode<kHd, kKv, false, false>(p, stream);
    });
  });
  if (e != cudaSuccess || p.num_merge == 0) return e;
  return DispatchKvType(p.kv.dtype, [&](auto kv) {
    constexpr DType kKv = decltype(kv)::value;
    return p.f32_io ? RunDecodeMerge<kKv, true>(p, stream) : RunDecodeMerge<kKv, false>(p, stream);
  });
}

cudaError_t LaunchPagedPrefill(const PagedPrefillParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidatePagedPrefill(p); e != cudaSuccess) return e;
  if (p.num_tiles == 0) return cudaSuccess;
  return DispatchHeadDim(p.kv.head_dim, [&](auto hd) {
    return DispatchKvType(p.kv.dtype, [&](auto kv) {
      constexpr int kHd = decltype(hd)::value;
      constexpr DType kKv = decltype(kv)::value;
      return p.softcap > 0.f || p.window > 0 ? RunPagedPrefill<kHd, kKv, true>(p, stream)
                                             : RunPagedPrefill<kHd, kKv, false>(p, stream);
    });
  });
}

}  // namespace phx::kernels
