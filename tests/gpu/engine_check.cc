// phx_gpu_engine's checks: the CUDA backend under the real runtime (model load, Forward, Engine)
// against the CPU backend, on stories260K, on synthesized llama models (f16, f32 -> f16, Q8_0,
// Q4_K; head dims 64 and 128; llama.cpp's Q4_K_M, Q5_K_M and Q3_K_M mixes; q5_0, iq4_xs and mxfp4,
// dequantized to f16 at load) and on synthesized qwen3 (YaRN), gemma2 (window, soft-caps) and
// qwen3moe (Q8_0 experts) models. One PASS/FAIL/SKIP line per model x check:
//
//   logits   teacher-forced prefill + one decode step through model::Forward on both backends:
//            max |gpu - cpu| <= 0.03 * max |cpu| + 1e-3 (the GPU rounds matmul inputs and
//            attention q/out to f16 and the KV cache is f16 on both; the CPU quantizes
//            activations to Q8 for quantized weights).
//   greedy   4 prompts x 24 greedy tokens through the Engine (decode steps as CUDA graphs): the
//            GPU's tokens equal the CPU's. A first difference is tolerated only where the CPU's
//            own top-2 logit gap at that position is below the logits tolerance (a near tie).
//   batch    the same 4 prompts one at a time on the GPU: tokens equal the batched run (same
//            near-tie rule).
//   eager    the batched run again with step graphs off: tokens equal the graph run's; and the
//            graph run captured graphs, replayed them and never failed a capture.
//   graphs   3 sequences (a decode bucket of 4: one padding row) decoding 8 steps teacher-forced
//            through Forward with graphs on and off: logits within 1e-3 * max + 1e-4 (the graph
//            plan splits attention differently; anything structural - a stale plan, a wrong
//            buffer or row - is O(1)).
//   unfused  the backend with fuse_ops off (one launch per op): logits as "logits"; the kernel
//            launches of one eager decode step, fused and unfused, are printed.
//   cancel   8 long requests, 5 steps, all cancelled: no KV block referenced afterwards.
//   weights  the tensors dequantized to f16 at load are the file's of those types
//            (engine_weights.cc).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/dtype.h"
#include "base/strings.h"
#include "ops/cuda/cuda_backend.h"
#include "runtime/engine/engine.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/forward.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"
#include "tests/gpu/engine_common.h"

