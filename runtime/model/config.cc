#include "runtime/model/config.h"

#include <cmath>
#include <map>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/model/families/families.h"
#include "runtime/model/family.h"

namespace phx::model {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 24;

absl::Status ReadRope(const Hparams& hp, ModelConfig& c) {
  PHX_ASSIGN_OR_RETURN(c.rope_freq_base, hp.FloatOr("rope.freq_base", 10000.f));
  if (!(c.rope_freq_base > 1.f)) {
    return absl::InvalidArgumentError(
        StrCat("metadata ", hp.Key("rope.freq_base"), " = ", c.rope_freq_base, " must be > 1"));
  }
  // llama.cpp: the factor from rope.scaling.factor (or the old rope.scale_linear), the type
  // "linear" when the file names none.
  float factor = 0.f;
  if (hp.Has("rope.scaling.factor")) {
    PHX_ASSIGN_OR_RETURN(factor, hp.Float("rope.scaling.factor"));
  } else if (hp.Has("rope.scale_linear")) {
    PHX_ASSIGN_OR_RETURN(factor, hp.Float("rope.scale_linear"));
  }
  if (factor < 0.f) {
    return absl::InvalidArgumentError(
        StrCat("metadata ", hp.Key("rope.scaling.factor"), " = ", factor, " is negative"));
  }
  PHX_ASSIGN_OR_RETURN(const std::string type, hp.StringOr("rope.scaling.type", "linear"));
  if (type == "none") {
    c.rope_scaling = RopeScaling::kNone;
  } else if (type == "linear") {
    c.rope_scaling = factor > 0.f ? RopeScaling::kLinear : RopeScaling::kNone;
  } else if (type == "yarn") {
    c.rope_scaling = RopeScaling::kYarn;
  } else if (type == "longrope") {
    c.rope_scaling = RopeScaling::kLongRope;
  } else {
    return hp.Unsupported(StrCat("RoPE scaling type '", type, "'"), "rope.scaling.type");
  }
  c.rope_scale_factor = c.rope_scaling == RopeScaling::kNone || factor == 0.f ? 1.f : factor;
  PHX_ASSIGN_OR_RETURN(c.rope_orig_context, hp.IntOr("rope.scaling.original_context_length",
                                                     c.context_length, 1, int64_t{1} << 40));
  PHX_ASSIGN_OR_RETURN(c.rope_attn_factor, hp.FloatOr("rope.scaling.attn_factor", 1.f));
  if (!(c.rope_attn_factor > 0.f)) {
    return absl::InvalidArgumentError(StrCat("metadata ", hp.Key("rope.scaling.attn_factor"), " = ",
                                             c.rope_attn_factor, " must be positive"));
  }
  return absl::OkStatus();
}

absl::Status ReadPooling(const Hparams& hp, ModelConfig& c) {
  PHX_ASSIGN_OR_RETURN(const int64_t p, hp.IntOr("pooling_type", 0, -1, int64_t{1} << 31));
  switch (p) {
    case -1:  // LLAMA_POOLING_TYPE_UNSPECIFIED: as absent
    case 0:
      c.pooling = Pooling::kNone;
      return absl::OkStatus();
    case 1:
      c.pooling = Pooling::kMean;
      return absl::OkStatus();
    case 2:
      c.pooling = Pooling::kCls;
      return absl::OkStatus();
    case 3:
      c.pooling = Pooling::kLast;
      return absl::OkStatus();
    case 4:
      return hp.Unsupported("rank pooling (a reranker's classification head)", "pooling_type");
    default:
      return hp.Unsupported(StrCat("pooling type ", p, " (known: 0 none, 1 mean, 2 cls, 3 last)"),
                            "pooling_type");
  }
}

absl::Status ReadExperts(const Hparams& hp, ModelConfig& c) {
  PHX_ASSIGN_OR_RETURN(c.n_expert, hp.IntOr("expert_count", 0, 0, 1 << 16));
  PHX_ASSIGN_OR_RETURN(c.n_expert_used, hp.IntOr("expert_used_count", 0, 0, 1 << 16));
  if (c.n_expert == 0 && c.n_expert_used != 0) {
    return absl::InvalidArgumentError(StrCat("metadata ", hp.Key("expert_used_count"), " = ",
                                             c.n_expert_used, " but ", hp.Key("expert_count"),
                                             " is 0"));
  }
  if (c.n_expert_used > c.n_expert) {
    return absl::InvalidArgumentError(StrCat("metadata ", hp.Key("expert_used_count"), " = ",
                                             c.n_expert_used, " exceeds expert_count ",
                                             c.n_expert));
  }
  // Router variants none of these families use.
  PHX_ASSIGN_OR_RETURN(const int64_t shared, hp.IntOr("expert_shared_count", 0, 0, 1 << 16));
  if (shared != 0) return hp.Unsupported("shared experts", "expert_shared_count");
  PHX_ASSIGN_OR_RETURN(const int64_t gating, hp.IntOr("expert_gating_func", 1, 0, 16));
  if (gating != 1) return hp.Unsupported("a router other than softmax", "expert_gating_func");
  PHX_ASSIGN_OR_RETURN(const float scale, hp.FloatOr("expert_weights_scale", 0.f));
  if (scale != 0.f && scale != 1.f) {
    return hp.Unsupported("scaled expert weights", "expert_weights_scale");
  }
  return absl::OkStatus();
}

// What the file's tensors say: vocabulary, output tying, fused or biased projections, RoPE
// factor tensors.
absl::Status ReadTensors(const gguf::File& f, ModelConfig& c) {
  const gguf::TensorInfo* emb = f.FindTensor("token_embd.weight");
  if (emb == nullptr) return absl::NotFoundError("tensor token_embd.weight is missing");
  if (emb->dims.size() != 2 || emb->dims[0] != c.n_embd) {
    return absl::InvalidArgumentError(StrCat("token_embd.weight has shape [",
                                             StrJoin(emb->dims, ", "), "], expected [", c.n_embd,
                                             ", vocab]"));
  }
  c.vocab_size = emb->dims[1];
  if (auto toks = f.Find("tokenizer.ggml.tokens");
      toks && toks->is_array() && static_cast<int64_t>(toks->count) != c.vocab_size) {
    return absl::InvalidArgumentError(StrCat("tokenizer has ", toks->count,
                                             " tokens but token_embd.weight has ", c.vocab_size,
                                             " rows"));
  }
  c.tied_output = f.FindTensor("output.weight") == nullptr;
  c.fused_qkv = f.FindTensor("blk.0.attn_qkv.weight") != nullptr;
  c.qkv_bias = f.FindTensor(c.fused_qkv ? "blk.0.attn_qkv.bias" : "blk.0.attn_q.bias") != nullptr;
  c.out_bias = f.FindTensor("blk.0.attn_output.bias") != nullptr;
  c.has_rope_freq_factors = f.FindTensor("rope_freqs.weight") != nullptr;
  const bool long_f = f.FindTensor("rope_factors_long.weight") != nullptr;
  const bool short_f = f.FindTensor("rope_factors_short.weight") != nullptr;
  if (long_f != short_f) {
    return absl::NotFoundError(StrCat("tensor rope_factors_", long_f ? "short" : "long",
                                      ".weight is missing (longrope needs both)"));
  }
  c.has_longrope_factors = long_f;
  return absl::OkStatus();
}

}  // namespace

