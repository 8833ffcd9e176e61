// Fuzzes JSON-schema compilation: the input up to a NUL byte is the schema text (JSON parser,
// $ref resolution, normalization, regex and format compilers, grammar emission); the bytes
// after it drive a few matcher steps on the compiled grammar (mask vs commit, no dead end).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/grammar_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // bounded time per input
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view schema = in.substr(0, nul);
  const std::string_view drive = nul == std::string_view::npos ? "" : in.substr(nul + 1);
  auto& engine = phx::grammar::fuzz::Engine();
  phx::grammar::JsonSchemaOptions opt;
  opt.strict = (size & 1) == 0;
  auto g = engine.CompileJsonSchema(schema, opt);
  if (g.ok()) phx::grammar::fuzz::Drive(*g, drive, /*no_dead_ends=*/true);
  return 0;
}
