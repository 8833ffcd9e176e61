// LaunchDequantizeBlocks (q4_0 q4_1 q5_0 q5_1 q2_K q3_K iq4_nl iq4_xs mxfp4 -> f16/bf16, what the
// CUDA backend does at load for the types without a GEMV) against base's reference dequantizer
// (DequantizeRow, bit-exact with ggml; tested against float64 readings of ggml's layout in
// tests/unit) rounded once by the host's F32ToF16 / F32ToBF16: every element, bit for bit
// (both NaN counts as equal). Random blocks with random scales of both signs, then per type a
// block with the largest finite scale, one with the smallest subnormal scale, an all-zero block
// and an all-max block (every quant and sub-block scale bit set, unit scales); outputs poisoned.
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "tests/gpu/common.h"

namespace phx::gpu_test {
namespace {

// Byte offsets of a block's f16 scale fields (d, and m / dmin where the type has one).
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
      return {};  // an E8M0 byte at 0
    default:      // q4_0 q5_0 iq4_nl iq4_xs
      return {0};
  }
}

void SetF16(std::vector<uint8_t>& bytes, size_t at, uint16_t bits) {
  bytes[at] = static_cast<uint8_t>(bits & 0xFF);
  bytes[at + 1] = static_cast<uint8_t>(bits >> 8);
}

enum class Special { kRandom, kLargestScale, kSmallestScale, kZero, kAllMax };

// Block bytes [at, at + bytes) of `all`.
void FillBlock(DType t, size_t bytes, Special s, std::vector<uint8_t>& all, size_t at) {
  for (size_t i = 0; i < bytes; ++i) {
    all[at + i] = s == Special::kZero     ? 0x00
                  : s == Special::kAllMax ? 0xFF
                                          : static_cast<uint8_t>(Rng()());
  }
  if (s == Special::kZero) return;
  for (int f : F16Fields(t)) {
    uint16_t bits;
    switch (s) {
      case Special::kLargestScale:
        bits = 0x7BFF;  // 65504: most products overflow f16 (inf on both sides)
        break;
      case Special::kSmallestScale:
        bits = 0x0001;  // 2^-24, a subnormal
        break;
      case Special::kAllMax:
        bits = 0x3C00;  // 1.0
        break;
      default: {
        const double mag = Uniform(1e-4, 2e-2) * (Rng()() % 2 ? 1 : -1);
        bits = ToBits(static_cast<float>(mag), DType::kF16);
      }
    }
    SetF16(all, at + static_cast<size_t>(f), bits);
  }
  if (t == DType::kMXFP4) {  // E8M0: 0xFF is NaN (ggml rejects it at load)
    all[at] = s == Special::kLargestScale    ? 0xFE
              : s == Special::kSmallestScale ? 0x00
              : s == Special::kAllMax        ? 0x7F
                                             : static_cast<uint8_t>(110 + Rng()() % 30);
  }
}

bool SameBits(uint16_t a, uint16_t b, DType t) {
  if (a == b) return true;
  return std::isnan(FromBits(a, t)) && std::isnan(FromBits(b, t));
}

void CheckBlocks(DType t, DType out_t, int64_t n_blocks) {
  const DTypeInfo info = *GetDTypeInfo(t);
  const int64_t n = n_blocks * info.block_elems;
  std::vector<uint8_t> bytes(static_cast<size_t>(n_blocks * info.block_bytes));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const Special s = b == 1   ? Special::kLargestScale
                      : b == 2 ? Special::kSmallestScale
                      : b == 3 ? Special::kZero
                      : b == 4 ? Special::kAllMax
                               : Special::kRandom;
    const size_t at = static_cast<size_t>(b * info.block_bytes);
    FillBlock(t, static_cast<size_t>(info.block_bytes), s, bytes, at);
  }
  std::vector<float> ref(static_cast<size_t>(n));
  if (!DequantizeRow(t, bytes.data(), ref.data(), n)) {
    Report("dequantize blocks", Name(t), false, "no reference dequantizer");
    return;
  }
  Dev src, out(static_cast<size_t>(n) * 2);
  UploadVec(src, bytes);
  out.Poison();
  kernels::DequantizeBlocksParams p;
  p.src = src.as(), p.src_dtype = t, p.out = out.as(), p.out_dtype = out_t, p.n = n;
  CheckLaunch(kernels::LaunchDequantizeBlocks(p, nullptr), "dequantize blocks");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<uint16_t> got(static_cast<size_t>(n));
  out.Download(got.data(), got.size() * 2);
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t want = out_t == DType::kF16 ? F32ToF16(ref[i]) : F32ToBF16(ref[i]);
    if (!SameBits(got[i], want, out_t)) {
      if (first < 0) first = i;
      ++bad;
    }
  }
  char shape[96], note[160] = "";
  std::snprintf(shape, sizeof(shape), "%lld blocks %s -> %s", static_cast<long long>(n_blocks),
                Name(t), Name(out_t));
  if (bad > 0) {
    const uint16_t want = out_t == DType::kF16 ? F32ToF16(ref[first]) : F32ToBF16(ref[first]);
    std::snprintf(note, sizeof(note),
                  "%lld of %lld differ; first: element %lld got 0x%04x want "
                  "0x%04x (f32 %g)",
                  static_cast<long long>(bad), static_cast<long long>(n),
                  static_cast<long long>(first), got[first], want, ref[first]);
  } else {
    std::snprintf(note, sizeof(note), "bit-exact, %lld elements", static_cast<long long>(n));
  }
  Report("dequantize blocks", shape, bad == 0, note);
}

}  // namespace

void RunDequantizeBlocksChecks() {
  for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL,
                  DType::kMXFP4, DType::kQ2_K, DType::kQ3_K, DType::kIQ4_XS}) {
    const bool k_type = t == DType::kQ2_K || t == DType::kQ3_K || t == DType::kIQ4_XS;
    // Not a multiple of the 256-thread CTA: a partial last CTA.
    const int64_t blocks = k_type ? 301 : 2405;
    for (DType out : {DType::kF16, DType::kBF16}) CheckBlocks(t, out, blocks);
  }
}

}  // namespace phx::gpu_test
