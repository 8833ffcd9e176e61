// Weight GEMV (dense, Q8_0 planar, Q4_K) and dequantize against float64 references built from
// random GGUF blocks; bandwidth of the decode shapes.
#include "kernels/gemm.h"
#include "kernels/quant_layout.h"
#include "tests/gpu/common.h"

namespace phx::gpu_test {
namespace {

// A random [rows, cols] weight matrix in the device layout of t, and its exact values.
struct Weights {
  std::vector<uint8_t> device;  // device layout bytes
  std::vector<double> values;   // [rows * cols]
};

Weights RandomWeights(DType t, int64_t rows, int64_t cols) {
  Weights w;
  const int64_t n = rows * cols;
  w.values.resize(n);
  if (t == DType::kF16 || t == DType::kBF16) {
    const std::vector<uint16_t> bits = RandomHalf(n, t, 1.0 / std::sqrt(cols), &w.values);
    w.device.resize(2 * n);
    std::memcpy(w.device.data(), bits.data(), 2 * n);
  } else if (t == DType::kQ8_0) {
    std::vector<BlockQ8_0> blocks(n / kQK8_0);
    for (size_t b = 0; b < blocks.size(); ++b) {
      blocks[b].d =
          ToBits(static_cast<float>(Uniform(0.2, 1.0) / 127 / std::sqrt(cols) * 3), DType::kF16);
      const double d = FromBits(blocks[b].d, DType::kF16);
      for (int j = 0; j < kQK8_0; ++j) {
        blocks[b].qs[j] = static_cast<int8_t>(static_cast<int>(Rng()() % 255) - 127);
        w.values[b * kQK8_0 + j] = d * blocks[b].qs[j];
      }
    }
    w.device.resize(kernels::Q8_0PlanarBytes(rows, cols));
    kernels::RepackQ8_0ToPlanar(blocks.data(), rows, cols, w.device.data());
  } else {  // q4_K
    std::vector<BlockQ4_K> blocks(n / kQK_K);
    for (size_t b = 0; b < blocks.size(); ++b) {
      BlockQ4_K& blk = blocks[b];
      blk.d = ToBits(static_cast<float>(Uniform(0.5, 1.0) / 63 / 15 / std::sqrt(cols) * 6),
                     DType::kF16);
      blk.dmin =
          ToBits(static_cast<float>(Uniform(0.5, 1.0) / 63 / std::sqrt(cols) * 3), DType::kF16);
      for (uint8_t& s : blk.scales) s = static_cast<uint8_t>(Rng()());
      for (uint8_t& q : blk.qs) q = static_cast<uint8_t>(Rng()());
      const double d = FromBits(blk.d, DType::kF16), dmin = FromBits(blk.dmin, DType::kF16);
      double* y = &w.values[b * kQK_K];
      const uint8_t* q = blk.qs;
      for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, q += 32) {
        uint8_t sc, m;
        Q4KScaleMin(is, blk.scales, &sc, &m);
        const double d1 = d * sc, m1 = dmin * m;
        Q4KScaleMin(is + 1, blk.scales, &sc, &m);
        const double d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      }
    }
    w.device.resize(blocks.size() * sizeof(BlockQ4_K));
    std::memcpy(w.device.data(), blocks.data(), w.device.size());
  }
  return w;
}

void CheckGemv(DType wt, DType at, DType yt, int m, int n, int k) {
  const Weights w = RandomWeights(wt, n, k);
  std::vector<double> xv;
  Dev x, wd, y(static_cast<size_t>(m) * n * ElemBytes(yt));
  UploadVec(x, RandomHalf(static_cast<size_t>(m) * k, at, 1.0, &xv));
  UploadVec(wd, w.device);
  y.Poison();
  kernels::WeightGemvParams p;
  p.x = x.as(), p.ldx = k, p.act_dtype = at, p.w = wd.as(), p.w_dtype = wt;
  p.y = y.as(), p.ldy = n, p.y_dtype = yt, p.m = m, p.n = n, p.k = k;
  CheckLaunch(kernels::LaunchWeightGemv(p, nullptr), "weight gemv");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<char> out(y.bytes());
  y.Download(out.data(), out.size());
  std::vector<double> ref(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int l = 0; l < k; ++l) s += xv[size_t(i) * k + l] * w.values[size_t(j) * k + l];
      ref[size_t(i) * n + j] = s;
    }
  }
  char shape[96];
  std::snprintf(shape, sizeof(shape), "m%d n%d k%d %s x %s -> %s", m, n, k, Name(at), Name(wt),
                Name(yt));
  Compare("weight gemv", shape, ToDoubles(out.data(), ref.size(), yt), ref,
          yt == DType::kF32 ? Tol{1e-3, 1e-3} : OutputTol(yt));
}

