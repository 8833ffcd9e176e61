// Paged attention launchers (host side). The KV cache is FlashInfer's paged layout: K and V are
// each [num_blocks, block_size, n_kv_heads, head_dim] of one 16-bit type (f16 or bf16), and token
// p of sequence s lives in page kv_indices[kv_indptr[s] + p / block_size] at offset
// p % block_size. Query row j of a sequence with nq new tokens and kv_len cached tokens (the new
// ones included, as the last nq) sits at position kv_len - nq + j and attends causally to
// positions 0..that; query head h reads KV head h / (n_heads / n_kv_heads) (GQA).
// Options (Gemma 2/3): softcap > 0 caps each score to softcap * tanh(q.k * scale / softcap); a
// window w > 0 limits the query at position p to the keys at (p - w, p]. Both run in separate
// instantiations (kExt), so the plain path pays nothing for them.
//
// Work is partitioned on the host (kernels/attention_plan.h) into the item arrays below, which
// the caller copies to the device once per step and reuses for every layer.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/dtype.h"

namespace phx::kernels {

// ---- Plan items (host-built, device-read; plain 16-byte-aligned structs) ------------------
// One CTA of the decode kernel: the tokens [kv_begin, kv_end) of sequence `seq` for one query
// row. partial < 0: the item covers the whole sequence and writes `out` directly; else it writes
// partial result `partial` of the workspace, merged later by a DecodeMergeItem.
struct alignas(16) DecodeWorkItem {
  int32_t q_row;
  int32_t seq;
  int32_t kv_begin;
  int32_t kv_end;
  int32_t partial;
  int32_t kv_len;  // the sequence's length (its query sits at kv_len - 1): the window's anchor
  int32_t pad[2];
};
// Merges the partials [partial_begin, partial_begin + num_partials) into query row q_row.
struct alignas(16) DecodeMergeItem {
  int32_t q_row;
  int32_t partial_begin;
  int32_t num_partials;
  int32_t pad;
};
// One CTA of the prefill kernel: rows [row_begin, row_begin + kPrefillTileRows) of the "packed"
// query rows of sequence `seq` (packed row r = query token r / group, head r % group of the
// KV head's group), whose query tokens are rows [q_begin, q_begin + nq) of q.
struct alignas(16) PrefillTile {
  int32_t seq;
  int32_t q_begin;
  int32_t nq;
  int32_t kv_len;
  int32_t row_begin;
  int32_t pad[3];
};

inline constexpr int kDecodeHeadsPerCta = 4;  // query heads of one KV head handled per CTA
inline constexpr int kPrefillTileRows = 64;   // packed query rows per prefill CTA
inline constexpr int kPrefillTileKv = 64;     // KV tokens per inner prefill step

// ---- The paged cache ----------------------------------------------------------------------
struct PagedKvCache {
  const void* k = nullptr;    // [num_blocks, block_size, n_kv_heads, head_dim], dtype
  const void* v = nullptr;    // [num_blocks, block_size, n_kv_heads, head_dim], dtype
  DType dtype = DType::kF16;  // f16 or bf16
  int32_t num_blocks = 0;
  int32_t block_size = 16;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;  // 64 or 128
};

// ---- Decode (flash-decoding: split the context across CTAs, then merge) ---------------------
// A work item with no tokens (kv_begin >= kv_end: a padding row or an empty split of a fixed
// CUDA-graph plan) contributes nothing: its partial is (0, lse -inf), and a row whose tokens are
// all empty gets an output of exactly 0 (an attention over no keys; never NaN).
struct PagedDecodeParams {
  const void* q = nullptr;  // [rows, n_heads * head_dim] (cache dtype or f32), q_stride apart
  int64_t q_stride = 0;     // elements between query rows (multiple of 8)
  void* out = nullptr;      // [rows, n_heads * head_dim] (cache dtype or f32), out_stride apart
  int64_t out_stride = 0;   // elements between output rows (multiple of 8)
  bool f32_io = false;  // q and out are f32 (the CUDA backend's activations), not the cache type
  PagedKvCache kv;
  int32_t n_heads = 0;
  float scale = 1.f;                     // softmax scale (usually 1/sqrt(head_dim))
  float softcap = 0.f;                   // > 0: scores soft-capped (finite)
  int32_t window = 0;                    // > 0: sliding window
  const int32_t* kv_indptr = nullptr;    // device [num_seqs + 1]
  const int32_t* kv_indices = nullptr;   // device [kv_indptr[num_seqs]]
  const DecodeWorkItem* work = nullptr;  // device [num_work]
  int32_t num_work = 0;
  const DecodeMergeItem* merge = nullptr;  // device [num_merge]
  int32_t num_merge = 0;
  float* partial_out = nullptr;  // workspace [num_partials, n_heads, head_dim] f32
  float* partial_lse = nullptr;  // workspace [num_partials, n_heads] f32 (log2 domain)
  int32_t num_partials = 0;
};

// Host-side argument checks of LaunchPagedDecode (no device access): cudaSuccess or
// cudaErrorInvalidValue with LastErrorMessage() naming the bad value.
cudaError_t ValidatePagedDecode(const PagedDecodeParams& p);
// Launches the split kernel and, when num_merge > 0, the merge kernel on `stream`.
cudaError_t LaunchPagedDecode(const PagedDecodeParams& p, cudaStream_t stream);

// ---- Prefill (FlashAttention-2 tiles on tensor cores; causal; chunked over a cached prefix) --
struct PagedPrefillParams {
  const void* q = nullptr;  // [rows, n_heads * head_dim] (cache dtype), rows q_stride apart
  int64_t q_stride = 0;     // elements (multiple of 8)
  void* out = nullptr;      // [rows, n_heads * head_dim] (cache dtype), out_stride apart
  int64_t out_stride = 0;   // elements (multiple of 8)
  PagedKvCache kv;
  int32_t n_heads = 0;
  float scale = 1.f;
  float softcap = 0.f;                  // > 0: scores soft-capped (finite)
  int32_t window = 0;                   // > 0: sliding window
  const int32_t* kv_indptr = nullptr;   // device [num_seqs + 1]
  const int32_t* kv_indices = nullptr;  // device [kv_indptr[num_seqs]]
  const PrefillTile* tiles = nullptr;   // device [num_tiles]
  int32_t num_tiles = 0;
};

cudaError_t ValidatePagedPrefill(const PagedPrefillParams& p);
cudaError_t LaunchPagedPrefill(const PagedPrefillParams& p, cudaStream_t stream);

// ---- Implementation entry points (one explicit instantiation per .cu file) ------------------
// kF32Io: q and out are f32 (PagedDecodeParams::f32_io). kExt: soft-cap and window honoured.
template <int kHeadDim, DType kKv, bool kF32Io, bool kExt>
cudaError_t RunPagedDecode(const PagedDecodeParams& p, cudaStream_t stream);
template <DType kKv, bool kF32Io>
cudaError_t RunDecodeMerge(const PagedDecodeParams& p, cudaStream_t stream);
template <int kHeadDim, DType kKv, bool kExt>
cudaError_t RunPagedPrefill(const PagedPrefillParams& p, cudaStream_t stream);

#define PHX_ATTENTION_EXTERN(HD, KV)                                                         \
  extern template cudaError_t RunPagedDecode<HD, KV, false, false>(const PagedDecodeParams&, \
                                                                   cudaStream_t);            \
  extern template cudaError_t RunPagedDecode<HD, KV, true, false>(const PagedDecodeParams&,  \
                                                                  cudaStream_t);             \
  extern template cudaError_t RunPagedDecode<HD, KV, false, true>(const PagedDecodeParams&,  \
                                                                  cudaStream_t);             \
  extern template cudaError_t RunPagedDecode<HD, KV, true, true>(const PagedDecodeParams&,   \
                                                                 cudaStream_t);              \
  extern template cudaError_t RunPagedPrefill<HD, KV, false>(const PagedPrefillParams&,      \
                                                             cudaStream_t);                  \
  extern template cudaError_t RunPagedPrefill<HD, KV, true>(const PagedPrefillParams&,       \
                                                            cudaStream_t);
PHX_ATTENTION_EXTERN(64, DType::kF16)
PHX_ATTENTION_EXTERN(64, DType::kBF16)
PHX_ATTENTION_EXTERN(128, DType::kF16)
PHX_ATTENTION_EXTERN(128, DType::kBF16)
#undef PHX_ATTENTION_EXTERN
extern template cudaError_t RunDecodeMerge<DType::kF16, false>(const PagedDecodeParams&,
                                                               cudaStream_t);
extern template cudaError_t RunDecodeMerge<DType::kBF16, false>(const PagedDecodeParams&,
                                                                cudaStream_t);
extern template cudaError_t RunDecodeMerge<DType::kF16, true>(const PagedDecodeParams&,
                                                              cudaStream_t);
extern template cudaError_t RunDecodeMerge<DType::kBF16, true>(const PagedDecodeParams&,
                                                               cudaStream_t);

}  // namespace phx::kernels
