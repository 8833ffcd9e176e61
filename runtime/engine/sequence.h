// Engine-internal state of one request.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/engine/request.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/sampler/sampler.h"
#include "runtime/sampler/stop.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::engine {

// Whether `prompt` holds any token other than control tokens (BOS and the like).
inline bool HasText(const tok::Tokenizer& tok, const std::vector<int32_t>& prompt) {
  for (int32_t t : prompt) {
    if (!tok.IsControl(t)) return true;
  }
  return false;
}

struct Sequence {
  Sequence(RequestId id_, GenerateRequest r, std::shared_ptr<TokenSink> s,
           const tok::Tokenizer& tok, int32_t block_size, int64_t arrival_order)
      : id(id_),
        req(std::move(r)),
        sink(std::move(s)),
        tokens(req.prompt),
        prompt_len(static_cast<int32_t>(req.prompt.size())),
        arrival(arrival_order),
        table(block_size),
        sampler(req.sampling),
        // Text continuing a prompt keeps its first space; a document that starts here drops
        // the dummy-prefix space, as llama.cpp's output does.
        detok(tok, false, !HasText(tok, req.prompt)),
        stop(req.sampling.stop) {
    for (int32_t t : tokens) sampler.Accept(t);
  }

  int32_t num_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t generated() const { return num_tokens() - prompt_len; }

  RequestId id;
  GenerateRequest req;
  std::shared_ptr<TokenSink> sink;
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int32_t prompt_len;
  int64_t arrival;
  int32_t num_computed = 0;   // tokens whose KV is in the cache
  int32_t hashed_blocks = 0;  // leading blocks registered in the prefix cache
  uint64_t last_hash = 0;     // hash of block hashed_blocks - 1
  bool admitted_once = false;
  bool cancel = false;
  kv::BlockTable table;
  sampler::Sampler sampler;
  tok::IncrementalDetokenizer detok;
  sampler::StopMatcher stop;
  Usage usage;
  Timing timing;
};

}  // namespace phx::engine
