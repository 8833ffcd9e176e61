// phx_gpu_engine --bench: model-level numbers on the GPU, each against a ceiling measured in the
// same run (tests/gpu/torch_ref.py adds PyTorch's in the same call):
//   decode   batch-1 decode of a synthesized BF16 model (random weights, the Llama SPM vocabulary
//            of 32,000 tokens): ms per step (the host's logits copy included), tokens/s and the
//            bytes a step must read (weights + KV) over the step time, as a share of the device
//            copy bandwidth; with CUDA graphs + fused launches, eager + fused, eager + unfused
//            (kernel launches per step for each).
//   serve    the 8B shape through the Engine (continuous batching, paged KV, graphs): 64 streams,
//            128 prompt + 128 generated tokens each (greedy, EOS ignored): generated tokens/s.
// Shapes: 1b = TinyLlama (22 layers, 2048 wide, 32/4 heads, FFN 5632), 8b = Llama 3 8B (32
// layers, 4096 wide, 32/8 heads, FFN 14336) - scripts/synth-models' shapes. Lines starting with
// "bench|" are for torch_ref.py.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/strings.h"
#include "ops/cuda/cuda_backend.h"
#include "runtime/engine/engine.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/forward.h"
#include "tests/gpu/engine_common.h"

namespace phx::gpu_engine {
namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
  const char* name;
  int64_t layers, embd, ff, heads, kv_heads, ctx;
  float rope_base;
};
constexpr Shape kShapes[] = {
    {"1b", 22, 2048, 5632, 32, 4, 4096, 10000.f},
    {"8b", 32, 4096, 14336, 32, 8, 8192, 500000.f},
};

double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Device-to-device copy of 1 GiB, median of 10 (bytes read + written per second).
double CopyGbps() {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
  cudaMemset(a, 1, bytes);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<float> ms;
  for (int i = 0; i < 12; ++i) {
    cudaEventRecord(e0);
    cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float t = 0;
    cudaEventElapsedTime(&t, e0, e1);
    if (i >= 2) ms.push_back(t);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaFree(a);
  cudaFree(b);
  std::sort(ms.begin(), ms.end());
  return 2.0 * bytes / (ms[ms.size() / 2] * 1e-3) / 1e9;
}

std::vector<int32_t> RandomTokens(std::mt19937& rng, int32_t vocab, int n) {
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = 1 + static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab - 1));
  return t;
}

struct DecodeResult {
  double ms = 0;          // per step
  double launches = 0;    // eager kernel launches per step
  uint64_t replays = 0;   // graph replays during the timed steps
  uint64_t nodes = 0;     // nodes of the last captured graph
  uint64_t failures = 0;  // failed captures (the step then ran eagerly)
};

// Batch-1 decode after a `prompt`-token prefill: `steps` timed steps (after 3 untimed ones,
// which for graphs are the warm-up and the capture).
absl::StatusOr<DecodeResult> TimeDecode(Loaded& l, int prompt, int steps, bool graphs, bool fused) {
  auto* cuda = dynamic_cast<ops::cuda::CudaBackend*>(l.backend.get());
  cuda->SetFuseOpsForTesting(fused);
  const auto& c = l.model->config();
  kv::KvCacheConfig kc;
  kc.n_layers = static_cast<int32_t>(c.n_layer);
  kc.n_kv_heads = static_cast<int32_t>(c.n_head_kv);
  kc.head_dim = static_cast<int32_t>(c.head_dim);
  kc.num_blocks = (prompt + steps + 8) / kc.block_size + 2;
  kc.dtype = DType::kBF16;
  PHX_ASSIGN_OR_RETURN(auto cache, kv::KvCache::Create(*l.backend, kc));
  PHX_ASSIGN_OR_RETURN(auto fwd, model::Forward::Create(*l.model, *l.backend, prompt, 1));
  fwd->set_step_graphs(graphs);
  std::mt19937 rng(7);
  const std::vector<int32_t> toks = RandomTokens(rng, static_cast<int32_t>(c.vocab_size), prompt);
  kv::BlockTable table(kc.block_size);
  PHX_RETURN_IF_ERROR(table.Reserve(cache->allocator(), prompt + steps + 3));
  PHX_ASSIGN_OR_RETURN(auto layout, kv::BuildStepLayout({{&table, 0, prompt}}, kc.block_size));
  const std::vector<int32_t> last{prompt - 1}, zero{0};
  PHX_RETURN_IF_ERROR(fwd->Run(toks, layout, *cache, last).status());
  int32_t pos = prompt;
  auto step = [&]() -> absl::Status {
    PHX_ASSIGN_OR_RETURN(auto lay, kv::BuildStepLayout({{&table, pos, 1}}, kc.block_size));
    const std::vector<int32_t> one{toks[pos % prompt]};
    ++pos;
    return fwd->Run(one, lay, *cache, zero).status();
  };
  for (int i = 0; i < 3; ++i) PHX_RETURN_IF_ERROR(step());
  const ops::cuda::CudaBackend::Counters before = cuda->counters();
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) PHX_RETURN_IF_ERROR(step());
  DecodeResult r;
  r.ms = Seconds(t0) * 1e3 / steps;
  r.launches = static_cast<double>(cuda->counters().launches - before.launches) / steps;
  r.replays = cuda->counters().graph_replays - before.graph_replays;
  r.nodes = cuda->counters().graph_nodes_last;
  r.failures = cuda->counters().graph_failures - before.graph_failures;
  return r;
}

