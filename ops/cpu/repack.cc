#include "ops/cpu/repack.h"

#include <algorithm>
#include <cstring>

#include "base/dtype.h"
#include "base/status.h"
#include "base/strings.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/cpu/packed_formats.h"
#include "ops/cpu/repack_formats.h"
#include "ops/cpu/validate.h"

namespace phx::ops::cpu {

void RepackQ8x16(const uint8_t* w, int64_t pitch, int64_t N, int64_t K, int64_t g0, int64_t g1,
                 uint8_t* out) {
  const int64_t nb = K / 32, group_bytes = Q8x16GroupBytes(K);
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* base = out + g * group_bytes;
    std::memset(base, 0, static_cast<size_t>(group_bytes));  // zero scales, and the padding
    for (int j = 0; j < kQ8x16Rows; ++j) {
      const int64_t n = g * kQ8x16Rows + j;
      for (int64_t b = 0; b < nb; ++b) {
        uint8_t* q = base + Q8x16QuantOffset(b) + 4 * j;
        if (n >= N) {  // padding rows: zero scale, zero values (stored + 128)
          for (int c = 0; c < 8; ++c) std::memset(q + 64 * c, 0x80, 4);
          continue;
        }
        const uint8_t* blk = w + n * pitch + b * static_cast<int64_t>(sizeof(BlockQ8_0));
        std::memcpy(base + Q8x16ScaleOffset(b) + 2 * j, blk, 2);  // the f16 scale
        for (int c = 0; c < 8; ++c) {
          for (int i = 0; i < 4; ++i) q[64 * c + i] = blk[2 + 4 * c + i] ^ 0x80;
        }
      }
    }
  }
}

namespace {

// Value (k, r) of a group at unit (k / kPer) * 64 + r, sub-slot k % kPer (E: the value's bytes;
// kPer = 2 packs BF16 pairs into 32-bit units). Blocks of 64 values keep the writes in L1.
template <typename E, int kPer>
void TransposeGroup(const uint8_t* w, int64_t pitch, int rows, int64_t K, uint8_t* group) {
  auto* out = reinterpret_cast<E*>(group);
  for (int64_t kb = 0; kb < K; kb += 64) {
    const int64_t ke = std::min(K, kb + 64);
    for (int r = 0; r < rows; ++r) {
      const auto* in = reinterpret_cast<const E*>(w + r * pitch);
      for (int64_t k = kb; k < ke; ++k) {
        out[((k / kPer) * kFloatGroupRows + r) * kPer + k % kPer] = in[k];
      }
    }
  }
}

}  // namespace

void RepackFloatGroups(DType t, const uint8_t* w, int64_t pitch, int64_t N, int64_t K, int64_t g0,
                       int64_t g1, uint8_t* out) {
  const int64_t group_bytes = FloatGroupBytes(t, K);
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* group = out + g * group_bytes;
    const int64_t n = g * kFloatGroupRows;
    const int rows = static_cast<int>(std::min<int64_t>(kFloatGroupRows, N - n));
    // Padding rows and an odd K's last high halves stay zero.
    if (rows < kFloatGroupRows || (t == DType::kBF16 && K % 2 != 0)) {
      std::memset(group, 0, static_cast<size_t>(group_bytes));
    }
    const uint8_t* src = w + n * pitch;
    if (t == DType::kF32) {
      TransposeGroup<uint32_t, 1>(src, pitch, rows, K, group);
    } else if (t == DType::kF16) {
      TransposeGroup<uint16_t, 1>(src, pitch, rows, K, group);
    } else {
      TransposeGroup<uint16_t, 2>(src, pitch, rows, K, group);
    }
  }
}

// ---- CpuBackend: the registry of repacked weights ------------------------------------------

class CpuBackend::Repacked : public PreparedWeight {
 public:
  Repacked(CpuBackend* owner, const Tensor& w) : owner_(owner), w_(w) {}
  ~Repacked() override { owner_->Forget(this); }
  const Tensor& weight() const { return w_; }
  AlignedBuffer& bytes() { return bytes_; }
  const uint8_t* data() const { return bytes_.data(); }

 private:
  CpuBackend* owner_;
  Tensor w_;
  AlignedBuffer bytes_;
};

