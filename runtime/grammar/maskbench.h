// MaskBench (guidance-ai/jsonschemabench, maskbench/runner.py) for this engine: for each file,
// compile its schema (compile time: from the parsed schema to a matcher ready for its first
// mask), then for each test serialize `data` as Python's json.dumps(data, ensure_ascii=False),
// tokenize it (no BOS), and before every token compute the full mask and commit the token
// (mask time: both). Stricter than MaskBench: a test is accepted only if every token is
// allowed AND the grammar accepts at the end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/grammar/engine.h"

namespace phx::tok {
class Tokenizer;
}

namespace phx::grammar {

struct MaskbenchFile {
  std::string file;
  // passing | compile_error | validation_error | invalidation_error | timeout | crash
  std::string status;
  std::string detail;
  double compile_us = 0;
  std::vector<float> mask_us;
  int tests = 0;
};

// Runs one MaskBench file in this process.
MaskbenchFile RunMaskbenchFile(GrammarEngine& engine, const tok::Tokenizer& tok,
                               const std::string& path, bool cpu_clock = false);

struct MaskbenchOptions {
  double timeout_s = 900;  // per file, as MaskBench's default
  std::string json_out;    // write the JSON report here ("" = none, "-" = stdout)
  bool cpu_clock = false;  // time masks and compiles in thread CPU time, not wall time
  bool quiet = false;
  std::string times_out;  // per-file times as TSV ("" = none)
};

struct Percentiles {
  double avg = 0, p25 = 0, p50 = 0, p75 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0, max = 0;
  size_t n = 0;
};
Percentiles ComputePercentiles(std::vector<float> v);

// Runs every file in forked worker processes (one at a time, so one core): a crash or a timeout
// is recorded for its file and a fresh worker goes on with the next. Prints the summary table;
// returns 0 when no file crashed, timed out or accepted an invalid instance.
int RunMaskbench(GrammarEngine& engine, const tok::Tokenizer& tok,
                 const std::vector<std::string>& files, const MaskbenchOptions& opt);

}  // namespace phx::grammar
