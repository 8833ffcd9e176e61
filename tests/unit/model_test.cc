// The CPU engine end to end: token-exact greedy decoding against llama.cpp's reference outputs
// for stories260K, full-forward agreement with the float64 reference on synthesized models of
// every family (and their features: q/k norm, post-norms, soft-caps, sliding windows, fused
// projections, RoPE scaling of each kind, mixtures of experts), and batch invariance (dense and
// MoE).
#include "runtime/model/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "nlohmann/json.hpp"
#include "ops/cpu/cpu_backend.h"
#include "runtime/engine/engine.h"
#include "runtime/model/synth.h"
#include "tests/support/collect_sink.h"
#include "tests/support/reference_model.h"

namespace phx {
namespace {

const std::string kShared = PHX_SHARED_DIR;
const std::string kStories = kShared + "/models/stories260K.gguf";

struct Loaded {
  std::unique_ptr<ops::cpu::CpuBackend> backend;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<engine::Engine> engine;
};

Loaded Load(const std::string& path, engine::EngineConfig cfg = {}, int threads = 2) {
  Loaded l;
  l.backend = std::make_unique<ops::cpu::CpuBackend>(threads);
  auto m = model::Model::Load(path, *l.backend);
  EXPECT_TRUE(m.ok()) << m.status();
  l.model = std::move(*m);
  auto e = engine::Engine::Create(*l.model, *l.backend, cfg);
  EXPECT_TRUE(e.ok()) << e.status();
  l.engine = std::move(*e);
  return l;
}

engine::GenerateRequest Greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  engine::GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  r.sampling.ignore_eos = true;
  return r;
}

// Runs the prompts as one batch (all submitted before the first step).
std::vector<std::vector<int32_t>> GenerateAll(engine::Engine& e,
                                              const std::vector<std::vector<int32_t>>& prompts,
                                              int32_t max_tokens) {
  auto sink = std::make_shared<testing::CollectSink>();
  std::vector<engine::RequestId> ids;
  for (const auto& p : prompts) {
    auto id = e.Submit(Greedy(p, max_tokens), sink);
    EXPECT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  EXPECT_TRUE(e.RunUntilIdle().ok());
  std::vector<std::vector<int32_t>> out;
  for (auto id : ids) {
    auto c = sink->Get(id);
    EXPECT_TRUE(c.finished);
    EXPECT_TRUE(c.status.ok()) << c.status;
    out.push_back(c.tokens);
  }
  return out;
}

TEST(Stories260K, GreedyMatchesLlamaCppTokenForToken) {
  std::ifstream in(kShared + "/refs/stories260K_greedy.json");
  ASSERT_TRUE(in.good());
  const auto ref = nlohmann::json::parse(in);
  for (auto kv_dtype : {DType::kF16, DType::kF32}) {
    engine::EngineConfig cfg;
    cfg.kv_dtype = kv_dtype;
    Loaded l = Load(kStories, cfg);
    for (const auto& r : ref["results"]) {
      const std::string prompt = r["prompt"];
      const auto ids = l.model->tokenizer().Encode(prompt, true, false);
      EXPECT_EQ(ids, r["prompt_token_ids"].get<std::vector<int32_t>>()) << prompt;
      const auto expected = r["generated_token_ids"].get<std::vector<int32_t>>();
      auto sink = std::make_shared<testing::CollectSink>();
      auto id = l.engine->Submit(Greedy(ids, static_cast<int32_t>(expected.size())), sink);
      ASSERT_TRUE(id.ok());
      ASSERT_TRUE(l.engine->RunUntilIdle().ok());
      const auto got = sink->Get(*id);
      EXPECT_EQ(got.tokens, expected) << "prompt '" << prompt << "' kv " << DTypeName(kv_dtype);
      // The streamed text is llama.cpp's decoded text, leading space rules included.
      EXPECT_EQ(got.text, r["text"].get<std::string>()) << "prompt '" << prompt << "'";
    }
  }
}

TEST(Stories260K, FirstStepLogprobsMatchLlamaCpp) {
  std::ifstream in(kShared + "/refs/stories260K_greedy.json");
  const auto ref = nlohmann::json::parse(in);
  engine::EngineConfig cfg;
  cfg.kv_dtype = DType::kF32;
  Loaded l = Load(kStories, cfg);
  for (const auto& r : ref["results"]) {
    auto req = Greedy(r["prompt_token_ids"].get<std::vector<int32_t>>(), 1);
    req.sampling.logprobs = 5;
    auto sink = std::make_shared<testing::CollectSink>();
    auto id = l.engine->Submit(req, sink);
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(l.engine->RunUntilIdle().ok());
    const auto c = sink->Get(*id);
    ASSERT_EQ(c.events.size(), 1u);
    const auto& top = c.events[0].top;
    ASSERT_EQ(top.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(top[i].token, r["first_step_top5"][i]["token"].get<int32_t>());
      // llama.cpp ran with an f16 KV cache: its log-probabilities differ by up to ~1e-2.
      EXPECT_NEAR(top[i].logprob, r["first_step_top5"][i]["logprob"].get<double>(), 2e-2);
    }
  }
}

struct SynthCase {
  const char* name;
  model::SynthOptions opt;
  double tol;  // max |logit - ref| / max |ref logit| over every position and vocab entry
};

model::SynthOptions Opt(const char* arch, int64_t embd, int64_t heads, int64_t kv_heads,
                        int64_t head_dim, DType t, bool tied) {
  model::SynthOptions o;
  o.arch = arch;
  o.vocab_from = kStories;
  o.n_layer = 2;
  o.n_embd = embd;
  o.n_ff = embd * 2 + 256;  // a multiple of 256 so Q4_K rows fit
  o.n_head = heads;
  o.n_head_kv = kv_heads;
  o.head_dim = head_dim;
  o.dtype = t;
  o.tied_output = tied;
  o.context_length = 256;
  o.seed = 11;
  return o;
}

model::SynthOptions Mix(model::SynthOptions o, const char* mix) {
  o.mix = mix;
  return o;
}

// Sinks may hold a request's last token back and send it with the finish: exactly the token
// that ends the request (length or stop) carries `last`; a cancelled request has none.
TEST(Stories260K, OnlyTheFinishingTokenIsMarkedLast) {
  std::ifstream in(kShared + "/refs/stories260K_greedy.json");
  const auto ref = nlohmann::json::parse(in);
  const auto& r = ref["results"][0];
  Loaded l = Load(kStories, {});
  const auto ids = l.model->tokenizer().Encode(r["prompt"].get<std::string>(), true, false);
  auto count_last = [](const testing::Collected& c) {
    int n = 0;
    for (const auto& e : c.events) n += e.last ? 1 : 0;
    return n;
  };
  auto sink = std::make_shared<testing::CollectSink>();
  // Length.
  auto len = l.engine->Submit(Greedy(ids, 5), sink);
  ASSERT_TRUE(len.ok());
  // Stop: a word from the middle of the known greedy text.
  const std::string text = r["text"];
  ASSERT_GT(text.size(), 24u);
  engine::GenerateRequest stop_req = Greedy(ids, 200);
  stop_req.sampling.stop = {text.substr(16, 6)};
  auto stop = l.engine->Submit(stop_req, sink);
  ASSERT_TRUE(stop.ok());
  // Cancelled after a few tokens.
  auto cancelled = l.engine->Submit(Greedy(ids, 200), sink);
  ASSERT_TRUE(cancelled.ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(l.engine->Step().ok());
  l.engine->Cancel(*cancelled);
  ASSERT_TRUE(l.engine->RunUntilIdle().ok());

  // A finished request: its reason, and `last` on its final token only.
  auto expect_last_ends = [&](const testing::Collected& c, engine::FinishReason reason) {
    EXPECT_EQ(c.reason, reason);
    ASSERT_FALSE(c.events.empty());
    EXPECT_TRUE(c.events.back().last);
    EXPECT_EQ(count_last(c), 1);
  };
  const auto c_len = sink->Get(*len);
  ASSERT_EQ(c_len.events.size(), 5u);
  {
    SCOPED_TRACE("length");
    expect_last_ends(c_len, engine::FinishReason::kLength);
  }
  const auto c_stop = sink->Get(*stop);
  EXPECT_LT(c_stop.events.size(), 200u);
  {
    SCOPED_TRACE("stop");
    expect_last_ends(c_stop, engine::FinishReason::kStop);
  }
  const auto c_cancel = sink->Get(*cancelled);
  EXPECT_EQ(c_cancel.reason, engine::FinishReason::kCancelled);
  EXPECT_FALSE(c_cancel.events.empty());
  EXPECT_EQ(count_last(c_cancel), 0);
}

// Family variants of Opt: windows, soft-caps, RoPE scaling and experts small enough to act
// within the 13-token prompt of the test below.
model::SynthOptions With(model::SynthOptions o,
                         const std::function<void(model::SynthOptions&)>& f) {
  f(o);
  return o;
}

TEST(SynthModels, ForwardMatchesFloat64Reference) {
  // Tolerance 1e-4 for every row (f32 accumulation over K <= 1024): F16/BF16 and quantized
  // weights are exact in the reference too (it dequantizes the same blocks), and a matmul's
  // input is rounded in the reference as our kernels round it, which is llama.cpp's
  // vec_dot_type: Q8_0 blocks for the 32-element types, Q8_K for the k-quants and IQ4_XS, and
  // bf16 for BF16 weights where the AVX-512 BF16 kernel runs (vdpbf16ps); f32 elsewhere.
  // Rounding is discontinuous: an input within ~1e-7 of a boundary rounds either way (our f32
  // activations differ from the reference's by f32 accumulation) and moves logits by ~1e-3;
  // CompareLogits then flips those roundings in the reference (exact variants, never a looser
  // bound). On this suite (chunks of 5, 5, 3): q5_1 two (0.00857 unflipped), q5_K one (0.00232),
  // bf16 one (0.00219); with the chunks of 9 and 4 below: q5_1 two, q5_K, bf16 and iq4_xs one.
  const bool bf16_acts = ops::cpu::CpuBackend(1).isa() == ops::cpu::IsaLevel::kAvx512 &&
                         ops::cpu::GetCpuFeatures().avx512bf16;
  const SynthCase cases[] = {
      {"llama f32 gqa hd64", Opt("llama", 256, 4, 2, 64, DType::kF32, false), 1e-4},
      {"llama f32 hd128 tied", Opt("llama", 256, 2, 1, 128, DType::kF32, true), 1e-4},
      {"qwen2 f32 bias", Opt("qwen2", 256, 4, 2, 64, DType::kF32, false), 1e-4},
      {"llama f16", Opt("llama", 256, 4, 4, 64, DType::kF16, false), 1e-4},
      {"llama bf16", Opt("llama", 256, 4, 2, 64, DType::kBF16, false), 1e-4},
      {"llama q8_0 gqa", Opt("llama", 256, 4, 2, 64, DType::kQ8_0, false), 1e-4},
      {"llama q4_K hd128", Opt("llama", 256, 2, 1, 128, DType::kQ4_K, false), 1e-4},
      {"llama f32 llama3 rope",
       With(Opt("llama", 256, 4, 2, 64, DType::kF32, false),
            [](auto& o) {
              o.rope_scaling = "llama3";
              o.rope_orig_ctx = 4;
            }),
       1e-4},
      {"llama f32 yarn",
       With(Opt("llama", 256, 4, 2, 64, DType::kF32, false),
            [](auto& o) {
              o.rope_scaling = "yarn";
              o.rope_scaling_factor = 4;
              o.rope_orig_ctx = 8;
            }),
       1e-4},
      {"qwen3 f32 gqa", Opt("qwen3", 256, 4, 2, 64, DType::kF32, false), 1e-4},
      {"qwen3 f32 hd128 yarn",
       With(Opt("qwen3", 256, 4, 1, 128, DType::kF32, true),
            [](auto& o) {
              o.rope_scaling = "yarn";
              o.rope_scaling_factor = 2;
              o.rope_orig_ctx = 6;
              o.rope_freq_base = 1000000;
            }),
       1e-4},
      {"gemma2 f32",
       With(Opt("gemma2", 256, 4, 2, 64, DType::kF32, true),
            [](auto& o) {
              o.n_layer = 3;
              o.sliding_window = 4;
              o.attn_softcap = 5;
              o.final_softcap = 5;
            }),
       1e-4},
      {"gemma3 f32",
       With(Opt("gemma3", 256, 4, 1, 128, DType::kF32, true),
            [](auto& o) {
              o.n_layer = 3;
              o.sliding_window = 5;
              o.swa_pattern = 3;
              o.final_softcap = 8;
              o.rope_freq_base = 1000000;
              o.rope_scaling = "linear";
              o.rope_scaling_factor = 4;
            }),
       1e-4},
      {"phi3 f32 longrope partial",
       With(Opt("phi3", 256, 4, 4, 64, DType::kF32, false),
            [](auto& o) {
              o.rope_scaling = "longrope";
              o.rope_scaling_factor = 16;
              o.rope_orig_ctx = 32;
              o.n_rot = 48;
            }),
       1e-4},
      {"phi3 q8_0", Opt("phi3", 256, 4, 2, 64, DType::kQ8_0, true), 1e-4},
      {"mixtral f32",
       With(Opt("mixtral", 256, 4, 2, 64, DType::kF32, false),
            [](auto& o) {
              o.n_expert = 4;
              o.n_expert_used = 2;
            }),
       1e-4},
      // F16 experts: exact in the reference too; Q8_0 experts see 8-bit inputs in both.
      {"qwen3moe q8_0",
       With(Opt("qwen3moe", 256, 4, 2, 64, DType::kQ8_0, false),
            [](auto& o) {
              o.n_expert = 8;
              o.n_expert_used = 2;
              o.n_ff_expert = 64;
            }),
       1e-4},
      {"qwen3moe f16",
       With(Opt("qwen3moe", 256, 4, 2, 64, DType::kF16, false),
            [](auto& o) {
              o.n_expert = 8;
              o.n_expert_used = 3;
              o.n_ff_expert = 128;
            }),
       1e-4},
      {"llama q2_K", Opt("llama", 256, 4, 2, 64, DType::kQ2_K, false), 1e-4},
      {"llama q4_0", Opt("llama", 256, 4, 2, 64, DType::kQ4_0, false), 1e-4},
      {"llama q4_1", Opt("llama", 256, 4, 2, 64, DType::kQ4_1, false), 1e-4},
      {"llama q5_0", Opt("llama", 256, 4, 2, 64, DType::kQ5_0, false), 1e-4},
      {"llama q3_K", Opt("llama", 256, 4, 2, 64, DType::kQ3_K, false), 1e-4},
      {"llama q5_K", Opt("llama", 256, 4, 2, 64, DType::kQ5_K, false), 1e-4},
      {"llama q6_K", Opt("llama", 256, 4, 2, 64, DType::kQ6_K, false), 1e-4},
      {"llama iq4_nl", Opt("llama", 256, 4, 2, 64, DType::kIQ4_NL, false), 1e-4},
      {"llama Q5_K_M", Mix(Opt("llama", 256, 4, 2, 64, DType::kQ5_K, false), "Q5_K_M"), 1e-4},
      {"llama q5_1", Opt("llama", 256, 4, 2, 64, DType::kQ5_1, false), 1e-4},
      {"llama iq4_xs tied", Opt("llama", 256, 4, 2, 64, DType::kIQ4_XS, true), 1e-4},
      {"llama mxfp4", Opt("llama", 256, 4, 2, 64, DType::kMXFP4, false), 1e-4},
      {"llama Q4_K_M", Mix(Opt("llama", 256, 4, 2, 64, DType::kQ4_K, false), "Q4_K_M"), 1e-4},
      {"qwen2 Q3_K_M", Mix(Opt("qwen2", 256, 4, 2, 64, DType::kQ3_K, false), "Q3_K_M"), 1e-4},
  };
  const auto dir = std::filesystem::temp_directory_path() / "phx_model_test";
  std::filesystem::create_directories(dir);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = (dir / (std::string(c.name) + ".gguf")).string();
    ASSERT_TRUE(model::SynthesizeModel(c.opt, path).ok());
    engine::EngineConfig cfg;
    cfg.kv_dtype = DType::kF32;
    cfg.max_tokens_per_step = 64;
    cfg.max_num_seqs = 8;
    Loaded l = Load(path, cfg);
    const std::vector<int32_t> prompt = {1, 45, 300, 12, 99, 7, 410, 33, 256, 3, 77, 500, 8};
    auto file = gguf::File::Open(path);
    ASSERT_TRUE(file.ok());
    // Our forward, driven directly: the prompt in chunks of 9 and 4 tokens (the second attends
    // to the cached first; on AVX-512 the float weights' 9 rows sweep converted panels of the
    // 64-row groups, the 4 rows read the groups directly: one summation order either way),
    // logits for every position.
    kv::KvCacheConfig kc{static_cast<int32_t>(l.model->config().n_layer),
                         static_cast<int32_t>(l.model->config().n_head_kv),
                         static_cast<int32_t>(l.model->config().head_dim),
                         8,
                         4,
                         DType::kF32};
    auto cache = kv::KvCache::Create(*l.backend, kc);
    ASSERT_TRUE(cache.ok());
    auto fwd = model::Forward::Create(*l.model, *l.backend, 16, 16);
    ASSERT_TRUE(fwd.ok());
    kv::BlockTable table(4);
    ASSERT_TRUE(table.Reserve((*cache)->allocator(), 13).ok());
    const int64_t V = l.model->config().vocab_size;
    std::vector<std::vector<float>> got;
    for (int32_t begin = 0, n = 9; begin < 13; begin += n, n = 13 - begin) {
      auto layout = kv::BuildStepLayout({{&table, begin, n}}, 4);
      ASSERT_TRUE(layout.ok());
      std::vector<int32_t> rows(n);
      for (int32_t i = 0; i < n; ++i) rows[i] = i;
      auto logits = (*fwd)->Run(std::span(prompt).subspan(begin, n), *layout, **cache, rows);
      ASSERT_TRUE(logits.ok()) << logits.status();
      for (int32_t i = 0; i < n; ++i) got.emplace_back(&(*logits)[i * V], &(*logits)[(i + 1) * V]);
    }
    testing::ReferenceModel ref(**file, l.model->config());
    ref.set_bf16_activations(bf16_acts);
    // Exact up to f32 accumulation, except that a matmul input rounded within a few f32 ulps of
    // a rounding boundary may round the other way here (see ReferenceModel::kAmbiguous): the
    // reference with those (at most 3) roundings flipped must then agree at the same tolerance.
    const testing::Agreement agree = testing::CompareLogits(ref, prompt, got, c.tol);
    EXPECT_LE(agree.worst, c.tol) << agree.where << "; " << agree.Describe();
    std::printf("%-22s max relative logit error %.3g (tolerance %.1e), %s\n", c.name, agree.worst,
                c.tol, agree.Describe().c_str());
  }
}

// A block scale llama.cpp's loader would reject (NaN or infinite f16, MXFP4 exponent 0xFF) makes
// the model fail to load with an error naming the tensor and block, for every quantized type.
TEST(SynthModels, NonFiniteScalesAreRejectedAtLoad) {
  const auto dir = std::filesystem::temp_directory_path() / "phx_model_test";
  std::filesystem::create_directories(dir);
  for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                  DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                  DType::kIQ4_NL, DType::kIQ4_XS, DType::kMXFP4}) {
    SCOPED_TRACE(DTypeName(t));
    const std::string path = (dir / ("bad_scale_" + std::string(DTypeName(t)) + ".gguf")).string();
    model::SynthOptions o = Opt("llama", 256, 4, 2, 64, t, false);
    o.n_layer = 1;
    ASSERT_TRUE(model::SynthesizeModel(o, path).ok());
    uint64_t at = 0;
    {
      auto f = gguf::File::Open(path);
      ASSERT_TRUE(f.ok());
      const gguf::TensorInfo* w = (*f)->FindTensor("blk.0.ffn_up.weight");
      ASSERT_NE(w, nullptr);
      ASSERT_EQ(w->type, t);
      // Block 3's scale: the f16 d (or MXFP4's exponent byte), where each layout keeps it.
      const int64_t bb = GetDTypeInfo(t)->block_bytes;
      const int64_t d_at = t == DType::kQ2_K   ? 80
                           : t == DType::kQ3_K ? 108
                           : t == DType::kQ6_K ? 208
                                               : 0;
      at = static_cast<uint64_t>(w->data - (*f)->mapping()->data()) + 3 * bb + d_at;
    }
    {
      std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
      io.seekp(static_cast<std::streamoff>(at));
      const uint8_t nan[2] = {0x00, 0x7E};  // f16 NaN; for MXFP4 the first byte is e
      const uint8_t e_ff[1] = {0xFF};
      if (t == DType::kMXFP4) {
        io.write(reinterpret_cast<const char*>(e_ff), 1);
      } else {
        io.write(reinterpret_cast<const char*>(nan), 2);
      }
    }
    ops::cpu::CpuBackend b(1);
    auto m = model::Model::Load(path, b);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(std::string(m.status().message()),
                ::testing::HasSubstr("tensor blk.0.ffn_up.weight (" + std::string(DTypeName(t)) +
                                     "): block 3 has a non-finite scale"));
  }
}

