// The recipes of llama.cpp's llama_model_quantize (src/llama-quant.cpp, without an importance
// matrix, for the file types in kMixes), restated per tensor category. llama.cpp walks the
// tensors sorted by layer and counts attn_v / ffn_down tensors as it goes; with one of each per
// layer those counters are the layer index, which is what this code uses.
#include "runtime/model/quant_mix.h"

#include <array>
#include <cstdio>
#include <string>

#include "absl/strings/ascii.h"

namespace phx::model {
namespace {

// llama_ftype values (llama.h).
enum FileType : uint32_t {
  kAllF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ8_0 = 7,
  kQ5_0 = 8,
  kQ5_1 = 9,
  kQ2_K = 10,
  kQ3_K_S = 11,
  kQ3_K_M = 12,
  kQ3_K_L = 13,
  kQ4_K_S = 14,
  kQ4_K_M = 15,
  kQ5_K_S = 16,
  kQ5_K_M = 17,
  kQ6_K = 18,
  kQ2_K_S = 21,
  kIQ4_NL = 25,
  kIQ4_XS = 30,
  kBF16 = 32,
  kMXFP4_MOE = 38,
};

constexpr std::array<QuantMix, 17> kMixes = {{
    {"Q2_K", kQ2_K, DType::kQ2_K},
    {"Q2_K_S", kQ2_K_S, DType::kQ2_K},
    {"Q3_K_S", kQ3_K_S, DType::kQ3_K},
    {"Q3_K_M", kQ3_K_M, DType::kQ3_K},
    {"Q3_K_L", kQ3_K_L, DType::kQ3_K},
    {"Q4_K_S", kQ4_K_S, DType::kQ4_K},
    {"Q4_K_M", kQ4_K_M, DType::kQ4_K},
    {"Q5_K_S", kQ5_K_S, DType::kQ5_K},
    {"Q5_K_M", kQ5_K_M, DType::kQ5_K},
    {"Q6_K", kQ6_K, DType::kQ6_K},
    {"Q4_0", kQ4_0, DType::kQ4_0},
    {"Q4_1", kQ4_1, DType::kQ4_1},
    {"Q5_0", kQ5_0, DType::kQ5_0},
    {"Q5_1", kQ5_1, DType::kQ5_1},
    {"Q8_0", kQ8_0, DType::kQ8_0},
    {"IQ4_NL", kIQ4_NL, DType::kIQ4_NL},
    {"IQ4_XS", kIQ4_XS, DType::kIQ4_XS},
}};

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(a[i]) != absl::ascii_tolower(b[i])) return false;
  }
  return true;
}

enum class Category {
  kTokenEmbd,
  kAttnQ,
  kAttnK,
  kAttnV,  // also attn_qkv and attn_kv_b (llama.cpp's category_is_attn_v)
  kAttnOutput,
  kFfnUp,
  kFfnGate,
  kFfnDown,
  kOutput,
  kOther,
};

