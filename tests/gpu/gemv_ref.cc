#include "tests/gpu/gemv_ref.h"

#include <cmath>
#include <cstring>

#include "tests/gpu/harness.h"

namespace phx::gpu_test {
namespace {

double Half(uint16_t bits) { return F16ToF32(bits); }

template <typename Block>
Block ReadBlock(const uint8_t* bytes, int64_t b) {
  Block blk;
  std::memcpy(&blk, bytes + b * sizeof(Block), sizeof(Block));
  return blk;
}

}  // namespace

HostWeights RandomWeights(DType t, int64_t rows, int64_t cols, bool exact) {
  HostWeights w;
  w.t = t, w.rows = rows, w.cols = cols;
  const int64_t n = rows * cols;
  const double sd = 1.0 / std::sqrt(static_cast<double>(cols));
  if (t == DType::kF16 || t == DType::kBF16 || t == DType::kF32) {
    if (t == DType::kF32) {
      std::vector<float> f(n);
      w.values.resize(n);
      for (int64_t i = 0; i < n; ++i) w.values[i] = f[i] = static_cast<float>(Normal(sd));
      w.bytes.resize(4 * n);
      std::memcpy(w.bytes.data(), f.data(), 4 * n);
      return w;
    }
    const std::vector<uint16_t> bits =
        exact ? RandomHalf(n, t, sd, &w.values) : FastRandomHalf(static_cast<size_t>(n), t, sd);
    w.bytes.resize(2 * n);
    std::memcpy(w.bytes.data(), bits.data(), 2 * n);
    return w;
  }
  if (t == DType::kQ8_0) {
    std::vector<BlockQ8_0> blocks(n / kQK8_0);
    for (size_t b = 0; b < blocks.size(); ++b) {
      const double d = b == 1 ? 3 * sd / 127 : Uniform(0.2, 1.0) * 3 * sd / 127;
      blocks[b].d = ToBits(static_cast<float>(d), DType::kF16);
      for (int j = 0; j < kQK8_0; ++j) {
        blocks[b].qs[j] = static_cast<int8_t>(static_cast<int>(Rng()() % 255) - 127);
      }
      if (b == 1) blocks[b].qs[0] = -127, blocks[b].qs[1] = 127;  // extremes
    }
    w.bytes.resize(blocks.size() * sizeof(BlockQ8_0));
    std::memcpy(w.bytes.data(), blocks.data(), w.bytes.size());
  } else if (t == DType::kQ4_K) {
    std::vector<BlockQ4_K> blocks(n / kQK_K);
    for (size_t b = 0; b < blocks.size(); ++b) {
      BlockQ4_K& blk = blocks[b];
      blk.d = ToBits(static_cast<float>(Uniform(0.5, 1.0) / 63 / 15 * sd * 6), DType::kF16);
      blk.dmin = ToBits(static_cast<float>(Uniform(0.5, 1.0) / 63 * sd * 3), DType::kF16);
      for (uint8_t& s : blk.scales) s = static_cast<uint8_t>(Rng()());
      if (b == 1) std::memset(blk.scales, 0xFF, sizeof(blk.scales));  // every scale/min 63
      for (uint8_t& q : blk.qs) q = static_cast<uint8_t>(Rng()());
    }
    w.bytes.resize(blocks.size() * sizeof(BlockQ4_K));
    std::memcpy(w.bytes.data(), blocks.data(), w.bytes.size());
  } else if (t == DType::kQ5_K) {
    std::vector<BlockQ5_K> blocks(n / kQK_K);
    for (size_t b = 0; b < blocks.size(); ++b) {
      BlockQ5_K& blk = blocks[b];
      // |w| <= d * 63 * 31 + dmin * 63: d ~ 6 sd / (63 * 31), dmin ~ 3 sd / 63.
      blk.d = ToBits(static_cast<float>(Uniform(0.5, 1.0) / 63 / 31 * sd * 6), DType::kF16);
      blk.dmin = ToBits(static_cast<float>(Uniform(0.5, 1.0) / 63 * sd * 3), DType::kF16);
      for (uint8_t& s : blk.scales) s = static_cast<uint8_t>(Rng()());
      for (uint8_t& q : blk.qh) q = static_cast<uint8_t>(Rng()());
      for (uint8_t& q : blk.qs) q = static_cast<uint8_t>(Rng()());
      if (b == 1) {  // every scale/min 63; quants 31 (all bits set) and 0 at the ends of a row
        std::memset(blk.scales, 0xFF, sizeof(blk.scales));
        blk.qh[0] = 0xFF, blk.qs[0] = 0xFF, blk.qh[31] = 0x00, blk.qs[127] = 0x00;
      }
    }
    w.bytes.resize(blocks.size() * sizeof(BlockQ5_K));
    std::memcpy(w.bytes.data(), blocks.data(), w.bytes.size());
  } else if (t == DType::kQ6_K) {
    std::vector<BlockQ6_K> blocks(n / kQK_K);
    for (size_t b = 0; b < blocks.size(); ++b) {
      BlockQ6_K& blk = blocks[b];
      // |w| = d |sc| |q - 32| with |sc| <= 16 and |q - 32| <= 32: d ~ 2 sd / (8 * 16).
      blk.d = ToBits(static_cast<float>(Uniform(0.5, 1.0) * sd / 64), DType::kF16);
      for (int8_t& s : blk.scales) {
        s = static_cast<int8_t>(static_cast<int>(Rng()() % 33) - 16);
      }
      if (b == 1) {  // the extremes of the type: scales -128 and 127, quants 0 and 63
        blk.d = ToBits(static_cast<float>(sd / 4096), DType::kF16);
        for (int s = 0; s < kQK_K / 16; ++s)
          blk.scales[s] = static_cast<int8_t>(s % 2 ? 127 : -128);
      }
      for (uint8_t& q : blk.ql) q = static_cast<uint8_t>(Rng()());
      for (uint8_t& q : blk.qh) q = static_cast<uint8_t>(Rng()());
      if (b == 1) blk.ql[0] = 0x00, blk.qh[0] = 0x00, blk.ql[1] = 0xFF, blk.qh[1] = 0xFF;
    }
    w.bytes.resize(blocks.size() * sizeof(BlockQ6_K));
    std::memcpy(w.bytes.data(), blocks.data(), w.bytes.size());
  }
  if (exact) w.values = DequantizeExact(t, w.bytes.data(), rows, cols);
  return w;
}

std::vector<double> DequantizeExact(DType t, const uint8_t* bytes, int64_t rows, int64_t cols,
                                    bool wrong_scale) {
  const int64_t n = rows * cols;
  std::vector<double> y(n);
  switch (t) {
    case DType::kF16:
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        y[i] = FromBits(h, t);
      }
      break;
    case DType::kQ8_0:
      for (int64_t b = 0; b < n / kQK8_0; ++b) {
        const auto blk = ReadBlock<BlockQ8_0>(bytes, b);
        const double d = Half(wrong_scale && b % 2 ? ReadBlock<BlockQ8_0>(bytes, b - 1).d : blk.d);
        for (int j = 0; j < kQK8_0; ++j) y[b * kQK8_0 + j] = d * blk.qs[j];
      }
      break;
    case DType::kQ4_K:
      for (int64_t b = 0; b < n / kQK_K; ++b) {
        const auto blk = ReadBlock<BlockQ4_K>(bytes, b);
        const double d = Half(blk.d), dmin = Half(blk.dmin);
        for (int sub = 0; sub < 8; ++sub) {
          uint8_t sc, m;
          Q4KScaleMin(wrong_scale && sub % 2 ? sub - 1 : sub, blk.scales, &sc, &m);
          // Sub-block 2j holds the low nibbles of bytes 32j..32j+31, 2j+1 the high ones.
          const uint8_t* q = blk.qs + 32 * (sub / 2);
          for (int l = 0; l < 32; ++l) {
            const int v = sub % 2 ? q[l] >> 4 : q[l] & 0xF;
            y[b * kQK_K + 32 * sub + l] = d * sc * v - dmin * m;
          }
        }
      }
      break;
    case DType::kQ5_K:
      for (int64_t b = 0; b < n / kQK_K; ++b) {
        const auto blk = ReadBlock<BlockQ5_K>(bytes, b);
        const double d = Half(blk.d), dmin = Half(blk.dmin);
        for (int sub = 0; sub < 8; ++sub) {
          uint8_t sc, m;
          Q4KScaleMin(wrong_scale && sub % 2 ? sub - 1 : sub, blk.scales, &sc, &m);
          // As Q4_K, plus the 5th bit: bit `sub` of qh byte l.
          const uint8_t* q = blk.qs + 32 * (sub / 2);
          for (int l = 0; l < 32; ++l) {
            const int v = (sub % 2 ? q[l] >> 4 : q[l] & 0xF) | (((blk.qh[l] >> sub) & 1) << 4);
            y[b * kQK_K + 32 * sub + l] = d * sc * v - dmin * m;
          }
        }
      }
      break;
    case DType::kQ6_K:
      for (int64_t b = 0; b < n / kQK_K; ++b) {
        const auto blk = ReadBlock<BlockQ6_K>(bytes, b);
        const double d = Half(blk.d);
        for (int i = 0; i < kQK_K; ++i) {
          // Element i = 128 h + 32 j + l: ql byte 64 h + 32 (j % 2) + l (low nibble for j < 2),
          // qh byte 32 h + l (bits 2j, 2j+1), scale 8 h + l / 16 + 2 j.
          const int h = i / 128, j = (i % 128) / 32, l = i % 32;
          const uint8_t ql = blk.ql[64 * h + 32 * (j % 2) + l];
          const int lo = j < 2 ? ql & 0xF : ql >> 4;
          const int hi = (blk.qh[32 * h + l] >> (2 * j)) & 3;
          int s = 8 * h + l / 16 + 2 * j;
          if (wrong_scale && s % 2) --s;
          y[b * kQK_K + i] = d * blk.scales[s] * ((lo | (hi << 4)) - 32);
        }
      }
      break;
    default:
      break;
  }
  return y;
}

