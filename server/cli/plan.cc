#include "server/cli/plan.h"

#include <cmath>

#include "base/strings.h"
#include "nlohmann/json.hpp"

namespace phx::cli {
namespace {

// "128" or "uniform:64-256" -> the mean.
double MeanTokens(const nlohmann::json& v) {
  const std::string s = v.is_string() ? v.get<std::string>() : std::to_string(v.get<int>());
  if (s.rfind("uniform:", 0) == 0) {
    const size_t dash = s.find('-', 8);
    return (std::stod(s.substr(8, dash - 8)) + std::stod(s.substr(dash + 1))) / 2;
  }
  return std::stod(s);
}

}  // namespace

absl::StatusOr<PlanResult> PlanReplicas(const PlanInput& in, const std::string& bench_json) {
  if (!(in.target_rps > 0)) return absl::InvalidArgumentError("--target-rps must be > 0");
  if (!(in.utilization > 0 && in.utilization <= 1)) {
    return absl::InvalidArgumentError("--utilization must be in (0, 1]");
  }
  const auto j = nlohmann::json::parse(bench_json, nullptr, false);
  if (j.is_discarded() || !j.contains("runs") || !j["runs"].is_array() || j["runs"].empty()) {
    return absl::InvalidArgumentError("--bench: expected phalanx-bench --json output with runs");
  }
  PlanResult r;
  const double bench_p = MeanTokens(j.value("prompt_tokens", nlohmann::json("0")));
  const double bench_g = MeanTokens(j.value("gen_tokens", nlohmann::json("0")));
  // The best level meeting the objectives with no failed request.
  bool found = false;
  for (const auto& run : j["runs"]) {
    const double rps = run.value("requests_per_s", 0.0);
    const double ttft = run["ttft_s"].value("p99", 0.0);
    const double itl = run["itl_s"].value("p99", 0.0);
    const int failed = run.value("failed", 0);
    const double level =
        run.contains("concurrency") ? run["concurrency"].get<double>() : run.value("rate", 0.0);
    const bool ok = failed == 0 && (in.slo_ttft_s <= 0 || ttft <= in.slo_ttft_s) &&
                    (in.slo_itl_s <= 0 || itl <= in.slo_itl_s);
    r.why.push_back(fmt::format(
        "level {:g}: {:.2f} req/s, TTFT p99 {:.0f} ms, ITL p99 {:.1f} ms, "
        "{} failed -> {}",
        level, rps, ttft * 1e3, itl * 1e3, failed, ok ? "meets the objectives" : "misses them"));
    if (ok && rps > r.measured_rps) {
      r.measured_rps = rps;
      r.level = level;
      found = true;
    }
  }
  if (!found) {
    return absl::FailedPreconditionError(
        StrCat("no measured load level meets the objectives (", StrJoin(r.why, "; "),
               "): a replica cannot serve this SLO; benchmark lower loads or relax it"));
  }
  // Requests of another shape cost in proportion to their tokens (prefill + decode steps).
  double scale = 1;
  if (bench_p + bench_g > 0 && (in.prompt_tokens > 0 || in.gen_tokens > 0)) {
    const double p = in.prompt_tokens > 0 ? in.prompt_tokens : bench_p;
    const double g = in.gen_tokens > 0 ? in.gen_tokens : bench_g;
    scale = (bench_p + bench_g) / (p + g);
  }
  r.capacity_rps = r.measured_rps * scale;
  const double usable = r.capacity_rps * in.utilization;
  const int needed = static_cast<int>(std::ceil(in.target_rps / usable - 1e-9));
  r.replicas = needed + in.spare;
  r.why.push_back(fmt::format("capacity per replica: {:.2f} req/s measured at level {:g}{}",
                              r.measured_rps, r.level,
                              scale == 1 ? std::string()
                                         : fmt::format(", x{:.3f} for the request shape = {:.2f} "
                                                       "req/s",
                                                       scale, r.capacity_rps)));
  r.why.push_back(fmt::format("planned at {:.0f}% utilization: {:.2f} req/s per replica",
                              in.utilization * 100, usable));
  r.why.push_back(fmt::format("{:.2f} req/s / {:.2f} = {} replicas, + {} spare (N+{}) = {}",
                              in.target_rps, usable, needed, in.spare, in.spare, r.replicas));
  return r;
}

}  // namespace phx::cli