Category CategoryOf(std::string_view n) {
  if (n == "output.weight") return Category::kOutput;
  if (n == "token_embd.weight" || n == "per_layer_token_embd.weight") return Category::kTokenEmbd;
  if (Contains(n, "attn_qkv.weight")) return Category::kAttnV;
  if (Contains(n, "attn_kv_b.weight")) return Category::kAttnV;
  if (Contains(n, "attn_v.weight")) return Category::kAttnV;
  if (Contains(n, "attn_k.weight")) return Category::kAttnK;
  if (Contains(n, "attn_q.weight")) return Category::kAttnQ;
  if (Contains(n, "attn_output.weight")) return Category::kAttnOutput;
  if (Contains(n, "ffn_up")) return Category::kFfnUp;
  if (Contains(n, "ffn_gate")) return Category::kFfnGate;
  if (Contains(n, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

// llama.cpp's tensor_allows_quantization for the tensors a decoder-only model has.
bool AllowsQuantization(std::string_view name, int n_dims) {
  if (n_dims < 2) return false;
  if (!name.ends_with("weight")) return false;
  for (std::string_view never :
       {"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
        "per_layer_model_proj", "ssm_conv1d", "attn_rel_b.weight"}) {
    if (Contains(name, never)) return false;
  }
  return true;
}

int LayerOf(std::string_view name) {
  int layer = -1;
  std::sscanf(std::string(name).c_str(), "blk.%d.", &layer);
  return layer;
}

bool UseMoreBits(int64_t i, int64_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

// tensor_type_fallback: a type whose block does not divide the row length. nullopt where
// llama.cpp has none (it refuses to quantize then).
std::optional<DType> Fallback(DType t, int64_t ne0) {
  if (ne0 % GetDTypeInfo(t)->block_elems == 0) return t;
  DType r;
  switch (t) {
    case DType::kIQ4_XS:
      r = DType::kIQ4_NL;
      break;
    case DType::kQ2_K:
    case DType::kQ3_K:
      r = DType::kQ4_0;
      break;
    case DType::kQ4_K:
      r = DType::kQ5_0;
      break;
    case DType::kQ5_K:
      r = DType::kQ5_1;
      break;
    case DType::kQ6_K:
      r = DType::kQ8_0;
      break;
    default:
      return std::nullopt;
  }
  // Its last resort: "must use F16 due to unusual shape".
  return ne0 % GetDTypeInfo(r)->block_elems == 0 ? r : DType::kF16;
}

// llama_tensor_get_type_impl for the file types of kMixes.
DType RecipeType(const QuantMix& mix, const MixModel& m, std::string_view name, int64_t ne0,
                 Category cat) {
  const uint32_t ft = mix.file_type;
  DType t = mix.default_type;
  const int64_t n_gqa = m.n_head_kv > 0 ? m.n_head / m.n_head_kv : 1;
  const int64_t n_layer = m.n_layer;
  const int layer = LayerOf(name);
  if (cat == Category::kOutput || (!m.has_output && cat == Category::kTokenEmbd)) {
    const int64_t qk = GetDTypeInfo(t)->block_elems;
    if (m.arch == "falcon" || ne0 % qk != 0) return DType::kQ8_0;
    return t != DType::kQ8_0 ? DType::kQ6_K : t;
  }
  if (cat == Category::kTokenEmbd) return t;  // only the IQ1/IQ2/TQ file types change it
  switch (cat) {
    case Category::kAttnV:  // attn_qkv and attn_kv_b too: llama.cpp tests category_is_attn_v
      if (ft == kQ2_K) {
        t = n_gqa >= 4 ? DType::kQ4_K : DType::kQ3_K;
      } else if (ft == kQ2_K_S && n_gqa >= 4) {
        t = DType::kQ4_K;
      } else if (ft == kQ3_K_M) {
        t = layer < 2 ? DType::kQ5_K : DType::kQ4_K;
      } else if (ft == kQ3_K_L) {
        t = DType::kQ5_K;
      } else if ((ft == kIQ4_NL || ft == kIQ4_XS) && n_gqa >= 4) {
        t = DType::kQ5_K;
      } else if ((ft == kQ4_K_M || ft == kQ5_K_M) && UseMoreBits(layer, n_layer)) {
        t = DType::kQ6_K;
      } else if (ft == kQ4_K_S && layer < 4) {
        t = DType::kQ5_K;
      }
      if (m.arch == "llama" && n_layer == 80 && m.n_head != m.n_head_kv &&
          (t == DType::kQ3_K || t == DType::kQ4_K)) {
        t = DType::kQ5_K;  // llama.cpp's LLM_TYPE_70B rule
      }
      if (m.n_expert == 8) t = DType::kQ8_0;
      return t;
    case Category::kAttnK:
      return m.n_expert == 8 ? DType::kQ8_0 : t;
    case Category::kFfnDown: {
      const int64_t i = layer;
      if (ft == kQ2_K) return DType::kQ3_K;
      if (ft == kQ2_K_S) return i < n_layer / 8 ? DType::kQ4_K : t;
      if (ft == kQ3_K_M) {
        return i < n_layer / 16                                ? DType::kQ5_K
               : m.arch != "falcon" || UseMoreBits(i, n_layer) ? DType::kQ4_K
                                                               : DType::kQ3_K;
      }
      if (ft == kQ3_K_L) return m.arch == "falcon" ? DType::kQ4_K : DType::kQ5_K;
      if (ft == kQ4_K_M) {
        if (m.arch == "falcon") {
          return i < n_layer / 16          ? DType::kQ6_K
                 : UseMoreBits(i, n_layer) ? DType::kQ5_K
                                           : DType::kQ4_K;
        }
        return UseMoreBits(i, n_layer) ? DType::kQ6_K : t;
      }
      if (i < n_layer / 8 && (ft == kIQ4_NL || ft == kIQ4_XS)) return DType::kQ5_K;
      if (ft == kQ5_K_M && UseMoreBits(i, n_layer)) return DType::kQ6_K;
      if (ft == kQ4_K_S && m.arch != "falcon" && i < n_layer / 8) return DType::kQ5_K;
      return t;
    }
    case Category::kAttnOutput:
      if (m.arch != "falcon") {
        if (m.n_expert == 8) {
          if (ft == kQ2_K || ft == kQ3_K_S || ft == kQ3_K_M || ft == kIQ4_NL || ft == kQ4_K_S ||
              ft == kQ4_K_M || ft == kIQ4_XS) {
            return DType::kQ5_K;
          }
          return t;
        }
        if (ft == kQ2_K) return DType::kQ3_K;
        if (ft == kQ3_K_M) return DType::kQ4_K;
        if (ft == kQ3_K_L) return DType::kQ5_K;
        return t;
      }
      return ft == kQ3_K_L ? DType::kQ4_K : t;
    default:
      return t;
  }
}

}  // namespace

std::optional<QuantMix> FindQuantMix(std::string_view name) {
  for (const QuantMix& m : kMixes) {
    if (EqualsIgnoreCase(m.name, name)) return m;
  }
  return std::nullopt;
}

std::vector<std::string_view> QuantMixNames() {
  std::vector<std::string_view> v;
  for (const QuantMix& m : kMixes) v.push_back(m.name);
  return v;
}

uint32_t FileTypeForDType(DType t) {
  switch (t) {
    case DType::kF32:
      return kAllF32;
    case DType::kF16:
      return kF16;
    case DType::kBF16:
      return kBF16;
    case DType::kQ4_0:
      return kQ4_0;
    case DType::kQ4_1:
      return kQ4_1;
    case DType::kQ5_0:
      return kQ5_0;
    case DType::kQ5_1:
      return kQ5_1;
    case DType::kQ8_0:
      return kQ8_0;
    case DType::kQ2_K:
      return kQ2_K;
    case DType::kQ3_K:
      return kQ3_K_M;
    case DType::kQ4_K:
      return kQ4_K_M;
    case DType::kQ5_K:
      return kQ5_K_M;
    case DType::kQ6_K:
      return kQ6_K;
    case DType::kIQ4_NL:
      return kIQ4_NL;
    case DType::kIQ4_XS:
      return kIQ4_XS;
    case DType::kMXFP4:
      return kMXFP4_MOE;
    default:
      return kAllF32;
  }
}

std::optional<DType> MixTensorType(const QuantMix& mix, const MixModel& m, std::string_view name,
                                   int n_dims, int64_t ne0, DType source) {
  if (!AllowsQuantization(name, n_dims)) return source;
  return Fallback(RecipeType(mix, m, name, ne0, CategoryOf(name)), ne0);
}

std::optional<DType> PureTensorType(DType t, std::string_view name, int n_dims, int64_t ne0,
                                    DType source) {
  if (!AllowsQuantization(name, n_dims)) return source;
  if (!IsQuantized(t)) return t;
  return Fallback(t, ne0);
}

}  // namespace phx::model
