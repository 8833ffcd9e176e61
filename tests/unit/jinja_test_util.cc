#include "tests/unit/jinja_test_util.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace phx::chat::testing {
namespace {

bool IsSyntaxKind(const std::string& k) {
  return k == "TemplateSyntaxError" || k == "TemplateAssertionError" || k == "SyntaxError";
}

std::string Show(const std::string& s) { return nlohmann::json(s.substr(0, 2000)).dump(); }

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::tm PinnedTime() {
  std::tm tm{};
  tm.tm_year = 2024 - 1900;
  tm.tm_mon = 6;
  tm.tm_mday = 26;
  tm.tm_hour = 12;
  tm.tm_wday = 5;
  tm.tm_yday = 207;
  tm.tm_isdst = -1;
  return tm;
}

std::vector<Outcome> RenderWithPython(const std::vector<Case>& cases) {
  nlohmann::ordered_json req;
  req["now"] = kPinnedIso;
  req["cases"] = nlohmann::ordered_json::array();
  for (const Case& c : cases) req["cases"].push_back({{"template", c.tpl}, {"vars", c.vars}});
  const auto dir = std::filesystem::temp_directory_path() /
                   ("phx_jinja_" + std::to_string(::getpid()) + "_" +
                    std::to_string(reinterpret_cast<uintptr_t>(&cases)));
  std::filesystem::create_directories(dir);
  const std::string in = (dir / "req.json").string(), out = (dir / "resp.json").string();
  {
    std::ofstream f(in, std::ios::binary);
    f << req.dump();
  }
  const std::string cmd = "/usr/bin/python3 " + std::string(PHX_SOURCE_DIR) +
                          "/tests/chat/jinja_ref.py < " + in + " > " + out;
  const int rc = std::system(cmd.c_str());
  std::vector<Outcome> res;
  if (rc != 0) {
    ADD_FAILURE() << "the Python reference failed (" << rc << "): " << cmd;
    std::filesystem::remove_all(dir);
    return res;
  }
  const auto j = nlohmann::json::parse(ReadFile(out));
  std::filesystem::remove_all(dir);
  for (const auto& r : j["results"]) {
    Outcome o;
    o.ok = r["ok"].get<bool>();
    if (o.ok) {
      o.text = r["text"].get<std::string>();
    } else {
      o.kind = r["kind"].get<std::string>();
      o.message = r["message"].get<std::string>();
    }
    res.push_back(std::move(o));
  }
  EXPECT_EQ(res.size(), cases.size());
  return res;
}

std::vector<Outcome> RenderWithEngine(const std::vector<Case>& cases) {
  std::map<std::string, absl::StatusOr<Template>> parsed;
  RenderOptions opt;
  opt.clock = PinnedTime;
  std::vector<Outcome> res;
  for (const Case& c : cases) {
    auto it = parsed.find(c.tpl);
    if (it == parsed.end()) it = parsed.emplace(c.tpl, Template::Parse(c.tpl)).first;
    Outcome o;
    absl::StatusOr<RenderedPrompt> r = it->second.ok()
                                           ? it->second->Render(c.vars, opt)
                                           : absl::StatusOr<RenderedPrompt>(it->second.status());
    if (r.ok()) {
      o.ok = true;
      o.text = r->text;
    } else {
      o.kind = TemplateErrorKind(r.status());
      o.message = std::string(r.status().message());
      const std::string prefix = o.kind + ": ";
      if (o.kind != "TemplateError" && o.message.rfind(prefix, 0) == 0) {
        o.message = o.message.substr(prefix.size());
      }
    }
    res.push_back(std::move(o));
  }
  return res;
}

Comparison CompareWithPython(const std::vector<Case>& cases) {
  Comparison cmp;
  const std::vector<Outcome> py = RenderWithPython(cases);
  if (py.size() != cases.size()) {
    cmp.mismatches = static_cast<int>(cases.size());
    return cmp;
  }
  cmp.engine = RenderWithEngine(cases);
  const std::vector<Outcome>& cc = cmp.engine;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Outcome& p = py[i];
    const Outcome& c = cc[i];
    bool same;
    if (p.ok) {
      same = c.ok && c.text == p.text;
      cmp.rendered += same;
    } else {
      if (c.ok) {
        same = false;
      } else if (p.kind == "TemplateError") {
        same = c.kind == "TemplateError" && c.message == p.message;
      } else if (IsSyntaxKind(p.kind)) {
        same = IsSyntaxKind(c.kind);
      } else if (p.kind == "RecursionError") {
        same = c.kind == "LimitError";
      } else {
        same = c.kind == p.kind && c.message == p.message;
      }
      cmp.raised += same;
    }
    if (!same) {
      ++cmp.mismatches;
      ADD_FAILURE() << "case " << cases[i].name << "\n  template: " << Show(cases[i].tpl)
                    << "\n  python: "
                    << (p.ok ? "renders " + Show(p.text) : p.kind + ": " + Show(p.message))
                    << "\n  engine: "
                    << (c.ok ? "renders " + Show(c.text) : c.kind + ": " + Show(c.message));
    }
  }
  return cmp;
}

nlohmann::ordered_json SampleVars() {
  return nlohmann::ordered_json::parse(R"({
    "s": "héllo Wörld", "n": 5, "f": 2.5, "l": [3, 1, 2], "d": {"b": 1, "a": 2, "items": 7},
    "e": "", "z": null, "t": true,
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " yo "}],
    "u": [{"name": "Bob", "age": 30, "tags": ["x"]}, {"name": "alice", "age": 25},
          {"name": "Carl", "age": 30}]})");
}

}  // namespace phx::chat::testing
