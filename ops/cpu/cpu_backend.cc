#include "ops/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "base/status.h"
#include "base/strings.h"
#include "ops/cpu/packed_formats.h"
#include "ops/cpu/quantize_act.h"
#include "ops/cpu/validate.h"

namespace phx::ops::cpu {
namespace {

enum class Family { kFloat, kQ8, kK, kNone };

Family MatmulFamily(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      return Family::kFloat;
    case DType::kQ8_0:
    case DType::kQ4_0:
      return Family::kQ8;
    case DType::kQ4_K:
    case DType::kQ6_K:
      return Family::kK;
    default:
      return Family::kNone;
  }
}

bool Overlaps(const Tensor& a, const Tensor& b) {
  const auto* a0 = static_cast<const uint8_t*>(a.data);
  const auto* b0 = static_cast<const uint8_t*>(b.data);
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

}  // namespace

CpuBackend::CpuBackend(int n_threads) : CpuBackend(n_threads, IsaFromEnv()) {}

CpuBackend::CpuBackend(int n_threads, IsaLevel isa)
    : pool_(n_threads), kernels_(KernelsFor(std::min(isa, BestIsa()))) {
  gemm_scratch_.resize(pool_.size());
  attn_scratch_.resize(pool_.size());
  const char* repack = std::getenv("PHX_CPU_REPACK");
  repack_ = repack == nullptr || std::string_view(repack) != "0";
}

CpuBackend::~CpuBackend() = default;

bool CpuBackend::Supports(Op op, DType dtype) const {
  switch (op) {
    case Op::kMatmul:
    case Op::kEmbedding:
      return MatmulFamily(dtype) != Family::kNone;
    case Op::kWriteKv:
    case Op::kAttention:
      return dtype == DType::kF16 || dtype == DType::kF32;
    default:
      return dtype == DType::kF32;
  }
}

absl::StatusOr<Buffer> CpuBackend::Allocate(DType dtype, std::initializer_list<int64_t> shape) {
  if (shape.size() < 1 || shape.size() > 4) {
    return absl::InvalidArgumentError(StrCat("allocate: ", shape.size(), " dimensions"));
  }
  Tensor t = Tensor::View(static_cast<void*>(nullptr), dtype, shape);
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] < 0) return ShapeError("allocate", "negative dimension", t);
  }
  if (!GetDTypeInfo(dtype) || (t.row_bytes() == 0 && t.cols() != 0)) {
    return ShapeError("allocate", "unsupported dtype or partial block", t);
  }
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(t.nbytes(), 1));
  t.data = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (t.data == nullptr) return absl::ResourceExhaustedError(StrCat("allocate ", bytes, " bytes"));
  return Buffer(t, [](void* p) { std::free(p); });
}

absl::StatusOr<Buffer> CpuBackend::AdoptWeight(const Tensor& host) {
  PHX_RETURN_IF_ERROR(CheckHost("adopt_weight", "weight", host));
  return Buffer(host, nullptr);  // a view: the caller keeps the bytes alive
}

