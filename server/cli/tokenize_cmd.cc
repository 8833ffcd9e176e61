#include <cstdio>

#include "base/strings.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "server/cli/commands.h"

namespace phx::cli {

int ModelTokenize(const TokenizeOptions& o) {
  auto f = gguf::File::Open(o.model);
  if (!f.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(f.status().message()).c_str());
    return 1;
  }
  auto tok = tok::Tokenizer::FromGguf(**f);
  if (!tok.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(tok.status().message()).c_str());
    return 1;
  }
  const auto ids = (*tok)->Encode(o.text, o.add_special, o.parse_special);
  std::printf("%s\n", StrJoin(ids, " ").c_str());
  if (o.show_pieces) {
    for (auto id : ids) {
      std::fprintf(stderr, "%6d '%s'\n", id, (*tok)->TokenToPiece(id, true).c_str());
    }
  }
  return 0;
}

}  // namespace phx::cli
