// Subcommand entry points of the `phalanx` binary. main.cc parses flags (CLI11 lives only
// there) into these option structs; each command returns the process exit code.
#pragma once

#include <string>

#include "runtime/model/synth.h"

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

// `phalanx model synth ...`.
int ModelSynth(const model::SynthOptions& o, const std::string& out);

}  // namespace phx::cli