DotRef ReferenceDot(const std::vector<double>& x, const std::vector<double>& w, int m, int n, int k,
                    DotBug bug) {
  DotRef r;
  r.y.resize(static_cast<size_t>(m) * n);
  r.abs_sum.resize(r.y.size());
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      const int wj = bug == DotBug::kShiftColumn ? (j + 1) % n : j;
      const double* xr = &x[static_cast<size_t>(i) * k];
      const double* wr = &w[static_cast<size_t>(wj) * k];
      double s = 0, a = 0;
      for (int l = 0; l < k; ++l) {
        if (bug == DotBug::kDropLast8 && l >= k - 8) continue;
        if (bug == DotBug::kDropUnit && l >= k / 2 && l < k / 2 + 8) continue;
        s += xr[l] * wr[l];
        a += std::fabs(xr[l] * wr[l]);
      }
      r.y[static_cast<size_t>(i) * n + j] = s;
      r.abs_sum[static_cast<size_t>(i) * n + j] = a;
    }
  }
  return r;
}

std::vector<double> EmulateDot(const std::vector<double>& x, const std::vector<double>& w, int m,
                               int n, int k, DType out) {
  std::vector<double> y(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      float s = 0.f;
      for (int l = 0; l < k; ++l) {
        s = std::fma(static_cast<float>(x[static_cast<size_t>(i) * k + l]),
                     static_cast<float>(w[static_cast<size_t>(j) * k + l]), s);
      }
      y[static_cast<size_t>(i) * n + j] = RoundTo(s, out);
    }
  }
  return y;
}

}  // namespace phx::gpu_test
