// Property test: random schemas of the supported subset (a generator of our own). From every
// state a random walk of allowed tokens reaches, some token or the end is allowed (no dead
// ends), the mask agrees with committing each token, and every walk that ends accepting is
// JSON that validates against its schema (Debian's python3-jsonschema, the reference).
#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "runtime/grammar/engine.h"
#include "runtime/grammar/json_value.h"
#include "tests/unit/grammar_schema_gen.h"
#include "tests/unit/grammar_test_util.h"

namespace phx::grammar {
namespace {

using testing::MaskBit;
using testing::SchemaGen;

// One random walk; returns the text if it ended accepting ("" and *ok=false otherwise).
std::string Walk(const GrammarEngine::Compiled& g, std::mt19937& rng, bool* ok) {
  const TokenVocab& v = g->vocab();
  Matcher m(g);
  std::vector<uint64_t> mask(v.mask_words());
  std::vector<int32_t> allowed;
  std::vector<double> weight;
  std::string text;
  for (int step = 0; step < 300; ++step) {
    std::fill(mask.begin(), mask.end(), ~uint64_t{0});
    m.ComputeMask(mask.data());
    allowed.clear();
    weight.clear();
    for (int32_t t = 0; t < v.size(); ++t) {
      if (!MaskBit(mask, t)) continue;
      allowed.push_back(t);
      const std::string_view b = v.bytes(t);
      // Structure, quotes, digits and literals are favoured so that walks end.
      double w = 1;
      if (b.find_first_of("\"{}[],:0123456789") != std::string_view::npos || b == "true" ||
          b == "null")
        w = 30;
      if (!b.empty() && (b[0] == ' ' || b[0] == '\n' || b[0] == '\t' || b[0] == '\r')) w = 0.5;
      weight.push_back(w);
    }
    EXPECT_FALSE(allowed.empty()) << "dead end after '" << text << "'";
    if (allowed.empty()) break;
    // A sample of the mask against Commit on a copy (the full check is in grammar_test).
    for (int k = 0; k < 4; ++k) {
      const auto t = static_cast<int32_t>(rng() % static_cast<uint32_t>(v.size()));
      Matcher copy = m;
      EXPECT_EQ(copy.Commit(t), MaskBit(mask, t)) << "token " << t << " after '" << text << "'";
    }
    std::discrete_distribution<size_t> dist(weight.begin(), weight.end());
    const int32_t t = allowed[dist(rng)];
    if (v.is_eog(t)) {
      EXPECT_TRUE(m.IsAccepting());
      *ok = true;
      return text;
    }
    EXPECT_TRUE(m.Commit(t));
    text += v.bytes(t);
  }
  *ok = false;
  return "";
}

TEST(GrammarPropertyTest, RandomSchemasWalksValidate) {
  const char* scale = getenv("PHX_GRAMMAR_PROPERTY_SCHEMAS");
  const int schemas = scale ? atoi(scale) : 60;
  const char* seed = getenv("PHX_GRAMMAR_PROPERTY_SEED");
  SchemaGen gen(seed ? static_cast<uint32_t>(atoi(seed)) : 12345u);
  std::ostringstream cases;
  int accepted = 0, unsatisfiable = 0;
  for (int i = 0; i < schemas; ++i) {
    const std::string schema = gen.Schema();
    SCOPED_TRACE(schema);
    auto g = testing::SmallEngine().CompileJsonSchema(schema);
    // The generator can combine keywords no value satisfies (maxLength 0 with a pattern that
    // needs a character): those are compile errors, and must stay rare.
    if (!g.ok() && absl::StrContains(g.status().message(), "no JSON value satisfies")) {
      ++unsatisfiable;
      continue;
    }
    ASSERT_TRUE(g.ok()) << g.status();
    for (int w = 0; w < 6; ++w) {
      bool ok = false;
      const std::string text = Walk(*g, gen.rng(), &ok);
      if (!ok) continue;
      ++accepted;
      // One JSON line per walk: the schema and the text (as a JSON string).
      std::string quoted;
      AppendPyJsonString(text, &quoted);
      cases << "{\"schema\": " << schema << ", \"text\": " << quoted << "}\n";
    }
  }
  EXPECT_GT(accepted, schemas);  // most walks end
  EXPECT_LT(unsatisfiable * 10, schemas);
  char path[] = "/tmp/phx_grammar_walksXXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << cases.str();
  const std::string cmd = std::string("/usr/bin/python3 ") + PHX_SOURCE_DIR +
                          "/tests/unit/grammar_validate.py " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = pclose(p);
  unlink(path);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("validated " + std::to_string(accepted)), std::string::npos) << out;
}

}  // namespace
}  // namespace phx::grammar
