// Weight GEMV (dense, Q8_0 planar, Q4_K, Q5_K, Q6_K planar; f16/bf16/f32 activations; grouped
// outputs with bias) and dequantize against the float64 references of gemv_ref.h, then the
// bandwidth of the decode shapes.
#include "kernels/gemm.h"
#include "kernels/quant_layout.h"
#include "tests/gpu/common.h"
#include "tests/gpu/gemv_ref.h"

namespace phx::gpu_test {
namespace {

// The device layout of a GGUF-layout weight matrix (kernels/quant_layout.h).
std::vector<uint8_t> DeviceLayout(const HostWeights& w) {
  if (w.t == DType::kQ8_0) {
    std::vector<uint8_t> planar(kernels::Q8_0PlanarBytes(w.rows, w.cols));
    kernels::RepackQ8_0ToPlanar(w.bytes.data(), w.rows, w.cols, planar.data());
    return planar;
  }
  if (w.t == DType::kQ6_K) {
    std::vector<uint8_t> planar(kernels::Q6KPlanar(w.rows, w.cols).bytes);
    kernels::RepackQ6_KToPlanar(w.bytes.data(), w.rows, w.cols, planar.data());
    return planar;
  }
  return w.bytes;  // f16/bf16 raw, Q4_K and Q5_K blocks
}

// Random activations of type t (f16/bf16 bits or f32), exact values in *values.
void RandomActivations(Dev& d, size_t n, DType t, std::vector<double>* values) {
  if (t == DType::kF32) {
    std::vector<float> f(n);
    values->resize(n);
    for (size_t i = 0; i < n; ++i) (*values)[i] = f[i] = static_cast<float>(Normal());
    UploadVec(d, f);
  } else {
    UploadVec(d, RandomHalf(n, t, 1.0, values));
  }
}

std::vector<double> DownloadAs(const Dev& d, size_t n, DType t) {
  std::vector<char> host(d.bytes());
  d.Download(host.data(), host.size());
  return ToDoubles(host.data(), n, t);
}

void CheckGemv(DType wt, DType at, DType yt, int m, int n, int k) {
  const HostWeights w = RandomWeights(wt, n, k);
  std::vector<double> xv;
  Dev x, wd, y(static_cast<size_t>(m) * n * ElemBytes(yt));
  RandomActivations(x, static_cast<size_t>(m) * k, at, &xv);
  UploadVec(wd, DeviceLayout(w));
  y.Poison();
  kernels::WeightGemvParams p;
  p.x = x.as(), p.ldx = k, p.act_dtype = at, p.w = wd.as(), p.w_dtype = wt;
  p.y = y.as(), p.ldy = n, p.y_dtype = yt, p.m = m, p.n = n, p.k = k;
  CheckLaunch(kernels::LaunchWeightGemv(p, nullptr), "weight gemv");
  GPU_CHECK(cudaDeviceSynchronize());
  const DotRef ref = ReferenceDot(xv, w.values, m, n, k);
  char shape[96];
  std::snprintf(shape, sizeof(shape), "m%d n%d k%d %s x %s -> %s", m, n, k, Name(at), Name(wt),
                Name(yt));
  Compare("weight gemv", shape, DownloadAs(y, ref.y.size(), yt), ref.y,
          DotTol(ref.y, ref.abs_sum, k, yt));
}

// Three products of one f32 x in one launch (q/k/v with biases), the CUDA backend's MatmulMany.
void CheckGroupedGemv(DType wt, int m, const std::vector<int>& ns, int k, bool bias) {
  std::vector<double> xv;
  Dev x;
  RandomActivations(x, static_cast<size_t>(m) * k, DType::kF32, &xv);
  std::vector<HostWeights> ws;
  std::vector<Dev> wd(ns.size()), yd(ns.size()), bd(ns.size());
  std::vector<std::vector<float>> biases(ns.size());
  kernels::WeightGemvParams p;
  p.x = x.as(), p.ldx = k, p.act_dtype = DType::kF32, p.w_dtype = wt, p.y_dtype = DType::kF32;
  p.m = m, p.k = k, p.num_extra = static_cast<int32_t>(ns.size()) - 1;
  for (size_t g = 0; g < ns.size(); ++g) {
    ws.push_back(RandomWeights(wt, ns[g], k));
    UploadVec(wd[g], DeviceLayout(ws[g]));
    yd[g].Resize(static_cast<size_t>(m) * ns[g] * 4);
    yd[g].Poison();
    if (bias) {
      biases[g].resize(ns[g]);
      for (float& b : biases[g]) b = static_cast<float>(Normal());
      UploadVec(bd[g], biases[g]);
    }
    const float* bptr = bias ? bd[g].as<float>() : nullptr;
    if (g == 0) {
      p.w = wd[g].as(), p.y = yd[g].as(), p.ldy = ns[g], p.n = ns[g], p.bias = bptr;
    } else {
      p.extra[g - 1] = {wd[g].as(), yd[g].as(), ns[g], bptr, ns[g]};
    }
  }
  CheckLaunch(kernels::LaunchWeightGemv(p, nullptr), "grouped weight gemv");
  GPU_CHECK(cudaDeviceSynchronize());
  for (size_t g = 0; g < ns.size(); ++g) {
    DotRef ref = ReferenceDot(xv, ws[g].values, m, ns[g], k);
    if (bias) {
      for (size_t i = 0; i < ref.y.size(); ++i) {
        ref.y[i] += biases[g][i % ns[g]];
        ref.abs_sum[i] += std::fabs(biases[g][i % ns[g]]);
      }
    }
    char shape[96];
    std::snprintf(shape, sizeof(shape), "out %zu/%zu m%d n%d k%d f32 x %s%s", g + 1, ns.size(), m,
                  ns[g], k, Name(wt), bias ? " +bias" : "");
    Compare("grouped gemv", shape, DownloadAs(yd[g], ref.y.size(), DType::kF32), ref.y,
            DotTol(ref.y, ref.abs_sum, k + (bias ? 1 : 0), DType::kF32));
  }
}

void CheckDequantize(DType wt, DType ot, int rows, int cols) {
  const HostWeights w = RandomWeights(wt, rows, cols);
  Dev wd, out(static_cast<size_t>(rows) * cols * 2);
  UploadVec(wd, DeviceLayout(w));
  out.Poison();
  kernels::DequantizeParams p;
  p.w = wd.as(), p.w_dtype = wt, p.out = out.as(), p.out_dtype = ot, p.rows = rows, p.cols = cols;
  CheckLaunch(kernels::LaunchDequantize(p, nullptr), "dequantize");
  GPU_CHECK(cudaDeviceSynchronize());
  char shape[64];
  std::snprintf(shape, sizeof(shape), "[%d, %d] %s -> %s", rows, cols, Name(wt), Name(ot));
  // One rounding of a value the kernel forms in f32 (itself within one f32 rounding).
  Compare("dequantize", shape, DownloadAs(out, w.values.size(), ot), w.values,
          RoundingTol(w.values, ot, true));
}

void BenchGemv(DType wt, DType at, int m, int n, int k) {
  const HostWeights w = RandomWeights(wt, n, k, /*exact=*/false);
  std::vector<double> xv;
  Dev x, wd, y(size_t{4} * m * n);
  RandomActivations(x, static_cast<size_t>(m) * k, at, &xv);
  const std::vector<uint8_t> dev = DeviceLayout(w);
  UploadVec(wd, dev);
  kernels::WeightGemvParams p;
  p.x = x.as(), p.ldx = k, p.w = wd.as(), p.w_dtype = wt, p.act_dtype = at;
  p.y = y.as(), p.ldy = n, p.y_dtype = DType::kF32, p.m = m, p.n = n, p.k = k;
  const double ms = TimeMs([&] { CheckLaunch(kernels::LaunchWeightGemv(p, nullptr), "gemv"); });
  char shape[64];
  std::snprintf(shape, sizeof(shape), "m%d n%d k%d %s x %s", m, n, k, Name(at), Name(wt));
  const double bytes = static_cast<double>(dev.size()) + 1.0 * ElemBytes(at) * m * k + 4.0 * m * n;
  AddBench("weight gemv", shape, ms, bytes, false);
}

}  // namespace

void RunGemvTests(bool check, bool bench) {
  if (check) {
    // n 96 fills whole CTAs of 8 columns; 101 and 43 end in partial CTAs (the column tail).
    // k 768 gives q4_K/q5_K/q6_K 24 units per row (fewer than the 32 lanes), q8_0 48 (a lane
    // tail).
    const int shapes[][2] = {{96, 512}, {101, 768}, {43, 1024}};
    for (DType at : {DType::kF16, DType::kBF16, DType::kF32}) {
      const DType dense = at == DType::kF32 ? DType::kBF16 : at;
      for (DType wt : {DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, dense}) {
        for (const auto& s : shapes) {
          for (int m : {1, 8, 11}) {
            CheckGemv(wt, at, DType::kF32, m, s[0], s[1]);
            if (at != DType::kF32 && m != 8) CheckGemv(wt, at, at, m, s[0], s[1]);
          }
        }
      }
    }
    CheckGemv(DType::kF16, DType::kF32, DType::kF32, 3, 101, 768);  // f16 weights, f32 input
    for (DType wt :
         {DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kBF16, DType::kF16}) {
      CheckGroupedGemv(wt, 1, {64, 24, 24}, 512, true);  // q/k/v of a GQA layer, with biases
      CheckGroupedGemv(wt, 5, {101, 43}, 768, false);    // gate/up
    }
    for (DType wt : {DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
      for (DType ot : {DType::kF16, DType::kBF16}) CheckDequantize(wt, ot, 33, 1024);
    }
    RunDequantizeBlocksChecks();  // the types dequantized to f16 at load
  }
  if (!bench) return;
  // The 8B shape's decode projections (f32 activations: what the CUDA backend launches).
  const int nk[][2] = {{4096, 4096}, {14336, 4096}, {4096, 14336}, {32000, 4096}};
  for (DType wt : {DType::kBF16, DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    for (const auto& s : nk) BenchGemv(wt, DType::kF32, 1, s[0], s[1]);
    BenchGemv(wt, DType::kF32, 8, 4096, 4096);
  }
}

}  // namespace phx::gpu_test
