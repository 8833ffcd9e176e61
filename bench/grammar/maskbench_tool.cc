// maskbench_tool: `phalanx grammar maskbench` without the server (links the grammar engine,
// the tokenizer and the GGUF reader only), for profiling the mask and compile paths:
//   maskbench_tool VOCAB.gguf [--cpu-clock] [--json OUT] [--times OUT.tsv] FILE|DIR...
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/gguf/gguf.h"
#include "runtime/grammar/engine.h"
#include "runtime/grammar/maskbench.h"
#include "runtime/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  using namespace phx;
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: maskbench_tool VOCAB.gguf [--cpu-clock] [--json OUT] [--times TSV] "
                 "[--timeout-s S] FILE|DIR...\n");
    return 2;
  }
  grammar::MaskbenchOptions mo;
  mo.quiet = true;
  mo.timeout_s = 60;
  std::vector<std::string> files;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cpu-clock") {
      mo.cpu_clock = true;
    } else if (a == "--verbose") {
      mo.quiet = false;
    } else if ((a == "--json" || a == "--times" || a == "--timeout-s") && i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--json") mo.json_out = v;
      if (a == "--times") mo.times_out = v;
      if (a == "--timeout-s") mo.timeout_s = std::atof(v.c_str());
    } else if (std::filesystem::is_directory(a)) {
      std::vector<std::string> dir;
      for (const auto& e : std::filesystem::directory_iterator(a)) {
        if (e.path().extension() == ".json") dir.push_back(e.path().string());
      }
      std::sort(dir.begin(), dir.end());
      files.insert(files.end(), dir.begin(), dir.end());
    } else {
      files.push_back(a);
    }
  }
  auto f = gguf::File::Open(argv[1]);
  if (!f.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(f.status().message()).c_str());
    return 2;
  }
  auto tok = tok::Tokenizer::FromGguf(**f);
  if (!tok.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(tok.status().message()).c_str());
    return 2;
  }
  auto engine = grammar::GrammarEngine::FromTokenizer(**tok);
  engine->set_cache_enabled(false);
  if (getenv("PHX_VOCAB_DEBUG")) {
    const auto& v = *engine->vocab();
    std::fprintf(stderr, "vocab %d max_bytes %d rest nodes %zu toks %zu depth %d\n", v.size(),
                 v.max_token_bytes(), v.rest().nodes.size(), v.rest().toks.size(),
                 v.rest().max_depth);
    for (const auto& sl : v.slices())
      std::fprintf(stderr, "slice [%d,%d] nodes %zu toks %zu depth %d\n", sl.min_chars,
                   sl.max_chars, sl.trie.nodes.size(), sl.trie.toks.size(), sl.trie.max_depth);
  }
  return grammar::RunMaskbench(*engine, **tok, files, mo);
}
