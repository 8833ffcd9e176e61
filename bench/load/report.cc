// Percentiles, goodput and the JSON/text reports.
#include <algorithm>
#include <map>

#include "bench/load/load.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace phx::bench {

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p / 100.0 * (v.size() - 1);
  const size_t lo = static_cast<size_t>(idx);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - lo);
}

Summary Summarize(const std::vector<Sample>& samples, const Slo& slo) {
  Summary s;
  s.requests = static_cast<int>(samples.size());
  std::vector<double> ttft, itl, e2e, overhead, overhead_start;
  std::map<std::string, int> errors;
  double first = 1e300, last = 0;
  int64_t tokens = 0;
  for (const Sample& x : samples) {
    first = std::min(first, x.start);
    last = std::max(last, x.start + x.e2e);
    if (x.retried) ++s.retried;
    if (x.stream_broken) ++s.streams_broken;
    if (!x.ok) {
      ++s.failed;
      ++errors[x.code];
      continue;
    }
    ++s.ok;
    tokens += x.output_tokens;
    ttft.push_back(x.ttft);
    e2e.push_back(x.e2e);
    itl.insert(itl.end(), x.itl.begin(), x.itl.end());
    if (x.server_total > 0) overhead.push_back(x.e2e - x.server_total);
    if (x.server_ttft > 0) overhead_start.push_back(x.ttft - x.server_ttft);
    const double max_gap = x.itl.empty() ? 0 : *std::max_element(x.itl.begin(), x.itl.end());
    if ((slo.ttft_s <= 0 || x.ttft <= slo.ttft_s) && (slo.itl_s <= 0 || max_gap <= slo.itl_s) &&
        (slo.e2e_s <= 0 || x.e2e <= slo.e2e_s)) {
      ++s.goodput;
    }
  }
  s.wall_s = samples.empty() ? 0 : last - first;
  if (s.wall_s > 0) {
    s.requests_per_s = s.ok / s.wall_s;
    s.output_tokens_per_s = tokens / s.wall_s;
    s.goodput_per_s = s.goodput / s.wall_s;
  }
  s.ttft_p50 = Pct(ttft, 50), s.ttft_p90 = Pct(ttft, 90), s.ttft_p99 = Pct(ttft, 99);
  s.itl_p50 = Pct(itl, 50), s.itl_p90 = Pct(itl, 90), s.itl_p99 = Pct(itl, 99);
  s.e2e_p50 = Pct(e2e, 50), s.e2e_p90 = Pct(e2e, 90), s.e2e_p99 = Pct(e2e, 99);
  s.overhead_p50 = Pct(overhead, 50), s.overhead_p99 = Pct(overhead, 99);
  s.overhead_start_p50 = Pct(overhead_start, 50);
  s.overhead_start_p99 = Pct(overhead_start, 99);
  s.errors.assign(errors.begin(), errors.end());
  return s;
}

std::string SummaryJson(const Summary& s) {
  nlohmann::json e = nlohmann::json::object();
  for (const auto& [code, n] : s.errors) e[code] = n;
  const nlohmann::json j = {
      {"requests", s.requests},
      {"ok", s.ok},
      {"failed", s.failed},
      {"retried", s.retried},
      {"streams_broken", s.streams_broken},
      {"wall_s", s.wall_s},
      {"requests_per_s", s.requests_per_s},
      {"output_tokens_per_s", s.output_tokens_per_s},
      {"ttft_s", {{"p50", s.ttft_p50}, {"p90", s.ttft_p90}, {"p99", s.ttft_p99}}},
      {"itl_s", {{"p50", s.itl_p50}, {"p90", s.itl_p90}, {"p99", s.itl_p99}}},
      {"e2e_s", {{"p50", s.e2e_p50}, {"p90", s.e2e_p90}, {"p99", s.e2e_p99}}},
      {"server_overhead_s",
       {{"p50", s.overhead_p50},
        {"p99", s.overhead_p99},
        {"before_first_token_p50", s.overhead_start_p50},
        {"before_first_token_p99", s.overhead_start_p99}}},
      {"goodput_requests", s.goodput},
      {"goodput_per_s", s.goodput_per_s},
      {"errors", e}};
  return j.dump();
}

std::string SummaryText(const Summary& s) {
  std::string out = fmt::format(
      "requests {} ok {} failed {} retried {} broken streams {} in {:.2f}s\n"
      "throughput {:.2f} req/s, {:.1f} output tokens/s, goodput {:.2f} req/s ({} requests)\n"
      "TTFT  p50 {:.1f} ms  p90 {:.1f} ms  p99 {:.1f} ms\n"
      "ITL   p50 {:.2f} ms  p90 {:.2f} ms  p99 {:.2f} ms\n"
      "E2E   p50 {:.1f} ms  p90 {:.1f} ms  p99 {:.1f} ms\n",
      s.requests, s.ok, s.failed, s.retried, s.streams_broken, s.wall_s, s.requests_per_s,
      s.output_tokens_per_s, s.goodput_per_s, s.goodput, s.ttft_p50 * 1e3, s.ttft_p90 * 1e3,
      s.ttft_p99 * 1e3, s.itl_p50 * 1e3, s.itl_p90 * 1e3, s.itl_p99 * 1e3, s.e2e_p50 * 1e3,
      s.e2e_p90 * 1e3, s.e2e_p99 * 1e3);
  if (s.overhead_p99 > 0) {
    out += fmt::format(
        "server overhead (client e2e - engine time) p50 {:.3f} ms p99 {:.3f} ms; before the "
        "first token p50 {:.3f} ms p99 {:.3f} ms\n",
        s.overhead_p50 * 1e3, s.overhead_p99 * 1e3, s.overhead_start_p50 * 1e3,
        s.overhead_start_p99 * 1e3);
  }
  for (const auto& [code, n] : s.errors) out += fmt::format("errors {}: {}\n", code, n);
  return out;
}

}  // namespace phx::bench
