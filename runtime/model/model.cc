#include "runtime/model/model.h"

#include <utility>
#include <vector>

#include "base/status.h"
#include "base/strings.h"

namespace phx::model {
namespace {

// The backend ops a config needs beyond the Llama set, each with what asks for it.
std::vector<std::pair<ops::Op, std::string>> NeededOps(const ModelConfig& c) {
  const std::string a = c.arch + ".";
  std::vector<std::pair<ops::Op, std::string>> ops;
  if (c.qk_norm) ops.emplace_back(ops::Op::kHeadRmsNorm, "q/k norm (blk.N.attn_q_norm.weight)");
  if (c.post_norms) {
    ops.emplace_back(ops::Op::kPostNormAdd, "post-norms (blk.N.post_attention_norm.weight)");
  }
  if (c.rope_scaling == RopeScaling::kYarn) {
    ops.emplace_back(ops::Op::kRopeScaled, StrCat("YaRN (metadata ", a, "rope.scaling.type)"));
  } else if (c.rope_attn_factor != 1.f) {
    ops.emplace_back(ops::Op::kRopeScaled,
                     StrCat("RoPE magnitude scaling (metadata ", a, "rope.scaling.attn_factor)"));
  }
  if (c.attn_softcap > 0) {
    ops.emplace_back(ops::Op::kAttentionSoftcap,
                     StrCat("attention soft-capping (metadata ", a, "attn_logit_softcapping)"));
  }
  if (c.any_sliding()) {
    ops.emplace_back(ops::Op::kSlidingWindow,
                     StrCat("sliding-window attention (metadata ", a, "attention.sliding_window)"));
  }
  if (c.ffn_act == FfnAct::kGeGlu) ops.emplace_back(ops::Op::kGeGlu, StrCat(c.arch, "'s GeGLU"));
  if (c.embd_scale != 1.f) {
    ops.emplace_back(ops::Op::kScaledEmbedding, StrCat(c.arch, "'s embedding scaling"));
  }
  if (c.final_softcap > 0) {
    ops.emplace_back(ops::Op::kLogitSoftcap,
                     StrCat("final logit soft-capping (metadata ", a, "final_logit_softcapping)"));
  }
  if (c.norm == NormType::kLayer) {
    ops.emplace_back(ops::Op::kLayerNorm,
                     StrCat("LayerNorm with bias (metadata ", a, "attention.layer_norm_epsilon)"));
  }
  if (c.ffn_act == FfnAct::kGelu) {
    ops.emplace_back(ops::Op::kGelu, StrCat(c.arch, "'s GELU feed-forward"));
  }
  if (!c.causal) {
    ops.emplace_back(ops::Op::kBidirectionalAttention,
                     StrCat("bidirectional attention (metadata ", a, "attention.causal)"));
  }
  if (c.moe()) {
    const std::string why = StrCat("mixture of experts (metadata ", a, "expert_count)");
    ops.emplace_back(ops::Op::kMoeRoute, why);
    ops.emplace_back(ops::Op::kMoeCombine, why);
  }
  return ops;
}

}  // namespace

absl::Status CheckBackendSupports(const ModelConfig& c, const ops::Backend& backend) {
  for (const auto& [op, why] : NeededOps(c)) {
    if (!backend.Supports(op, DType::kF32)) {
      return absl::UnimplementedError(StrCat(c.arch, ": ", why, " is not supported by the ",
                                             backend.name(), " backend (op ", ops::OpName(op),
                                             ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path, ops::Backend& backend,
                                                   const LoadProgress& progress) {
  std::unique_ptr<Model> m(new Model());
  m->path_ = path;
  PHX_ASSIGN_OR_RETURN(m->file_, gguf::File::Open(path));
  auto cfg = ConfigFromGguf(*m->file_);
  if (!cfg.ok()) return Annotate(cfg.status(), path);
  m->config_ = *cfg;
  if (absl::Status s = CheckBackendSupports(m->config_, backend); !s.ok()) {
    return Annotate(s, path);
  }
  auto tok = tok::Tokenizer::FromGguf(*m->file_);
  if (!tok.ok()) return Annotate(tok.status(), StrCat(path, ": tokenizer"));
  m->tokenizer_ = std::move(*tok);
  PHX_RETURN_IF_ERROR(m->BindWeights(backend, progress));
  return m;
}

}  // namespace phx::model
