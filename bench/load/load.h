// phalanx-bench: load generation against a Phalanx server (gRPC or the OpenAI HTTP API) and
// the measurements it reports.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace phx::bench {

using Clock = std::chrono::steady_clock;

struct Prompt {
  std::vector<int32_t> ids;  // token-id prompt (synthetic workloads)
  std::string text;          // text prompt (JSONL workloads)
  int32_t max_tokens = 128;
};

// What one request measured, client side.
struct Sample {
  bool ok = false;
  std::string code;  // "OK" or the error code name / HTTP status
  bool retried = false;
  double start = 0;         // seconds since the run started
  double ttft = 0;          // first token
  double e2e = 0;           // last byte
  std::vector<double> itl;  // gaps between tokens
  int32_t prompt_tokens = 0;
  int32_t output_tokens = 0;
  double server_total = 0;     // server-reported total seconds (gRPC timing), 0 if unknown
  double server_ttft = 0;      // server-reported time to first token (gRPC timing), 0 if unknown
  bool stream_broken = false;  // the stream ended without a finish message
};

struct RequestOptions {
  bool stream = true;
  bool ignore_eos = true;
  float temperature = 0.f;
  std::string api_key;
  double timeout_s = 600;
};

// A protocol client; Send blocks until the request finished.
class Client {
 public:
  virtual ~Client() = default;
  virtual Sample Send(const Prompt& p, const RequestOptions& o, Clock::time_point run_start) = 0;
  // Opens the client's connections ahead of the load (false: not all within the timeout), so
  // the first requests do not measure connection setup. No-op where requests connect anew.
  virtual bool Connect(double timeout_s) { return true; }
  // Round-trip seconds of n calls of the protocol's cheapest RPC, one at a time (gRPC:
  // GetModelInfo): the transport floor that server overhead compares against. Empty if the
  // protocol has none or a call failed.
  virtual std::vector<double> FloorRoundTrips(int n, const RequestOptions& o) { return {}; }
};

std::unique_ptr<Client> MakeGrpcClient(const std::string& target);
std::unique_ptr<Client> MakeHttpClient(const std::string& base_url, const std::string& model);

struct LoadOptions {
  int concurrency = 1;    // closed loop: this many requests in flight
  double rate = 0;        // open loop (Poisson arrivals per second) when > 0
  int requests = 100;     // total requests (both modes)
  double duration_s = 0;  // stop issuing after this long (0: only the count)
  uint64_t seed = 1;
  bool progress = true;
  int retries = 0;  // resend a failed request up to this many times (UNAVAILABLE etc.)
  const std::atomic<bool>* stop =
      nullptr;  // when set (e.g. by SIGINT): stop issuing, finish in-flight
  // Called (from the request's thread) as each request finishes; t0_unix is the run's start in
  // seconds since the UNIX epoch, so t0_unix + sample.start is the request's wall-clock start.
  std::function<void(const Sample&, double t0_unix)> on_sample;
};

// Runs the load and returns every request's sample.
std::vector<Sample> RunLoad(Client& client, const std::vector<Prompt>& prompts,
                            const RequestOptions& ro, const LoadOptions& lo);

struct Slo {
  double ttft_s = 0;  // 0: not checked
  double itl_s = 0;   // max inter-token gap
  double e2e_s = 0;
};

struct Summary {
  int requests = 0, ok = 0, failed = 0, retried = 0, streams_broken = 0;
  double wall_s = 0, requests_per_s = 0, output_tokens_per_s = 0;
  double ttft_p50 = 0, ttft_p90 = 0, ttft_p99 = 0;
  double itl_p50 = 0, itl_p90 = 0, itl_p99 = 0;
  double e2e_p50 = 0, e2e_p90 = 0, e2e_p99 = 0;
  double overhead_p50 = 0, overhead_p99 = 0;  // client e2e - server total (gRPC)
  // The part of it before the first token: client TTFT - server TTFT (gRPC streams).
  double overhead_start_p50 = 0, overhead_start_p99 = 0;
  int goodput = 0;
  double goodput_per_s = 0;
  std::vector<std::pair<std::string, int>> errors;  // code -> count
};

Summary Summarize(const std::vector<Sample>& samples, const Slo& slo);
// The p-th percentile (0..100) of v, interpolated; 0 for an empty v.
double Pct(std::vector<double> v, double p);
std::string SummaryJson(const Summary& s);
std::string SummaryText(const Summary& s);

}  // namespace phx::bench