// A sequence's tokens do not depend on its batch neighbours: the same prompts generated together
// (chunked prefill mixed with decodes) and one at a time give the same tokens. For a mixture of
// experts this covers the grouping of rows by expert across sequences.
void ExpectBatchInvariant(const model::SynthOptions& opt, const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "phx_model_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  ASSERT_TRUE(model::SynthesizeModel(opt, path).ok());
  engine::EngineConfig cfg;
  cfg.max_tokens_per_step = 48;  // prompts are chunked and mixed with decodes
  cfg.max_num_seqs = 8;
  Loaded l = Load(path, cfg);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 8; ++i) {
    std::vector<int32_t> p = {1};
    for (int j = 0; j < 5 + 7 * i; ++j) p.push_back(3 + (i * 131 + j * 17) % 500);
    prompts.push_back(p);
  }
  const auto together = GenerateAll(*l.engine, prompts, 24);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto alone = GenerateAll(*l.engine, {prompts[i]}, 24);
    EXPECT_EQ(alone[0], together[i]) << "prompt " << i;
  }
}

TEST(SynthModels, BatchInvariance) {
  ExpectBatchInvariant(Opt("llama", 256, 4, 2, 64, DType::kF16, false), "batch_inv.gguf");
}

TEST(SynthModels, MoeBatchInvariance) {
  ExpectBatchInvariant(With(Opt("qwen3moe", 256, 4, 2, 64, DType::kQ8_0, false),
                            [](auto& o) {
                              o.n_expert = 16;
                              o.n_expert_used = 4;
                              o.n_ff_expert = 64;
                            }),
                       "batch_inv_moe.gguf");
}

}  // namespace
}  // namespace phx
