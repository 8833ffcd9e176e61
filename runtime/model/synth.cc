#include "runtime/model/synth.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "base/status.h"
#include "base/strings.h"
#include "runtime/gguf/gguf.h"
#include "runtime/gguf/writer.h"
#include "runtime/model/quant_mix.h"
#include "runtime/model/synth_arch.h"

namespace phx::model {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Fills a [rows x cols] tensor (cols contiguous) of `type` with `base +
// amp * U(-1,1)`, generated and quantized row by row across threads.
gguf::Writer::Fill MakeFill(uint64_t seed, uint64_t tensor_id, DType type, int64_t cols, float base,
                            float amp) {
  return [=](uint8_t* dst, uint64_t n_bytes) {
    const uint64_t row_bytes = *RowBytes(type, static_cast<uint64_t>(cols));
    const int64_t rows = static_cast<int64_t>(n_bytes / row_bytes);
    const int n_threads =
        static_cast<int>(std::max(1u, std::min(std::thread::hardware_concurrency(), 16u)));
    auto work = [&](int t) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = t; r < rows; r += n_threads) {
        for (int64_t c = 0; c < cols; ++c) {
          row[c] = base + amp * SynthUniform(seed, tensor_id, static_cast<uint64_t>(r * cols + c));
        }
        QuantizeRow(type, row.data(), dst + r * row_bytes, cols);
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < n_threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& th : pool) th.join();
  };
}

}  // namespace

float SynthUniform(uint64_t seed, uint64_t tensor_id, uint64_t i) {
  const uint64_t h = SplitMix64(SplitMix64(seed ^ (tensor_id * 0xD1B54A32D192ED03ull)) + i);
  // The double is below 1, but the nearest float can be 1: keep the documented [-1, 1).
  return std::min(static_cast<float>(static_cast<double>(h >> 11) * 0x1.0p-53 * 2.0 - 1.0),
                  0x1.fffffep-1f);
}

