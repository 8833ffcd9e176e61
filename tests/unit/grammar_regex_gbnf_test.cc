// Regular expressions (whole-output and JSON-schema `pattern` syntax) and GBNF grammars,
// including llama.cpp's example grammars (tests/data/gbnf, copied from llama.cpp, MIT).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/grammar/engine.h"
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
