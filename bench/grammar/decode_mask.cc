// decode_mask: what constrained decoding costs a decode step. Runs the CPU engine on a model
// (the ~100M synthesized Llama with the 32k SPM vocabulary: scripts/synth-models) at batch 1
// and batch 16, temperature 1, without a grammar and with a nested JSON schema, and prints:
// the mean decode step time of each, the overhead (with / without - 1), and the mask's share
// of the constrained step time: the time spent computing masks (on the helper thread,
// overlapped with the forward pass) and the time the engine thread waited for them after the
// forward pass (the part the overlap did not hide). The goal (issue 26): <= 5%.
// Mask time is the helper thread's CPU time; step times are wall time, median of --repeat runs
// alternating free and constrained.
//   decode_mask --model GGUF [--threads N] [--steps N] [--warmup N] [--repeat N] [--temperature T]
//               [--batches 1,16] [--schema FILE]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "ops/cpu/cpu_backend.h"
#include "runtime/engine/engine.h"
#include "runtime/grammar/engine.h"
#include "runtime/model/model.h"

namespace phx {
namespace {

// Nested objects and arrays, strings, integers with bounds, an enum, a pattern, optional
// members: what a typical extraction schema looks like.
constexpr char kSchema[] = R"({
  "type": "object",
  "properties": {
    "id": {"type": "integer", "minimum": 0},
    "name": {"type": "string"},
    "kind": {"enum": ["person", "company", "place"]},
    "address": {
      "type": "object",
      "properties": {
        "street": {"type": "string"},
        "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
        "geo": {"type": "object", "properties": {"lat": {"type": "number"},
                "lon": {"type": "number"}}, "required": ["lat", "lon"]}
      },
      "required": ["street", "zip"]
    },
    "tags": {"type": "array", "items": {"type": "string"}},
    "people": {"type": "array", "items": {"type": "object", "properties": {
      "first": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
      "email": {"type": "string", "format": "email"}}, "required": ["first"]}}
  },
  "required": ["id", "name", "kind", "address", "tags", "people"],
  "additionalProperties": false
})";

class NullSink : public engine::TokenSink {
 public:
  void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>&) override {}
  void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status&,
                const engine::Usage& u, const engine::Timing&, std::string) override {
    if (r != engine::FinishReason::kLength) ++early;
    tokens += u.completion_tokens;
  }
  int early = 0;
  int64_t tokens = 0;
};

struct Run {
  double step_ms = 0;  // mean decode step
  double mask_ms = 0;  // mask computation per step (helper thread, overlapped)
  double wait_ms = 0;  // engine thread waiting for masks per step
  int early = 0;       // sequences that ended before max_tokens
  int steps = 0;
};

Run Measure(const model::Model& m, ops::Backend& b, int batch, int warmup, int steps,
            float temperature, const grammar::GrammarEngine::Compiled& g) {
  engine::EngineConfig cfg;
  cfg.max_num_seqs = 16;
  cfg.max_tokens_per_step = 512;
  cfg.kv_cache_bytes = int64_t{256} << 20;
  auto e = engine::Engine::Create(m, b, cfg);
  if (!e.ok()) {
    fprintf(stderr, "%s\n", e.status().ToString().c_str());
    exit(1);
  }
  std::vector<double> step_secs;
  (*e)->SetStepObserver([&](double s) { step_secs.push_back(s); });
  auto sink = std::make_shared<NullSink>();
  const int32_t bos = m.tokenizer().bos();
  for (int i = 0; i < batch; ++i) {
    engine::GenerateRequest r;
    r.prompt = {bos, 3 + 17 * i, 5 + 31 * i};
    r.sampling.temperature = temperature;
    r.sampling.seed = 7 + i;
    r.sampling.ignore_eos = true;
    r.sampling.max_tokens = warmup + steps;
    r.constraint.grammar = g;
    if (!(*e)->Submit(std::move(r), sink).ok()) exit(1);
  }
  // Warm-up steps (prefill, lexer caches, row memos) are not measured.
  engine::EngineStats before;
  int done = 0;
  while (done < warmup + steps + 1) {
    auto worked = (*e)->Step();
    if (!worked.ok() || !*worked) break;
    if (++done == warmup + 1) {
      before = (*e)->stats();
      step_secs.clear();
    }
  }
  (void)(*e)->RunUntilIdle();
  const engine::EngineStats after = (*e)->stats();
  Run r;
  r.steps = static_cast<int>(std::min<size_t>(step_secs.size(), steps));
  double total = 0;
  for (int i = 0; i < r.steps; ++i) total += step_secs[i];
  r.step_ms = r.steps ? total * 1e3 / r.steps : 0;
  // Mask totals over the same steps (the tail after them may add a final mask or two).
  r.mask_ms =
      r.steps ? (after.grammar_mask_seconds - before.grammar_mask_seconds) * 1e3 / r.steps : 0;
  r.wait_ms =
      r.steps ? (after.grammar_wait_seconds - before.grammar_wait_seconds) * 1e3 / r.steps : 0;
  r.early = sink->early;
  return r;
}