void CheckDequantize(DType wt, DType ot, int rows, int cols) {
  const Weights w = RandomWeights(wt, rows, cols);
  Dev wd, out(static_cast<size_t>(rows) * cols * 2);
  UploadVec(wd, w.device);
  out.Poison();
  kernels::DequantizeParams p;
  p.w = wd.as(), p.w_dtype = wt, p.out = out.as(), p.out_dtype = ot, p.rows = rows, p.cols = cols;
  CheckLaunch(kernels::LaunchDequantize(p, nullptr), "dequantize");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<char> host(out.bytes());
  out.Download(host.data(), host.size());
  char shape[64];
  std::snprintf(shape, sizeof(shape), "[%d, %d] %s -> %s", rows, cols, Name(wt), Name(ot));
  // One rounding of an f32 value (whose error vs. the exact product is ~1e-7 relative).
  Compare("dequantize", shape, ToDoubles(host.data(), size_t(rows) * cols, ot), w.values,
          ot == DType::kF16 ? Tol{1e-7, 1.0 / 2048} : Tol{1e-7, 1.0 / 256});
}

void BenchGemv(DType wt, int m, int n, int k) {
  const Weights w = RandomWeights(wt, n, k);
  Dev x(size_t{2} * m * k), wd, y(size_t{2} * m * n);
  GPU_CHECK(cudaMemset(x.as(), 0, x.bytes()));
  UploadVec(wd, w.device);
  kernels::WeightGemvParams p;
  p.x = x.as(), p.ldx = k, p.w = wd.as(), p.w_dtype = wt, p.act_dtype = DType::kF16;
  p.y = y.as(), p.ldy = n, p.m = m, p.n = n, p.k = k;
  const double ms = TimeMs([&] { CheckLaunch(kernels::LaunchWeightGemv(p, nullptr), "gemv"); });
  char shape[64];
  std::snprintf(shape, sizeof(shape), "m%d n%d k%d %s", m, n, k, Name(p.w_dtype));
  const double bytes = static_cast<double>(w.device.size()) + 2.0 * m * k + 2.0 * m * n;
  AddBench("weight gemv", shape, ms, bytes, false);
}

}  // namespace

void RunGemvTests(bool bench) {
  for (DType at : {DType::kF16, DType::kBF16}) {
    for (DType wt : {DType::kQ8_0, DType::kQ4_K, at}) {
      for (int m : {1, 3, 8, 11}) {
        CheckGemv(wt, at, at, m, 96, 512);
        CheckGemv(wt, at, DType::kF32, m, 40, 1024);
      }
    }
  }
  for (DType wt : {DType::kQ8_0, DType::kQ4_K}) {
    for (DType ot : {DType::kF16, DType::kBF16}) CheckDequantize(wt, ot, 33, 1024);
  }
  if (!bench) return;
  const int nk[][2] = {{2048, 2048}, {8192, 2048}, {4096, 4096}, {14336, 4096}, {4096, 14336}};
  for (DType wt : {DType::kQ8_0, DType::kQ4_K, DType::kF16}) {
    for (const auto& s : nk) {
      BenchGemv(wt, 1, s[0], s[1]);
      if (s[0] == 4096 && s[1] == 4096) BenchGemv(wt, 8, s[0], s[1]);
    }
  }
}

}  // namespace phx::gpu_test
