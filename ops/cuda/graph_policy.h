// When the CUDA backend records a decode step as a CUDA graph, and when it replays one: plain host
// logic (no CUDA header), unit-tested without a GPU (tests/unit/cuda_backend_host_test.cc).
//
// A decode step (every sequence one new token) of R sequences runs padded to GraphRows(R) rows,
// so a few graphs - one per bucket - cover every batch size. Per bucket:
//   first use         eager (it sizes every scratch buffer the step needs, so the capture that
//                     follows allocates nothing);
//   next use          capture, then launch the graph;
//   later uses        replay, as long as no scratch buffer was reallocated since the capture
//                     (a reallocation moves pointers the graph holds: recapture);
//   a failed capture  eager for this step (the capture ran nothing); after kMaxGraphFailures
//                     failures the bucket stays eager.
#pragma once

#include <cstdint>

namespace phx::ops::cuda {

inline constexpr int kMaxGraphFailures = 3;

// The padded row count of a decode step of `rows` sequences: 1, 2, 4, 8, then the next multiple
// of 8 up to 64, of 16 up to 128, of 32 up to 256. 0 (no graph) when rows <= 0 or the bucket
// would exceed max_rows.
int32_t GraphRows(int32_t rows, int32_t max_rows);

enum class GraphAction { kEager, kCapture, kReplay };
const char* GraphActionName(GraphAction a);

// One bucket's record.
struct GraphState {
  bool captured = false;            // an instantiated graph exists
  uint64_t scratch_generation = 0;  // the backend's scratch generation at its capture
  int eager_runs = 0;               // warm-up runs so far
  int failures = 0;                 // failed captures
};

// What to do for the next step of this bucket, given the backend's current scratch generation.
GraphAction ChooseGraphAction(const GraphState& s, uint64_t scratch_generation);
// Bookkeeping after the action ran: `ok` says whether a capture succeeded (ignored otherwise).
void RecordGraphAction(GraphState& s, GraphAction a, bool ok, uint64_t scratch_generation);

}  // namespace phx::ops::cuda
