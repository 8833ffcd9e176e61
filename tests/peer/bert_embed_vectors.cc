// Phalanx's side of the bert embeddings peer check (bert_embeddings_test.sh), on the CPU
// backend without the server: writes a synthesized bert model, or embeds token lists with it.
//   phx_bert_embed_vectors synth OUT.gguf VOCAB.gguf LAYERS EMBD FFN HEADS CTX POOLING SEED
//   phx_bert_embed_vectors embed MODEL.gguf TOKENS.json
//   phx_bert_embed_vectors tokenize MODEL.gguf TEXTS.json
// `embed` runs each input (a JSON array of token id arrays, framed as llama.cpp framed them)
// whole in one step, pools the final hidden states as the file's pooling_type says (cls: the
// first row; mean: the average) and prints {"pooling": ..., "vectors": [[...], ...]}.
// `tokenize` prints each text's ids as Phalanx frames an embedding input ([CLS] ... [SEP]).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "ops/cpu/cpu_backend.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/forward.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

int Fail(const std::string& m) {
  std::fprintf(stderr, "phx_bert_embed_vectors: %s\n", m.c_str());
  return 1;
}

int Synth(char** a) {
  phx::model::SynthOptions o;
  o.arch = "bert";
  o.vocab_from = a[3];
  o.n_layer = std::stoll(a[4]);
  o.n_embd = std::stoll(a[5]);
  o.n_ff = std::stoll(a[6]);
  o.n_head = o.n_head_kv = std::stoll(a[7]);
  o.context_length = std::stoll(a[8]);
  o.pooling = a[9];
  o.seed = std::stoull(a[10]);
  o.dtype = phx::DType::kF32;
  const absl::Status s = phx::model::SynthesizeModel(o, a[2]);
  return s.ok() ? 0 : Fail(std::string(s.message()));
}

int Embed(const std::string& path, const std::string& tokens_path) {
  phx::ops::cpu::CpuBackend cpu(2);
  auto m = phx::model::Model::Load(path, cpu);
  if (!m.ok()) return Fail(std::string(m.status().message()));
  const phx::model::ModelConfig& c = (*m)->config();
  if (c.pooling != phx::model::Pooling::kCls && c.pooling != phx::model::Pooling::kMean) {
    return Fail("the model's pooling_type must be cls or mean");
  }
  std::ifstream in(tokens_path);
  const nlohmann::json inputs = nlohmann::json::parse(in);
  const int32_t ctx = static_cast<int32_t>(c.context_length);
  phx::kv::KvCacheConfig kc{static_cast<int32_t>(c.n_layer),
                            static_cast<int32_t>(c.n_head_kv),
                            static_cast<int32_t>(c.head_dim),
                            (ctx + 15) / 16,
                            16,
                            phx::DType::kF32};
  auto cache = phx::kv::KvCache::Create(cpu, kc);
  if (!cache.ok()) return Fail(std::string(cache.status().message()));
  auto fwd = phx::model::Forward::Create(**m, cpu, ctx, 1);
  if (!fwd.ok()) return Fail(std::string(fwd.status().message()));
  nlohmann::json out;
  out["pooling"] = phx::model::PoolingName(c.pooling);
  out["vectors"] = nlohmann::json::array();
  for (const auto& input : inputs) {
    const std::vector<int32_t> tokens = input.get<std::vector<int32_t>>();
    const int32_t n = static_cast<int32_t>(tokens.size());
    phx::kv::BlockTable table(16);
    if (absl::Status s = table.Reserve((*cache)->allocator(), n); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    auto layout = phx::kv::BuildStepLayout({{&table, 0, n}}, 16);
    if (!layout.ok()) return Fail(std::string(layout.status().message()));
    std::vector<int32_t> rows(n);
    for (int32_t i = 0; i < n; ++i) rows[i] = i;
    auto h = (*fwd)->RunHidden(tokens, *layout, **cache, rows);
    if (!h.ok()) return Fail(std::string(h.status().message()));
    const int64_t D = c.n_embd;
    std::vector<double> v(static_cast<size_t>(D), 0.0);
    for (int32_t r = 0; r < (c.pooling == phx::model::Pooling::kCls ? 1 : n); ++r) {
      for (int64_t j = 0; j < D; ++j) v[j] += (*h)[r * D + j];
    }
    if (c.pooling == phx::model::Pooling::kMean) {
      for (double& x : v) x /= n;
    }
    out["vectors"].push_back(v);
    table.Release((*cache)->allocator());
  }
  std::cout << out.dump() << "\n";
  return 0;
}

int Tokenize(const std::string& path, const std::string& texts_path) {
  auto f = phx::gguf::File::Open(path);
  if (!f.ok()) return Fail(std::string(f.status().message()));
  auto tok = phx::tok::Tokenizer::FromGguf(**f);
  if (!tok.ok()) return Fail(std::string(tok.status().message()));
  std::ifstream in(texts_path);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& text : nlohmann::json::parse(in)) {
    out.push_back((*tok)->Encode(text.get<std::string>(), /*add_special=*/true,
                                 /*parse_special=*/false));
  }
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "synth" && argc == 11) return Synth(argv);
  if (mode == "embed" && argc == 4) return Embed(argv[2], argv[3]);
  if (mode == "tokenize" && argc == 4) return Tokenize(argv[2], argv[3]);
  return Fail(
      "usage: synth OUT VOCAB LAYERS EMBD FFN HEADS CTX POOLING SEED | embed MODEL TOKENS | "
      "tokenize MODEL TEXTS");
}
