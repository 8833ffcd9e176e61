// Regular expressions (whole-output and JSON-schema `pattern` syntax) and GBNF grammars,
// including llama.cpp's example grammars (tests/data/gbnf, copied from llama.cpp, MIT).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/grammar/cpdfa.h"
#include "runtime/grammar/engine.h"
#include "runtime/grammar/regex.h"
#include "tests/unit/grammar_test_util.h"

namespace phx::grammar {
namespace {

using testing::Accepts;
using testing::AcceptsByTokens;
using testing::SmallEngine;

struct Rcase {
  const char* pattern;
  std::vector<std::string> accepted, refused;
};

TEST(GrammarRegexTest, WholeOutput) {
  const Rcase cases[] = {
      {"abc", {"abc"}, {"ab", "abcd", ""}},
      {"[a-c]+x?", {"a", "cbax"}, {"x", "ad"}},
      {"(yes|no|maybe)", {"yes", "no", "maybe"}, {"ye", "yesno"}},
      {"\\d{3}-\\d{2,4}", {"123-45", "123-4567"}, {"12-45", "123-45678"}},
      {"[^a-z]*", {"", "ABC 123"}, {"a"}},
      {"\\w+@\\w+\\.com", {"a_1@b.com"}, {"a@b.org"}},
      {"a{2,}", {"aa", "aaaa"}, {"a"}},
      {"\\u00e9|\\x41|\\t", {"é", "A", "\t"}, {"e"}},
      {"[\\s\\S]", {" ", "z", "日"}, {"", "ab"}},
      {".", {"a", "é"}, {"\n", "ab"}},
      {"(?:ab)*c", {"c", "ababc"}, {"abac"}},
      {"\\.\\*\\[", {".*["}, {"a*["}},
  };
  for (const Rcase& c : cases) {
    SCOPED_TRACE(c.pattern);
    auto g = SmallEngine().CompileRegex(c.pattern);
    ASSERT_TRUE(g.ok()) << g.status();
    for (const auto& t : c.accepted) EXPECT_TRUE(AcceptsByTokens(*g, t)) << t;
    for (const auto& t : c.refused) EXPECT_FALSE(Accepts(*g, t)) << t;
  }
}

// CpDfa::Literals builds its trie directly: the same automaton (canonical key) and language as
// the alternation of the literals through subset construction, on random word sets with
// shared prefixes, the empty word, duplicates, multi-byte and malformed UTF-8.
TEST(GrammarRegexTest, LiteralsMatchSubsetConstruction) {
  std::mt19937 rng(27);
  const std::vector<std::string> atoms = {
      "a", "b", "ab", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "z", "\xc3", "\xff", ""};
  auto word = [&] {
    std::string w;
    const int n = static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) w += atoms[rng() % atoms.size()];
    return w;
  };
  for (int iter = 0; iter < 300; ++iter) {
    std::vector<std::string> words;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) words.push_back(word());
    if (rng() % 4 == 0) words.push_back(words[0]);
    Rx rx;
    std::vector<Rx::Id> alts;
    for (const auto& w : words) alts.push_back(rx.Literal(w));
    auto ref = CpDfa::FromRx(rx, rx.Alt(std::move(alts)), 1 << 24);
    ASSERT_TRUE(ref.ok());
    const CpDfa got = CpDfa::Literals(words);
    EXPECT_EQ(got.Key(), ref->Key()) << "iteration " << iter;
    for (int k = 0; k < 20; ++k) {
      const std::string probe = k < n ? words[k] : word();
      EXPECT_EQ(got.Matches(probe), ref->Matches(probe)) << "iteration " << iter;
    }
  }
}

// LiveWithin (StringDfa skips intersecting with "every string" when it holds): true exactly
// when every transition reads code points of the set.
TEST(GrammarRegexTest, LiveWithin) {
  EXPECT_TRUE(CpDfa::Strings(CharSet::Scalars()).LiveWithin(CharSet::Scalars()));
  EXPECT_FALSE(CpDfa::Strings(CharSet::All()).LiveWithin(CharSet::Scalars()));  // surrogates
  EXPECT_TRUE(CpDfa::Literals({"ab", "\xc3\xa9"}).LiveWithin(CharSet::Scalars()));
  EXPECT_FALSE(CpDfa::Literals({"abd"}).LiveWithin(CharSet::Range('a', 'c')));
  EXPECT_TRUE(CpDfa::Literals({"abc", "cab"}).LiveWithin(CharSet::Range('a', 'c')));
  EXPECT_TRUE(CpDfa::Nothing().LiveWithin(CharSet()));
  // On patterns: it holds exactly when intersecting with every scalar string changes nothing.
  for (const char* p : {"^[^x]$", "^.+$", "^\\S+\\s$", "^[a-z]+\\d?$", "abc", "^\\W*$"}) {
    Rx rx;
    auto root = ParsePattern(p, &rx);
    ASSERT_TRUE(root.ok()) << p;
    auto d = CpDfa::FromPattern(rx, *root, /*search=*/true);
    ASSERT_TRUE(d.ok()) << p;
    auto x = CpDfa::Intersect(*d, CpDfa::Strings(CharSet::Scalars()));
    ASSERT_TRUE(x.ok()) << p;
    EXPECT_EQ(d->LiveWithin(CharSet::Scalars()), x->Key() == d->Key()) << p;
  }
}

