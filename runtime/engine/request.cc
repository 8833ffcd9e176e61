#include "runtime/engine/request.h"

namespace phx::engine {

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kDeadline:
      return "deadline";
    case FinishReason::kError:
      return "error";
  }
  return "unknown";
}

namespace {
double Secs(Clock::time_point a, Clock::time_point b) {
  if (a == Clock::time_point{} || b == Clock::time_point{}) return 0;
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

double Timing::queue_seconds() const { return Secs(arrival, first_scheduled); }
double Timing::ttft_seconds() const { return Secs(arrival, first_token); }
double Timing::total_seconds() const { return Secs(arrival, finished); }

}  // namespace phx::engine
