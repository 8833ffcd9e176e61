// llama.cpp's quantization recipes ("mixes"): for a file type such as Q4_K_M, the type
// llama_model_quantize (src/llama-quant.cpp) gives each tensor, without an importance matrix.
// Used by `phalanx model synth --mix` (and --dtype, llama-quantize's --pure) so a synthesized
// model has the tensor types a llama-quantize'd file of that name has.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/dtype.h"

namespace phx::model {

// A llama.cpp file type: its name (llama-quantize's spelling), the general.file_type value and
// the default tensor type.
struct QuantMix {
  std::string_view name;
  uint32_t file_type = 0;
  DType default_type = DType::kF32;
};

// Q2_K Q2_K_S Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K Q4_0 Q4_1 Q5_0 Q5_1 Q8_0
// IQ4_NL IQ4_XS (case-insensitive); nullopt for anything else.
std::optional<QuantMix> FindQuantMix(std::string_view name);
std::vector<std::string_view> QuantMixNames();

// general.file_type for a file whose matrices are all `t` (llama.cpp's guess from the most
// common type: q4_K -> Q4_K_M, q3_K -> Q3_K_M, ...).
uint32_t FileTypeForDType(DType t);

// What the recipe looks at besides the tensor itself.
struct MixModel {
  std::string_view arch = "llama";
  int64_t n_layer = 0;
  int64_t n_head = 1, n_head_kv = 1;  // n_gqa = n_head / n_head_kv
  int64_t n_expert = 0;
  bool has_output = true;  // false: token_embd doubles as the output (tied)
};

// The type of weight `name` (n_dims dimensions, ne0 values per row): `mix`'s recipe, then
// llama.cpp's fallback for a row length the type's block does not divide (Q4_K -> Q5_0,
// Q6_K -> Q8_0, IQ4_XS -> IQ4_NL, ..., F16 when even that does not fit); nullopt where llama.cpp
// has no fallback (the 32-element types) and refuses. Tensors llama.cpp does not quantize (1-D,
// norms, names not ending in "weight") keep `source`.
std::optional<DType> MixTensorType(const QuantMix& mix, const MixModel& m, std::string_view name,
                                   int n_dims, int64_t ne0, DType source = DType::kF32);
// The same for llama-quantize --pure with default type `t` (every quantizable tensor in `t`,
// with the shape fallback).
std::optional<DType> PureTensorType(DType t, std::string_view name, int n_dims, int64_t ne0,
                                    DType source = DType::kF32);

}  // namespace phx::model
