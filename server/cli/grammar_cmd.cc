// `phalanx grammar maskbench`: the MaskBench conformance and speed run (runtime/grammar).
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "runtime/gguf/gguf.h"
#include "runtime/grammar/engine.h"
#include "runtime/grammar/maskbench.h"
#include "runtime/tokenizer/tokenizer.h"
#include "server/cli/commands.h"

namespace phx::cli {

int GrammarMaskbench(const MaskbenchOptions& o) {
  auto f = gguf::File::Open(o.vocab);
  if (!f.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(f.status().message()).c_str());
    return 2;
  }
  auto tok = tok::Tokenizer::FromGguf(**f);
  if (!tok.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(tok.status().message()).c_str());
    return 2;
  }
  std::vector<std::string> files;
  for (const auto& p : o.files) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      std::vector<std::string> dir;
      for (const auto& e : std::filesystem::directory_iterator(p, ec)) {
        if (e.path().extension() == ".json") dir.push_back(e.path().string());
      }
      std::sort(dir.begin(), dir.end());
      files.insert(files.end(), dir.begin(), dir.end());
    } else {
      files.push_back(p);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "error: no MaskBench files\n");
    return 2;
  }
  // The vocabulary's byte tries are built here, before any clock starts.
  auto engine = grammar::GrammarEngine::FromTokenizer(**tok);
  engine->set_cache_enabled(false);  // every schema compiles cold
  grammar::MaskbenchOptions mo;
  mo.timeout_s = o.timeout_s;
  mo.json_out = o.json;
  mo.cpu_clock = o.cpu_clock;
  mo.quiet = o.quiet;
  mo.times_out = o.times;
  return grammar::RunMaskbench(*engine, **tok, files, mo);
}

}  // namespace phx::cli
