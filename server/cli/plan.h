// Capacity planning: how many replicas a target load needs, from measured phalanx-bench
// results (a JSON file with one run per load level), with N+1 headroom.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace phx::cli {

struct PlanInput {
  double target_rps = 0;  // requests per second to serve
  int prompt_tokens = 0;  // typical request shape (0: the benchmark's)
  int gen_tokens = 0;
  double slo_ttft_s = 0;  // p99 objectives a load level must meet (0: not checked)
  double slo_itl_s = 0;
  double utilization = 0.8;  // plan to run each replica at this fraction of its capacity
  int spare = 1;             // replicas beyond the minimum (N+1)
};

struct PlanResult {
  int replicas = 0;
  double capacity_rps = 0;       // per replica, for the target request shape
  double measured_rps = 0;       // the level it came from, as measured
  double level = 0;              // concurrency (or rate) of that level
  std::vector<std::string> why;  // the reasoning, one line per step
};

// `bench_json`: phalanx-bench --json output.
absl::StatusOr<PlanResult> PlanReplicas(const PlanInput& in, const std::string& bench_json);

}  // namespace phx::cli
