#include <cstdio>
#include <iostream>

#include "base/strings.h"
#include "ops/cpu/cpu_backend.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/config.h"
#include "runtime/model/family.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "server/cli/commands.h"

namespace phx::cli {

int ModelInspect(const std::string& path, bool all_values) {
  auto f = gguf::File::Open(path);
  if (!f.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(f.status().message()).c_str());
    return 1;
  }
  const gguf::File& g = **f;
  std::printf(
      "file: %s\nGGUF version %u, %zu metadata keys, %zu tensors, alignment %u, data at "
      "offset %llu, %llu bytes\n",
      path.c_str(), g.version(), g.metadata().size(), g.tensors().size(), g.alignment(),
      static_cast<unsigned long long>(g.data_offset()),
      static_cast<unsigned long long>(g.file_size()));
  std::printf("\nmetadata:\n");
  for (const auto& [key, v] : g.metadata()) {
    std::string type(gguf::ValueTypeName(v.type));
    if (v.is_array()) type = fmt::format("arr[{},{}]", gguf::ValueTypeName(v.elem_type), v.count);
    std::printf("  %-48s %-14s %s\n", key.c_str(), type.c_str(),
                v.ToString(all_values ? SIZE_MAX : 8).c_str());
  }
  std::printf("\ntensors:\n  %-5s %-36s %-6s %-24s %12s %14s\n", "#", "name", "type", "shape",
              "elements", "offset");
  uint64_t total = 0;
  for (size_t i = 0; i < g.tensors().size(); ++i) {
    const auto& t = g.tensors()[i];
    total += t.n_elements;
    std::printf(
        "  %-5zu %-36s %-6s %-24s %12llu %14llu\n", i, t.name.c_str(),
        std::string(DTypeName(t.type)).c_str(), StrCat("[", StrJoin(t.dims, ", "), "]").c_str(),
        static_cast<unsigned long long>(t.n_elements), static_cast<unsigned long long>(t.offset));
  }
  std::printf("  total: %llu elements\n", static_cast<unsigned long long>(total));
  auto cfg = model::ConfigFromGguf(g);
  if (!cfg.ok()) {
    std::printf("\nmodel: not loadable: %s\n", std::string(cfg.status().message()).c_str());
    std::printf("servable: no: %s\n", std::string(cfg.status().message()).c_str());
    return 0;
  }
  std::printf("\nmodel: %s\n", cfg->Summary().c_str());
  if (const model::Family* fam = model::FindFamily(cfg->arch); fam != nullptr) {
    std::printf("family: %s: %s\n", std::string(fam->arch).c_str(), std::string(fam->what).c_str());
  }
  std::printf("features: %s\n", cfg->FeatureList().c_str());
  // What `phalanx serve` checks at load, short of loading: the backend's ops, the tokenizer,
  // every tensor's presence, shape and type, and no tensor left unused.
  ops::cpu::CpuBackend cpu(1);
  absl::Status s = model::CheckBackendSupports(*cfg, cpu);
  if (s.ok()) s = tok::Tokenizer::FromGguf(g).status();
  if (s.ok()) s = model::CheckTensors(g, *cfg, cpu);
  if (s.ok()) {
    std::printf("servable: yes (cpu backend%s)\n",
                cfg->lm_head ? "" : "; embeddings only, no text generation");
  } else {
    std::printf("servable: no: %s\n", std::string(s.message()).c_str());
  }
  return 0;
}

int ModelSynth(const model::SynthOptions& o, const std::string& out) {
  absl::Status s = model::SynthesizeModel(o, out);
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s\n", out.c_str());
  return 0;
}

}  // namespace phx::cli