namespace phx::gpu_engine {
namespace {

namespace engine = phx::engine;
namespace model = phx::model;
namespace kv = phx::kv;
namespace ops = phx::ops;

constexpr float kLogitsRel = 0.03f, kLogitsAbs = 1e-3f;

std::vector<std::vector<int32_t>> Prompts(int32_t vocab) {
  std::vector<std::vector<int32_t>> p;
  for (int i = 0; i < 4; ++i) {
    std::vector<int32_t> t{1};
    for (int j = 0; j < 5 + 7 * i; ++j) t.push_back(3 + (97 * i + 31 * j + 11) % (vocab - 3));
    p.push_back(t);
  }
  return p;
}

// Logits of every position of `tokens` (one prefill) on `l`, [n, vocab].
absl::Status TeacherForced(Loaded& l, const std::vector<int32_t>& tokens, std::vector<float>* out) {
  const auto& c = l.model->config();
  const int32_t n = static_cast<int32_t>(tokens.size());
  kv::KvCacheConfig kc;
  kc.n_layers = static_cast<int32_t>(c.n_layer);
  kc.n_kv_heads = static_cast<int32_t>(c.n_head_kv);
  kc.head_dim = static_cast<int32_t>(c.head_dim);
  kc.num_blocks = (n + 1 + 15) / 16 + 1;
  kc.dtype = DType::kF16;
  auto cache = kv::KvCache::Create(*l.backend, kc);
  if (!cache.ok()) return cache.status();
  auto fwd = model::Forward::Create(*l.model, *l.backend, n, n);
  if (!fwd.ok()) return fwd.status();
  kv::BlockTable table(kc.block_size);
  if (auto s = table.Reserve((*cache)->allocator(), n); !s.ok()) return s;
  auto layout = kv::BuildStepLayout({{&table, 0, n}}, kc.block_size);
  if (!layout.ok()) return layout.status();
  std::vector<int32_t> rows(n);
  for (int32_t i = 0; i < n; ++i) rows[i] = i;
  auto logits = (*fwd)->Run(tokens, *layout, **cache, rows);
  if (!logits.ok()) return logits.status();
  out->assign(logits->begin(), logits->end());
  // One decode step on top of the prefill (the decode attention kernel), appended as row n.
  if (auto s = table.Reserve((*cache)->allocator(), n + 1); !s.ok()) return s;
  auto step = kv::BuildStepLayout({{&table, n, 1}}, kc.block_size);
  if (!step.ok()) return step.status();
  const std::vector<int32_t> next{tokens[n / 2]}, row0{0};
  auto dec = (*fwd)->Run(next, *step, **cache, row0);
  if (!dec.ok()) return dec.status();
  out->insert(out->end(), dec->begin(), dec->end());
  return absl::OkStatus();
}

// Greedy tokens of each prompt, all submitted at once (or one by one when `serial`).
absl::Status Generate(Loaded& l, const std::vector<std::vector<int32_t>>& prompts, int32_t n,
                      bool serial, std::vector<std::vector<int32_t>>* out, bool graphs = true) {
  struct Sink : engine::TokenSink {
    std::vector<int32_t> tokens;
    absl::Status status;
    void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>& ev) override {
      for (const auto& e : ev) tokens.push_back(e.token);
    }
    void OnFinish(engine::RequestId, engine::FinishReason, const absl::Status& s,
                  const engine::Usage&, const engine::Timing&, std::string) override {
      status = s;
    }
  };
  engine::EngineConfig ec;
  ec.max_num_seqs = 8;
  ec.max_tokens_per_step = 256;
  ec.num_blocks = 256;
  ec.prefix_cache = false;
  ec.step_graphs = graphs;
  auto e = engine::Engine::Create(*l.model, *l.backend, ec);
  if (!e.ok()) return e.status();
  std::vector<std::shared_ptr<Sink>> sinks;
  for (const auto& p : prompts) {
    engine::GenerateRequest r;
    r.prompt = p;
    r.sampling.temperature = 0.f;
    r.sampling.max_tokens = n;
    r.sampling.ignore_eos = true;
    sinks.push_back(std::make_shared<Sink>());
    auto id = (*e)->Submit(r, sinks.back());
    if (!id.ok()) return id.status();
    if (serial) {
      if (auto s = (*e)->RunUntilIdle(); !s.ok()) return s;
    }
  }
  if (auto s = (*e)->RunUntilIdle(); !s.ok()) return s;
  out->clear();
  for (const auto& s : sinks) {
    if (!s->status.ok()) return s->status;
    out->push_back(s->tokens);
  }
  return absl::OkStatus();
}

// Three sequences prefilled together, then `steps` teacher-forced decode steps of all three (a
// decode bucket of 4 with one padding row) through one Forward; every step's logits appended.
absl::Status DecodeSteps(Loaded& l, const std::vector<std::vector<int32_t>>& prompts, int steps,
                         bool graphs, std::vector<float>* out) {
  const auto& c = l.model->config();
  kv::KvCacheConfig kc;
  kc.n_layers = static_cast<int32_t>(c.n_layer);
  kc.n_kv_heads = static_cast<int32_t>(c.n_head_kv);
  kc.head_dim = static_cast<int32_t>(c.head_dim);
  kc.num_blocks = 64;
  kc.dtype = DType::kF16;
  auto cache = kv::KvCache::Create(*l.backend, kc);
  if (!cache.ok()) return cache.status();
  auto fwd = model::Forward::Create(*l.model, *l.backend, 256, 8);
  if (!fwd.ok()) return fwd.status();
  (*fwd)->set_step_graphs(graphs);
  std::vector<kv::BlockTable> tables(3, kv::BlockTable(kc.block_size));
  std::vector<int32_t> len(3);
  std::vector<kv::StepSeq> seqs;
  std::vector<int32_t> tokens, rows;
  for (int i = 0; i < 3; ++i) {
    len[i] = static_cast<int32_t>(prompts[i].size());
    if (auto s = tables[i].Reserve((*cache)->allocator(), len[i]); !s.ok()) return s;
    seqs.push_back({&tables[i], 0, len[i]});
    tokens.insert(tokens.end(), prompts[i].begin(), prompts[i].end());
    rows.push_back(static_cast<int32_t>(tokens.size()) - 1);
  }
  out->clear();
  for (int step = 0; step <= steps; ++step) {
    auto layout = kv::BuildStepLayout(seqs, kc.block_size);
    if (!layout.ok()) return layout.status();
    auto logits = (*fwd)->Run(tokens, *layout, **cache, rows);
    if (!logits.ok()) return logits.status();
    out->insert(out->end(), logits->begin(), logits->end());
    seqs.clear();
    tokens.clear();
    rows = {0, 1, 2};
    for (int i = 0; i < 3; ++i) {
      if (auto s = tables[i].Reserve((*cache)->allocator(), len[i] + 1); !s.ok()) return s;
      seqs.push_back({&tables[i], len[i], 1});
      tokens.push_back(prompts[i][(step * 7 + i) % prompts[i].size()]);
      ++len[i];
    }
  }
  if ((*fwd)->graph_steps() != (graphs ? static_cast<uint64_t>(steps) : 0)) {
    return absl::InternalError(StrCat("forward ran ", (*fwd)->graph_steps(), " of ", steps,
                                      " decode steps as graphs (graphs ", graphs ? "on" : "off",
                                      ")"));
  }
  return absl::OkStatus();
}

// Kernel launches of one eager decode step of `l` (a CUDA backend) after a prefill.
absl::StatusOr<uint64_t> DecodeLaunches(Loaded& l, const std::vector<int32_t>& prompt) {
  auto* cuda = dynamic_cast<ops::cuda::CudaBackend*>(l.backend.get());
  if (cuda == nullptr) return absl::InternalError("not a CUDA backend");
  const auto& c = l.model->config();
  kv::KvCacheConfig kc;
  kc.n_layers = static_cast<int32_t>(c.n_layer);
  kc.n_kv_heads = static_cast<int32_t>(c.n_head_kv);
  kc.head_dim = static_cast<int32_t>(c.head_dim);
  kc.num_blocks = 16;
  kc.dtype = DType::kF16;
  auto cache = kv::KvCache::Create(*l.backend, kc);
  if (!cache.ok()) return cache.status();
  auto fwd = model::Forward::Create(*l.model, *l.backend, 64, 4);
  if (!fwd.ok()) return fwd.status();
  (*fwd)->set_step_graphs(false);
  kv::BlockTable table(kc.block_size);
  const int32_t n = static_cast<int32_t>(prompt.size());
  if (auto s = table.Reserve((*cache)->allocator(), n + 2); !s.ok()) return s;
  uint64_t launches = 0;
  for (int step = 0; step < 2; ++step) {  // the second decode step is counted (warm scratch)
    auto layout =
        kv::BuildStepLayout({{&table, step == 0 ? 0 : n, step == 0 ? n : 1}}, kc.block_size);
    if (!layout.ok()) return layout.status();
    std::vector<int32_t> toks = step == 0 ? prompt : std::vector<int32_t>{prompt[0]};
    const std::vector<int32_t> rows{static_cast<int32_t>(toks.size()) - 1};
    const uint64_t before = cuda->counters().launches;
    auto logits = (*fwd)->Run(toks, *layout, **cache, rows);
    if (!logits.ok()) return logits.status();
    launches = cuda->counters().launches - before;
  }
  return launches;
}

// max |a - b| against 1e-3 max |b| + 1e-4 (graph vs eager on the same device).
std::string CompareLogits(const std::vector<float>& a, const std::vector<float>& b, float rel,
                          float abs, bool* ok) {
  float scale = 0.f, err = a.size() == b.size() ? 0.f : INFINITY;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    scale = std::max(scale, std::fabs(b[i]));
    err = std::max(err, std::isnan(a[i]) ? INFINITY : std::fabs(a[i] - b[i]));
  }
  const float tol = rel * scale + abs;
  *ok = err <= tol;
  return "max err " + std::to_string(err) + " tol " + std::to_string(tol) + " (" +
         std::to_string(a.size()) + " logits)";
}

