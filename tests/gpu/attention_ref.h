// Paged attention on the host for the GPU checks (plain C++): a case's random page tables and
// K/V/Q values, the float64 reference with the magnitudes its error bound needs, mutated
// references (the bugs the bound must catch) and an f32 emulation of the kernels' arithmetic (the
// errors the bound must allow). Used by tests/gpu/test_attention.cc and
// tests/unit/gpu_harness_test.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace phx::gpu_test {

struct AttnCase {
  std::vector<int32_t> nq, kv_len;  // per sequence: new query tokens, cached tokens (incl. new)
  int n_heads = 32, n_kv = 8, hd = 128, bs = 16;
  DType t = DType::kF16;   // cache dtype
  DType io = DType::kF16;  // q/out dtype: t, or f32 (decode with f32 q/out)
  // Gemma's options (ops::AttentionOptions): scores capped to softcap * tanh(s / softcap) when
  // softcap > 0; the query at position p sees (p - window, p] when window > 0.
  float softcap = 0.f;
  int window = 0;
  std::string Name(const char* extra) const;
};

// Host data: the cache is [blocks, bs, n_kv, hd] with pages drawn from a shuffled pool whose
// spare slots hold NaN, so a read outside a sequence's pages poisons the output.
struct AttnData {
  std::vector<int32_t> q_indptr{0}, kv_indptr{0}, indices, last;
  std::vector<uint16_t> kbits, vbits, qbits;  // 16-bit K/V (and q when io is 16-bit)
  std::vector<float> qf32;                    // q when io is f32
  std::vector<double> k, v, q;                // exact values (NaN in unused cache slots)
  int blocks = 0, rows = 0;
  // Element offset of (sequence s, position p, KV head h, dim 0) in k / v.
  size_t At(const AttnCase& c, int s, int p, int h) const;
};
// exact false (benchmarks): random 16-bit values of magnitude 1..2 drawn cheaply, no float64
// copies (k, v, q stay empty).
AttnData BuildAttn(const AttnCase& c, bool exact = true);

// A bug injected into the reference: which tokens each query row sees, and which KV head.
struct Mutation {
  enum Kind { kNone, kDropRange, kDuplicate, kCausalShift, kHeadShift };
  Kind kind = kNone;
  int seq = 0;    // kDropRange / kDuplicate: the sequence
  int lo = 0;     // kDropRange: first dropped token; kDuplicate: the token counted twice
  int hi = 0;     // kDropRange: one past the last dropped token
  int delta = 0;  // kCausalShift: every row sees positions 0 .. pos + delta (clamped to kv_len)
  std::string Name() const;
};

// Output rows [row_of(i)] for a subset of query rows (all rows when `rows` is empty), each
// n_heads * hd values; with, per element, S = sum_j p_j |v_jd| and R = sqrt(sum_j p_j^2 v_jd^2).
struct AttnRef {
  std::vector<int> rows;
  std::vector<double> out, abs_sum, rms;
};
AttnRef ReferenceAttn(const AttnCase& c, const AttnData& d, const Mutation& m = {},
                      std::vector<int> rows = {});

// The kernels' arithmetic in f32, output rounded to c.io: decode (online softmax over the whole
// row, f32 scores and sums) or prefill (64-token KV tiles; the unnormalized probabilities are
// rounded to the cache type before P.V, as the tensor-core kernel does); soft-cap and window as
// the kExt kernels apply them.
std::vector<double> EmulateAttn(const AttnCase& c, const AttnData& d, bool prefill,
                                const std::vector<int>& rows);

// The bound: u_out |o| + (prefill: 6 u_T R) + kAttnF32Rel * S + the subnormal floor. One
// rounding of the output; prefill's rounding of P is a sum of independent errors |e_j| <=
// u_T p_j |v_jd| (Hoeffding: exceeding 6 u_T R has probability below 2 e^-18); the f32 scores,
// exponentials and sums move each p_j by well under 1e-5 relative.
inline constexpr double kAttnF32Rel = 2e-5;
std::vector<double> AttnTol(const AttnCase& c, const AttnRef& r, bool prefill);

// The decode planner's split length for these cases (DecodePlanOptions::min_chunk): the GPU
// suite checks that the plan used it, the mutation test drops work at its multiples.
inline constexpr int kDecodeChunk = 256;

// ---- The cases the GPU suite runs (the mutation test uses the same ones) -------------------
std::vector<AttnCase> DecodeCases();
std::vector<AttnCase> PrefillCases();
// Soft-capped and sliding-window cases (windows crossing page and 64-token tile boundaries),
// for the GPU suite only (the mutation test keeps to the plain cases).
std::vector<AttnCase> DecodeOptionCases();
std::vector<AttnCase> PrefillOptionCases();

}  // namespace phx::gpu_test
