// Shared helpers of the grammar tests: a small vocabulary with single bytes, multi-byte JSON
// pieces, partial UTF-8 tokens and an end-of-generation token, and checks that drive a Matcher.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/grammar/engine.h"
#include "runtime/grammar/matcher.h"
#include "runtime/grammar/vocab.h"

namespace phx::grammar::testing {

// Every byte 0x01..0xFF alone (so any text can be spelled), a set of multi-byte pieces, then the
// end-of-generation token (last id).
inline std::shared_ptr<const TokenVocab> SmallVocab() {
  std::vector<std::string> pieces;
  for (int b = 1; b < 256; ++b) pieces.push_back(std::string(1, static_cast<char>(b)));
  for (const char* p :
       {"{\"",  "\":",  "\": ", ", \"",  "\",", "\"}",  "\"]", "true", "false", "null",
        "  ",   "    ", "\n  ", "\\n",   "\\u", "\\\"", "00",  "123",  "-1",    ".5",
        "e+",   "é",    "日本", "\xC3",  "abc", "name", "age", "[{",   "}]",    "},",
        "[]",   "{}",   "- ",   "0.",    "\"a", "ab\"", "1,",  "2]",   "ws",    ":\"",
        "\"\"", "T1",   "T12",  "2026-", "01",  "Z\""}) {
    pieces.push_back(p);
  }
  pieces.push_back("");  // end of generation (no bytes)
  const auto eos = static_cast<int32_t>(pieces.size() - 1);
  return TokenVocab::FromPieces(std::move(pieces), {eos});
}

inline GrammarEngine& SmallEngine() {
  static GrammarEngine* e = new GrammarEngine(SmallVocab());
  return *e;
}

// The whole text fits and the grammar accepts at its end.
inline bool Accepts(const GrammarEngine::Compiled& g, std::string_view text) {
  Matcher m(g);
  return m.CommitBytes(text) && m.IsAccepting();
}

inline bool MaskBit(const std::vector<uint64_t>& mask, int32_t t) {
  return (mask[static_cast<size_t>(t) >> 6] >> (t & 63)) & 1;
}

// Spells `text` with the longest vocabulary token at each step; before each token, checks the
// mask against committing every token on a copy of the matcher (the mask and Commit walk
// different code: the cached trie walk and byte stepping), and that some token or the end is
// allowed. Returns true if every token was allowed and the grammar accepts at the end.
inline bool AcceptsByTokens(const GrammarEngine::Compiled& g, std::string_view text) {
  const TokenVocab& v = g->vocab();
  Matcher m(g);
  std::vector<uint64_t> mask(v.mask_words());
  size_t pos = 0;
  while (true) {
    std::fill(mask.begin(), mask.end(), ~uint64_t{0});  // poisoned
    m.ComputeMask(mask.data());
    bool any = false;
    for (int32_t t = 0; t < v.size(); ++t) {
      Matcher copy = m;
      const bool ok = copy.Commit(t);
      EXPECT_EQ(MaskBit(mask, t), ok)
          << "token " << t << " '" << v.bytes(t) << "' after '" << text.substr(0, pos) << "'";
      any |= ok;
    }
    EXPECT_TRUE(any) << "dead end after '" << text.substr(0, pos) << "'";
    if (pos == text.size()) break;
    int32_t best = -1;
    size_t best_len = 0;
    for (int32_t t = 0; t < v.size(); ++t) {
      const std::string_view b = v.bytes(t);
      if (b.size() > best_len && text.substr(pos, b.size()) == b && MaskBit(mask, t)) {
        best = t, best_len = b.size();
      }
    }
    if (best < 0) return false;
    EXPECT_TRUE(m.Commit(best));
    pos += best_len;
  }
  const bool accepting = m.IsAccepting();
  EXPECT_EQ(MaskBit(mask, v.eog()[0]), accepting);
  return accepting;
}

}  // namespace phx::grammar::testing
