#include "runtime/model/family.h"

#include <cmath>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/model/families/families.h"

namespace phx::model {
namespace {

constexpr Family kFamilies[] = {
    {"llama", "Llama 1-3.x (Llama 3.1 rope_freqs), Mistral, Mixtral (expert_count > 0)",
     families::ConfigureLlama},
    {"qwen2", "Qwen 2 / 2.5 (q/k/v biases)", families::ConfigureQwen2},
    {"qwen3", "Qwen 3 dense (per-head q/k RMSNorm)", families::ConfigureQwen3},
    {"qwen3moe", "Qwen 3 MoE (Qwen3-30B-A3B, 235B-A22B)", families::ConfigureQwen3Moe},
    {"gemma2", "Gemma 2 (soft-caps, sliding window every other layer, post-norms, GeGLU)",
     families::ConfigureGemma2},
    {"gemma3", "Gemma 3 text (5 local : 1 global layers, q/k norm, post-norms, GeGLU)",
     families::ConfigureGemma3},
    {"phi3", "Phi-3 / Phi-3.5 / Phi-4-mini (fused qkv and gate-up, longrope)",
     families::ConfigurePhi3},
    {"bert", "BERT encoders: bge, e5, all-MiniLM (embeddings only; post-LN, absolute positions)",
     families::ConfigureBert},
};

}  // namespace

std::span<const Family> Families() { return kFamilies; }

const Family* FindFamily(std::string_view arch) {
  for (const Family& f : kFamilies) {
    if (f.arch == arch) return &f;
  }
  return nullptr;
}

std::string FamilyNames() {
  std::string out;
  for (const Family& f : kFamilies) out += StrCat(out.empty() ? "" : ", ", f.arch);
  return out;
}

absl::StatusOr<int64_t> Hparams::Int(std::string_view key, int64_t lo, int64_t hi) const {
  const std::string k = Key(key);
  if (const gguf::Value* v = f_.Find(k); v != nullptr && v->is_array()) {
    return Unsupported("per-layer values (an array)", key);
  }
  auto v = f_.GetInt(k);
  if (!v.ok()) return v.status();
  if (*v < lo || *v > hi) {
    return absl::InvalidArgumentError(
        StrCat("metadata ", k, " = ", *v, " is outside [", lo, ", ", hi, "]"));
  }
  return *v;
}

absl::StatusOr<int64_t> Hparams::IntOr(std::string_view key, int64_t dflt, int64_t lo,
                                       int64_t hi) const {
  if (!Has(key)) return dflt;
  return Int(key, lo, hi);
}

absl::StatusOr<float> Hparams::Float(std::string_view key) const {
  const std::string k = Key(key);
  if (const gguf::Value* v = f_.Find(k); v != nullptr && v->is_array()) {
    return Unsupported("per-layer values (an array)", key);
  }
  auto v = f_.GetFloat(k);
  if (!v.ok()) return v.status();
  if (!std::isfinite(*v) || std::fabs(*v) > 3e38) {
    return absl::InvalidArgumentError(StrCat("metadata ", k, " = ", *v, " is not finite"));
  }
  return static_cast<float>(*v);
}

absl::StatusOr<float> Hparams::FloatOr(std::string_view key, float dflt) const {
  if (!Has(key)) return dflt;
  return Float(key);
}

absl::StatusOr<std::string> Hparams::StringOr(std::string_view key, std::string dflt) const {
  if (!Has(key)) return dflt;
  auto v = f_.GetString(Key(key));
  if (!v.ok()) return v.status();
  return *v;
}

absl::Status Hparams::Unsupported(std::string_view feature, std::string_view key) const {
  return absl::UnimplementedError(
      StrCat(arch_, ": ", feature, " (metadata ", Key(key), ") is not supported"));
}

}  // namespace phx::model
