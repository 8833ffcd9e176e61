// Host-side argument checks of the attention launchers (no device access, unit-tested).
#include <cmath>
#include <cstdint>

#include "kernels/attention.h"
#include "kernels/dispatch.h"
#include "kernels/error.h"

namespace phx::kernels {
namespace {

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

cudaError_t ValidateCommon(const char* op, const void* q, int64_t q_stride, const void* out,
                           int64_t out_stride, const PagedKvCache& kv, int32_t n_heads,
                           const int32_t* kv_indptr, const int32_t* kv_indices) {
  if (kv.head_dim != 64 && kv.head_dim != 128) {
    return InvalidArgument("%s: head_dim %d is not supported (supported: 64, 128)", op,
                           kv.head_dim);
  }
  if (kv.dtype != DType::kF16 && kv.dtype != DType::kBF16) {
    return InvalidArgument("%s: kv cache dtype %s is not supported (supported: f16, bf16)", op,
                           KernelTypeName(kv.dtype));
  }
  if (kv.n_kv_heads <= 0 || n_heads <= 0 || n_heads % kv.n_kv_heads != 0) {
    return InvalidArgument("%s: n_heads %d is not a positive multiple of n_kv_heads %d", op,
                           n_heads, kv.n_kv_heads);
  }
  if (kv.n_kv_heads > 65535) return InvalidArgument("%s: n_kv_heads %d", op, kv.n_kv_heads);
  if (kv.block_size <= 0) return InvalidArgument("%s: block_size %d", op, kv.block_size);
  if (q == nullptr || out == nullptr || kv.k == nullptr || kv.v == nullptr ||
      kv_indptr == nullptr || kv_indices == nullptr) {
    return InvalidArgument("%s: null pointer argument", op);
  }
  if (!Aligned16(q) || !Aligned16(out) || !Aligned16(kv.k) || !Aligned16(kv.v)) {
    return InvalidArgument("%s: q, out and the cache must be 16-byte aligned", op);
  }
  const int64_t width = static_cast<int64_t>(n_heads) * kv.head_dim;
  if (q_stride < width || q_stride % 8 != 0 || out_stride < width || out_stride % 8 != 0) {
    return InvalidArgument(
        "%s: row strides (q %lld, out %lld) must be multiples of 8 and at "
        "least n_heads * head_dim = %lld",
        op, static_cast<long long>(q_stride), static_cast<long long>(out_stride),
        static_cast<long long>(width));
  }
  return cudaSuccess;
}

cudaError_t ValidateOptions(const char* op, float softcap, int32_t window) {
  if (!(softcap >= 0.f) || !std::isfinite(softcap)) {
    return InvalidArgument("%s: softcap %g must be 0 (off) or positive and finite", op, softcap);
  }
  if (window < 0) return InvalidArgument("%s: window %d must be 0 (off) or positive", op, window);
  return cudaSuccess;
}

}  // namespace

cudaError_t ValidatePagedDecode(const PagedDecodeParams& p) {
  if (cudaError_t e = ValidateCommon("paged decode", p.q, p.q_stride, p.out, p.out_stride, p.kv,
                                     p.n_heads, p.kv_indptr, p.kv_indices);
      e != cudaSuccess) {
    return e;
  }
  if (cudaError_t e = ValidateOptions("paged decode", p.softcap, p.window); e != cudaSuccess) {
    return e;
  }
  if (p.num_work < 0 || p.num_merge < 0 || p.num_partials < 0) {
    return InvalidArgument("paged decode: negative item count");
  }
  if (p.num_work > 0 && p.work == nullptr) return InvalidArgument("paged decode: null work");
  if (p.num_merge > 0 && (p.merge == nullptr || p.num_partials == 0)) {
    return InvalidArgument("paged decode: %d merge items without partials", p.num_merge);
  }
  if (p.num_partials > 0 && (p.partial_out == nullptr || p.partial_lse == nullptr)) {
    return InvalidArgument("paged decode: %d partials but no workspace", p.num_partials);
  }
  return cudaSuccess;
}

cudaError_t ValidatePagedPrefill(const PagedPrefillParams& p) {
  if (cudaError_t e = ValidateCommon("paged prefill", p.q, p.q_stride, p.out, p.out_stride, p.kv,
                                     p.n_heads, p.kv_indptr, p.kv_indices);
      e != cudaSuccess) {
    return e;
  }
  if (cudaError_t e = ValidateOptions("paged prefill", p.softcap, p.window); e != cudaSuccess) {
    return e;
  }
  if (p.num_tiles < 0 || (p.num_tiles > 0 && p.tiles == nullptr)) {
    return InvalidArgument("paged prefill: %d tiles, tiles %s", p.num_tiles,
                           p.tiles == nullptr ? "null" : "set");
  }
  return cudaSuccess;
}

}  // namespace phx::kernels
