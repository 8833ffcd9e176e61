// bert: BERT-family encoders (bge, e5, all-MiniLM), read as llama.cpp's LLM_ARCH_BERT reads
// them. Input embeddings are token_embd + token_types row 0 + position_embd (absolute positions,
// no RoPE), then token_embd_norm (LayerNorm with bias). Blocks are post-LN: x = LN(x + attn(x))
// with attn_output_norm, x = LN(x + ffn(x)) with layer_output_norm; q/k/v carry biases,
// attn_output and the FFN (up, GELU, down; no gate) may; attention is bidirectional unless
// attention.causal says otherwise (the key is required, as llama.cpp requires it), scaled by
// 1/sqrt(head_dim); every norm uses attention.layer_norm_epsilon. There is no output norm and no
// output head: the final hidden states are the model's output (embeddings, pooled as
// pooling_type says).
#include "base/status.h"
#include "base/strings.h"
#include "runtime/model/families/families.h"

namespace phx::model::families {

absl::Status ConfigureBert(const Hparams& hp, ModelConfig& c) {
  const gguf::File& f = hp.file();
  if (c.n_expert > 0) return hp.Unsupported("experts (nomic-bert-moe)", "expert_count");
  if (!hp.Has("attention.causal")) {
    return absl::NotFoundError(StrCat("metadata ", hp.Key("attention.causal"), " is missing"));
  }
  PHX_ASSIGN_OR_RETURN(c.causal, f.GetBool(hp.Key("attention.causal")));
  if (!hp.Has("attention.layer_norm_epsilon")) {
    return absl::NotFoundError(
        StrCat("metadata ", hp.Key("attention.layer_norm_epsilon"), " is missing"));
  }
  PHX_ASSIGN_OR_RETURN(c.norm_eps, hp.Float("attention.layer_norm_epsilon"));
  if (!(c.norm_eps > 0.f)) {
    return absl::InvalidArgumentError(StrCat("metadata ", hp.Key("attention.layer_norm_epsilon"),
                                             " = ", c.norm_eps, " must be positive"));
  }
  if (c.fused_qkv) return hp.Unsupported("a fused attn_qkv (jina/nomic bert)", "attention");
  if (!c.qkv_bias) {
    return absl::NotFoundError(
        StrCat(hp.arch(), ": tensor blk.0.attn_q.bias is missing (bert has q/k/v biases)"));
  }
  if (f.FindTensor("position_embd.weight") == nullptr) {
    return absl::NotFoundError(
        StrCat(hp.arch(), ": tensor position_embd.weight is missing (bert's absolute positions)"));
  }
  c.rope_type = RopeType::kNone;
  c.n_rot = 0;
  c.rope_scaling = RopeScaling::kNone;
  c.rope_scale_factor = 1.f;
  c.rope_attn_factor = 1.f;
  c.has_rope_freq_factors = c.has_longrope_factors = false;  // not read by this family
  c.norm = NormType::kLayer;
  c.post_ln = true;
  c.pos_embd = true;
  c.embd_norm = true;
  c.ffn_act = FfnAct::kGelu;
  c.ffn_bias = f.FindTensor("blk.0.ffn_up.bias") != nullptr ||
               f.FindTensor("blk.0.ffn_down.bias") != nullptr;
  c.lm_head = false;
  c.tied_output = false;
  if (const gguf::TensorInfo* t = f.FindTensor("token_types.weight"); t != nullptr) {
    if (t->dims.size() != 2 || t->dims[0] != c.n_embd || t->dims[1] < 1) {
      return absl::InvalidArgumentError(StrCat("tensor token_types.weight has shape [",
                                               StrJoin(t->dims, ", "), "], expected [", c.n_embd,
                                               ", types]"));
    }
    c.n_token_types = t->dims[1];
  }
  c.attn_scale = DefaultAttnScale(c);
  DenseLayers(c);
  return absl::OkStatus();
}

}  // namespace phx::model::families
