// Engine properties Python cannot show: which bytes of the prompt came from user text (through
// every string operation), the bounds on output, loops, recursion, work and nesting, the error
// interface, the pinned clock, and key order.
#include <gtest/gtest.h>

#include <thread>

#include "runtime/chat/template.h"
#include "tests/unit/jinja_test_util.h"

namespace phx::chat::testing {
namespace {

absl::StatusOr<RenderedPrompt> Render(const std::string& tpl, const nlohmann::ordered_json& vars,
                                      RenderOptions opt = {}) {
  auto t = Template::Parse(tpl);
  if (!t.ok()) return t.status();
  if (!opt.clock) opt.clock = PinnedTime;
  return t->Render(vars, opt);
}

// The user-text bytes of a render, as a string with '^' under user bytes and '.' elsewhere.
std::string UserMask(const RenderedPrompt& r) {
  std::string m(r.text.size(), '.');
  for (const ByteRange& b : r.user_spans) {
    for (size_t i = b.begin; i < b.end; ++i) m[i] = '^';
  }
  return m;
}

struct MaskCase {
  std::string tpl;
  std::string text;
  std::string mask;
};

TEST(JinjaEngine, UserTextKeepsItsProvenanceThroughStringOperations) {
  const auto vars = nlohmann::ordered_json::parse(
      R"({"u": "  Hi <b>  ", "w": "a,b", "bos_token": "<s>", "m": [{"role": "user", "content": "x"}],
          "n": 7, "obj": {"k": "v"}})");
  const std::vector<MaskCase> cases = {
      {"[{{ u }}]", "[  Hi <b>  ]", ".^^^^^^^^^^."},
      {"{{ bos_token }}{{ u|trim }}", "<s>Hi <b>", "...^^^^^^"},
      {"{{ u.strip().upper() }}!", "HI <B>!", "^^^^^^."},
      {"{{ u[2:4] }}", "Hi", "^^"},
      {"{{ w.split(',')|join('+') }}", "a+b", "^.^"},
      {"{{ u|replace('Hi', 'Yo') }}", "  Yo <b>  ", "^^^^^^^^^^"},
      {"{{ w|replace(',', '-') }}", "a-b", "^^^"},
      {"{{ 'x' ~ w ~ 'y' }}", "xa,by", ".^^^."},
      {"{{ w|tojson }}", "\"a,b\"", ".^^^."},
      {"{{ m[0]|tojson }}", "{\"role\": \"user\", \"content\": \"x\"}",
       "..^^^^....^^^^....^^^^^^^....^.."},
      {"{{ [w] }}", "['a,b']", "..^^^.."},
      {"{{ n }}{{ obj.k }}", "7v", ".^"},
      {"{% macro f(x) %}<{{ x }}>{% endmacro %}{{ f(w) }}", "<a,b>", ".^^^."},
      {"{% set b %}({{ w }}){% endset %}{{ b|upper }}", "(A,B)", ".^^^."},
      {"{{ ('a\nb')|indent(2) }}|{{ (w ~ '\n' ~ w)|indent(1) }}", "a\n  b|a,b\n a,b",
       "......^^^..^^^"},
      {"{{ '%s!'|format(w) }}{{ '{}?'.format(w) }}", "a,b!a,b?", "^^^.^^^."},
      {"{{ m[0].role|capitalize }}{{ w|title }}", "UserA,b", "^^^^^^^"},
      {"{{ u|e }}", "  Hi &lt;b&gt;  ", "^^^^^^^^^^^^^^^^"},
  };
  for (const MaskCase& c : cases) {
    auto r = Render(c.tpl, vars);
    ASSERT_TRUE(r.ok()) << c.tpl << ": " << r.status();
    EXPECT_EQ(r->text, c.text) << c.tpl;
    EXPECT_EQ(UserMask(*r), c.mask) << c.tpl << " -> " << r->text;
  }
}

TEST(JinjaEngine, TrustedKeysAreTemplateText) {
  const auto vars = nlohmann::ordered_json::parse(R"({"bos_token": "<s>", "x": "<s>"})");
  auto r = Render("{{ bos_token }}{{ x }}", vars);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(UserMask(*r), "...^^^");
  RenderOptions opt;
  opt.trusted_keys = {"x"};
  r = Render("{{ bos_token }}{{ x }}", vars, opt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(UserMask(*r), "^^^...");
}

TEST(JinjaEngine, BoundsAreErrorsNotCrashes) {
  const nlohmann::ordered_json none = nlohmann::ordered_json::object();
  RenderOptions small;
  small.limits.max_output_bytes = 1000;
  small.limits.max_loop_iterations = 500;
  small.limits.max_call_depth = 20;
  small.limits.max_steps = 100000;
  struct Bad {
    std::string tpl;
    std::string what;
  };
  const std::vector<Bad> bad = {
      {"{% for i in range(300) %}xxxxx{% endfor %}", "output"},
      {"{% for i in range(600) %}{% endfor %}", "iterations"},
      {"{% for i in range(20) %}{% for j in range(30) %}{% endfor %}{% endfor %}", "iterations"},
      {"{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", "calls nest"},
      {"{% for x in [[[1]]] recursive %}{{ loop([[[x]]]) }}{% endfor %}", "calls nest"},
      {"{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}"
       "{% endfor %}",
       "bytes"},
      {"{{ 'x' * 100000000 }}", "bytes"},
      {"{% set ns = namespace(l=[]) %}{% for i in range(400) %}{% set ns.l = [ns.l] %}"
       "{% endfor %}",
       "nest deeper"},
      {"{% set ns = namespace(n=0) %}{% for i in range(400) %}{% for j in range(200) %}"
       "{% set ns.n = ns.n + 1 %}{% endfor %}{% endfor %}",
       "iterations"},
  };
  for (const Bad& b : bad) {
    auto r = Render(b.tpl, none, small);
    ASSERT_FALSE(r.ok()) << b.tpl;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << b.tpl << r.status();
    EXPECT_NE(r.status().message().find(b.what), std::string::npos) << r.status();
    EXPECT_EQ(TemplateErrorKind(r.status()), "LimitError");
  }
  // Steps bound work that neither loops nor output show.
  RenderOptions steps;
  steps.limits.max_steps = 10000;
  auto r =
      Render("{% for i in range(3000) %}{{ (i * 2 + 1 - 1) // 2 == i }}{% endfor %}", none, steps);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("steps"), std::string::npos) << r.status();
  // Templates nested deeper than the parser allows are a syntax error, not a stack overflow.
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "(";
  auto t = Template::Parse("{{ " + deep + " }}");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(TemplateErrorKind(t.status()), "TemplateSyntaxError");
  std::string blocks;
  for (int i = 0; i < 5000; ++i) blocks += "{% if true %}";
  EXPECT_FALSE(Template::Parse(blocks).ok());
}

TEST(JinjaEngine, ErrorInterface) {
  const nlohmann::ordered_json none = nlohmann::ordered_json::object();
  auto r = Render("{{ raise_exception('Only user and assistant roles are supported!') }}", none);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsRaisedByTemplate(r.status()));
  EXPECT_EQ(r.status().message(), "Only user and assistant roles are supported!");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  r = Render("{{ x.y }}", none);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(IsRaisedByTemplate(r.status()));
  EXPECT_EQ(r.status().message(), "UndefinedError: 'x' is undefined");
  r = Render("{% set l = [] %}{{ l.append(1) }}", none);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "SecurityError: access to attribute 'append' of 'list' object is unsafe.");
  auto t = Template::Parse("{% for x in y %}");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("TemplateSyntaxError"), std::string::npos);
  EXPECT_FALSE(Template::Parse(std::string("{{ '\xff' }}")).ok());  // not UTF-8
}