// The run with the median step time of `n`.
Run Median(std::vector<Run> runs) {
  std::sort(runs.begin(), runs.end(),
            [](const Run& a, const Run& b) { return a.step_ms < b.step_ms; });
  return runs[runs.size() / 2];
}

int Main(int argc, char** argv) {
  std::string model_path, schema_path, batches = "1,16";
  int threads = 2, steps = 48, warmup = 8, repeat = 3;
  float temperature = 1.f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model")
      model_path = v;
    else if (a == "--schema")
      schema_path = v;
    else if (a == "--batches")
      batches = v;
    else if (a == "--threads")
      threads = atoi(v.c_str());
    else if (a == "--steps")
      steps = atoi(v.c_str());
    else if (a == "--temperature")
      temperature = static_cast<float>(atof(v.c_str()));
    else if (a == "--repeat")
      repeat = std::max(1, atoi(v.c_str()));
    else if (a == "--warmup")
      warmup = atoi(v.c_str());
    else {
      fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (model_path.empty()) {
    fprintf(stderr,
            "usage: decode_mask --model GGUF [--threads N] [--steps N] [--warmup N] "
            "[--repeat N] [--temperature T] [--batches 1,16] [--schema FILE]\n");
    return 2;
  }
  std::string schema = kSchema;
  if (!schema_path.empty()) {
    std::stringstream ss;
    ss << std::ifstream(schema_path).rdbuf();
    schema = ss.str();
  }
  ops::cpu::CpuBackend backend(threads);
  auto m = model::Model::Load(model_path, backend);
  if (!m.ok()) {
    fprintf(stderr, "%s\n", m.status().ToString().c_str());
    return 1;
  }
  auto ge = grammar::GrammarEngine::FromTokenizer((*m)->tokenizer());
  auto g = ge->CompileJsonSchema(schema);
  if (!g.ok()) {
    fprintf(stderr, "schema: %s\n", g.status().ToString().c_str());
    return 1;
  }
  printf(
      "model %s, vocab %d, %d threads, temperature %g, %d measured decode steps after %d "
      "warm-up, median of %d\n",
      model_path.c_str(), (*m)->tokenizer().vocab_size(), threads, temperature, steps, warmup,
      repeat);
  printf("%5s %12s %12s %9s %12s %12s %10s %10s\n", "batch", "free ms", "schema ms", "overhead",
         "mask ms", "wait ms", "mask %", "wait %");
  for (const auto& part : absl::StrSplit(batches, ',')) {
    int batch = 0;
    if (!absl::SimpleAtoi(part, &batch) || batch < 1 || batch > 16) return 2;
    // Alternated, so that a change in the host's load hits both alike; medians.
    std::vector<Run> frees, cons;
    for (int i = 0; i < repeat; ++i) {
      frees.push_back(Measure(**m, backend, batch, warmup, steps, temperature, nullptr));
      cons.push_back(Measure(**m, backend, batch, warmup, steps, temperature, *g));
    }
    const Run free = Median(frees), con = Median(cons);
    // The first constrained run starts with the schema's lexer caches cold (a new schema).
    const Run& cold = cons.front();
    printf("%5d %10.2f %10.2f %8.1f%% %9.3f %9.3f %7.2f%% %7.2f%% %10.2f%%", batch, free.step_ms,
           con.step_ms, (con.step_ms / free.step_ms - 1) * 100, con.mask_ms, con.wait_ms,
           con.mask_ms / con.step_ms * 100, con.wait_ms / con.step_ms * 100,
           cold.mask_ms / cold.step_ms * 100);
    if (con.early > 0) printf("  (%d of %d constrained sequences ended early)", con.early, batch);
    printf("\n");
    fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace phx

int main(int argc, char** argv) { return phx::Main(argc, argv); }