// Compares token lists; a first difference at a CPU near tie is tolerated (noted in `detail`).
bool SameTokens(Loaded& cpu, const std::vector<std::vector<int32_t>>& prompts,
                const std::vector<std::vector<int32_t>>& want,
                const std::vector<std::vector<int32_t>>& got, std::string* detail) {
  const int32_t vocab = static_cast<int32_t>(cpu.model->config().vocab_size);
  for (size_t i = 0; i < want.size(); ++i) {
    size_t j = 0;
    while (j < want[i].size() && j < got[i].size() && want[i][j] == got[i][j]) ++j;
    if (j == want[i].size() && j == got[i].size()) continue;
    std::vector<int32_t> seq = prompts[i];
    seq.insert(seq.end(), want[i].begin(), want[i].begin() + j);
    std::vector<float> logits;
    if (!TeacherForced(cpu, seq, &logits).ok()) return false;
    const float* row = logits.data() + (seq.size() - 1) * vocab;
    float top = -INFINITY, second = -INFINITY, scale = 0.f;
    for (int32_t v = 0; v < vocab; ++v) {
      scale = std::max(scale, std::fabs(row[v]));
      if (row[v] > top) {
        second = top;
        top = row[v];
      } else if (row[v] > second) {
        second = row[v];
      }
    }
    const float gap = top - second, tol = kLogitsRel * scale + kLogitsAbs;
    *detail += "prompt " + std::to_string(i) + " differs at token " + std::to_string(j) +
               " (cpu top-2 gap " + std::to_string(gap) + ", tolerance " + std::to_string(tol) +
               "); ";
    if (gap > tol) return false;
  }
  return true;
}

