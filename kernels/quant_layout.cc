#include "kernels/quant_layout.h"

#include <cstring>

namespace phx::kernels {

size_t Q8_0PlanarScaleOffset(int64_t rows, int64_t cols) {
  const size_t qs = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  return (qs + 255) / 256 * 256;
}

size_t Q8_0PlanarBytes(int64_t rows, int64_t cols) {
  return Q8_0PlanarScaleOffset(rows, cols) + static_cast<size_t>(rows) * (cols / kQK8_0) * 2;
}

void RepackQ8_0ToPlanar(const void* blocks, int64_t rows, int64_t cols, void* dst) {
  const auto* src = static_cast<const uint8_t*>(blocks);
  auto* qs = static_cast<uint8_t*>(dst);
  auto* d = static_cast<uint8_t*>(dst) + Q8_0PlanarScaleOffset(rows, cols);
  const int64_t nb = static_cast<int64_t>(rows) * (cols / kQK8_0);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = src + b * sizeof(BlockQ8_0);
    std::memcpy(d + 2 * b, blk, 2);
    std::memcpy(qs + b * kQK8_0, blk + 2, kQK8_0);
  }
}

void PlanarToQ8_0(const void* planar, int64_t rows, int64_t cols, void* blocks) {
  const auto* qs = static_cast<const uint8_t*>(planar);
  const auto* d = static_cast<const uint8_t*>(planar) + Q8_0PlanarScaleOffset(rows, cols);
  auto* out = static_cast<uint8_t*>(blocks);
  const int64_t nb = static_cast<int64_t>(rows) * (cols / kQK8_0);
  for (int64_t b = 0; b < nb; ++b) {
    std::memcpy(out + b * sizeof(BlockQ8_0), d + 2 * b, 2);
    std::memcpy(out + b * sizeof(BlockQ8_0) + 2, qs + b * kQK8_0, kQK8_0);
  }
}

namespace {
size_t Align256(size_t n) { return (n + 255) / 256 * 256; }
}  // namespace

Q6KPlanarLayout Q6KPlanar(int64_t rows, int64_t cols) {
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  Q6KPlanarLayout l;
  l.ql = 0;
  l.qh = Align256(l.ql + n / 2);
  l.scales = Align256(l.qh + n / 4);
  l.d = Align256(l.scales + n / 16);
  l.bytes = l.d + n / kQK_K * 2;
  return l;
}

void RepackQ6_KToPlanar(const void* blocks, int64_t rows, int64_t cols, void* dst) {
  const Q6KPlanarLayout l = Q6KPlanar(rows, cols);
  const auto* src = static_cast<const uint8_t*>(blocks);
  auto* out = static_cast<uint8_t*>(dst);
  std::memset(out, 0, l.bytes);              // the alignment gaps
  const int64_t nb = rows * (cols / kQK_K);  // blocks in row-major order
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ6_K blk;
    std::memcpy(&blk, src + b * sizeof(BlockQ6_K), sizeof(blk));
    std::memcpy(out + l.ql + b * sizeof(blk.ql), blk.ql, sizeof(blk.ql));
    std::memcpy(out + l.qh + b * sizeof(blk.qh), blk.qh, sizeof(blk.qh));
    std::memcpy(out + l.scales + b * sizeof(blk.scales), blk.scales, sizeof(blk.scales));
    std::memcpy(out + l.d + b * 2, &blk.d, 2);
  }
}

void PlanarToQ6_K(const void* planar, int64_t rows, int64_t cols, void* blocks) {
  const Q6KPlanarLayout l = Q6KPlanar(rows, cols);
  const auto* in = static_cast<const uint8_t*>(planar);
  auto* out = static_cast<uint8_t*>(blocks);
  const int64_t nb = rows * (cols / kQK_K);
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ6_K blk;
    std::memcpy(blk.ql, in + l.ql + b * sizeof(blk.ql), sizeof(blk.ql));
    std::memcpy(blk.qh, in + l.qh + b * sizeof(blk.qh), sizeof(blk.qh));
    std::memcpy(blk.scales, in + l.scales + b * sizeof(blk.scales), sizeof(blk.scales));
    std::memcpy(&blk.d, in + l.d + b * 2, 2);
    std::memcpy(out + b * sizeof(BlockQ6_K), &blk, sizeof(blk));
  }
}

size_t DeviceMatrixBytes(DType t, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0) return 0;
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  switch (t) {
    case DType::kF32:
      return 4 * n;
    case DType::kF16:
    case DType::kBF16:
      return 2 * n;
    case DType::kQ8_0:
      return cols % kQK8_0 == 0 ? Q8_0PlanarBytes(rows, cols) : 0;
    case DType::kQ4_K:
      return cols % kQK_K == 0 ? static_cast<size_t>(rows) * (cols / kQK_K) * sizeof(BlockQ4_K) : 0;
    case DType::kQ5_K:
      return cols % kQK_K == 0 ? static_cast<size_t>(rows) * (cols / kQK_K) * sizeof(BlockQ5_K) : 0;
    case DType::kQ6_K:
      return cols % kQK_K == 0 ? Q6KPlanar(rows, cols).bytes : 0;
    default:
      return 0;
  }
}

}  // namespace phx::kernels
