// Fuzzes the regular-expression compiler (ECMAScript subset: classes, escapes, anchors,
// alternation, counted repeats): the input up to a NUL byte is the pattern, compiled as a
// whole-output regex and as a JSON-schema `pattern`; the rest drives a few matcher steps.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/grammar/json_value.h"
#include "tests/fuzz/grammar_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 512) return 0;  // bounded time per input
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view pattern = in.substr(0, nul);
  const std::string_view drive = nul == std::string_view::npos ? "" : in.substr(nul + 1);
  auto& engine = phx::grammar::fuzz::Engine();
  auto g = engine.CompileRegex(pattern);
  if (g.ok()) phx::grammar::fuzz::Drive(*g, drive);
  std::string schema = "{\"type\":\"string\",\"pattern\":";
  phx::grammar::AppendPyJsonString(pattern, &schema);
  schema += "}";
  auto s = engine.CompileJsonSchema(schema);
  if (s.ok()) phx::grammar::fuzz::Drive(*s, drive);
  return 0;
}
