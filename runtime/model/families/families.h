// The configure function of each family (one file each); the table is in ../family.cc.
#pragma once

#include "absl/status/status.h"
#include "runtime/model/family.h"

namespace phx::model::families {

absl::Status ConfigureLlama(const Hparams& hp, ModelConfig& c);
absl::Status ConfigureQwen2(const Hparams& hp, ModelConfig& c);
absl::Status ConfigureQwen3(const Hparams& hp, ModelConfig& c);
absl::Status ConfigureQwen3Moe(const Hparams& hp, ModelConfig& c);
absl::Status ConfigureGemma2(const Hparams& hp, ModelConfig& c);
absl::Status ConfigureGemma3(const Hparams& hp, ModelConfig& c);
absl::Status ConfigurePhi3(const Hparams& hp, ModelConfig& c);
absl::Status ConfigureBert(const Hparams& hp, ModelConfig& c);

// Shared by several families: the usual 1/sqrt(head_dim) attention scale, and the rule of
// llama.cpp's MoE families that an expert count needs a top-k in 1..count.
float DefaultAttnScale(const ModelConfig& c);
absl::Status CheckExperts(const Hparams& hp, const ModelConfig& c);
// Every layer global with the model's RoPE base and scale.
void DenseLayers(ModelConfig& c);

}  // namespace phx::model::families
