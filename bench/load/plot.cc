#include "bench/load/plot.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fmt/format.h"

namespace phx::bench {

absl::Status WritePlot(const std::string& png, const std::vector<PlotPoint>& points,
                       const std::string& xlabel) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string data = (dir / fmt::format("phx_plot_{}.dat", ::getpid())).string();
  const std::string script = data + ".gp";
  {
    std::ofstream d(data);
    d << "# load tokens_per_s ttft_p50_ms ttft_p99_ms itl_p50_ms itl_p99_ms e2e_p99_ms\n";
    for (const auto& p : points) {
      const Summary& s = p.summary;
      d << fmt::format("{} {} {} {} {} {} {}\n", p.load, s.output_tokens_per_s, s.ttft_p50 * 1e3,
                       s.ttft_p99 * 1e3, s.itl_p50 * 1e3, s.itl_p99 * 1e3, s.e2e_p99 * 1e3);
    }
  }
  {
    std::ofstream g(script);
    g << "set terminal pngcairo size 1000,600\n";
    g << fmt::format("set output '{}'\n", png);
    g << "set title 'Phalanx: latency and throughput against load'\n";
    g << fmt::format("set xlabel '{}'\n", xlabel);
    g << "set logscale x 2\nset ylabel 'latency (ms)'\nset y2label 'output tokens/s'\n";
    g << "set ytics nomirror\nset y2tics\nset key left top\nset grid\n";
    g << fmt::format(
        "plot '{0}' using 1:3 with linespoints title 'TTFT p50', "
        "'{0}' using 1:4 with linespoints title 'TTFT p99', "
        "'{0}' using 1:5 with linespoints title 'ITL p50', "
        "'{0}' using 1:6 with linespoints title 'ITL p99', "
        "'{0}' using 1:2 axes x1y2 with linespoints lw 2 title 'tokens/s'\n",
        data);
  }
  const int rc = std::system(fmt::format("gnuplot '{}' 2>&1", script).c_str());
  std::filesystem::remove(data);
  std::filesystem::remove(script);
  if (rc != 0) return absl::InternalError("gnuplot failed (is gnuplot installed?)");
  return absl::OkStatus();
}

}  // namespace phx::bench
