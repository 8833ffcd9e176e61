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

CpuBackend::CpuBackend(int n_threads) : CpuBackend(n_threads, IsaFromEnv()) {}

CpuBackend::CpuBackend(int n_threads, IsaLevel isa)
    : pool_(n_threads), kernels_(KernelsFor(std::min(isa, BestIsa()))) {
  gemm_scratch_.resize(pool_.size());
  attn_scratch_.resize(pool_.size());
  const char* repack = std::getenv("PHX_CPU_REPACK");
  repack_ = repack == nullptr || std::string_view(repack) != "0";
  const char* copy = std::getenv("PHX_CPU_COPY_FLOAT");
  copy_float_ = repack_ && (copy == nullptr || std::string_view(copy) != "0");
}

CpuBackend::~CpuBackend() = default;

bool CpuBackend::Supports(Op op, DType dtype) const {
  switch (op) {
    case Op::kMatmul:
    case Op::kEmbedding:
    case Op::kMatmulExperts:
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

}  // namespace phx::ops::cpu