struct ServeResult {
  double seconds = 0;
  uint64_t generated = 0, prompt = 0, graph_steps = 0, steps = 0;
  uint64_t replays = 0, captures = 0, failures = 0;
  std::string last_graph_error;
};

absl::StatusOr<ServeResult> Serve(Loaded& l, int streams, int prompt, int gen, bool graphs) {
  auto* cuda = dynamic_cast<ops::cuda::CudaBackend*>(l.backend.get());
  cuda->SetFuseOpsForTesting(true);
  struct Null : engine::TokenSink {
    void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>&) override {}
    void OnFinish(engine::RequestId, engine::FinishReason, const absl::Status& s,
                  const engine::Usage&, const engine::Timing&, std::string) override {
      if (!s.ok()) status = s;
    }
    absl::Status status;
  };
  engine::EngineConfig ec;
  ec.max_num_seqs = streams;
  ec.max_tokens_per_step = streams * prompt;
  ec.num_blocks = streams * ((prompt + gen) / ec.block_size + 2);
  ec.kv_dtype = DType::kBF16;
  ec.prefix_cache = false;
  ec.step_graphs = graphs;
  PHX_ASSIGN_OR_RETURN(auto e, engine::Engine::Create(*l.model, *l.backend, ec));
  std::mt19937 rng(11);
  auto sink = std::make_shared<Null>();
  for (int i = 0; i < streams; ++i) {
    engine::GenerateRequest r;
    r.prompt = RandomTokens(rng, static_cast<int32_t>(l.model->config().vocab_size), prompt);
    r.sampling.temperature = 0.f;
    r.sampling.max_tokens = gen;
    r.sampling.ignore_eos = true;
    PHX_RETURN_IF_ERROR(e->Submit(std::move(r), sink).status());
  }
  const ops::cuda::CudaBackend::Counters before = cuda->counters();
  const auto t0 = Clock::now();
  PHX_RETURN_IF_ERROR(e->RunUntilIdle());
  ServeResult res;
  res.replays = cuda->counters().graph_replays - before.graph_replays;
  res.captures = cuda->counters().graph_captures - before.graph_captures;
  res.failures = cuda->counters().graph_failures - before.graph_failures;
  res.last_graph_error = cuda->counters().last_graph_error;
  res.seconds = Seconds(t0);
  PHX_RETURN_IF_ERROR(sink->status);
  const engine::EngineStats st = e->stats();
  res.generated = st.generated_tokens;
  res.prompt = st.prompt_tokens;
  res.graph_steps = st.graph_steps;
  res.steps = st.steps;
  return res;
}

void Line(const std::string& key, double value, const char* unit) {
  std::printf("bench|%s|%.4f|%s\n", key.c_str(), value, unit);
}

// Bytes of a shape's BF16 weights with `layers` layers (32,000-token vocabulary, untied).
double ShapeBytes(const Shape& s, int64_t layers) {
  const double kv = static_cast<double>(s.embd) / s.heads * s.kv_heads;
  const double per_layer = s.embd * (2.0 * s.embd + 2 * kv) + 3.0 * s.embd * s.ff;
  return 2.0 * (layers * per_layer + 2.0 * 32000 * s.embd);
}

double g_synth_bytes_per_s = 0;  // measured on the first shape synthesized