void CheckModel(const std::string& name, const std::string& path, const Args& args) {
  Loaded cpu, gpu;
  ops::cuda::CudaBackendOptions opt;
  opt.use_wgmma = args.wgmma;
  if (auto s = Load(path, false, opt, &cpu); !s.ok()) {
    Report("FAIL", name, "load", "cpu: " + std::string(s.message()));
    return;
  }
  if (auto s = Load(path, true, opt, &gpu); !s.ok()) {
    // The kernels' limits (head dims 64/128, block-aligned quantized rows) are capability
    // errors, reported as such; anything else is a failure.
    const bool unsupported = absl::IsUnimplemented(s) || absl::IsInvalidArgument(s);
    Report(unsupported ? "SKIP" : "FAIL", name, "load", "cuda: " + std::string(s.message()));
    return;
  }
  CheckWeightForms(name, gpu);
  const int32_t vocab = static_cast<int32_t>(cpu.model->config().vocab_size);
  const auto prompts = Prompts(vocab);

  std::vector<float> lc, lg;
  absl::Status s = TeacherForced(cpu, prompts[3], &lc);
  if (s.ok()) s = TeacherForced(gpu, prompts[3], &lg);
  if (!s.ok() && absl::IsUnimplemented(s)) {
    Report("SKIP", name, "logits", std::string(s.message()));
    return;
  }
  if (!s.ok()) {
    Report("FAIL", name, "logits", std::string(s.message()));
  } else {
    float scale = 0.f, err = 0.f;
    for (size_t i = 0; i < lc.size(); ++i) {
      scale = std::max(scale, std::fabs(lc[i]));
      err = std::max(err, std::isnan(lg[i]) ? INFINITY : std::fabs(lg[i] - lc[i]));
    }
    const float tol = kLogitsRel * scale + kLogitsAbs;
    Report(err <= tol ? "PASS" : "FAIL", name, "logits",
           "max err " + std::to_string(err) + " tol " + std::to_string(tol) + " (" +
               std::to_string(lc.size() / vocab) + " rows)");
  }

  std::vector<std::vector<int32_t>> want, got, serial;
  s = Generate(cpu, prompts, 24, false, &want);
  if (s.ok()) s = Generate(gpu, prompts, 24, false, &got);
  if (!s.ok()) {
    Report("FAIL", name, "greedy", std::string(s.message()));
  } else {
    std::string detail;
    const bool ok = SameTokens(cpu, prompts, want, got, &detail);
    Report(ok ? "PASS" : "FAIL", name, "greedy",
           detail.empty() ? "4 x 24 tokens identical" : detail);
  }
  s = Generate(gpu, prompts, 24, true, &serial);
  if (!s.ok()) {
    Report("FAIL", name, "batch", std::string(s.message()));
  } else if (!got.empty()) {
    std::string detail;
    const bool ok = SameTokens(cpu, prompts, got, serial, &detail);
    Report(ok ? "PASS" : "FAIL", name, "batch",
           detail.empty() ? "one-at-a-time tokens equal the batched ones" : detail);
  }

  // Graphs against eager steps.
  auto* cuda = dynamic_cast<ops::cuda::CudaBackend*>(gpu.backend.get());
  const ops::cuda::CudaBackend::Counters graph_counters = cuda->counters();
  std::vector<std::vector<int32_t>> eager;
  s = Generate(gpu, prompts, 24, false, &eager, /*graphs=*/false);
  if (!s.ok()) {
    Report("FAIL", name, "eager", std::string(s.message()));
  } else if (!got.empty()) {
    std::string detail;
    bool ok = SameTokens(cpu, prompts, got, eager, &detail);
    const auto& gc = graph_counters;
    if (gc.graph_captures == 0 || gc.graph_replays == 0 || gc.graph_failures != 0) {
      ok = false;
      detail += "graph runs: " + std::to_string(gc.graph_captures) + " captures, " +
                std::to_string(gc.graph_replays) + " replays, " +
                std::to_string(gc.graph_failures) + " failed captures (" + gc.last_graph_error +
                "); ";
    }
    Report(ok ? "PASS" : "FAIL", name, "eager",
           detail.empty()
               ? "tokens without graphs equal those with (" + std::to_string(gc.graph_captures) +
                     " captures, " + std::to_string(gc.graph_replays) + " replays, " +
                     std::to_string(gc.graph_nodes_last) + " nodes in the last)"
               : detail);
  }
  std::vector<float> lg_graph, lg_eager;
  s = DecodeSteps(gpu, prompts, 8, true, &lg_graph);
  if (s.ok()) s = DecodeSteps(gpu, prompts, 8, false, &lg_eager);
  if (!s.ok()) {
    Report("FAIL", name, "graphs", std::string(s.message()));
  } else {
    bool ok = false;
    const std::string detail = CompareLogits(lg_graph, lg_eager, 1e-3f, 1e-4f, &ok);
    Report(ok ? "PASS" : "FAIL", name, "graphs", "graph vs eager decode, bucket 4: " + detail);
  }

  // One launch per op (fuse_ops off) against the fused backend.
  Loaded plain;
  ops::cuda::CudaBackendOptions unfused = opt;
  unfused.fuse_ops = false;
  unfused.cuda_graphs = false;
  std::vector<float> lu, lf;
  s = Load(path, true, unfused, &plain);
  if (s.ok()) s = TeacherForced(plain, prompts[3], &lu);
  if (s.ok()) s = TeacherForced(gpu, prompts[3], &lf);
  absl::StatusOr<uint64_t> n_unfused = s.ok() ? DecodeLaunches(plain, prompts[1]) : s;
  absl::StatusOr<uint64_t> n_fused = s.ok() ? DecodeLaunches(gpu, prompts[1]) : s;
  if (!s.ok() || !n_unfused.ok() || !n_fused.ok()) {
    Report("FAIL", name, "unfused",
           std::string((!s.ok()           ? s
                        : !n_unfused.ok() ? n_unfused.status()
                                          : n_fused.status())
                           .message()));
  } else {
    bool ok = false;
    const std::string detail = CompareLogits(lf, lu, kLogitsRel, kLogitsAbs, &ok);
    Report(ok ? "PASS" : "FAIL", name, "unfused",
           detail + "; launches per decode step " + std::to_string(*n_unfused) + " -> " +
               std::to_string(*n_fused) + " fused");
  }

  // Cancellation frees blocks.
  struct Null : engine::TokenSink {
    void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>&) override {}
    void OnFinish(engine::RequestId, engine::FinishReason, const absl::Status&,
                  const engine::Usage&, const engine::Timing&, std::string) override {}
  };
  engine::EngineConfig ec;
  ec.max_num_seqs = 8;
  ec.num_blocks = 256;
  auto e = engine::Engine::Create(*gpu.model, *gpu.backend, ec);
  if (!e.ok()) {
    Report("FAIL", name, "cancel", std::string(e.status().message()));
    return;
  }
  std::vector<engine::RequestId> ids;
  for (int i = 0; i < 8; ++i) {
    engine::GenerateRequest r;
    r.prompt = prompts[i % 4];
    r.sampling.temperature = 0.f;
    r.sampling.max_tokens = 200;
    r.sampling.ignore_eos = true;
    auto id = (*e)->Submit(r, std::make_shared<Null>());
    if (id.ok()) ids.push_back(*id);
  }
  std::string detail;
  for (int i = 0; i < 5; ++i) {
    auto st = (*e)->Step();
    if (!st.ok()) detail = std::string(st.status().message());
  }
  const int32_t used_before = (*e)->stats().blocks_used;
  for (auto id : ids) (*e)->Cancel(id);
  s = (*e)->RunUntilIdle();
  const auto st = (*e)->stats();
  const bool ok = s.ok() && detail.empty() && used_before > 0 && st.blocks_used == 0 &&
                  st.running == 0 && st.waiting == 0;
  Report(ok ? "PASS" : "FAIL", name, "cancel",
         "blocks used " + std::to_string(used_before) + " -> " + std::to_string(st.blocks_used) +
             " of " + std::to_string(st.blocks_total) + (s.ok() ? "" : " " + s.ToString()) +
             detail);
}

}  // namespace

