// Issue 23's JSON attacks at the parser level: the OpenAI body parser reads with depth, value
// count and size limits and stops at the first value past one, so a hostile body costs time
// linear in what was read and bounded memory; within the limits it builds exactly what
// nlohmann::json::parse builds.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "nlohmann/json.hpp"
#include "server/core/status_map.h"
#include "server/http/openai_json.h"

namespace phx::server {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Peak resident memory so far (VmHWM), bytes.
size_t PeakRss() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) << 10;
  }
  return 0;
}

std::optional<ApiError> ParseBody(const std::string& body, ParseOptions o = {}) {
  o.lenient = true;  // the bodies carry an "extra" field: the JSON limits are under test here
  OpenAiRequest r;
  return ParseRequest(body, Endpoint::kCompletions, o, &r);
}

// A 4.9 MB body of '[' cost 320 MB and 1.7 s with json::parse; now the parse stops at the
// 65th level: a 400 naming the problem, no measurable memory, microseconds.
TEST(OpenAiJsonLimits, DeeplyNestedBodyIsRefusedAtOnce) {
  const std::string body(4900000, '[');
  const size_t rss0 = PeakRss();
  const auto t0 = Clock::now();
  const auto e = ParseBody(body);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const size_t grown = PeakRss() - rss0;
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(HttpStatus(e->status), 400);
  EXPECT_EQ(e->param, "");
  EXPECT_NE(e->status.message().find("deeper than 64 levels"), absl::string_view::npos)
      << e->status;
  EXPECT_LT(ms, 200.0) << "the parse did not stop early";
  EXPECT_LT(grown, size_t{16} << 20) << "peak RSS grew by " << grown << " bytes";
  std::printf("4.9 MB of '[': refused in %.3f ms, peak RSS +%zu KiB\n", ms, grown >> 10);
  // Same inside a valid-looking request, and with objects.
  std::string objects = R"({"prompt": "x", "extra": )";
  for (int i = 0; i < 100000; ++i) objects += R"({"a":)";
  EXPECT_NE(ParseBody(objects)->status.message().find("deeper than"), absl::string_view::npos);
}

TEST(OpenAiJsonLimits, DepthLimitIsExact) {
  ParseOptions o;
  o.max_depth = 8;
  // The body object is level 1: 7 more levels fit, 8 more do not.
  auto nested = [](int levels) {
    return R"({"prompt": "x", "extra": )" + std::string(levels, '[') + std::string(levels, ']') +
           "}";
  };
  EXPECT_FALSE(ParseBody(nested(7), o).has_value());
  const auto e = ParseBody(nested(8), o);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->status.message().find("deeper than 8 levels"), absl::string_view::npos);
  // The default (64) leaves room for real requests' nesting.
  EXPECT_FALSE(ParseBody(nested(63)).has_value());
  EXPECT_TRUE(ParseBody(nested(64)).has_value());
}

TEST(OpenAiJsonLimits, ValueCountIsBounded) {
  ParseOptions o;
  o.max_values = 100;
  // The object, the array and n ids: n + 2 values (member names are not values).
  auto ids = [](int n) {
    std::string b = R"({"prompt": [)";
    for (int i = 0; i < n; ++i) b += (i ? ",1" : "1");
    return b + "]}";
  };
  OpenAiRequest r;
  EXPECT_FALSE(ParseRequest(ids(98), Endpoint::kCompletions, o, &r).has_value());
  EXPECT_EQ(r.api.token_ids.size(), 98u);
  const auto e = ParseBody(ids(99), o);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->status.message().find("more than 100 JSON values"), absl::string_view::npos);
  // At the default limit: a flat array of 2.5 million numbers (5 MB) stops at 262,144.
  std::string big = R"({"prompt": [)";
  for (int i = 0; i < 2500000; ++i) big += "0,";
  big += "0]}";
  const size_t rss0 = PeakRss();
  const auto t0 = Clock::now();
  const auto e2 = ParseBody(big);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  ASSERT_TRUE(e2.has_value());
  EXPECT_NE(e2->status.message().find("more than 262144 JSON values"), absl::string_view::npos);
  EXPECT_LT(PeakRss() - rss0, size_t{48} << 20);
  std::printf("5 MB array of numbers: refused in %.1f ms\n", ms);
}

TEST(OpenAiJsonLimits, BodySizeIsBounded) {
  ParseOptions o;
  o.max_body_bytes = 64;
  const std::string ok = R"({"prompt": "x"})";
  EXPECT_FALSE(ParseBody(ok, o).has_value());
  const std::string big = R"({"prompt": ")" + std::string(60, 'a') + R"("})";
  const auto e = ParseBody(big, o);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "");
  EXPECT_NE(e->status.message().find(std::to_string(big.size()) + " bytes; the limit is 64"),
            absl::string_view::npos)
      << e->status;
}

TEST(OpenAiJsonLimits, RepeatedKeysAndOtherDetailsMatchJsonParse) {
  OpenAiRequest r;
  ASSERT_FALSE(ParseRequest(R"({"prompt": "a", "prompt": "b", "max_tokens": 3})",
                            Endpoint::kCompletions, {}, &r)
                   .has_value());
  EXPECT_EQ(r.api.text, "b");
  for (const char* bad : {"", "{", "{\"prompt\": \"x\"} trailing", "[1,]", "{\"a\":1,}", "nul",
                          "\"\\ud800\"", "{\"prompt\": \"\xff\"}"}) {
    const auto e = ParseBody(bad);
    ASSERT_TRUE(e.has_value()) << bad;
    EXPECT_EQ(std::string(e->status.message()), "the request body is not valid JSON") << bad;
  }
}

// Random documents within the limits: the bounded parser builds what json::parse builds.
json RandomValue(std::mt19937& rng, int depth) {
  switch (depth >= 6 ? rng() % 5 : rng() % 7) {
    case 0:
      return nullptr;
    case 1:
      return rng() % 2 == 0;
    case 2:
      return static_cast<int64_t>(rng()) - (int64_t{1} << 31);
    case 3:
      return static_cast<double>(rng()) / 7.0;
    case 4: {
      static const char* const kPieces[] = {"a", "b", "\"", "\\", "\n", "\x01", "é", "€", "😀"};
      std::string s;
      for (uint32_t i = 0, n = rng() % 8; i < n; ++i) s += kPieces[rng() % std::size(kPieces)];
      return s;
    }
    case 5: {
      json a = json::array();
      for (uint32_t i = 0, n = rng() % 5; i < n; ++i) a.push_back(RandomValue(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (uint32_t i = 0, n = rng() % 5; i < n; ++i) {
        o[std::string(1, static_cast<char>('a' + rng() % 4))] = RandomValue(rng, depth + 1);
      }
      return o;
    }
  }
}

TEST(OpenAiJsonLimits, WithinTheLimitsTheResultEqualsJsonParse) {
  std::mt19937 rng(23);
  for (int i = 0; i < 2000; ++i) {
    const std::string text = RandomValue(rng, 0).dump(rng() % 2 ? -1 : 2);
    json got;
    const auto e = ParseJsonBody(text, ParseOptions{}, &got);
    ASSERT_FALSE(e.has_value()) << text << ": " << e->status;
    EXPECT_EQ(got, json::parse(text)) << text;
    EXPECT_EQ(got.dump(), json::parse(text).dump()) << text;
  }
}

}  // namespace
}  // namespace phx::server
