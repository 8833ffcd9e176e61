// The `phalanx` binary: flag parsing for every subcommand. Only this file includes CLI11.
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "base/dtype.h"
#include "server/cli/commands.h"

namespace {

void AddModelCommands(CLI::App& app, int& rc) {
  CLI::App* model = app.add_subcommand("model", "Inspect, tokenize with, or synthesize GGUF models");
  model->require_subcommand(1);

  auto* inspect = model->add_subcommand("inspect", "Print a GGUF file's metadata and tensor table");
  static std::string inspect_path;
  static bool inspect_all = false;
  inspect->add_option("file", inspect_path, "GGUF file")->required();
  inspect->add_flag("--all", inspect_all, "Print every array element");
  inspect->callback([&rc] { rc = phx::cli::ModelInspect(inspect_path, inspect_all); });

  auto* tok = model->add_subcommand("tokenize", "Print the token ids of a text, space-separated");
  static phx::cli::TokenizeOptions topt;
  tok->add_option("file", topt.model, "GGUF file with a tokenizer")->required();
  tok->add_option("--text", topt.text, "Text to tokenize")->required();
  tok->add_flag("--add-special", topt.add_special, "Add BOS/EOS as the vocabulary says");
  tok->add_flag("--parse-special", topt.parse_special, "Turn special-token text into its id");
  tok->add_flag("--pieces", topt.show_pieces, "Also print each token's text on stderr");
  tok->callback([&rc] { rc = phx::cli::ModelTokenize(topt); });

  auto* synth = model->add_subcommand("synth", "Write a GGUF model with random weights");
  static phx::model::SynthOptions so;
  static std::string out, dtype = "f16";
  synth->add_option("--out,-o", out, "Output GGUF path")->required();
  synth->add_option("--arch", so.arch, "llama | qwen2")->capture_default_str();
  synth->add_option("--vocab", so.vocab_from, "GGUF whose tokenizer is copied")->required();
  synth->add_option("--layers", so.n_layer, "Transformer blocks")->capture_default_str();
  synth->add_option("--embd", so.n_embd, "Embedding size")->capture_default_str();
  synth->add_option("--ffn", so.n_ff, "Feed-forward size")->capture_default_str();
  synth->add_option("--heads", so.n_head, "Attention heads")->capture_default_str();
  synth->add_option("--kv-heads", so.n_head_kv, "KV heads (GQA when fewer)")->capture_default_str();
  synth->add_option("--head-dim", so.head_dim, "Head size (0: embd/heads)")->capture_default_str();
  synth->add_option("--ctx", so.context_length, "Training context length")->capture_default_str();
  synth->add_option("--dtype", dtype, "f32 | f16 | bf16 | q8_0 | q4_0 | q4_K")->capture_default_str();
  synth->add_flag("--tied", so.tied_output, "Tie the output matrix to the token embedding");
  synth->add_option("--rope-base", so.rope_freq_base, "RoPE frequency base")->capture_default_str();
  synth->add_option("--seed", so.seed, "Weight seed")->capture_default_str();
  synth->add_option("--name", so.name, "general.name")->capture_default_str();
  synth->callback([&rc] {
    auto t = phx::ParseDType(dtype);
    if (!t) {
      std::fprintf(stderr, "error: --dtype: unknown type '%s'\n", dtype.c_str());
      rc = 2;
      return;
    }
    so.dtype = *t;
    rc = phx::cli::ModelSynth(so, out);
  });
}

void AddRuntimeFlags(CLI::App* cmd, phx::cli::RuntimeOptions& o) {
  cmd->add_option("--model,-m", o.model, "GGUF model file")->required();
  cmd->add_option("--device", o.device, "auto | cpu | cuda")->capture_default_str();
  cmd->add_option("--threads,-t", o.threads, "CPU threads (0: one per core)")->capture_default_str();
  cmd->add_option("--kv-dtype", o.kv_dtype, "KV cache type: f16 | f32")->capture_default_str();
  cmd->add_option("--kv-cache-mb", o.kv_cache_mb, "KV cache size in MiB")->capture_default_str();
  cmd->add_option("--max-batch", o.max_batch, "Sequences per step")->capture_default_str();
  cmd->add_option("--max-tokens-per-step", o.max_tokens_per_step,
                  "Token budget per step (prefill chunk size)")->capture_default_str();
  cmd->add_option("--ctx", o.ctx, "Context length (0: the model's)")->capture_default_str();
}

void AddSamplingFlags(CLI::App* cmd, phx::sampler::SamplingParams& p) {
  cmd->add_option("--max-tokens,-n", p.max_tokens, "Tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", p.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", p.top_k, "0 = off")->capture_default_str();
  cmd->add_option("--top-p", p.top_p, "1 = off")->capture_default_str();
  cmd->add_option("--min-p", p.min_p, "0 = off")->capture_default_str();
  cmd->add_option("--repeat-penalty", p.repetition_penalty, "1 = off")->capture_default_str();
  cmd->add_option("--presence-penalty", p.presence_penalty)->capture_default_str();
  cmd->add_option("--frequency-penalty", p.frequency_penalty)->capture_default_str();
  cmd->add_option("--seed", p.seed, "Sampling seed (default: random)");
  cmd->add_option("--stop", p.stop, "Stop string (repeatable)");
  cmd->add_flag("--ignore-eos", p.ignore_eos, "Keep generating after end-of-sequence");
}

void AddGenerateCommands(CLI::App& app, int& rc) {
  auto* gen = app.add_subcommand("generate", "Generate text from a prompt (streams to stdout)");
  static phx::cli::GenerateOptions go;
  AddRuntimeFlags(gen, go.runtime);
  gen->add_option("--prompt,-p", go.prompt, "Prompt text")->required();
  gen->add_flag("--parse-special", go.parse_special, "Turn special-token text into its id");
  gen->add_flag("--echo", go.echo, "Print the prompt before the completion");
  AddSamplingFlags(gen, go.sampling);
  gen->callback([&rc] {
    go.runtime.max_batch = std::min(go.runtime.max_batch, 8);
    rc = phx::cli::Generate(go);
  });

  auto* bench = app.add_subcommand("bench", "Measure prefill and decode tokens/s");
  static phx::cli::BenchOptions bo;
  AddRuntimeFlags(bench, bo.runtime);
  bench->add_option("--prompt-tokens,-P", bo.prompt_tokens, "Prompt length")->capture_default_str();
  bench->add_option("--gen-tokens,-G", bo.gen_tokens, "Tokens generated")->capture_default_str();
  bench->add_option("--batch,-B", bo.batch, "Concurrent sequences")->capture_default_str();
  bench->add_option("--runs", bo.runs, "Timed runs (median reported)")->capture_default_str();
  bench->add_flag("--json", bo.json, "Print one JSON line");
  bench->callback([&rc] { rc = phx::cli::Bench(bo); });
}

#ifdef PHX_HAVE_SERVER
void AddServeCommands(CLI::App& app, int& rc) {
  auto* serve = app.add_subcommand("serve", "Serve the model over gRPC");
  static phx::cli::ServeOptions so;
  AddRuntimeFlags(serve, so.runtime);
  serve->add_option("--host", so.host, "Listen address")->capture_default_str();
  serve->add_option("--grpc-port", so.grpc_port, "gRPC port")->capture_default_str();
  serve->callback([&rc] { rc = phx::cli::Serve(so); });

  auto* client = app.add_subcommand("client", "Call a Phalanx server over gRPC");
  client->require_subcommand(1);
  static phx::cli::ClientOptions co;
  co.sampling.max_tokens = 64;
  for (const char* mode : {"generate", "stream", "tokenize", "info"}) {
    auto* c = client->add_subcommand(mode, std::string("Call ") + mode);
    c->add_option("--target", co.target, "host:port")->capture_default_str();
    if (std::string(mode) != "info") c->add_option("--prompt,-p", co.prompt, "Prompt text")->required();
    if (std::string(mode) == "generate" || std::string(mode) == "stream") {
      AddSamplingFlags(c, co.sampling);
      c->add_flag("--echo", co.echo, "Print the prompt first");
      c->add_option("--request-id", co.request_id, "Client request id");
    }
    c->add_option("--api-key", co.api_key, "API key (Bearer)")->envname("PHALANX_API_KEY");
    c->add_option("--timeout", co.timeout_s, "Deadline in seconds (0: none)");
    c->callback([&rc, mode] {
      co.mode = mode;
      rc = phx::cli::Client(co);
    });
  }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Phalanx: a self-contained LLM inference server"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "phalanx 0.1.0");
  int rc = 0;
  AddModelCommands(app, rc);
  AddGenerateCommands(app, rc);
#ifdef PHX_HAVE_SERVER
  AddServeCommands(app, rc);
#endif
  CLI11_PARSE(app, argc, argv);
  return rc;
}
