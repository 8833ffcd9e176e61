#include "runtime/model/synth_arch.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "base/status.h"
#include "base/strings.h"

namespace phx::model::synth {
namespace {

bool OneOf(const std::string& s, std::initializer_list<const char*> xs) {
  for (const char* x : xs) {
    if (s == x) return true;
  }
  return false;
}

absl::Status Refuse(const std::string& flag, const std::string& arch) {
  return absl::InvalidArgumentError(StrCat(flag, " does not apply to --arch ", arch));
}

}  // namespace

absl::StatusOr<ArchPlan> PlanArch(const SynthOptions& o) {
  const std::string& arch = o.arch;
  if (!OneOf(arch, {"llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "mixtral", "qwen3moe",
                    "bert"})) {
    return absl::InvalidArgumentError(
        StrCat("--arch: unsupported architecture '", arch,
               "' (llama, qwen2, qwen3, gemma2, gemma3, phi3, mixtral, qwen3moe, bert)"));
  }
  ArchPlan a;
  if (arch == "bert") {
    a.gguf_arch = arch;
    a.encoder = true;
    a.head_dim = o.head_dim > 0 ? o.head_dim : (o.n_head > 0 ? o.n_embd / o.n_head : 0);
    a.qkv_bias = true;
    a.embd_amp = std::sqrt(3.f);
    if (o.n_head_kv != o.n_head) {
      return absl::InvalidArgumentError(
          "bert has no grouped-query attention: --kv-heads must "
          "equal --heads");
    }
    if (o.n_head * a.head_dim != o.n_embd) {
      return absl::InvalidArgumentError(StrCat(
          "bert needs heads x head dim (", o.n_head * a.head_dim, ") == --embd (", o.n_embd, ")"));
    }
    if (o.tied_output || o.untied_output) return Refuse("--tied/--untied (no output head)", arch);
    if (o.n_expert != 0 || o.n_expert_used != 0 || o.n_ff_expert != 0) {
      return Refuse("--experts/--experts-used/--expert-ffn", arch);
    }
    if (o.sliding_window != 0 || o.swa_pattern != 0) {
      return Refuse("--sliding-window/--swa-pattern", arch);
    }
    if (o.attn_softcap != 0 || o.final_softcap != 0) return Refuse("--attn/final-softcap", arch);
    if (o.rope_scaling != "none" || o.n_rot != 0) {
      return Refuse("--rope-scaling/--rope-dims (absolute positions, no RoPE)", arch);
    }
    if (!o.mix.empty()) return Refuse("--mix", arch);
    return a;
  }
  a.gguf_arch = arch == "mixtral" ? "llama" : arch;
  a.head_dim = o.head_dim > 0 ? o.head_dim : (o.n_head > 0 ? o.n_embd / o.n_head : 0);
  a.qkv_bias = arch == "qwen2";
  a.qk_norm = OneOf(arch, {"qwen3", "qwen3moe", "gemma3"});
  a.post_norms = OneOf(arch, {"gemma2", "gemma3"});
  a.fused_qkv = a.fused_gate_up = arch == "phi3";
  const bool gemma = a.post_norms;
  if (arch == "gemma2" && o.untied_output) {
    return absl::InvalidArgumentError("--untied: gemma2 always ties its output to token_embd");
  }
  a.tied = o.tied_output || (gemma && !o.untied_output);
  // Unit-variance rows; Gemma multiplies them by sqrt(n_embd), and its tied output reads them
  // back: amplitude 2 there keeps the residual near unit size and the logits' spread near 2.
  a.embd_amp =
      gemma ? std::sqrt(3.f) * 2.f / std::sqrt(static_cast<float>(o.n_embd)) : std::sqrt(3.f);

  const bool classic = arch == "llama" || arch == "qwen2";
  a.q_gain = classic ? 1.f : 2.5f;
  a.resid_gain = classic ? 0.f : a.tied ? 8.f : 1.f;
  a.post_norm = 6.f;
  const bool moe = arch == "mixtral" || arch == "qwen3moe";
  if (moe) {
    if (o.n_expert <= 0 || o.n_expert_used <= 0 || o.n_expert_used > o.n_expert) {
      return absl::InvalidArgumentError(StrCat("--arch ", arch, " needs --experts N > 0 and ",
                                               "--experts-used K in 1..N (got ", o.n_expert, ", ",
                                               o.n_expert_used, ")"));
    }
    a.n_expert = o.n_expert;
    a.n_expert_used = o.n_expert_used;
    if (arch == "mixtral") {
      if (o.n_ff_expert != 0) return Refuse("--expert-ffn (mixtral experts are --ffn wide)", arch);
      a.n_ff_expert = o.n_ff;
    } else {
      a.n_ff_expert = o.n_ff_expert > 0 ? o.n_ff_expert : o.n_ff / o.n_expert_used;
    }
  } else if (o.n_expert != 0 || o.n_expert_used != 0 || o.n_ff_expert != 0) {
    return Refuse("--experts/--experts-used/--expert-ffn", arch);
  }
  if (!gemma && (o.sliding_window != 0 || o.swa_pattern != 0)) {
    return Refuse("--sliding-window/--swa-pattern", arch);
  }
  if (o.sliding_window < 0 || o.swa_pattern < 0) {
    return absl::InvalidArgumentError("--sliding-window and --swa-pattern must be >= 0");
  }
  if (o.attn_softcap != 0 && arch != "gemma2") return Refuse("--attn-softcap", arch);
  if (o.final_softcap != 0 && !gemma) return Refuse("--final-softcap", arch);
  if (o.attn_softcap < 0 || o.final_softcap < 0) {
    return absl::InvalidArgumentError("soft-caps must be >= 0");
  }
  if (!OneOf(o.rope_scaling, {"none", "linear", "llama3", "yarn", "longrope"})) {
    return absl::InvalidArgumentError(StrCat("--rope-scaling: unknown '", o.rope_scaling,
                                             "' (none, linear, llama3, yarn, longrope)"));
  }
  if (o.rope_scaling == "llama3" && a.gguf_arch != "llama") {
    return Refuse("--rope-scaling llama3 (rope_freqs.weight is read by the llama family)", arch);
  }
  if (o.rope_scaling == "longrope" && arch != "phi3") {
    return Refuse("--rope-scaling longrope (Phi-3's long/short factors)", arch);
  }
  if (o.rope_scaling != "none" && !(o.rope_scaling_factor >= 1.f)) {
    return absl::InvalidArgumentError(
        StrCat("--rope-scaling-factor ", o.rope_scaling_factor, " must be >= 1"));
  }
  if (o.rope_orig_ctx < 0) return absl::InvalidArgumentError("--rope-orig-ctx must be >= 0");
  if (o.n_rot != 0 && (arch != "phi3" || o.n_rot < 2 || o.n_rot % 2 != 0 || o.n_rot > a.head_dim)) {
    return absl::InvalidArgumentError(StrCat("--rope-dims ", o.n_rot, ": partial rotary is for ",
                                             "phi3, even and at most the head dim"));
  }
  if (arch == "phi3" && o.n_head * a.head_dim != o.n_embd) {
    // llama.cpp's phi3 graph has square attention (wq and wo are n_embd x n_embd).
    return absl::InvalidArgumentError(StrCat("phi3 needs heads x head dim (", o.n_head * a.head_dim,
                                             ") == --embd (", o.n_embd, ")"));
  }
  return a;
}

absl::Status WriteArchMetadata(const SynthOptions& o, const ArchPlan& a, int64_t n_vocab,
                               gguf::Writer& w) {
  const std::string p = a.gguf_arch + ".";
  if (a.encoder) {  // what convert_hf_to_gguf.py writes for BERT
    w.SetF32(p + "attention.layer_norm_epsilon", 1e-12f);
    w.SetBool(p + "attention.causal", false);
    return absl::OkStatus();
  }
  const int64_t orig = o.rope_orig_ctx > 0 ? o.rope_orig_ctx : o.context_length;
  if (a.gguf_arch == "llama") w.SetU32(p + "vocab_size", static_cast<uint32_t>(n_vocab));
  if (a.n_expert > 0) {
    w.SetU32(p + "expert_count", static_cast<uint32_t>(a.n_expert));
    w.SetU32(p + "expert_used_count", static_cast<uint32_t>(a.n_expert_used));
    if (o.arch == "qwen3moe") {
      w.SetU32(p + "expert_feed_forward_length", static_cast<uint32_t>(a.n_ff_expert));
    }
  }
  if (o.arch == "gemma2") {
    w.SetF32(p + "attn_logit_softcapping", o.attn_softcap > 0 ? o.attn_softcap : 50.f);
    w.SetF32(p + "final_logit_softcapping", o.final_softcap > 0 ? o.final_softcap : 30.f);
    w.SetU32(p + "attention.sliding_window",
             static_cast<uint32_t>(o.sliding_window > 0 ? o.sliding_window : 4096));
  }
  if (o.arch == "gemma3") {
    if (o.final_softcap > 0) w.SetF32(p + "final_logit_softcapping", o.final_softcap);
    if (o.sliding_window > 0) {
      w.SetU32(p + "attention.sliding_window", static_cast<uint32_t>(o.sliding_window));
    }
    w.SetF32(p + "rope.freq_base_swa", 10000.f);  // Gemma 3's rope_local_base_freq
  }
  if (o.swa_pattern > 0) {
    w.SetU32(p + "attention.sliding_window_pattern", static_cast<uint32_t>(o.swa_pattern));
  }
  if (o.rope_scaling == "linear" || o.rope_scaling == "yarn") {
    w.SetString(p + "rope.scaling.type", o.rope_scaling);
    w.SetF32(p + "rope.scaling.factor", o.rope_scaling_factor);
  }
  if (o.rope_scaling == "yarn" || o.rope_scaling == "longrope") {
    w.SetU32(p + "rope.scaling.original_context_length", static_cast<uint32_t>(orig));
  }
  if (o.rope_scaling == "longrope") {  // what convert_hf_to_gguf.py writes for Phi-3
    const double scale = static_cast<double>(o.context_length) / static_cast<double>(orig);
    w.SetF32(
        p + "rope.scaling.attn_factor",
        scale > 1.0 ? static_cast<float>(std::sqrt(1 + std::log(scale) / std::log(orig))) : 1.f);
  }
  return absl::OkStatus();
}

absl::Status AddRopeFactorTensors(const SynthOptions& o, const ArchPlan& a, gguf::Writer& w) {
  const int64_t n_rot = o.n_rot > 0 ? o.n_rot : a.head_dim, half = n_rot / 2;
  const double orig = static_cast<double>(o.rope_orig_ctx > 0 ? o.rope_orig_ctx : o.context_length);
  auto f32 = [&](const std::string& name, const std::vector<float>& v) {
    std::vector<uint8_t> bytes(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return w.AddTensor(name, DType::kF32, {static_cast<int64_t>(v.size())}, std::move(bytes));
  };
  if (o.rope_scaling == "llama3") {
    // convert_hf_to_gguf.py's Llama 3.1 factors (low_freq_factor 1, high_freq_factor 4).
    const double factor = o.rope_scaling_factor, low = 1.0, high = 4.0;
    const double low_wavelen = orig / low, high_wavelen = orig / high;
    std::vector<float> f(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i) {
      const double freq = 1.0 / std::pow(static_cast<double>(o.rope_freq_base), 2.0 * i / n_rot);
      const double wavelen = 2 * M_PI / freq;
      if (wavelen < high_wavelen) {
        f[i] = 1.f;
      } else if (wavelen > low_wavelen) {
        f[i] = static_cast<float>(factor);
      } else {
        const double smooth = (orig / wavelen - low) / (high - low);
        f[i] = static_cast<float>(1 / ((1 - smooth) / factor + smooth));
      }
    }
    return f32("rope_freqs.weight", f);
  }
  if (o.rope_scaling == "longrope") {
    // Phi-3-like factors: short ones near 1, long ones growing to about the scaling factor
    // over the low frequencies; a little deterministic jitter.
    std::vector<float> s(static_cast<size_t>(half)), l(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i) {
      const double r = static_cast<double>(i) / std::max<int64_t>(1, half - 1);
      const double jitter = 0.05 * SynthUniform(o.seed, 1u << 20, static_cast<uint64_t>(i));
      s[i] = static_cast<float>(1.0 + 0.5 * r * r + jitter);
      l[i] = static_cast<float>(1.0 + (o.rope_scaling_factor - 1.0) * r * r + jitter);
    }
    PHX_RETURN_IF_ERROR(f32("rope_factors_long.weight", l));
    return f32("rope_factors_short.weight", s);
  }
  return absl::OkStatus();
}

}  // namespace phx::model::synth
