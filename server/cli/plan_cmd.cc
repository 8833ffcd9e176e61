// `phalanx plan`: replicas needed for a target load, from measured benchmark results.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "server/cli/commands.h"
#include "server/cli/plan.h"

namespace phx::cli {

int Plan(const PlanOptions& o) {
  std::ifstream f(o.bench);
  if (!f) {
    std::fprintf(stderr, "error: --bench: cannot read %s\n", o.bench.c_str());
    return 2;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  auto r = PlanReplicas(o.input, ss.str());
  if (!r.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(r.status().message()).c_str());
    return 1;
  }
  std::printf("replicas: %d\n", r->replicas);
  for (const auto& line : r->why) std::printf("  %s\n", line.c_str());
  return 0;
}

}  // namespace phx::cli
