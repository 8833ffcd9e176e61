#include "runtime/model/config.h"

#include <map>

#include "base/strings.h"
#include "base/strings.h"
#include "base/status.h"

namespace phx::model {
namespace {

absl::StatusOr<int64_t> RequirePositive(const gguf::File& f, const std::string& key) {
  PHX_ASSIGN_OR_RETURN(int64_t v, f.GetInt(key));
  if (v <= 0 || v > (int64_t{1} << 40)) {
    return absl::InvalidArgumentError(StrCat("metadata ", key, " = ", v, " is out of range"));
  }
  return v;
}

int64_t IntOr(const gguf::File& f, const std::string& key, int64_t dflt) {
  auto v = f.GetInt(key);
  return v.ok() ? *v : dflt;
}

}  // namespace

std::string ModelConfig::Summary() const {
  return fmt::format(
      "arch={} layers={} embd={} ffn={} heads={} kv_heads={} head_dim={} vocab={} ctx={} "
      "params={:.2f}M dtype={}{}",
      arch, n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, vocab_size, context_length,
      n_params / 1e6, DTypeName(weight_type), tied_output ? " tied-output" : "");
}

absl::StatusOr<ModelConfig> ConfigFromGguf(const gguf::File& f) {
  ModelConfig c;
  PHX_ASSIGN_OR_RETURN(c.arch, f.GetString("general.architecture"));
  if (c.arch != "llama" && c.arch != "qwen2") {
    return absl::UnimplementedError(
        StrCat("unsupported model architecture '", c.arch, "' (supported: llama, qwen2)"));
  }
  if (auto n = f.GetString("general.name"); n.ok()) c.name = *n;
  const std::string a = c.arch + ".";
  PHX_ASSIGN_OR_RETURN(c.context_length, RequirePositive(f, a + "context_length"));
  PHX_ASSIGN_OR_RETURN(c.n_embd, RequirePositive(f, a + "embedding_length"));
  PHX_ASSIGN_OR_RETURN(c.n_ff, RequirePositive(f, a + "feed_forward_length"));
  PHX_ASSIGN_OR_RETURN(c.n_layer, RequirePositive(f, a + "block_count"));
  PHX_ASSIGN_OR_RETURN(c.n_head, RequirePositive(f, a + "attention.head_count"));
  c.n_head_kv = c.n_head;
  if (f.Has(a + "attention.head_count_kv")) {
    PHX_ASSIGN_OR_RETURN(c.n_head_kv, RequirePositive(f, a + "attention.head_count_kv"));
  }
  if (c.n_head % c.n_head_kv != 0) {
    return absl::InvalidArgumentError(StrCat("attention.head_count ", c.n_head,
                                             " is not a multiple of head_count_kv ", c.n_head_kv));
  }
  c.head_dim = IntOr(f, a + "attention.key_length", c.n_embd / c.n_head);
  const int64_t v_len = IntOr(f, a + "attention.value_length", c.head_dim);
  if (c.head_dim <= 0 || v_len != c.head_dim || c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        StrCat("unsupported head dims: key_length ", c.head_dim, ", value_length ", v_len));
  }
  c.n_rot = IntOr(f, a + "rope.dimension_count", c.head_dim);
  if (c.n_rot != c.head_dim) {
    return absl::UnimplementedError(StrCat("partial RoPE (rope.dimension_count ", c.n_rot,
                                           " != head dim ", c.head_dim, ") is not supported"));
  }
  if (auto eps = f.GetFloat(a + "attention.layer_norm_rms_epsilon"); eps.ok()) {
    c.rms_eps = static_cast<float>(*eps);
  } else {
    return absl::InvalidArgumentError(
        StrCat("metadata ", a, "attention.layer_norm_rms_epsilon: ", eps.status().message()));
  }
  if (auto base = f.GetFloat(a + "rope.freq_base"); base.ok()) c.rope_freq_base = *base;
  c.rope_type = c.arch == "qwen2" ? RopeType::kNeox : RopeType::kNormal;
  c.qkv_bias = c.arch == "qwen2";

  if (auto st = f.GetString(a + "rope.scaling.type"); st.ok()) {
    if (*st == "none") {
      c.rope_scaling = RopeScaling::kNone;
    } else if (*st == "linear") {
      c.rope_scaling = RopeScaling::kLinear;
    } else if (*st == "yarn") {
      c.rope_scaling = RopeScaling::kYarn;
    } else {
      return absl::UnimplementedError(StrCat("unsupported rope.scaling.type '", *st, "'"));
    }
  }
  if (auto fac = f.GetFloat(a + "rope.scaling.factor"); fac.ok() && *fac > 0) {
    c.rope_scale_factor = static_cast<float>(*fac);
  } else if (auto lin = f.GetFloat(a + "rope.scale_linear"); lin.ok() && *lin > 0) {
    c.rope_scale_factor = static_cast<float>(*lin);
    c.rope_scaling = RopeScaling::kLinear;
  }
  if (c.rope_scaling == RopeScaling::kYarn) {
    return absl::UnimplementedError("YaRN RoPE scaling is not supported yet");
  }
  c.rope_orig_context = IntOr(f, a + "rope.scaling.original_context_length", c.context_length);
  c.has_rope_freq_factors = f.FindTensor("rope_freqs.weight") != nullptr;

  const gguf::TensorInfo* emb = f.FindTensor("token_embd.weight");
  if (emb == nullptr) return absl::NotFoundError("tensor token_embd.weight is missing");
  if (emb->dims.size() != 2 || emb->dims[0] != c.n_embd) {
    return absl::InvalidArgumentError(
        StrCat("token_embd.weight has row length ", emb->dims[0], ", expected ", c.n_embd));
  }
  c.vocab_size = emb->dims[1];
  if (auto toks = f.Find("tokenizer.ggml.tokens");
      toks && toks->is_array() && static_cast<int64_t>(toks->count) != c.vocab_size) {
    return absl::InvalidArgumentError(StrCat("tokenizer has ", toks->count,
                                             " tokens but token_embd.weight has ", c.vocab_size,
                                             " rows"));
  }
  c.tied_output = f.FindTensor("output.weight") == nullptr;

  std::map<DType, uint64_t> by_type;
  for (const auto& t : f.tensors()) {
    c.n_params += t.n_elements;
    if (t.dims.size() == 2) by_type[t.type] += t.n_elements;
  }
  uint64_t best = 0;
  for (auto [t, n] : by_type) {
    if (n > best) {
      best = n;
      c.weight_type = t;
    }
  }
  return c;
}

}  // namespace phx::model