const char* PoolingName(Pooling p) {
  switch (p) {
    case Pooling::kNone:
      return "none";
    case Pooling::kMean:
      return "mean";
    case Pooling::kCls:
      return "cls";
    case Pooling::kLast:
      return "last";
  }
  return "?";
}

bool ModelConfig::any_sliding() const {
  for (const LayerConfig& l : layers) {
    if (l.sliding) return true;
  }
  return false;
}

std::string ModelConfig::Summary() const {
  std::string moe_part;
  if (moe())
    moe_part = fmt::format(" experts={}/{} expert_ffn={}", n_expert_used, n_expert, n_ff_expert);
  return fmt::format(
      "arch={} layers={} embd={} ffn={} heads={} kv_heads={} head_dim={} vocab={} ctx={} "
      "params={:.2f}M dtype={}{}{}",
      arch, n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, vocab_size, context_length,
      n_params / 1e6, DTypeName(weight_type),
      !lm_head ? " encoder" : (tied_output ? " tied-output" : ""), moe_part);
}

std::string ModelConfig::FeatureList() const {
  std::vector<std::string> f;
  f.push_back(rope_type == RopeType::kNeox   ? "rope neox"
              : rope_type == RopeType::kNone ? "no rope"
                                             : "rope normal");
  if (!causal) f.push_back("bidirectional attention");
  if (pos_embd) f.push_back("absolute position embeddings");
  if (n_token_types > 0) f.push_back(StrCat(n_token_types, " token types"));
  if (norm == NormType::kLayer) f.push_back(StrCat("layer norm (eps ", norm_eps, ")"));
  if (embd_norm) f.push_back("embedding norm");
  if (post_ln) f.push_back("post-LN blocks");
  if (rope_type != RopeType::kNone && n_rot != head_dim)
    f.push_back(StrCat("partial rotary ", n_rot, "/", head_dim));
  if (rope_scaling == RopeScaling::kLinear) f.push_back(StrCat("rope linear x", rope_scale_factor));
  if (rope_scaling == RopeScaling::kYarn) {
    f.push_back(StrCat("rope yarn x", rope_scale_factor, " from ", rope_orig_context));
  }
  if (has_rope_freq_factors) f.push_back("rope_freqs (llama3)");
  if (has_longrope_factors) f.push_back(StrCat("longrope from ", rope_orig_context));
  if (fused_qkv) f.push_back("fused qkv");
  if (qkv_bias) f.push_back("qkv bias");
  if (out_bias) f.push_back("output bias");
  if (qk_norm) f.push_back("q/k norm");
  if (post_norms) f.push_back("post-norms");
  if (embd_scale != 1.f) f.push_back(StrCat("embedding x", embd_scale));
  f.push_back(ffn_act == FfnAct::kGeGlu  ? "geglu"
              : ffn_act == FfnAct::kGelu ? "gelu (no gate)"
                                         : "swiglu");
  if (ffn_bias) f.push_back("ffn biases");
  if (fused_gate_up) f.push_back("fused gate-up");
  if (attn_softcap > 0) f.push_back(StrCat("attention softcap ", attn_softcap));
  if (final_softcap > 0) f.push_back(StrCat("final softcap ", final_softcap));
  if (any_sliding()) {
    int64_t n = 0;
    for (const LayerConfig& l : layers) n += l.sliding ? 1 : 0;
    f.push_back(StrCat("sliding window ", sliding_window, " on ", n, "/", n_layer, " layers"));
  }
  if (moe()) {
    f.push_back(StrCat("moe softmax top-", n_expert_used, "/", n_expert,
                       expert_weights_norm ? " renormalized" : ""));
  }
  if (!lm_head) {
    f.push_back("no output head (embeddings only)");
  } else {
    f.push_back(tied_output ? "tied output" : "separate output");
  }
  if (pooling != Pooling::kNone) f.push_back(StrCat("pooling ", PoolingName(pooling)));
  return StrJoin(f, ", ");
}

