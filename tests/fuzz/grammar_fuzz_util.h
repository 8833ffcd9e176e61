// Shared by the grammar fuzzers: an engine over a small vocabulary (single bytes, a few JSON
// pieces, an end token) and a few matcher steps driven by the input's tail bytes.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/grammar/engine.h"
#include "runtime/grammar/matcher.h"

namespace phx::grammar::fuzz {

inline GrammarEngine& Engine() {
  static GrammarEngine* e = [] {
    std::vector<std::string> pieces;
    for (int b = 1; b < 256; ++b) pieces.push_back(std::string(1, static_cast<char>(b)));
    for (const char* p : {"{\"", "\":", "\": ", ", \"", "\"}", "true", "null", "  ", "\\u", "12",
                          "ab", "é", "\xC3"}) {
      pieces.push_back(p);
    }
    pieces.push_back("");
    const auto eos = static_cast<int32_t>(pieces.size() - 1);
    auto* engine = new GrammarEngine(TokenVocab::FromPieces(std::move(pieces), {eos}));
    engine->set_cache_enabled(false);
    return engine;
  }();
  return *e;
}

// Up to 24 steps: each computes the mask, checks it against Commit for the chosen token and
// commits an allowed one (picked by the next byte of `drive`). `no_dead_ends`: a state with no
// allowed token and no end is a finding (JSON schemas; a GBNF grammar may have rules that never
// finish).
inline void Drive(const GrammarEngine::Compiled& g, std::string_view drive,
                  bool no_dead_ends = false) {
  const TokenVocab& v = g->vocab();
  Matcher m(g);
  std::vector<uint64_t> mask(v.mask_words());
  std::vector<int32_t> allowed;
  for (size_t i = 0; i < drive.size() && i < 24; ++i) {
    m.ComputeMask(mask.data());
    allowed.clear();
    for (int32_t t = 0; t < v.size(); ++t) {
      if ((mask[t >> 6] >> (t & 63)) & 1) allowed.push_back(t);
    }
    const auto pick = static_cast<uint8_t>(drive[i]);
    const auto probe = static_cast<int32_t>(pick % v.size());
    Matcher copy = m;
    if (copy.Commit(probe) != (((mask[probe >> 6] >> (probe & 63)) & 1) != 0)) std::abort();
    if (allowed.empty()) {
      if (no_dead_ends && !m.overflowed() && !g->lexer().exhausted()) std::abort();
      return;
    }
    if (!m.Commit(allowed[pick % allowed.size()])) std::abort();
    if (m.IsFinished()) return;
  }
}

}  // namespace phx::grammar::fuzz
