// The shortcuts of the mask-entry walk (lex_entry.cc): a terminal state's first-byte set
// (TermStepper::FirstBytes, the lexer's dead-byte filter) must hold every byte that steps the
// terminal, and a fat trie node's child list (TokenTrie::FatKids) must be exactly its children.
// Masks themselves are checked against Commit in grammar_test and grammar_property_test.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "runtime/grammar/cpdfa.h"
#include "runtime/grammar/regex.h"
#include "runtime/grammar/terminal.h"
#include "runtime/grammar/vocab.h"

namespace phx::grammar {
namespace {

std::shared_ptr<const CpDfa> Pattern(const char* p) {
  Rx rx;
  auto root = ParsePattern(p, &rx);
  EXPECT_TRUE(root.ok()) << p;
  auto d = CpDfa::FromPattern(rx, *root, /*search=*/false);
  EXPECT_TRUE(d.ok()) << p;
  return std::make_shared<const CpDfa>(*std::move(d));
}

bool Has(const uint64_t bytes[4], int b) { return (bytes[b >> 6] >> (b & 63) & 1) != 0; }

// Random walks over each terminal: at every state, each byte that Step() takes is in
// FirstBytes(), and the set is not trivially everything where the terminal is specific.
TEST(GrammarWalkTest, FirstBytesHoldEveryByteThatSteps) {
  std::vector<Terminal> terms;
  auto add = [&](TerminalSpec spec) {
    Terminal t;
    t.spec = std::make_shared<const TerminalSpec>(std::move(spec));
    t.key = t.spec->Key();
    terms.push_back(std::move(t));
  };
  add(TerminalSpec().Ws(3).Bytes("{"));
  add(TerminalSpec()
          .Ws(2)
          .Bytes("\"")
          .JsonContent(std::make_shared<const CpDfa>(CpDfa::Literals({"name", "x\xc3\xa9"})))
          .Bytes("\"")
          .Ws(1)
          .Bytes(":"));
  add(TerminalSpec()
          .Bytes("\"")
          .JsonContent(Pattern("[a-z0-9\\u00e9\\u4e00-\\u4e10-]{1,5}"), true)
          .Bytes("\""));
  add(TerminalSpec().Bytes("\"").JsonContent(Pattern("(\\u00e9|[^\"\\\\]){0,3}x")).Bytes("\""));
  add(TerminalSpec().Ws(2).Utf8(Pattern("-?(0|[1-9][0-9]*)(\\.[0-9]+)?")));
  add(TerminalSpec()
          .Bytes("\"")
          .CountedJsonContent(std::make_shared<const CpDfa>(CpDfa::Strings(CharSet::Scalars())), 2,
                              4)
          .Bytes("\""));
  std::mt19937 rng(20261207);
  TermState out[2];
  for (const Terminal& t : terms) {
    int narrow = 0;
    for (int walk = 0; walk < 200; ++walk) {
      TermState s = TermStepper::Start(t);
      for (int step = 0; step < 12; ++step) {
        uint64_t first[4] = {0, 0, 0, 0};
        TermStepper::FirstBytes(t, s, first);
        std::vector<TermState> next;
        int count = 0;
        for (int b = 0; b < 256; ++b) {
          count += Has(first, b);
          const int n = TermStepper::Step(t, s, static_cast<uint8_t>(b), out);
          if (n == 0) continue;
          EXPECT_TRUE(Has(first, b)) << t.key << ": byte " << b << " steps at step " << step;
          next.insert(next.end(), out, out + n);
        }
        narrow += count < 128;
        if (next.empty()) break;
        s = next[rng() % next.size()];
      }
    }
    EXPECT_GT(narrow, 0) << t.key;
  }
}

TEST(GrammarWalkTest, FatKidsAreTheChildren) {
  std::mt19937 rng(7);
  std::vector<std::string> words;
  const std::string alphabet = "ab \"\xc3\xa9xyz0123456789";
  for (int i = 0; i < 3000; ++i) {
    std::string w;
    const int len = 1 + static_cast<int>(rng() % 5);
    for (int k = 0; k < len; ++k) w += alphabet[rng() % alphabet.size()];
    words.push_back(w);
  }
  std::sort(words.begin(), words.end());
  std::vector<std::pair<std::string_view, int32_t>> items;
  for (size_t i = 0; i < words.size(); ++i) items.push_back({words[i], static_cast<int32_t>(i)});
  const TokenTrie t = BuildTrie(items);
  size_t fat = 0;
  for (uint32_t p = 0; p < t.nodes.size(); ++p) {
    std::vector<uint32_t> kids;
    for (uint32_t q = p + 1; q < p + t.nodes[p].subtree; q += t.nodes[q].subtree) {
      kids.push_back(q);
    }
    ASSERT_EQ(t.nodes[p].fat != 0, kids.size() >= TokenTrie::kFatKids) << "node " << p;
    if (!t.nodes[p].fat) continue;
    ++fat;
    uint32_t b, e;
    t.FatKids(p, &b, &e);
    ASSERT_EQ(std::vector<uint32_t>(t.kid_node.begin() + b, t.kid_node.begin() + e), kids);
    for (uint32_t k = b; k < e; ++k) EXPECT_EQ(t.kid_byte[k], t.nodes[t.kid_node[k]].byte);
  }
  EXPECT_GT(fat, 10u);
}

}  // namespace
}  // namespace phx::grammar
