// CPU backend kernel benchmarks on the shapes of a ~100M Llama (D=768, F=2048, V=32000) and of
// a 1B Llama (D=2048, F=5632): GEMV (M=1, reported as weight bytes/s against the measured
// memcpy and read bandwidth) and GEMM (M=128, reported as FLOP/s) per weight type, and
// attention decode/prefill. Threads: PHX_BENCH_THREADS (default 2); SIMD level: PHX_CPU_ISA.
//
//   ops_bench --benchmark_filter=Gemv   (weights cycle through >= 256 MiB, so they stream from
//                                        DRAM as in a real decode step)
//   PHX_BENCH_CACHED=1 ops_bench ...    (one copy of the weights: the small shapes stay in the
//                                        caches, which measures a kernel's compute ceiling)
//   ops_bench --benchmark_filter=Quantize  (the activation quantizers, one row)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "ops/cpu/cpu_backend.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/packed_formats.h"
#include "ops/cpu/quantize_act.h"
#include "ops/cpu/repack_formats.h"

namespace phx::ops {
namespace {

int BenchThreads() {
  const char* e = std::getenv("PHX_BENCH_THREADS");
  return e ? std::atoi(e) : 2;
}

cpu::CpuBackend& BenchBackend() {
  static cpu::CpuBackend* b = new cpu::CpuBackend(BenchThreads());
  return *b;
}

constexpr size_t kStreamBytes = size_t{256} << 20;

// ---- Bandwidth baselines (2 threads like the kernels) --------------------------------------
void BM_Memcpy(benchmark::State& state) {
  std::vector<uint8_t> src(kStreamBytes, 1), dst(kStreamBytes, 0);
  cpu::ThreadPool& pool = BenchBackend().pool();
  for (auto _ : state) {
    pool.Run([&](int t) {
      const size_t per = kStreamBytes / pool.size();
      std::memcpy(dst.data() + t * per, src.data() + t * per, per);
    });
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kStreamBytes));
}
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReadBandwidth(benchmark::State& state) {
  std::vector<uint64_t> src(kStreamBytes / 8, 3);
  cpu::ThreadPool& pool = BenchBackend().pool();
  std::vector<uint64_t> sums(pool.size());
  for (auto _ : state) {
    pool.Run([&](int t) {
      const size_t per = src.size() / pool.size();
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      const uint64_t* p = src.data() + t * per;
      for (size_t i = 0; i < per; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
      }
      sums[t] = s0 + s1 + s2 + s3;
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kStreamBytes));
}
BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- Matmul ------------------------------------------------------------------------------
// Weight rows quantized from one random row and replicated (valid blocks, cheap to build).
struct Weights {
  std::vector<uint8_t> bytes;
  int64_t matrix_bytes = 0, copies = 1;
};

Weights MakeWeights(DType t, int64_t N, int64_t K, bool stream) {
  Weights w;
  const int64_t rb = static_cast<int64_t>(*RowBytes(t, K));
  w.matrix_bytes = rb * N;
  w.copies = stream ? std::max<int64_t>(1, kStreamBytes / w.matrix_bytes + 1) : 1;
  w.bytes.resize(static_cast<size_t>(w.matrix_bytes * w.copies));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> row(K);
  for (auto& v : row) v = d(rng);
  std::vector<uint8_t> q(rb);
  QuantizeRow(t, row.data(), q.data(), K);
  for (int64_t r = 0; r < N * w.copies; ++r) std::memcpy(w.bytes.data() + r * rb, q.data(), rb);
  return w;
}

void RunMatmul(benchmark::State& state, DType t, int64_t M, int64_t N, int64_t K, bool prepare) {
  cpu::CpuBackend& b = BenchBackend();
  const bool gemv = M <= 8;
  const char* cached = std::getenv("PHX_BENCH_CACHED");
  Weights w = MakeWeights(t, N, K, gemv && !(cached && std::atoi(cached) != 0));
  std::vector<std::unique_ptr<PreparedWeight>> prepared;  // the backend's copies, if any
  for (int64_t c = 0; prepare && c < w.copies; ++c) {
    auto p = b.PrepareMatmul(Tensor::View(w.bytes.data() + c * w.matrix_bytes, t, {N, K}));
    if (!p.ok()) return state.SkipWithError(std::string(p.status().message()).c_str());
    prepared.push_back(*std::move(p));
  }
  auto x = b.Allocate(DType::kF32, {M, K});
  auto y = b.Allocate(DType::kF32, {M, N});
  std::vector<float> xv(M * K);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (auto& v : xv) v = d(rng);
  (void)b.CopyToDevice(xv.data(), xv.size() * 4, x->tensor());
  int64_t c = 0;
  for (auto _ : state) {
    const Tensor wt = Tensor::View(w.bytes.data() + c * w.matrix_bytes, t, {N, K});
    const absl::Status s = b.Matmul(x->tensor(), wt, nullptr, y->tensor());
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
    c = (c + 1) % w.copies;
  }
  state.SetBytesProcessed(state.iterations() * w.matrix_bytes);
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * M * N * K * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(DTypeName(t)));
}

const DType kTypes[] = {DType::kF32,  DType::kF16,    DType::kBF16,   DType::kQ8_0,
                        DType::kQ4_0, DType::kQ4_1,   DType::kQ5_0,   DType::kQ5_1,
                        DType::kQ2_K, DType::kQ3_K,   DType::kQ4_K,   DType::kQ5_K,
                        DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS, DType::kMXFP4};

void RegisterMatmul() {
  struct Shape {
    const char* name;
    int64_t N, K;
  };
  const Shape small[] = {{"100M_qkvo", 768, 768},
                         {"100M_ffn_up", 2048, 768},
                         {"100M_ffn_down", 768, 2048},
                         {"100M_vocab", 32000, 768}};
  const Shape large[] = {
      {"1B_qo", 2048, 2048}, {"1B_ffn_up", 5632, 2048}, {"1B_ffn_down", 2048, 5632}};
  for (DType t : kTypes) {
    for (int64_t M : {1, 16, 128}) {
      for (const auto& set : {std::vector<Shape>(std::begin(small), std::end(small)),
                              std::vector<Shape>(std::begin(large), std::end(large))}) {
        for (const Shape& s : set) {
          // Every type runs twice: as stored (the portable panel/direct tiles; float weights
          // in 4 KiB pages) and as PrepareMatmul's copy (Q8x16, Q32x16 or Kx16: "x16"; float
          // types: "copy", on AVX-512 the 64-row groups, elsewhere the same rows, in huge
          // pages).
          for (bool prep : {false, true}) {
            const char* suffix = !prep ? "" : IsQuantized(t) ? "x16" : "copy";
            const std::string name = std::string(M == 1    ? "Gemv/"
                                                 : M == 16 ? "Batch/"
                                                           : "Gemm/") +
                                     DTypeName(t).data() + suffix + "/" + s.name + "/M" +
                                     std::to_string(M);
            benchmark::RegisterBenchmark(
                name.c_str(), [=](benchmark::State& st) { RunMatmul(st, t, M, s.N, s.K, prep); })
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
          }
        }
      }
    }
  }
}

// ---- Activation quantizers -------------------------------------------------------------
// One row of K floats into each activation format of the best level (kernels.h): serial work
// at the head of every decode matmul. The panels (q8x16, kx8) as a single row's compact copy,
// as decode makes them, or with PHX_BENCH_PANEL_ROWS=8 as row 3 of an 8-row panel.
void RunQuantize(benchmark::State& state, int which, int64_t K) {
  const char* r = std::getenv("PHX_BENCH_PANEL_ROWS");
  const int rows = r != nullptr && std::atoi(r) == 8 ? 8 : 1;
  const int row = rows == 1 ? 0 : 3;
  const cpu::KernelTable kt = cpu::KernelsFor(cpu::BestIsa());
  std::vector<float> x(K);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-2.f, 2.f);
  for (auto& v : x) {
    v = d(rng);
  }
  std::vector<uint8_t> out(
      std::max({cpu::Q8ActRowBytes(K), cpu::KActRowBytes(K), cpu::Q8x16PanelBytes(K),
                cpu::KPanelBytes(K), cpu::BF16ActRowBytes(K)}));
  for (auto _ : state) {
    switch (which) {
      case 0:
        kt.quantize_q8(x.data(), K, out.data());
        break;
      case 1:
        kt.quantize_k(x.data(), K, out.data());
        break;
      case 2:
        kt.quantize_q8x16(x.data(), K, out.data(), row, rows);
        break;
      case 3:
        kt.quantize_kx8(x.data(), K, out.data(), row, rows);
        break;
      default:
        kt.quantize_bf16(x.data(), K, out.data());
        break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * K * 4);
}

void RegisterQuantize() {
  const cpu::KernelTable kt = cpu::KernelsFor(cpu::BestIsa());
  const char* names[] = {"q8", "k", "q8x16", "kx8", "bf16"};
  const bool present[] = {kt.quantize_q8 != nullptr, kt.quantize_k != nullptr,
                          kt.quantize_q8x16 != nullptr, kt.quantize_kx8 != nullptr,
                          kt.quantize_bf16 != nullptr};
  for (int w = 0; w < 5; ++w) {
    if (!present[w]) {
      continue;
    }
    for (int64_t K : {2048, 5632}) {
      benchmark::RegisterBenchmark(
          (std::string("Quantize/") + names[w] + "/K" + std::to_string(K)).c_str(),
          [=](benchmark::State& st) { RunQuantize(st, w, K); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
}

// ---- Attention ----------------------------------------------------------------------------
void RunAttention(benchmark::State& state, int32_t H, int32_t KV, int32_t hd, int32_t n_past,
                  int32_t n_new, int32_t seqs) {
  cpu::CpuBackend& b = BenchBackend();
  const int32_t bs = 16;
  const int32_t pages_per = (n_past + n_new + bs - 1) / bs;
  auto k = b.Allocate(DType::kF16, {pages_per * seqs, bs, KV, hd});
  auto v = b.Allocate(DType::kF16, {pages_per * seqs, bs, KV, hd});
  (void)b.Fill(k->tensor(), 0.01f);
  (void)b.Fill(v->tensor(), 0.02f);
  AttentionBatch batch;
  batch.block_size = bs;
  batch.q_indptr = {0};
  batch.kv_indptr = {0};
  for (int32_t s = 0; s < seqs; ++s) {
    for (int32_t p = 0; p < pages_per; ++p) batch.kv_indices.push_back(s * pages_per + p);
    batch.q_indptr.push_back(batch.q_indptr.back() + n_new);
    batch.kv_indptr.push_back(static_cast<int32_t>(batch.kv_indices.size()));
    batch.kv_last_page_len.push_back(n_past + n_new - (pages_per - 1) * bs);
  }
  const int64_t T = static_cast<int64_t>(n_new) * seqs;
  auto q = b.Allocate(DType::kF32, {T, static_cast<int64_t>(H) * hd});
  auto o = b.Allocate(DType::kF32, {T, static_cast<int64_t>(H) * hd});
  (void)b.Fill(q->tensor(), 0.1f);
  for (auto _ : state) {
    auto plan = b.PlanAttention(batch, H, KV, hd);
    const absl::Status s =
        b.Attention(q->tensor(), {k->tensor(), v->tensor(), bs}, **plan, 0.125f, o->tensor());
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
  }
  double pairs = 0;  // (query, key) pairs attended per head
  for (int32_t j = 0; j < n_new; ++j) pairs += n_past + j + 1;
  state.counters["GFLOPS"] = benchmark::Counter(
      4.0 * pairs * seqs * H * hd * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void RegisterAttention() {
  struct A {
    const char* name;
    int32_t H, KV, hd, past, nw, seqs;
  };
  const A cases[] = {{"100M_decode_ctx512", 12, 4, 64, 511, 1, 1},
                     {"100M_decode_ctx4096", 12, 4, 64, 4095, 1, 1},
                     {"100M_decode_8seq_ctx1024", 12, 4, 64, 1023, 1, 8},
                     // Batched decode (the server's steady state): 16 sequences, 1 token each.
                     {"100M_decode_16seq_ctx256", 12, 4, 64, 255, 1, 16},
                     {"100M_decode_16seq_ctx512", 12, 4, 64, 511, 1, 16},
                     {"100M_prefill128", 12, 4, 64, 0, 128, 1},
                     {"1B_decode_ctx2048", 32, 4, 64, 2047, 1, 1},
                     {"1B_prefill512", 32, 4, 64, 0, 512, 1}};
  for (const A& a : cases) {
    benchmark::RegisterBenchmark(
        (std::string("Attention/") + a.name).c_str(),
        [=](benchmark::State& st) { RunAttention(st, a.H, a.KV, a.hd, a.past, a.nw, a.seqs); })
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
}

}  // namespace
}  // namespace phx::ops

int main(int argc, char** argv) {
  phx::ops::RegisterMatmul();
  phx::ops::RegisterAttention();
  phx::ops::RegisterQuantize();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("ops_bench: %d threads, isa %s\n", phx::ops::BenchBackend().num_threads(),
              std::string(phx::ops::cpu::IsaName(phx::ops::BenchBackend().isa())).c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
