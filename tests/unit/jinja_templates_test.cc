// Every real chat template in ../shared/templates (20) rendered on a table of conversations
// (tests/chat/conversations.json: system or not, multi-turn, unicode, special-token text, tools,
// assistant tool calls, tool results, reasoning, documents; add_generation_prompt both ways;
// enable_thinking both ways) is byte-identical to Python's Jinja2 configured as transformers
// configures it, run at test time; where Python raises through raise_exception, the engine
// fails with the same message.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "tests/unit/jinja_test_util.h"

namespace phx::chat::testing {
namespace {

std::string Shared(const std::string& rel) { return std::string(PHX_SHARED_DIR) + "/" + rel; }

bool Relevant(const std::string& tpl_name, const std::string& variant) {
  auto has = [&](const char* s) { return tpl_name.find(s) != std::string::npos; };
  if (variant == "plain" || variant == "tools" || variant == "simple_tools") return true;
  if (variant == "thinking_off" || variant == "thinking_on") return has("qwen") || has("deepseek");
  if (variant == "documents") return has("Cohere");
  if (variant == "functions") return has("firefunction");
  if (variant == "llama_options") return has("llama") || has("Llama");
  return false;
}

TEST(JinjaTemplates, RealTemplatesMatchPython) {
  const auto conv = nlohmann::ordered_json::parse(
      ReadFile(std::string(PHX_SOURCE_DIR) + "/tests/chat/conversations.json"));
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(Shared("templates"))) {
    if (e.path().extension() == ".jinja") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  // ../shared/templates holds 20 real templates (the issue says 21; 20 are there).
  ASSERT_GE(files.size(), 20u);

  std::vector<Case> cases;
  std::vector<std::string> case_template;
  for (const std::string& path : files) {
    const std::string name = std::filesystem::path(path).filename().string();
    const std::string src = ReadFile(path);
    ASSERT_FALSE(src.empty()) << path;
    for (const auto& [cname, msgs] : conv["conversations"].items()) {
      for (const auto& var : conv["variants"]) {
        const std::string vname = var["name"].get<std::string>();
        if (!Relevant(name, vname)) continue;
        for (const bool agp : {true, false}) {
          nlohmann::ordered_json vars;
          vars["messages"] = msgs;
          vars["add_generation_prompt"] = agp;
          vars["bos_token"] = "<s>";
          vars["eos_token"] = "</s>";
          for (const auto& [k, v] : var["extra"].items()) {
            const bool ref =
                v.is_string() && !v.get<std::string>().empty() && v.get<std::string>()[0] == '$';
            vars[k] = ref ? conv[v.get<std::string>().substr(1)] : v;
          }
          cases.push_back(
              {name + " / " + cname + " / " + vname + (agp ? " / agp" : ""), src, std::move(vars)});
          case_template.push_back(name);
        }
      }
    }
  }
  const Comparison cmp = CompareWithPython(cases);
  EXPECT_EQ(cmp.mismatches, 0);
  std::cout << cases.size() << " cases: " << cmp.rendered << " rendered identically, " << cmp.raised
            << " raised identically\n";
  // Not vacuous: most cases render, and every template renders some.
  EXPECT_GT(cmp.rendered, static_cast<int>(cases.size()) * 6 / 10);
  const std::vector<Outcome>& engine = cmp.engine;
  std::map<std::string, int> ok_per_template;
  for (size_t i = 0; i < cases.size(); ++i) ok_per_template[case_template[i]] += engine[i].ok;
  for (const std::string& path : files) {
    const std::string name = std::filesystem::path(path).filename().string();
    EXPECT_GE(ok_per_template[name], 10) << name << " rendered too few cases";
  }
}

}  // namespace
}  // namespace phx::chat::testing