absl::StatusOr<std::unique_ptr<PreparedWeight>> CpuBackend::PrepareMatmul(const Tensor& w) {
  PHX_RETURN_IF_ERROR(CheckHost("prepare_matmul", "w", w));
  const DType t = w.dtype;
  const bool q8 = t == DType::kQ8_0 && kernels_.gemm_q8x16 != nullptr;
  const bool q32 = IsQ32x16Type(t) && kernels_.gemm_q32x16 != nullptr;
  const bool kx = IsKx16Type(t) && kernels_.gemm_kx16 != nullptr;
  // Float matrices (nothing for an empty one), in huge pages: the 64-row group layout where
  // the level reads it (AVX-512: GemmFloatGroups), else a plain copy (same layout).
  const bool copy =
      copy_float_ && MatmulFamily(t) == Family::kFloat && w.ndim == 2 && w.shape[1] > 0;
  const bool groups = copy && kernels_.gemm_float_groups != nullptr;
  if (!repack_ || !(q8 || q32 || kx || copy) || w.ndim != 2 || w.shape[0] == 0 ||
      w.shape[1] % GetDTypeInfo(t)->block_elems != 0) {
    return std::unique_ptr<PreparedWeight>();
  }
  const int64_t N = w.shape[0], K = w.shape[1];
  const int64_t bytes = groups ? FloatGroupedBytes(t, N, K)
                        : copy ? N * w.stride()
                        : q8   ? Q8x16Bytes(N, K)
                               : RepackedBytes(t, N, K);
  auto r = std::make_unique<Repacked>(this, w);
  uint8_t* out = r->bytes().Reserve(static_cast<size_t>(bytes));
  if (out == nullptr) {
    return absl::ResourceExhaustedError(StrCat("prepare_matmul: ", bytes, " bytes for a ",
                                               DTypeName(t), " [", N, ", ", K, "] copy"));
  }
  const int64_t group_rows = groups ? kFloatGroupRows : kQ8x16Rows;
  const auto* src = static_cast<const uint8_t*>(w.data);
  pool_.ParallelFor((N + group_rows - 1) / group_rows, 1, [&](int64_t g0, int64_t g1, int) {
    if (groups) {
      RepackFloatGroups(t, src, w.stride(), N, K, g0, g1, out);
    } else if (copy) {
      // Rows [16 g0, 16 g1) as they are (the last row without the stride's padding).
      const int64_t r0 = g0 * kQ8x16Rows, r1 = std::min(N, g1 * kQ8x16Rows);
      std::memcpy(out + r0 * w.stride(), src + r0 * w.stride(),
                  static_cast<size_t>((r1 - r0 - 1) * w.stride() + w.row_bytes()));
    } else if (q8) {
      RepackQ8x16(src, w.stride(), N, K, g0, g1, out);
    } else {
      RepackLowBit(t, src, w.stride(), N, K, g0, g1, out);
    }
  });
  std::lock_guard<std::mutex> lock(repacked_mu_);
  repacked_[w.data] = r.get();
  ++repacked_count_[t];
  return std::unique_ptr<PreparedWeight>(std::move(r));
}

std::string CpuBackend::KernelSummary() {
  std::string s(IsaName(isa()));
  if (kernels_.gemm_bf16 != nullptr) s += " (bf16 via vdpbf16ps)";
  std::lock_guard<std::mutex> lock(repacked_mu_);
  const char* sep = "; repacked ";
  for (const auto& [t, n] : repacked_count_) {
    const char* layout = t == DType::kQ8_0                       ? "Q8x16"
                         : IsQ32x16Type(t)                       ? "Q32x16"
                         : MatmulFamily(t) != Family::kFloat     ? "Kx16"
                         : kernels_.gemm_float_groups != nullptr ? "64-row groups"
                                                                 : "copy";
    s += StrCat(sep, n, " ", DTypeName(t), " (", layout, ")");
    sep = ", ";
  }
  return s;
}

const uint8_t* CpuBackend::FindRepacked(const Tensor& w) {
  std::lock_guard<std::mutex> lock(repacked_mu_);
  const auto it = repacked_.find(w.data);
  if (it == repacked_.end()) return nullptr;
  const Tensor& p = it->second->weight();
  const bool same = p.dtype == w.dtype && p.ndim == 2 && w.ndim == 2 && p.shape[0] == w.shape[0] &&
                    p.shape[1] == w.shape[1] && p.stride() == w.stride();
  return same ? it->second->data() : nullptr;
}

void CpuBackend::Forget(const Repacked* r) {
  std::lock_guard<std::mutex> lock(repacked_mu_);
  const auto it = repacked_.find(r->weight().data);
  if (it != repacked_.end() && it->second == r) repacked_.erase(it);
}

}  // namespace phx::ops::cpu
