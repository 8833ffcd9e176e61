// CpuBackend::Matmul / MatmulMany (and MatmulRows under them): checks, activation quantization
// (once per format for all products of the same x) and the work partition over the thread pool. The
// tiles themselves are the per-ISA GemmFn kernels (kernels.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "base/status.h"
#include "base/strings.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/cpu/packed_formats.h"
#include "ops/cpu/quantize_act.h"
#include "ops/cpu/repack_formats.h"
#include "ops/cpu/validate.h"

namespace phx::ops::cpu {
namespace {

bool Overlaps(const Tensor& a, const Tensor& b) {
  const auto* a0 = static_cast<const uint8_t*>(a.data);
  const auto* b0 = static_cast<const uint8_t*>(b.data);
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

// The activation formats a product can need; each is made at most once per call.
enum Format { kFloatRows, kQ8Pairs, kKRows, kQ8x16Act, kKx8Act, kBf16Rows, kFormats };

// One product's share of the pass: its kernel arguments and its tasks (column chunks x row
// splits).
struct Job {
  GemmArgs a;
  GemmFn gemm = nullptr;
  Format format = kFloatRows;
  int64_t row0 = 0;  // first row of x (and of its quantized forms) the product reads
  float softcap = 0.f;
  int64_t chunk = 0, n_chunks = 0, m_split = 1, m_per = 0;
  int64_t tasks() const { return n_chunks * m_split; }
};

}  // namespace

absl::Status CpuBackend::Matmul(const Tensor& x, const Tensor& w, const Tensor* bias,
                                const Tensor& y) {
  const MatmulOut out{&w, bias, &y};
  return MatmulMany(x, {&out, 1});
}

absl::Status CpuBackend::MatmulMany(const Tensor& x, std::span<const MatmulOut> outs) {
  std::vector<RowProduct> products;
  products.reserve(outs.size());
  for (const MatmulOut& o : outs) products.push_back({o.w, o.bias, o.y, o.softcap});
  return MatmulRows(x, products);
}

absl::Status CpuBackend::MatmulRows(const Tensor& x, std::span<const RowProduct> products) {
  std::vector<Job> jobs;
  jobs.reserve(products.size());
  bool need[kFormats] = {};
  for (const RowProduct& o : products) {
    const Tensor& w = *o.w;
    const Tensor& y = *o.y;
    PHX_RETURN_IF_ERROR(CheckHost("matmul", "w", w));
    PHX_RETURN_IF_ERROR(CheckSupported(Op::kMatmul, w.dtype));
    if (w.ndim != 2) return ShapeError("matmul", "w must be 2-D [N, K]", w);
    const int64_t N = w.shape[0], K = w.shape[1];
    PHX_RETURN_IF_ERROR(CheckF32("matmul", "x", x, -1, K));
    const int64_t M = o.rows < 0 ? x.rows() : o.rows;
    if (o.row0 < 0 || o.row0 + M > x.rows()) {
      return ShapeError("matmul", StrCat("rows ", o.row0, " + ", M, " outside x"), x);
    }
    PHX_RETURN_IF_ERROR(CheckF32("matmul", "y", y, M, N));
    if (!(o.softcap >= 0.f) || !std::isfinite(o.softcap)) {
      return absl::InvalidArgumentError(StrCat("matmul: softcap ", o.softcap, " must be >= 0"));
    }
    if (o.bias != nullptr) {
      PHX_RETURN_IF_ERROR(CheckF32("matmul", "bias", *o.bias, 1, N));
      if (!o.bias->packed()) return ShapeError("matmul", "bias must be packed", *o.bias);
    }
    if (M == 0 || N == 0) continue;
    if (Overlaps(x, y)) return ShapeError("matmul", "y must not overlap x", y, &x);
    if (K == 0) {  // an empty sum: y = bias
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = 0; n < N; ++n) {
          y.row_as<float>(m)[n] = o.bias ? static_cast<const float*>(o.bias->data)[n] : 0.f;
        }
        if (o.softcap > 0.f) kernels_.vec.softcap(y.row_as<float>(m), o.softcap, N);
      }
      continue;
    }
    Job j;
    j.row0 = o.row0;
    j.softcap = o.softcap;
    GemmArgs& a = j.a;
    a.w = static_cast<const uint8_t*>(w.data);
    a.w_pitch = w.stride();
    a.wtype = w.dtype;
    a.bias = o.bias ? static_cast<const float*>(o.bias->data) : nullptr;
    a.y = static_cast<float*>(y.data);
    a.y_pitch = y.stride() / 4;
    a.M = M;
    a.N = N;
    a.K = K;
    const Family family = MatmulFamily(w.dtype);
    // A copy made by PrepareMatmul replaces the weight rows: Q8x16, Q32x16 or Kx16 (its tasks
    // own whole 16-row groups); for float types the 64-row groups of gemm_float_groups (its
    // tasks own whole groups) or, on levels without that kernel, the same rows in huge pages.
    const uint8_t* repacked = o.repacked != nullptr ? o.repacked : FindRepacked(w);
    const bool bf16 = w.dtype == DType::kBF16 && kernels_.gemm_bf16 != nullptr;
    bool float_groups = false;
    if (repacked != nullptr && family == Family::kFloat) {
      a.w = repacked;
      float_groups = kernels_.gemm_float_groups != nullptr;
      if (float_groups) a.w_pitch = FloatGroupBytes(w.dtype, K);
      repacked = nullptr;
    }
    if (repacked != nullptr) {
      a.w = repacked;
      if (w.dtype == DType::kQ8_0) {
        j.gemm = kernels_.gemm_q8x16;
        j.format = kQ8x16Act;
        a.w_pitch = Q8x16GroupBytes(K);
      } else if (IsQ32x16Type(w.dtype)) {
        j.gemm = kernels_.gemm_q32x16;
        j.format = kQ8x16Act;
        a.w_pitch = Q32x16GroupBytes(w.dtype, K);
      } else {
        j.gemm = kernels_.gemm_kx16;
        j.format = kKx8Act;
        a.w_pitch = KGroupBytes(w.dtype, K);
      }
    } else if (bf16) {  // vdpbf16ps against bf16-rounded activations
      j.gemm = float_groups ? kernels_.gemm_bf16_groups : kernels_.gemm_bf16;
      j.format = kBf16Rows;
    } else if (family == Family::kFloat) {
      j.gemm = float_groups ? kernels_.gemm_float_groups : kernels_.gemm_float;
      j.format = kFloatRows;
    } else if (family == Family::kQ8) {
      j.gemm = kernels_.gemm_q8;
      j.format = kQ8Pairs;
    } else {
      j.gemm = kernels_.gemm_k;
      j.format = kKRows;
    }
    need[j.format] = true;
    // Work partition: chunks of output columns (multiples of `unit` rows of w); when there are
    // too few column chunks to feed every thread, activation rows are split as well.
    const int64_t unit = float_groups ? kFloatGroupRows : repacked ? kQ8x16Rows : 4;
    const int64_t threads = pool_.size();
    const bool small_m = M <= 8;
    int64_t chunk = small_m ? (N + unit * threads - 1) / (unit * threads) * unit : 64;
    j.chunk = std::max<int64_t>(unit, (chunk + unit - 1) / unit * unit);
    j.n_chunks = (N + j.chunk - 1) / j.chunk;
    if (!small_m && j.n_chunks < 2 * threads) {
      j.m_split =
          std::min((2 * threads + j.n_chunks - 1) / j.n_chunks, std::max<int64_t>(1, M / 16));
    }
    j.m_per = (M + j.m_split - 1) / j.m_split;
    // Q8x16 activations come in 8-row panels, and the kernel runs pairs of them together.
    if (repacked != nullptr) {
      constexpr int64_t kPair = 2 * kQ8x16PanelRows;
      j.m_per = (j.m_per + kPair - 1) / kPair * kPair;
    }
    jobs.push_back(j);
  }
  if (jobs.empty()) return absl::OkStatus();

