// The block decoders of the CUDA load-time dequantizer (kernels/dequantize_blocks.cuh), compiled
// here as host code, against base's reference DequantizeRow: every value bit for bit, on random
// blocks (random bytes, scales of both signs) and per type a block with the largest finite
// scale, one with the smallest subnormal scale, an all-zero block and an all-0xFF block (NaN f16
// scales: NaN on both sides). The device runs the same code with __fmul_rn/__fadd_rn/__fsub_rn
// (tests/gpu/test_dequant_blocks.cc checks it there); this shows the layouts and the order of
// operations without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/dtype.h"
#include "kernels/dequantize_blocks.cuh"

namespace phx::kernels {
namespace {

using dequant_blocks::Blocks;

// Byte offsets of a block's f16 scale fields.
std::vector<int> F16Fields(DType t) {
  switch (t) {
    case DType::kQ4_1:
    case DType::kQ5_1:
      return {0, 2};
    case DType::kQ2_K:
      return {80, 82};
    case DType::kQ3_K:
      return {108};
    case DType::kMXFP4:
      return {};
    default:
      return {0};
  }
}

template <DType kT>
void CheckType(std::mt19937_64& rng) {
  using B = Blocks<kT>;
  const DTypeInfo info = *GetDTypeInfo(kT);
  ASSERT_EQ(B::kBytes, info.block_bytes) << info.name;
  ASSERT_EQ(B::kGroups * 32, info.block_elems) << info.name;
  const int n_blocks = 64;
  std::vector<uint8_t> bytes(static_cast<size_t>(n_blocks) * B::kBytes);
  for (int b = 0; b < n_blocks; ++b) {
    uint8_t* blk = bytes.data() + static_cast<size_t>(b) * B::kBytes;
    for (int i = 0; i < B::kBytes; ++i) {
      blk[i] = b == 3 ? 0x00 : b == 4 ? 0xFF : static_cast<uint8_t>(rng());
    }
    for (int f : F16Fields(kT)) {
      uint16_t bits = F32ToF16(std::ldexp(static_cast<float>(rng() % 2000) - 1000.f, -16));
      if (b == 1) bits = 0x7BFF;  // 65504
      if (b == 2) bits = 0x8001;  // -2^-24
      if (b == 3 || b == 4) continue;
      blk[f] = static_cast<uint8_t>(bits), blk[f + 1] = static_cast<uint8_t>(bits >> 8);
    }
    if (kT == DType::kMXFP4 && b != 3 && b != 4) {
      blk[0] = b == 1 ? 0xFE : b == 2 ? 0x00 : static_cast<uint8_t>(100 + rng() % 50);
    }
  }
  const int64_t n = static_cast<int64_t>(n_blocks) * info.block_elems;
  std::vector<float> want(static_cast<size_t>(n));
  ASSERT_TRUE(DequantizeRow(kT, bytes.data(), want.data(), n));
  int64_t bad = 0;
  for (int64_t grp = 0; grp < n / 32; ++grp) {
    float y[32];
    B::Decode(bytes.data() + (grp / B::kGroups) * B::kBytes, static_cast<int>(grp % B::kGroups), y);
    for (int j = 0; j < 32; ++j) {
      const float w = want[grp * 32 + j];
      const bool same = std::memcmp(&y[j], &w, 4) == 0 || (std::isnan(y[j]) && std::isnan(w));
      if (!same && bad++ < 3) {
        ADD_FAILURE() << info.name << " element " << grp * 32 + j << ": got " << y[j] << " want "
                      << w;
      }
    }
  }
  EXPECT_EQ(bad, 0) << info.name;
}

TEST(DequantizeBlocksHostTest, BitExactWithTheReferenceDequantizer) {
  std::mt19937_64 rng(28);
  CheckType<DType::kQ4_0>(rng);
  CheckType<DType::kQ4_1>(rng);
  CheckType<DType::kQ5_0>(rng);
  CheckType<DType::kQ5_1>(rng);
  CheckType<DType::kIQ4_NL>(rng);
  CheckType<DType::kMXFP4>(rng);
  CheckType<DType::kQ2_K>(rng);
  CheckType<DType::kQ3_K>(rng);
  CheckType<DType::kIQ4_XS>(rng);
}

}  // namespace
}  // namespace phx::kernels