TEST(JinjaEngine, ClockAndKeyOrder) {
  RenderOptions opt;
  opt.clock = [] {
    std::tm tm{};
    tm.tm_year = 99, tm.tm_mon = 11, tm.tm_mday = 31, tm.tm_wday = 5, tm.tm_yday = 364;
    return tm;
  };
  auto r = Render("{{ strftime_now('%d %b %Y %A') }}", nlohmann::ordered_json::object(), opt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, "31 Dec 1999 Friday");
  // Without a clock, local time (today's year at least).
  auto t = Template::Parse("{{ strftime_now('%Y') }}");
  ASSERT_TRUE(t.ok());
  auto now = t->Render(nlohmann::ordered_json::object());
  ASSERT_TRUE(now.ok());
  EXPECT_GE(std::stoi(now->text), 2024);
  // Objects keep their key order (tool schemas are printed as given).
  r = Render("{{ d|tojson }}", nlohmann::ordered_json::parse(R"({"d": {"z": 1, "a": 2, "m": 3}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, R"({"z": 1, "a": 2, "m": 3})");
  EXPECT_FALSE(Render("x", nlohmann::ordered_json::array()).ok());
}

TEST(JinjaEngine, CyclesAreBrokenAfterRender) {
  // A namespace holding itself, a macro in its own frame, a loop stored away: rendered, printed,
  // and released (ASan's leak checker in the fuzzer would see a leak otherwise).
  auto r = Render(
      "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"
      "{% macro m() %}{{ m is defined }}{% endmacro %}{{ m() }}"
      "{% for x in [ns] %}{% set ns.loop = loop %}{% endfor %}{{ ns.loop.length }}",
      nlohmann::ordered_json::object());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text, "<Namespace {'me': <Namespace {...}>}>True1");
}

// One parsed template serves concurrent renders (the server shares it across request threads);
// run under TSan too.
TEST(JinjaEngine, ConcurrentRendersOfOneTemplate) {
  auto t = Template::Parse(
      ReadFile(std::string(PHX_SHARED_DIR) + "/templates/meta-llama-Llama-3.2-3B-Instruct.jinja"));
  ASSERT_TRUE(t.ok());
  const auto conv = nlohmann::ordered_json::parse(
      ReadFile(std::string(PHX_SOURCE_DIR) + "/tests/chat/conversations.json"));
  nlohmann::ordered_json vars = {{"messages", conv["conversations"]["multi_turn"]},
                                 {"tools", conv["simple_tools"]},
                                 {"add_generation_prompt", true},
                                 {"bos_token", "<|begin_of_text|>"}};
  RenderOptions opt;
  opt.clock = PinnedTime;
  auto want = t->Render(vars, opt);
  ASSERT_TRUE(want.ok()) << want.status();
  std::vector<std::string> got(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 20; ++k) {
        auto r = t->Render(vars, opt);
        if (!r.ok() || r->text != want->text) return;
      }
      got[i] = want->text;
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& g : got) EXPECT_EQ(g, want->text);
}

}  // namespace
}  // namespace phx::chat::testing