int RunEngineChecks(const Args& args) {
  const std::string stories = args.asset_dir + "/models/stories260K.gguf";
  if (FILE* f = std::fopen(stories.c_str(), "rb")) {
    std::fclose(f);
  } else {
    Report("FAIL", "stories260K", "load", stories + " not found (scripts/build-gpu copies it)");
    return 1;
  }
  auto wanted = [&](const std::string& name) {
    return args.models.empty() || InList(args.models, name);
  };
  if (wanted("stories260K")) CheckModel("stories260K", stories, args);

  struct Synth {
    const char* name;
    DType dtype;
    int64_t embd, heads, kv_heads, ff;
    const char* mix = "";  // llama.cpp's per-tensor recipe (runtime/model/quant_mix.h)
  };
  const Synth synth[] = {
      {"synth-f16-hd64", DType::kF16, 256, 4, 2, 768},
      {"synth-f32-hd64", DType::kF32, 256, 4, 4, 768},
      {"synth-q8_0-hd64", DType::kQ8_0, 256, 4, 2, 768},
      {"synth-q4_K-hd64", DType::kQ4_K, 256, 4, 1, 768},
      {"synth-bf16-hd128", DType::kBF16, 512, 4, 2, 1536},
      // llama.cpp's mixes: Q4_K + Q6_K (output, attn_v, some ffn_down), Q5_K + Q6_K, and Q3_K_M
      // (q3_K, dequantized to f16 at load, next to q4_K/q5_K/q6_K).
      {"synth-Q4_K_M-hd64", DType::kF16, 256, 4, 2, 768, "Q4_K_M"},
      {"synth-Q5_K_M-hd64", DType::kF16, 256, 4, 2, 768, "Q5_K_M"},
      {"synth-Q3_K_M-hd64", DType::kF16, 256, 4, 2, 768, "Q3_K_M"},
      // Types dequantized to f16 at load (every matmul weight and the embedding table).
      {"synth-q5_0-hd64", DType::kQ5_0, 256, 4, 2, 768},
      {"synth-iq4_xs-hd64", DType::kIQ4_XS, 256, 4, 2, 768},
      {"synth-mxfp4-hd64", DType::kMXFP4, 256, 4, 2, 768},
  };
  for (const Synth& s : synth) {
    if (!wanted(s.name)) continue;
    model::SynthOptions o;
    o.vocab_from = stories;
    o.n_layer = 2;
    o.n_embd = s.embd;
    o.n_head = s.heads;
    o.n_head_kv = s.kv_heads;
    o.n_ff = s.ff;
    o.dtype = s.dtype;
    o.mix = s.mix;
    o.context_length = 512;
    const std::string path = args.tmp_dir + "/phx_gpu_" + std::string(s.name) + ".gguf";
    if (auto st = model::SynthesizeModel(o, path); !st.ok()) {
      Report("FAIL", s.name, "synth", std::string(st.message()));
      continue;
    }
    CheckModel(s.name, path, args);
    std::remove(path.c_str());
  }

  // The model families of issue 24 (their CUDA kernels: tests/gpu/test_family.cc), each shaped
  // so its features act within the checks' prompts (27 tokens + 24 generated).
  struct Family {
    const char* name;
    void (*set)(model::SynthOptions&);
  };
  const Family families[] = {
      {"synth-qwen3-f16-hd128",  // q/k norm, head dim 128 over n_embd 256, YaRN past 16 tokens
       [](model::SynthOptions& o) {
         o.arch = "qwen3", o.n_head = 4, o.n_head_kv = 2, o.head_dim = 128;
         o.rope_scaling = "yarn", o.rope_scaling_factor = 4.f, o.rope_orig_ctx = 16;
       }},
      {"synth-gemma2-f16-hd64",      // GeGLU, post-norms, scaled embedding, window 16 on every
       [](model::SynthOptions& o) {  // other layer, attention and final soft-caps of 5
         o.arch = "gemma2", o.n_layer = 3, o.n_head = 4, o.n_head_kv = 2, o.head_dim = 64;
         o.sliding_window = 16, o.swa_pattern = 2, o.attn_softcap = 5.f, o.final_softcap = 5.f;
       }},
      {"synth-qwen3moe-q8_0-hd64",  // 9 experts, top 2, Q8_0 expert weights
       [](model::SynthOptions& o) {
         o.arch = "qwen3moe", o.n_head = 4, o.n_head_kv = 2, o.head_dim = 64, o.n_expert = 9;
         o.n_expert_used = 2, o.n_ff_expert = 256, o.dtype = DType::kQ8_0;
       }},
  };
  for (const Family& f : families) {
    if (!wanted(f.name)) continue;
    model::SynthOptions o;
    o.vocab_from = stories;
    o.n_layer = 2;
    o.n_embd = 256;
    o.n_ff = 768;
    o.context_length = 512;
    f.set(o);
    const std::string path = args.tmp_dir + "/phx_gpu_" + std::string(f.name) + ".gguf";
    if (auto st = model::SynthesizeModel(o, path); !st.ok()) {
      Report("FAIL", f.name, "synth", std::string(st.message()));
      continue;
    }
    CheckModel(f.name, path, args);
    std::remove(path.c_str());
  }
  std::printf(Failures() == 0 ? "engine: ALL PASS\n" : "engine: FAILED: %d\n", Failures());
  return Failures() == 0 ? 0 : 1;
}

}  // namespace phx::gpu_engine
