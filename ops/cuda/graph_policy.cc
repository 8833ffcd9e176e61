#include "ops/cuda/graph_policy.h"

namespace phx::ops::cuda {

int32_t GraphRows(int32_t rows, int32_t max_rows) {
  if (rows <= 0) return 0;
  int32_t b;
  if (rows <= 8) {
    b = 1;
    while (b < rows) b *= 2;
  } else {
    const int32_t step = rows <= 64 ? 8 : rows <= 128 ? 16 : 32;
    b = (rows + step - 1) / step * step;
    if (b > 256) return 0;
  }
  return b <= max_rows ? b : 0;
}

const char* GraphActionName(GraphAction a) {
  switch (a) {
    case GraphAction::kEager:
      return "eager";
    case GraphAction::kCapture:
      return "capture";
    case GraphAction::kReplay:
      return "replay";
  }
  return "?";
}

GraphAction ChooseGraphAction(const GraphState& s, uint64_t scratch_generation) {
  if (s.failures >= kMaxGraphFailures) return GraphAction::kEager;
  if (s.captured && s.scratch_generation == scratch_generation) return GraphAction::kReplay;
  if (s.eager_runs == 0) return GraphAction::kEager;  // warm-up: sizes the scratch
  return GraphAction::kCapture;
}

void RecordGraphAction(GraphState& s, GraphAction a, bool ok, uint64_t scratch_generation) {
  switch (a) {
    case GraphAction::kEager:
      ++s.eager_runs;
      break;
    case GraphAction::kCapture:
      s.captured = ok;
      if (ok) {
        s.scratch_generation = scratch_generation;
      } else {
        ++s.failures;
      }
      break;
    case GraphAction::kReplay:
      break;
  }
}

}  // namespace phx::ops::cuda
