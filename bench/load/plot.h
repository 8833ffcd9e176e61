#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/load/load.h"

namespace phx::bench {

struct PlotPoint {
  double load;
  Summary summary;
};

// Draws TTFT and inter-token latency percentiles and throughput against load with gnuplot.
absl::Status WritePlot(const std::string& png, const std::vector<PlotPoint>& points,
                       const std::string& xlabel);

}  // namespace phx::bench