  // Activations, once per format (every product of the call shares x, hence M and K).
  const int64_t M = x.rows(), K = x.cols();
  uint8_t* act[kFormats] = {};
  int64_t pitch[kFormats] = {};
  pitch[kFloatRows] = x.stride();
  pitch[kQ8Pairs] = Q8ActRowBytes(K);
  pitch[kKRows] = KActRowBytes(K);
  pitch[kQ8x16Act] = Q8x16PanelBytes(K);  // between 8-row panels
  pitch[kKx8Act] = KPanelBytes(K);
  pitch[kBf16Rows] = BF16ActRowBytes(K);
  act[kFloatRows] = static_cast<uint8_t*>(x.data);
  // The rows some product reads: all of x, except under MatmulExperts, whose segments end in
  // padding rows (a decode step's 8 experts: 8 rows of 128). The panels' other rows are never
  // read, so they are not quantized.
  std::vector<int64_t> read;  // empty: every row
  if (std::any_of(jobs.begin(), jobs.end(),
                  [M](const Job& j) { return j.row0 != 0 || j.a.M != M; })) {
    std::vector<char> mark(static_cast<size_t>(M), 0);
    for (const Job& j : jobs) {
      std::fill_n(mark.begin() + j.row0, j.a.M, 1);
    }
    for (int64_t m = 0; m < M; ++m) {
      if (mark[m] != 0) read.push_back(m);
    }
    if (static_cast<int64_t>(read.size()) == M) read.clear();
  }
  for (int f = kQ8Pairs; f < kFormats; ++f) {
    if (!need[f]) continue;
    const int64_t p = pitch[f];
    const bool panel = f == kQ8x16Act || f == kKx8Act;
    const int64_t units = panel ? (M + kQ8x16PanelRows - 1) / kQ8x16PanelRows : M;
    uint8_t* buf = act_[f - kQ8Pairs].Reserve(static_cast<size_t>(units * p));
    act[f] = buf;
    if (panel && M == 1) {
      // One row: its compact copy, which every task then reads as it is (the other threads
      // fetch 1/8 of the 8-row panel's lines from this core's cache).
      pitch[f] = PanelUnit(p, 0, 1);
      (f == kQ8x16Act ? kernels_.quantize_q8x16 : kernels_.quantize_kx8)(x.row_as<float>(0), K, buf,
                                                                         0, 1);
    } else if (panel) {  // row m is row m % 8 of panel m / 8
      static_assert(kQ8x16PanelRows == kKPanelRows);
      const auto q = f == kQ8x16Act ? kernels_.quantize_q8x16 : kernels_.quantize_kx8;
      const int64_t n = read.empty() ? M : static_cast<int64_t>(read.size());
      ParallelRows(n, 8 * K, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const int64_t m = read.empty() ? i : read[i];
          q(x.row_as<float>(m), K, buf + m / kQ8x16PanelRows * p,
            static_cast<int>(m % kQ8x16PanelRows), kQ8x16PanelRows);
        }
      });
    } else {
      const auto q = f == kQ8Pairs ? kernels_.quantize_q8
                     : f == kKRows ? kernels_.quantize_k
                                   : kernels_.quantize_bf16;
      ParallelRows(M, 8 * K, [&](int64_t b, int64_t e) {
        for (int64_t m = b; m < e; ++m) q(x.row_as<float>(m), K, buf + m * p);
      });
    }
  }
  int64_t total = 0;
  std::vector<int64_t> first(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Format f = jobs[i].format;
    // Q8x16 and K panels hold 8 rows each (row0 is then a multiple of 16: see MatmulExperts).
    const int64_t unit = f == kQ8x16Act ? jobs[i].row0 / kQ8x16PanelRows
                         : f == kKx8Act ? jobs[i].row0 / kKPanelRows
                                        : jobs[i].row0;
    jobs[i].a.act = act[f] + unit * pitch[f];
    jobs[i].a.act_pitch = pitch[f];
    jobs[i].a.act_compact = M == 1 && (f == kQ8x16Act || f == kKx8Act);
    first[i] = total;
    total += jobs[i].tasks();
  }
  for (auto& s : gemm_scratch_) s.Reserve(kGemmScratchBytes);
  // One pass over every product's tasks: no barrier between the products.
  pool_.ParallelFor(total, 1, [&](int64_t b, int64_t e, int tid) {
    size_t i = 0;
    for (int64_t t = b; t < e; ++t) {
      while (i + 1 < jobs.size() && t >= first[i + 1]) ++i;  // t only grows within a call
      const Job& j = jobs[i];
      const int64_t lt = t - first[i];
      const int64_t nc = lt % j.n_chunks, mc = lt / j.n_chunks;
      const int64_t m0 = mc * j.m_per, m1 = std::min(j.a.M, m0 + j.m_per);
      if (m0 >= m1) continue;
      const int64_t n0 = nc * j.chunk, n1 = std::min(j.a.N, (nc + 1) * j.chunk);
      j.gemm(j.a, n0, n1, m0, m1, gemm_scratch_[tid].data());
      if (j.softcap > 0.f) {  // while the tile is in cache: no extra pass over y
        for (int64_t m = m0; m < m1; ++m) {
          kernels_.vec.softcap(j.a.y + m * j.a.y_pitch + n0, j.softcap, n1 - n0);
        }
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace phx::ops::cpu
