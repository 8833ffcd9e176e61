// head_dim/dtype dispatch of the attention launchers (host compiler; the kernels are in .cu files).
#include "kernels/attention.h"
#include "kernels/dispatch.h"

namespace phx::kernels {

cudaError_t LaunchPagedDecode(const PagedDecodeParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidatePagedDecode(p); e != cudaSuccess) return e;
  if (p.num_work == 0) return cudaSuccess;
  cudaError_t e = DispatchHeadDim(p.kv.head_dim, [&](auto hd) {
    return DispatchKvType(p.kv.dtype, [&](auto kv) {
      return RunPagedDecode<decltype(hd)::value, decltype(kv)::value>(p, stream);
    });
  });
  if (e != cudaSuccess || p.num_merge == 0) return e;
  return DispatchKvType(p.kv.dtype,
                        [&](auto kv) { return RunDecodeMerge<decltype(kv)::value>(p, stream); });
}

cudaError_t LaunchPagedPrefill(const PagedPrefillParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidatePagedPrefill(p); e != cudaSuccess) return e;
  if (p.num_tiles == 0) return cudaSuccess;
  return DispatchHeadDim(p.kv.head_dim, [&](auto hd) {
    return DispatchKvType(p.kv.dtype, [&](auto kv) {
      return RunPagedPrefill<decltype(hd)::value, decltype(kv)::value>(p, stream);
    });
  });
}

}  // namespace phx::kernels