int BenchShape(const Args& args, const Shape& shape, double copy_gbps) {
  const std::string vocab = args.asset_dir + "/vocab/ggml-vocab-llama-spm.gguf";
  model::SynthOptions o;
  o.vocab_from = vocab;
  o.name = std::string("bench-") + shape.name;
  o.n_layer = args.layers > 0 ? args.layers : shape.layers;
  if (args.layers == 0 && g_synth_bytes_per_s > 0) {
    // Fewer layers of the same shape when the full model would not be written in time.
    const double est = ShapeBytes(shape, o.n_layer) / g_synth_bytes_per_s;
    if (est > args.synth_budget) {
      o.n_layer = std::max<int64_t>(4, static_cast<int64_t>(o.n_layer * args.synth_budget / est));
      std::printf(
          "bench %s: the full model would take ~%.0f s to synthesize (budget %.0f s): "
          "%lld layers\n",
          shape.name, est, args.synth_budget, static_cast<long long>(o.n_layer));
    }
  }
  o.n_embd = shape.embd;
  o.n_ff = shape.ff;
  o.n_head = shape.heads;
  o.n_head_kv = shape.kv_heads;
  o.context_length = shape.ctx;
  o.rope_freq_base = shape.rope_base;
  o.dtype = DType::kBF16;
  o.seed = 31;
  const std::string path = args.tmp_dir + "/phx_bench_" + shape.name + ".gguf";
  auto t0 = Clock::now();
  if (auto s = model::SynthesizeModel(o, path); !s.ok()) {
    Report("FAIL", shape.name, "bench synth", std::string(s.message()));
    return 1;
  }
  const double synth_s = Seconds(t0);
  if (g_synth_bytes_per_s == 0) g_synth_bytes_per_s = ShapeBytes(shape, o.n_layer) / synth_s;
  Loaded l;
  t0 = Clock::now();
  ops::cuda::CudaBackendOptions opt;
  opt.use_wgmma = args.wgmma;
  if (auto s = Load(path, true, opt, &l); !s.ok()) {
    Report("FAIL", shape.name, "bench load", std::string(s.message()));
    std::remove(path.c_str());
    return 1;
  }
  std::remove(path.c_str());  // the weights are on the device now
  const double load_s = Seconds(t0);
  std::string name = shape.name;
  if (o.n_layer != shape.layers) {
    name += '-';
    name += std::to_string(o.n_layer);
    name += 'l';
  }
  const double weight_gb = static_cast<double>(l.model->weight_bytes()) / 1e9;
  std::printf(
      "bench %s: %lld layers, %.2f GB of weights; synthesized in %.1f s, loaded in %.1f s\n",
      name.c_str(), static_cast<long long>(o.n_layer), weight_gb, synth_s, load_s);
  std::fflush(stdout);

  const int prompt = 128, steps = 64;
  struct Config {
    const char* label;
    bool graphs, fused;
  };
  const Config configs[] = {
      {"graphs", true, true}, {"eager", false, true}, {"unfused", false, false}};
  const double kv_gb = 2.0 * l.model->config().n_layer * l.model->config().kv_dim() *
                       (prompt + steps) * 2 / 1e9;  // bf16 K and V read per step (upper)
  for (const Config& cfg : configs) {
    auto r = TimeDecode(l, prompt, steps, cfg.graphs, cfg.fused);
    if (!r.ok()) {
      Report("FAIL", name, "bench decode",
             std::string(cfg.label) + ": " + std::string(r.status().message()));
      continue;
    }
    const double gbps = (weight_gb + kv_gb) / (r->ms * 1e-3);
    std::printf(
        "bench %-8s decode b1 %-8s %8.3f ms/step %8.1f tok/s %7.0f GB/s %5.1f%% of copy; "
        "%.0f launches/step, %llu replays, %llu graph nodes, %llu failed captures\n",
        name.c_str(), cfg.label, r->ms, 1e3 / r->ms, gbps, 100.0 * gbps / copy_gbps, r->launches,
        static_cast<unsigned long long>(r->replays), static_cast<unsigned long long>(r->nodes),
        static_cast<unsigned long long>(r->failures));
    const std::string key = "decode:" + name + ":" + cfg.label;
    Line(key + ":ms", r->ms, "ms");
    Line(key + ":bw_pct", 100.0 * gbps / copy_gbps, "%");
    Line(key + ":launches", cfg.graphs ? static_cast<double>(r->nodes) : r->launches, "launches");
    std::fflush(stdout);
  }
  if (args.serve && std::string(shape.name) == "8b") {
    for (bool graphs : {true, false}) {
      auto r = Serve(l, 64, 128, 128, graphs);
      if (!r.ok()) {
        Report("FAIL", name, "bench serve", std::string(r.status().message()));
        continue;
      }
      const double tps = static_cast<double>(r->generated) / r->seconds;
      std::printf(
          "bench %-8s serve 64 x 128/128 %-6s %7.2f s, %8.0f generated tok/s, %8.0f total tok/s "
          "(%llu steps, %llu as graphs)\n",
          name.c_str(), graphs ? "graphs" : "eager", r->seconds, tps,
          static_cast<double>(r->generated + r->prompt) / r->seconds,
          static_cast<unsigned long long>(r->steps),
          static_cast<unsigned long long>(r->graph_steps));
      Line("serve:" + name + (graphs ? ":graphs" : ":eager") + ":tok_s", tps, "tok/s");
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int RunEngineBench(const Args& args) {
  const double copy = CopyGbps();
  std::printf("bench copy bandwidth %.0f GB/s (1 GiB device-to-device, read + write)\n", copy);
  Line("copy_gbps", copy, "GB/s");
  int rc = 0;
  for (const Shape& s : kShapes) {
    if (!InList(args.shapes, s.name)) continue;
    rc = std::max(rc, BenchShape(args, s, copy));
  }
  return rc;
}

}  // namespace phx::gpu_engine
