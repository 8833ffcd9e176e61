// Fuzzes the GBNF parser and compiler (llama.cpp's grammar format): the input up to a NUL byte
// is the grammar text; the rest drives a few matcher steps on the compiled grammar.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/grammar_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2048) return 0;  // bounded time per input
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view text = in.substr(0, nul);
  const std::string_view drive = nul == std::string_view::npos ? "" : in.substr(nul + 1);
  auto g = phx::grammar::fuzz::Engine().CompileGbnf(text);
  if (g.ok()) phx::grammar::fuzz::Drive(*g, drive);
  return 0;
}
