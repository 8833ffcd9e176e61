// Seconds elapsed on the steady clock (the engine's and the servers' clock, engine::Clock) since a
// time point: the latency every metric and audit record carries.
#pragma once

#include <chrono>

namespace phx {

inline double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace phx
