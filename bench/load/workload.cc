// Prompt sets: synthetic length distributions over random token ids, or a JSONL file.
#include "bench/load/workload.h"

#include <fstream>
#include <random>

#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"

namespace phx::bench {

absl::StatusOr<LengthDist> ParseLengthDist(const std::string& spec) {
  LengthDist d;
  auto num = [](const std::string& s, int* out) { return absl::SimpleAtoi(s, out) && *out > 0; };
  if (spec.rfind("uniform:", 0) == 0) {
    const std::string r = spec.substr(8);
    const size_t dash = r.find('-');
    if (dash == std::string::npos || !num(r.substr(0, dash), &d.lo) ||
        !num(r.substr(dash + 1), &d.hi) || d.lo > d.hi) {
      return absl::InvalidArgumentError("length: expected uniform:LO-HI, got " + spec);
    }
    return d;
  }
  if (!num(spec, &d.lo))
    return absl::InvalidArgumentError("length: expected N or uniform:LO-HI, got " + spec);
  d.hi = d.lo;
  return d;
}

std::vector<Prompt> SyntheticPrompts(int n, const LengthDist& prompt, const LengthDist& gen,
                                     int32_t vocab, int32_t bos, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Prompt> out(static_cast<size_t>(n));
  for (auto& p : out) {
    const int len = std::uniform_int_distribution<int>(prompt.lo, prompt.hi)(rng);
    if (bos >= 0) p.ids.push_back(bos);
    // Ids from 3 up skip the usual <unk>/<s>/</s> slots of small vocabularies.
    std::uniform_int_distribution<int32_t> tok(std::min(3, vocab - 1), vocab - 1);
    while (static_cast<int>(p.ids.size()) < len) p.ids.push_back(tok(rng));
    p.max_tokens = std::uniform_int_distribution<int>(gen.lo, gen.hi)(rng);
  }
  return out;
}

absl::StatusOr<std::vector<Prompt>> JsonlPrompts(const std::string& path, int default_max_tokens) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::vector<Prompt> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("prompt") || !j["prompt"].is_string()) {
      return absl::InvalidArgumentError(path + ":" + std::to_string(lineno) +
                                        ": expected {\"prompt\": \"...\", \"max_tokens\": N}");
    }
    Prompt p;
    p.text = j["prompt"];
    p.max_tokens = j.value("max_tokens", default_max_tokens);
    out.push_back(std::move(p));
  }
  if (out.empty()) return absl::InvalidArgumentError(path + " has no prompts");
  return out;
}

}  // namespace phx::bench
