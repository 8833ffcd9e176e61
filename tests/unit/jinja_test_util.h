// Test support for the Jinja engine: renders cases with the engine and with the Python reference
// (tests/chat/jinja_ref.py: Debian's python3-jinja2 configured as transformers configures it),
// run at test time, and compares them.
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/chat/template.h"

namespace phx::chat::testing {

struct Case {
  std::string name;  // for messages
  std::string tpl;
  nlohmann::ordered_json vars;
};

// What one engine made of a case.
struct Outcome {
  bool ok = false;
  std::string text;     // when ok
  std::string kind;     // Python exception class otherwise ("TemplateError" = raise_exception)
  std::string message;  // the exception's message (without the engine's "Kind: " prefix)
};

// The date both engines use for strftime_now: 2024-07-26 12:00:00 (a Friday).
std::tm PinnedTime();
inline constexpr char kPinnedIso[] = "2024-07-26T12:00:00";

// Renders every case with the Python reference (one process for all). Fails the test and
// returns an empty vector when Python cannot run.
std::vector<Outcome> RenderWithPython(const std::vector<Case>& cases);
// Renders every case with the engine (templates parsed once per distinct source).
std::vector<Outcome> RenderWithEngine(const std::vector<Case>& cases);

struct Comparison {
  int rendered = 0;             // both rendered the same bytes
  int raised = 0;               // both failed the same way
  int mismatches = 0;           // anything else (each reported with ADD_FAILURE)
  std::vector<Outcome> engine;  // the engine's outcome per case
};
// Same bytes when Python renders; when Python raises through raise_exception, the same message;
// for other Python exceptions the same class (the engine's LimitError stands for Python's
// RecursionError; syntax errors compare as a class).
Comparison CompareWithPython(const std::vector<Case>& cases);

// The variables most construct tests use.
nlohmann::ordered_json SampleVars();

std::string ReadFile(const std::string& path);

}  // namespace phx::chat::testing
