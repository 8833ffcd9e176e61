// The options of a tiny random-weight model for tests that serve or run one (synthesized with
// model::SynthesizeModel): F32 weights, feed-forward twice as wide as the embedding, and the
// tokenizer of a real vocabulary. One place for the shape the engine and server tests share.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/model/synth.h"

namespace phx::testing {

struct TinyShape {
  int64_t n_layer = 1;
  int64_t n_embd = 32;  // the feed-forward width is 2 * n_embd
  int64_t n_head = 2;
  int64_t n_head_kv = 2;
};

// `arch` ("llama", "qwen3", ...) with the tokenizer of the GGUF `vocab_from`, `context_length`
// tokens of context, `shape`'s sizes, F32; the rest as model::SynthOptions has it (untied
// output, seed 1), for the caller to change.
inline model::SynthOptions TinySynth(const std::string& arch, const std::string& vocab_from,
                                     int64_t context_length, const TinyShape& shape = {}) {
  model::SynthOptions o;
  o.arch = arch;
  o.vocab_from = vocab_from;
  o.n_layer = shape.n_layer;
  o.n_embd = shape.n_embd;
  o.n_ff = 2 * shape.n_embd;
  o.n_head = shape.n_head;
  o.n_head_kv = shape.n_head_kv;
  o.context_length = context_length;
  o.dtype = DType::kF32;
  return o;
}

}  // namespace phx::testing