TEST(GrammarRegexTest, BadPatternsAreErrors) {
  for (const char* p : {"(", "a)", "[a-", "a{3,1}", "\\", "(a)\\1", "a{1000000}", "*a"}) {
    EXPECT_FALSE(SmallEngine().CompileRegex(p).ok()) << p;
  }
}

// Anchors only where a JSON-schema pattern searches (anchors inside alternation, `^` `$`).
TEST(GrammarRegexTest, SchemaPatternAnchors) {
  auto g = SmallEngine().CompileJsonSchema(R"({"type":"string","pattern":"^a|b$"})");
  ASSERT_TRUE(g.ok()) << g.status();
  for (const char* t : {"\"ax\"", "\"xb\"", "\"a\""}) EXPECT_TRUE(Accepts(*g, t)) << t;
  for (const char* t : {"\"xa\"", "\"bx\"", "\"\""}) EXPECT_FALSE(Accepts(*g, t)) << t;
}

std::string ReadData(const std::string& name) {
  std::ifstream f(std::string(PHX_SOURCE_DIR) + "/tests/data/gbnf/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Gcase {
  const char* file;
  std::vector<std::string> accepted, refused;
};

TEST(GrammarGbnfTest, LlamaCppExampleGrammars) {
  const Gcase cases[] = {
      {"json.gbnf",
       {"{}", "{\"a\": [1, 2.5, \"x\", true, null], \"b\": {\"c\": -3e+2}}\n"},
       {"[]", "{\"a\" 1}", "{\"a\": 01}"}},
      {"json_arr.gbnf", {"[\n]", "[\n{\"a\": 1},\n2,\n\"s\"]"}, {"{}", "[1]", "[\n1,]"}},
      {"arithmetic.gbnf", {"1+2=3\n", "(a*b)=c_1\nx=y\n"}, {"1+2\n", "=3\n", "A=1\n"}},
      {"list.gbnf", {"- a\n", "- item one\n- two\n"}, {"", "- \n", "* a\n", "- a"}},
      {"chess.gbnf", {"1. e4 e5\n2. Nf3 Nc6\n"}, {"1. z9", "1. e4 e5\n"}},
      {"english.gbnf", {"Hello world.", "a\tb"}, {"", "a  b"}},
      {"japanese.gbnf", {"日本"}, {"abc"}},
      {"c.gbnf", {"int main(){return 0;}"}, {"int main("}},
  };
  for (const Gcase& c : cases) {
    SCOPED_TRACE(c.file);
    const std::string text = ReadData(c.file);
    ASSERT_FALSE(text.empty());
    auto g = SmallEngine().CompileGbnf(text);
    ASSERT_TRUE(g.ok()) << g.status();
    for (const auto& t : c.accepted) EXPECT_TRUE(AcceptsByTokens(*g, t)) << t;
    for (const auto& t : c.refused) EXPECT_FALSE(Accepts(*g, t)) << t;
  }
}

TEST(GrammarGbnfTest, Syntax) {
  struct S {
    const char* grammar;
    std::vector<std::string> accepted, refused;
  };
  const S cases[] = {
      {"root ::= \"a\" b{2,3}\nb ::= [xy]", {"axy", "ayyy"}, {"ax", "axxxx"}},
      {"root ::= (\"(\" root \")\")? # balanced\n", {"", "()", "((()))"}, {"(()", ")("}},
      {"root ::= [^\\n]* \"\\n\"", {"abc\n", "\n"}, {"a\nb\n"}},
      {"root ::= \"\\x41\\u00e9\\t\" .", {"Aé\tz"}, {"Aé\t"}},
      {"root ::= a\na ::= \"x\" | \"y\" a", {"x", "yyx"}, {"y"}},
      {"root ::= [a-c]+ \"-\"? [0-9]{0,2}", {"a", "ab-1", "c12"}, {"-1", "a123"}},
  };
  for (const S& c : cases) {
    SCOPED_TRACE(c.grammar);
    auto g = SmallEngine().CompileGbnf(c.grammar);
    ASSERT_TRUE(g.ok()) << g.status();
    for (const auto& t : c.accepted) EXPECT_TRUE(AcceptsByTokens(*g, t)) << t;
    for (const auto& t : c.refused) EXPECT_FALSE(Accepts(*g, t)) << t;
  }
}

TEST(GrammarGbnfTest, Errors) {
  for (const char* g : {"", "root ::= missing", "root ::= \"a", "root ::= [a-", "x ::= \"a\"",
                        "root ::= (\"a\"", "root ::= \"a\"{5,2}", "root ::= <[12]>"}) {
    auto r = SmallEngine().CompileGbnf(g);
    EXPECT_FALSE(r.ok()) << g;
  }
}

}  // namespace
}  // namespace phx::grammar