absl::Status SynthesizeModel(const SynthOptions& o, const std::string& out_path) {
  PHX_ASSIGN_OR_RETURN(const synth::ArchPlan arch, synth::PlanArch(o));
  if (o.n_layer <= 0 || o.n_embd <= 0 || o.n_ff <= 0 || o.n_head <= 0 || o.n_head_kv <= 0 ||
      o.context_length <= 0) {
    return absl::InvalidArgumentError("layers, dims, head counts and context must be positive");
  }
  if (o.n_head % o.n_head_kv != 0) {
    return absl::InvalidArgumentError(
        StrCat("--heads ", o.n_head, " is not a multiple of --kv-heads ", o.n_head_kv));
  }
  const int64_t head_dim = o.head_dim > 0 ? o.head_dim : o.n_embd / o.n_head;
  if (head_dim % 2 != 0 || (o.head_dim == 0 && o.n_embd % o.n_head != 0)) {
    return absl::InvalidArgumentError(
        StrCat("head dim ", head_dim, " must be even and divide the embedding"));
  }
  if (o.arch == "qwen2" && o.n_head * head_dim != o.n_embd) {
    // llama.cpp's qwen2 graph has square attention (wq and wo are n_embd x n_embd).
    return absl::InvalidArgumentError(StrCat("qwen2 needs heads x head dim (", o.n_head * head_dim,
                                             ") == --embd (", o.n_embd, ")"));
  }
  const int64_t q_dim = o.n_head * head_dim, kv_dim = o.n_head_kv * head_dim;
  std::optional<QuantMix> mix;
  if (!o.mix.empty()) {
    mix = FindQuantMix(o.mix);
    if (!mix) {
      return absl::InvalidArgumentError(StrCat("--mix: unknown llama.cpp file type '", o.mix, "' (",
                                               StrJoin(QuantMixNames(), " "), ")"));
    }
  } else if (o.dtype == DType::kI32 || !GetDTypeInfo(o.dtype)) {
    return absl::InvalidArgumentError(StrCat("--dtype: cannot synthesize ", DTypeName(o.dtype)));
  }
  const int64_t n_ff_e = arch.n_ff_expert > 0 ? arch.n_ff_expert : o.n_ff;
  const MixModel mix_model{arch.gguf_arch, o.n_layer, o.n_head, o.n_head_kv, arch.n_expert, !arch.tied};
  // The type of weight `name` (n_dims dimensions) with rows of `cols` values: the mix's recipe
  // or --dtype, with llama.cpp's fallback for rows the type's block does not divide.
  auto type_of = [&](const std::string& name, int64_t cols,
                     int n_dims = 2) -> absl::StatusOr<DType> {
    const std::optional<DType> t = mix ? MixTensorType(*mix, mix_model, name, n_dims, cols)
                                       : PureTensorType(o.dtype, name, n_dims, cols);
    if (!t) {
      const DType want = mix ? mix->default_type : o.dtype;
      return absl::InvalidArgumentError(
          StrCat(name, ": rows of ", cols, " values are not a multiple of the ", DTypeName(want),
                 " block size ", GetDTypeInfo(want)->block_elems,
                 " (llama.cpp has no fallback type for ", DTypeName(want), ")"));
    }
    return *t;
  };

  PHX_ASSIGN_OR_RETURN(auto vocab, gguf::File::Open(o.vocab_from));
  const gguf::Value* tokens = vocab->Find("tokenizer.ggml.tokens");
  if (tokens == nullptr || !tokens->is_array() || tokens->count == 0) {
    return absl::InvalidArgumentError(
        StrCat("--vocab ", o.vocab_from, " has no tokenizer.ggml.tokens"));
  }
  const int64_t n_vocab = static_cast<int64_t>(tokens->count);

  gguf::Writer w;
  const std::string a = arch.gguf_arch + ".";
  w.SetString("general.architecture", arch.gguf_arch);
  w.SetString("general.name", o.name);
  w.SetU32("general.file_type", mix ? mix->file_type : FileTypeForDType(o.dtype));
  if (mix || IsQuantized(o.dtype)) w.SetU32("general.quantization_version", 2);
  w.SetU32(a + "context_length", static_cast<uint32_t>(o.context_length));
  w.SetU32(a + "embedding_length", static_cast<uint32_t>(o.n_embd));
  w.SetU32(a + "block_count", static_cast<uint32_t>(o.n_layer));
  w.SetU32(a + "feed_forward_length", static_cast<uint32_t>(o.n_ff));
  w.SetU32(a + "attention.head_count", static_cast<uint32_t>(o.n_head));
  w.SetU32(a + "attention.head_count_kv", static_cast<uint32_t>(o.n_head_kv));
  if (head_dim != o.n_embd / o.n_head) {
    w.SetU32(a + "attention.key_length", static_cast<uint32_t>(head_dim));
    w.SetU32(a + "attention.value_length", static_cast<uint32_t>(head_dim));
  }
  if (!arch.encoder) {  // RoPE and RMSNorm models
    w.SetU32(a + "rope.dimension_count", static_cast<uint32_t>(o.n_rot > 0 ? o.n_rot : head_dim));
    w.SetF32(a + "rope.freq_base", o.rope_freq_base);
    w.SetF32(a + "attention.layer_norm_rms_epsilon", o.rms_eps);
  }
  PHX_RETURN_IF_ERROR(synth::WriteArchMetadata(o, arch, n_vocab, w));
  if (!o.pooling.empty()) {
    const char* names[] = {"none", "mean", "cls", "last"};  // LLAMA_POOLING_TYPE order
    auto it = std::find(std::begin(names), std::end(names), o.pooling);
    if (it == std::end(names)) {
      return absl::InvalidArgumentError(
          StrCat("--pooling: unknown '", o.pooling, "' (none | mean | cls | last)"));
    }
    w.SetU32(a + "pooling_type", static_cast<uint32_t>(it - std::begin(names)));
  }
  for (const auto& [key, value] : vocab->metadata()) {
    if (absl::StartsWith(key, "tokenizer.")) w.SetValue(key, value);
  }

  // Weights: uniform with standard deviation 1/sqrt(fan_in) so each projection keeps unit
  // variance; projections back into the residual stream are scaled down by sqrt(2 * layers)
  // so the residual does not grow with depth. Norm weights are 1 +- 0.1.
  const float sqrt3 = std::sqrt(3.f);
  const float resid =
      arch.resid_gain > 0 ? arch.resid_gain : 1.f / std::sqrt(2.f * static_cast<float>(o.n_layer));
  uint64_t tid = 0;
  auto matrix = [&](const std::string& name, int64_t in, int64_t out,
                    float extra = 1.f) -> absl::Status {
    const float amp = extra * sqrt3 / std::sqrt(static_cast<float>(in));
    PHX_ASSIGN_OR_RETURN(const DType t, type_of(name, in));
    return w.AddTensor(name, t, {in, out}, MakeFill(o.seed, tid++, t, in, 0.f, amp));
  };
  auto vec = [&](const std::string& name, int64_t n, float base, float amp) {
    return w.AddTensor(name, DType::kF32, {n}, MakeFill(o.seed, tid++, DType::kF32, n, base, amp));
  };
  // 3-D expert weights [in, out, experts]: each expert's matrix scaled like `matrix`.
  auto experts = [&](const std::string& name, int64_t in, int64_t out,
                     float extra = 1.f) -> absl::Status {
    const float amp = extra * sqrt3 / std::sqrt(static_cast<float>(in));
    PHX_ASSIGN_OR_RETURN(const DType t, type_of(name, in, 3));
    return w.AddTensor(name, t, {in, out, arch.n_expert}, MakeFill(o.seed, tid++, t, in, 0.f, amp));
  };
  // Embedding rows: unit-variance entries (see ArchPlan::embd_amp).
  PHX_ASSIGN_OR_RETURN(const DType embd_type, type_of("token_embd.weight", o.n_embd));
  PHX_RETURN_IF_ERROR(
      w.AddTensor("token_embd.weight", embd_type, {o.n_embd, n_vocab},
                  MakeFill(o.seed, tid++, embd_type, o.n_embd, 0.f, arch.embd_amp)));
  if (arch.encoder) {
    auto table = [&](const std::string& name, int64_t cols, int64_t rows,
                     float amp) -> absl::Status {
      PHX_ASSIGN_OR_RETURN(const DType t, type_of(name, cols));
      return w.AddTensor(name, t, {cols, rows}, MakeFill(o.seed, tid++, t, cols, 0.f, amp));
    };
    PHX_RETURN_IF_ERROR(synth::AddEncoderTensors(o, arch, matrix, vec, table));
    return w.WriteFile(out_path);
  }
  PHX_RETURN_IF_ERROR(synth::AddRopeFactorTensors(o, arch, w));
  for (int64_t l = 0; l < o.n_layer; ++l) {
    const std::string p = StrCat("blk.", l, ".");
    PHX_RETURN_IF_ERROR(vec(p + "attn_norm.weight", o.n_embd, 1.f, 0.1f));
    if (arch.fused_qkv) {
      PHX_RETURN_IF_ERROR(
          matrix(p + "attn_qkv.weight", o.n_embd, q_dim + 2 * kv_dim, std::sqrt(arch.q_gain)));
    } else {
      PHX_RETURN_IF_ERROR(
          matrix(p + "attn_q.weight", o.n_embd, q_dim, arch.qk_norm ? 1.f : arch.q_gain));
      PHX_RETURN_IF_ERROR(matrix(p + "attn_k.weight", o.n_embd, kv_dim));
      PHX_RETURN_IF_ERROR(matrix(p + "attn_v.weight", o.n_embd, kv_dim));
    }
    if (arch.qkv_bias) {
      PHX_RETURN_IF_ERROR(vec(p + "attn_q.bias", q_dim, 0.f, 0.2f));
      PHX_RETURN_IF_ERROR(vec(p + "attn_k.bias", kv_dim, 0.f, 0.2f));
      PHX_RETURN_IF_ERROR(vec(p + "attn_v.bias", kv_dim, 0.f, 0.2f));
    }
    if (arch.qk_norm) {
      PHX_RETURN_IF_ERROR(vec(p + "attn_q_norm.weight", head_dim, arch.q_gain, 0.1f));
      PHX_RETURN_IF_ERROR(vec(p + "attn_k_norm.weight", head_dim, 1.f, 0.1f));
    }
    PHX_RETURN_IF_ERROR(matrix(p + "attn_output.weight", q_dim, o.n_embd, resid));
    if (arch.post_norms) {
      PHX_RETURN_IF_ERROR(
          vec(p + "post_attention_norm.weight", o.n_embd, arch.post_norm, 0.1f * arch.post_norm));
    }
    PHX_RETURN_IF_ERROR(vec(p + "ffn_norm.weight", o.n_embd, 1.f, 0.1f));
    if (arch.n_expert > 0) {
      // The router stays f32 (llama.cpp never quantizes ffn_gate_inp); logits of spread ~2 make
      // the expert choice clear.
      PHX_RETURN_IF_ERROR(
          w.AddTensor(p + "ffn_gate_inp.weight", DType::kF32, {o.n_embd, arch.n_expert},
                      MakeFill(o.seed, tid++, DType::kF32, o.n_embd, 0.f,
                               2.f * sqrt3 / std::sqrt(static_cast<float>(o.n_embd)))));
      PHX_RETURN_IF_ERROR(experts(p + "ffn_gate_exps.weight", o.n_embd, n_ff_e));
      PHX_RETURN_IF_ERROR(experts(p + "ffn_up_exps.weight", o.n_embd, n_ff_e));
      PHX_RETURN_IF_ERROR(experts(p + "ffn_down_exps.weight", n_ff_e, o.n_embd, resid));
    } else if (arch.fused_gate_up) {
      PHX_RETURN_IF_ERROR(matrix(p + "ffn_up.weight", o.n_embd, 2 * o.n_ff));
      PHX_RETURN_IF_ERROR(matrix(p + "ffn_down.weight", o.n_ff, o.n_embd, resid));
    } else {
      PHX_RETURN_IF_ERROR(matrix(p + "ffn_gate.weight", o.n_embd, o.n_ff));
      PHX_RETURN_IF_ERROR(matrix(p + "ffn_up.weight", o.n_embd, o.n_ff));
      PHX_RETURN_IF_ERROR(matrix(p + "ffn_down.weight", o.n_ff, o.n_embd, resid));
    }
    if (arch.post_norms) {
      PHX_RETURN_IF_ERROR(
          vec(p + "post_ffw_norm.weight", o.n_embd, arch.post_norm, 0.1f * arch.post_norm));
    }
  }
  PHX_RETURN_IF_ERROR(vec("output_norm.weight", o.n_embd, 1.f, 0.1f));
  if (!arch.tied) {
    // Logits with a standard deviation of about 2 keep the distribution peaked enough that
    // greedy decoding has clear winners.
    PHX_RETURN_IF_ERROR(matrix("output.weight", o.n_embd, n_vocab, 2.f));
  }
  return w.WriteFile(out_path);
}

}  // namespace phx::model
