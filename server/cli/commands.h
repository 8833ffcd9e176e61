// Subcommand entry points of the `phalanx` binary. main.cc parses flags (CLI11 lives only
// there) into these option structs; each command returns the process exit code.
#pragma once

#include <string>
#include <vector>

#include "runtime/model/synth.h"
#include "runtime/sampler/params.h"
#include "server/cli/plan.h"
#include "server/cli/setup.h"

namespace phx::cli {

// `phalanx model inspect FILE`: metadata and a tensor table on stdout.
int ModelInspect(const std::string& path, bool all_values);

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool add_special = false;
  bool parse_special = false;
  bool show_pieces = false;
};
// `phalanx model tokenize FILE --text T`: token ids, space-separated, on one line.
int ModelTokenize(const TokenizeOptions& o);

struct RenderChatOptions {
  std::string model;     // GGUF: its tokenizer.chat_template and bos/eos token texts
  std::string tmpl;      // a built-in name or a Jinja file (overrides the model's template)
  std::string request;   // JSON object: the template's variables, unchanged
  std::string now;       // pins strftime_now: "YYYY-MM-DDTHH:MM:SS" (local time otherwise)
  bool ids = false;      // print token ids (user text kept out of control tokens) instead
};
// `phalanx model render-chat (--model GGUF | --template NAME|FILE) --request FILE`: the rendered
// prompt's bytes, exactly, on stdout. A template that raises exits 1 with its message on stderr.
int ModelRenderChat(const RenderChatOptions& o);

// `phalanx model synth ...`.
int ModelSynth(const model::SynthOptions& o, const std::string& out);

struct GenerateOptions {
  RuntimeOptions runtime;
  std::string prompt;
  sampler::SamplingParams sampling;
  bool parse_special = false;
  bool echo = false;
};
// `phalanx generate`: streams the completion to stdout; logs and progress to stderr.
int Generate(const GenerateOptions& o);

struct BenchOptions {
  RuntimeOptions runtime;
  int32_t prompt_tokens = 128;
  int32_t gen_tokens = 128;
  int32_t batch = 1;
  int32_t runs = 5;
  bool json = false;
};
// `phalanx bench`: prefill and decode tokens/s (median of runs, after a warm-up run).
int Bench(const BenchOptions& o);

struct MaskbenchOptions {
  std::string vocab;
  std::string json;
  double timeout_s = 900;
  bool cpu_clock = false;
  bool quiet = false;
  std::string times;
  std::vector<std::string> files;
};
// `phalanx grammar maskbench`: MaskBench conformance and mask/compile times (exit 1 on a crash,
// timeout or accepted invalid instance).
int GrammarMaskbench(const MaskbenchOptions& o);

}  // namespace phx::cli
namespace phx::server {
struct ServeConfig;
}  // namespace phx::server
namespace phx::cli {

// `phalanx serve`: runs until SIGTERM/SIGINT (drain); --check-config validates and exits.
int Serve(const server::ServeConfig& cfg);

struct PlanOptions {
  PlanInput input;
  std::string bench;  // phalanx-bench --json output
};
// `phalanx plan`: prints the replica count and the reasoning.
int Plan(const PlanOptions& o);

struct ClientOptions {
  std::string mode;  // generate | stream | tokenize | info
  std::string target = "localhost:50051";
  std::string prompt;
  sampler::SamplingParams sampling;
  bool echo = false;
  std::string request_id;
  std::string api_key;
  double timeout_s = 0;
};
// `phalanx client ...`: prints only the generated text on stdout.
int Client(const ClientOptions& o);

}  // namespace phx::cli