absl::Status CpuBackend::CopyToDevice(const void* host, size_t bytes, const Tensor& dst) {
  PHX_RETURN_IF_ERROR(CheckHost("copy_to_device", "dst", dst));
  const int64_t rb = dst.row_bytes();
  if (static_cast<int64_t>(bytes) != dst.rows() * rb) {
    return ShapeError("copy_to_device", StrCat(bytes, " bytes do not fill the tensor"), dst);
  }
  for (int64_t r = 0; r < dst.rows() && rb > 0; ++r) {
    std::memcpy(dst.row(r), static_cast<const uint8_t*>(host) + r * rb, rb);
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::CopyToHost(const Tensor& src, void* host, size_t bytes) {
  PHX_RETURN_IF_ERROR(CheckHost("copy_to_host", "src", src));
  const int64_t rb = src.row_bytes();
  if (static_cast<int64_t>(bytes) != src.rows() * rb) {
    return ShapeError("copy_to_host", StrCat(bytes, " bytes do not match the tensor"), src);
  }
  for (int64_t r = 0; r < src.rows() && rb > 0; ++r) {
    std::memcpy(static_cast<uint8_t*>(host) + r * rb, src.row(r), rb);
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::Fill(const Tensor& dst, float value) {
  PHX_RETURN_IF_ERROR(CheckHost("fill", "dst", dst));
  const int64_t cols = dst.cols();
  for (int64_t r = 0; r < dst.rows(); ++r) {
    uint8_t* p = dst.row(r);
    switch (dst.dtype) {
      case DType::kF32:
        std::fill_n(reinterpret_cast<float*>(p), cols, value);
        break;
      case DType::kI32:
        std::fill_n(reinterpret_cast<int32_t*>(p), cols,
                    std::isfinite(value) ? static_cast<int32_t>(value) : 0);
        break;
      case DType::kF16:
      case DType::kBF16: {
        const uint16_t h = dst.dtype == DType::kF16 ? F32ToF16(value) : F32ToBF16(value);
        std::fill_n(reinterpret_cast<uint16_t*>(p), cols, h);
        break;
      }
      default:
        return absl::UnimplementedError(
            StrCat("cpu backend: fill does not support ", DTypeName(dst.dtype)));
    }
  }
  return absl::OkStatus();
}

void CpuBackend::ParallelRows(int64_t rows, int64_t cost_per_row,
                              const std::function<void(int64_t, int64_t)>& fn) {
  constexpr int64_t kMinWork = 16384;  // below this the fork/join costs more than it saves
  const int64_t grain = std::max<int64_t>(1, kMinWork / std::max<int64_t>(cost_per_row, 1));
  const int64_t per_thread = (rows + pool_.size() - 1) / pool_.size();
  pool_.ParallelFor(rows, std::max(grain, per_thread),
                    [&](int64_t b, int64_t e, int) { fn(b, e); });
}

absl::Status CpuBackend::Matmul(const Tensor& x, const Tensor& w, const Tensor* bias,
                                const Tensor& y) {
  PHX_RETURN_IF_ERROR(CheckHost("matmul", "w", w));
  PHX_RETURN_IF_ERROR(CheckSupported(Op::kMatmul, w.dtype));
  if (w.ndim != 2) return ShapeError("matmul", "w must be 2-D [N, K]", w);
  const int64_t N = w.shape[0], K = w.shape[1];
  PHX_RETURN_IF_ERROR(CheckF32("matmul", "x", x, -1, K));
  const int64_t M = x.rows();
  PHX_RETURN_IF_ERROR(CheckF32("matmul", "y", y, M, N));
  if (bias != nullptr) {
    PHX_RETURN_IF_ERROR(CheckF32("matmul", "bias", *bias, 1, N));
    if (!bias->packed()) return ShapeError("matmul", "bias must be packed", *bias);
  }
  if (M == 0 || N == 0) return absl::OkStatus();
  if (Overlaps(x, y)) return ShapeError("matmul", "y must not overlap x", y, &x);
  if (K == 0) {  // an empty sum: y = bias
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        y.row_as<float>(m)[n] = bias ? static_cast<const float*>(bias->data)[n] : 0.f;
      }
    }
    return absl::OkStatus();
  }

  const Family family = MatmulFamily(w.dtype);
  GemmArgs a;
  a.w = static_cast<const uint8_t*>(w.data);
  a.w_pitch = w.stride();
  a.wtype = w.dtype;
  a.bias = bias ? static_cast<const float*>(bias->data) : nullptr;
  a.y = static_cast<float*>(y.data);
  a.y_pitch = y.stride() / 4;
  a.M = M;
  a.N = N;
  a.K = K;
  // A Q8x16 copy (PrepareMatmul) replaces the weight rows; its tasks own whole 16-row groups.
  const uint8_t* repacked = family == Family::kQ8 ? FindRepacked(w) : nullptr;
  GemmFn gemm = kernels_.gemm_float;
  if (repacked != nullptr) {
    gemm = kernels_.gemm_q8x16;
    a.w = repacked;
    a.w_pitch = Q8x16GroupBytes(K);
    a.act_pitch = Q8x16ActRowBytes(K);
    uint8_t* act = act_.Reserve(static_cast<size_t>(M * a.act_pitch));
    a.act = act;
    ParallelRows(M, 8 * K, [&](int64_t b, int64_t e) {
      for (int64_t m = b; m < e; ++m) {
        kernels_.quantize_q8x16(x.row_as<float>(m), K, act + m * a.act_pitch);
      }
    });
  } else if (family == Family::kFloat) {
    a.act = static_cast<const uint8_t*>(x.data);
    a.act_pitch = x.stride();
  } else {
    const bool q8 = family == Family::kQ8;
    gemm = q8 ? kernels_.gemm_q8 : kernels_.gemm_k;
    a.act_pitch = q8 ? Q8ActRowBytes(K) : KActRowBytes(K);
    uint8_t* act = act_.Reserve(static_cast<size_t>(M * a.act_pitch));
    a.act = act;
    ParallelRows(M, K, [&](int64_t b, int64_t e) {
      for (int64_t m = b; m < e; ++m) {
        const float* xr = x.row_as<float>(m);
        (q8 ? kernels_.quantize_q8 : kernels_.quantize_k)(xr, K, act + m * a.act_pitch);
      }
    });
  }

  const int64_t unit = repacked ? kQ8x16Rows : 4;

  // Work partition: chunks of output columns (multiples of `unit` rows of w); when there are
  // too few column chunks to feed every thread, activation rows are split as well.
  const int64_t threads = pool_.size();
  const bool small_m = M <= 8;
  int64_t chunk = small_m ? (N + unit * threads - 1) / (unit * threads) * unit : 64;
  chunk = std::max<int64_t>(unit, (chunk + unit - 1) / unit * unit);
  const int64_t n_chunks = (N + chunk - 1) / chunk;
  int64_t m_split = 1;
  if (!small_m && n_chunks < 2 * threads) {
    m_split = std::min((2 * threads + n_chunks - 1) / n_chunks, std::max<int64_t>(1, M / 16));
  }
  const int64_t m_per = (M + m_split - 1) / m_split;
  for (auto& s : gemm_scratch_) s.Reserve(kGemmScratchBytes);
  pool_.ParallelFor(n_chunks * m_split, 1, [&](int64_t b, int64_t e, int tid) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t nc = t % n_chunks, mc = t / n_chunks;
      const int64_t m0 = mc * m_per, m1 = std::min(M, m0 + m_per);
      if (m0 >= m1) continue;
      gemm(a, nc * chunk, std::min(N, (nc + 1) * chunk), m0, m1, gemm_scratch_[tid].data());
    }
  });
  return absl::OkStatus();
}

}  // namespace phx::ops::cpu