absl::StatusOr<ModelConfig> ConfigFromGguf(const gguf::File& f) {
  ModelConfig c;
  PHX_ASSIGN_OR_RETURN(c.arch, f.GetString("general.architecture"));
  const Family* family = FindFamily(c.arch);
  if (family == nullptr) {
    return absl::UnimplementedError(
        StrCat("unsupported model architecture '", c.arch, "' (supported: ", FamilyNames(), ")"));
  }
  if (auto n = f.GetString("general.name"); n.ok()) c.name = *n;
  const Hparams hp(f, c.arch);
  PHX_ASSIGN_OR_RETURN(c.context_length, hp.Int("context_length", 1, int64_t{1} << 40));
  PHX_ASSIGN_OR_RETURN(c.n_embd, hp.Int("embedding_length", 1, kMaxDim));
  PHX_ASSIGN_OR_RETURN(c.n_layer, hp.Int("block_count", 1, 4096));
  PHX_ASSIGN_OR_RETURN(c.n_ff, hp.IntOr("feed_forward_length", 0, 0, kMaxDim));
  PHX_ASSIGN_OR_RETURN(c.n_head, hp.Int("attention.head_count", 1, 1 << 16));
  PHX_ASSIGN_OR_RETURN(c.n_head_kv, hp.IntOr("attention.head_count_kv", c.n_head, 1, 1 << 16));
  if (c.n_head % c.n_head_kv != 0) {
    return absl::InvalidArgumentError(StrCat("attention.head_count ", c.n_head,
                                             " is not a multiple of head_count_kv ", c.n_head_kv));
  }
  PHX_ASSIGN_OR_RETURN(c.head_dim,
                       hp.IntOr("attention.key_length", c.n_embd / c.n_head, 0, 1 << 16));
  PHX_ASSIGN_OR_RETURN(const int64_t v_len,
                       hp.IntOr("attention.value_length", c.head_dim, 0, 1 << 16));
  if (v_len != c.head_dim) {
    return hp.Unsupported(StrCat("value heads of ", v_len, " != key heads of ", c.head_dim),
                          "attention.value_length");
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        StrCat("unsupported head dim ", c.head_dim, " (attention.key_length): must be even"));
  }
  PHX_ASSIGN_OR_RETURN(c.n_rot, hp.IntOr("rope.dimension_count", c.head_dim, 2, c.head_dim));
  if (c.n_rot % 2 != 0) {
    return absl::InvalidArgumentError(
        StrCat("metadata ", hp.Key("rope.dimension_count"), " = ", c.n_rot, " must be even"));
  }
  // Required where the model uses RMSNorm (checked after the family said which norm it uses).
  const bool has_rms_eps = hp.Has("attention.layer_norm_rms_epsilon");
  if (has_rms_eps) {
    PHX_ASSIGN_OR_RETURN(c.rms_eps, hp.Float("attention.layer_norm_rms_epsilon"));
    if (!(c.rms_eps > 0.f) || c.rms_eps > 1.f) {
      return absl::InvalidArgumentError(StrCat("metadata ",
                                               hp.Key("attention.layer_norm_rms_epsilon"), " = ",
                                               c.rms_eps, " must be in (0, 1]"));
    }
  }
  PHX_RETURN_IF_ERROR(ReadRope(hp, c));
  PHX_RETURN_IF_ERROR(ReadExperts(hp, c));
  PHX_RETURN_IF_ERROR(ReadPooling(hp, c));
  PHX_RETURN_IF_ERROR(ReadTensors(f, c));

  PHX_RETURN_IF_ERROR(family->configure(hp, c));
  if (c.norm == NormType::kRms && !has_rms_eps) {
    return absl::NotFoundError(
        StrCat("metadata ", hp.Key("attention.layer_norm_rms_epsilon"), " is missing"));
  }
  // A family that does not read attention.causal (the decoders) runs causally only.
  if (auto causal = f.GetBool(hp.Key("attention.causal")); c.causal && causal.ok() && !*causal) {
    return hp.Unsupported("non-causal attention", "attention.causal");
  }
  if (!c.moe() && c.n_ff <= 0) {
    return absl::NotFoundError(
        StrCat("metadata ", hp.Key("feed_forward_length"), " is missing or zero"));
  }
  if (c.moe()) {
    // Every family that accepts experts must leave a usable router and expert width.
    PHX_RETURN_IF_ERROR(families::CheckExperts(hp, c));
    if (c.n_ff_expert <= 0) {
      return absl::NotFoundError(StrCat("metadata ", hp.Key("expert_feed_forward_length"), " (or ",
                                        hp.Key("feed_forward_length"),
                                        ") is missing or zero for a model with experts"));
    }
  }
  if (static_cast<int64_t>(c.layers.size()) != c.n_layer) {
    return absl::InternalError(StrCat(c.arch, ": the family left the layers unset"));
  }

  std::map<DType, uint64_t> by_type;
  for (const auto& t : f.tensors()) {
    c.n_params += t.n_elements;
    if (t.dims.size() >= 2) by_type[t.type] += t.n_elements;
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
