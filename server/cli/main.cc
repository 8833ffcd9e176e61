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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Phalanx: a self-contained LLM inference server"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "phalanx 0.1.0");
  int rc = 0;
  AddModelCommands(app, rc);
  CLI11_PARSE(app, argc, argv);
  return rc;
}
