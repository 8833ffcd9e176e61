#include "server/metrics/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "prometheus/text_serializer.h"

namespace phx::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries b = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

// Counters only go up: add the part of a monotonic total not yet exported.
void CatchUp(prometheus::Counter& c, double total) {
  const double d = total - c.Value();
  if (d > 0) c.Increment(d);
}

double ProcessStartTime() {
  // /proc/self/stat field 22: start time in clock ticks after boot.
  std::ifstream st("/proc/self/stat");
  std::string s((std::istreambuf_iterator<char>(st)), {});
  const size_t rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  for (int i = 3; i < 22 && in >> field; ++i) {
  }
  unsigned long long start_ticks = 0;
  in >> start_ticks;
  std::ifstream up("/proc/uptime");
  double uptime = 0;
  up >> uptime;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return now - uptime + static_cast<double>(start_ticks) / sysconf(_SC_CLK_TCK);
}

}  // namespace

const char* RejectReasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kRateLimit:
      return "rate_limit";
    case RejectReason::kQueueFull:
      return "queue_full";
    case RejectReason::kTooLong:
      return "too_long";
    case RejectReason::kUnauthenticated:
      return "unauthenticated";
    case RejectReason::kDraining:
      return "draining";
    case RejectReason::kInvalid:
      return "invalid";
  }
  return "invalid";
}

const char* DegradedReasonName(DegradedReason r) {
  switch (r) {
    case DegradedReason::kOverload:
      return "overload";
    case DegradedReason::kDraining:
      return "draining";
    case DegradedReason::kEngineFailed:
      return "engine_failed";
  }
  return "overload";
}

Metrics::Metrics(const BuildInfo& info)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("phalanx_requests_total")
                    .Help("Finished requests by RPC and status code.")
                    .Register(*registry_)),
      duration_(BuildHistogram()
                    .Name("phalanx_request_duration_seconds")
                    .Help("Request arrival to last byte, generation RPCs.")
                    .Register(*registry_)),
      ttft_(BuildHistogram()
                .Name("phalanx_time_to_first_token_seconds")
                .Help("Request arrival to the first generated token.")
                .Register(*registry_)
                .Add({}, LatencyBuckets())),
      itl_(BuildHistogram()
               .Name("phalanx_inter_token_latency_seconds")
               .Help("Time between consecutive generated tokens of a request.")
               .Register(*registry_)
               .Add({}, LatencyBuckets())),
      queue_wait_(BuildHistogram()
                      .Name("phalanx_queue_wait_seconds")
                      .Help("Arrival until the engine first schedules the request.")
                      .Register(*registry_)
                      .Add({}, LatencyBuckets())),
      step_(BuildHistogram()
                .Name("phalanx_engine_step_duration_seconds")
                .Help("Duration of one engine iteration.")
                .Register(*registry_)
                .Add({}, LatencyBuckets())),
      prompt_tokens_(BuildCounter()
                         .Name("phalanx_prompt_tokens_total")
                         .Help("Prompt tokens of finished requests.")
                         .Register(*registry_)
                         .Add({})),
      generation_tokens_(BuildCounter()
                             .Name("phalanx_generation_tokens_total")
                             .Help("Generated tokens.")
                             .Register(*registry_)
                             .Add({})),
      embedding_tokens_(BuildCounter()
                            .Name("phalanx_embedding_tokens_total")
                            .Help("Input tokens of embedding requests (not prompt tokens).")
                            .Register(*registry_)
                            .Add({})),
      running_(BuildGauge()
                   .Name("phalanx_requests_running")
                   .Help("Sequences in the running batch.")
                   .Register(*registry_)
                   .Add({})),
      waiting_(BuildGauge()
                   .Name("phalanx_requests_waiting")
                   .Help("Requests queued in the engine and in admission.")
                   .Register(*registry_)
                   .Add({})),
      kv_usage_(BuildGauge()
                    .Name("phalanx_kv_cache_usage_ratio")
                    .Help("Referenced KV blocks over all KV blocks.")
                    .Register(*registry_)
                    .Add({})),
      kv_blocks_(BuildGauge()
                     .Name("phalanx_kv_cache_blocks")
                     .Help("KV cache blocks by state.")
                     .Register(*registry_)),
      prefix_queries_(BuildCounter()
                          .Name("phalanx_prefix_cache_queries_total")
                          .Help("Prompt tokens looked up in the prefix cache.")
                          .Register(*registry_)
                          .Add({})),
      prefix_hits_(BuildCounter()
                       .Name("phalanx_prefix_cache_hits_total")
                       .Help("Prompt tokens found in the prefix cache.")
                       .Register(*registry_)
                       .Add({})),
      preemptions_(BuildCounter()
                       .Name("phalanx_preemptions_total")
                       .Help("Sequences preempted for lack of KV blocks.")
                       .Register(*registry_)
                       .Add({})),
      steps_(BuildCounter()
                 .Name("phalanx_engine_steps_total")
                 .Help("Engine iterations.")
                 .Register(*registry_)
                 .Add({})),
      rejected_(BuildCounter()
                    .Name("phalanx_rejected_total")
                    .Help("Requests refused before generation, by reason.")
                    .Register(*registry_)),
      degraded_(BuildCounter()
                    .Name("phalanx_degraded_responses_total")
                    .Help("Answers served from the response cache in degraded mode.")
                    .Register(*registry_)),
      goodput_(BuildCounter()
                   .Name("phalanx_goodput_requests_total")
                   .Help("Finished requests that met every configured SLO.")
                   .Register(*registry_)
                   .Add({})),
      feedback_(BuildCounter()
                    .Name("phalanx_feedback_total")
                    .Help("User feedback by rating.")
                    .Register(*registry_)),
      ignored_fields_(BuildCounter()
                          .Name("phalanx_api_ignored_fields_total")
                          .Help("OpenAI API request fields accepted but ignored, by field "
                                "(\"other\": unknown fields under --lenient-api).")
                          .Register(*registry_)),
      audit_suppressed_(BuildCounter()
                            .Name("phalanx_audit_records_suppressed_total")
                            .Help("Audit records not written because their kind was over its "
                                  "rate limit, by reason.")
                            .Register(*registry_)
                            .Add({{"reason", "unauthenticated"}})),
      ready_(BuildGauge()
                 .Name("phalanx_ready")
                 .Help("1 when the readiness probe passes.")
                 .Register(*registry_)
                 .Add({})),
      cpu_seconds_(BuildCounter()
                       .Name("process_cpu_seconds_total")
                       .Help("Total user and system CPU time spent in seconds.")
                       .Register(*registry_)
                       .Add({})),
      rss_(BuildGauge()
               .Name("process_resident_memory_bytes")
               .Help("Resident memory size in bytes.")
               .Register(*registry_)
               .Add({})),
      fds_(BuildGauge()
               .Name("process_open_fds")
               .Help("Number of open file descriptors.")
               .Register(*registry_)
               .Add({})),
      start_time_(BuildGauge()
                      .Name("process_start_time_seconds")
                      .Help("Start time of the process since unix epoch in seconds.")
                      .Register(*registry_)
                      .Add({})) {
  BuildGauge()
      .Name("phalanx_build_info")
      .Help("Build and model identity (always 1).")
      .Register(*registry_)
      .Add({{"version", info.version}, {"backend", info.backend}, {"model", info.model}})
      .Set(1);
  // Every labelled series exists from the start, so rates and alerts see 0, not "no data".
  for (auto r : {RejectReason::kRateLimit, RejectReason::kQueueFull, RejectReason::kTooLong,
                 RejectReason::kUnauthenticated, RejectReason::kDraining, RejectReason::kInvalid}) {
    rejected_.Add({{"reason", RejectReasonName(r)}});
  }
  for (auto r :
       {DegradedReason::kOverload, DegradedReason::kDraining, DegradedReason::kEngineFailed}) {
    degraded_.Add({{"reason", DegradedReasonName(r)}});
  }
  for (const char* r : {"negative", "neutral", "positive"}) feedback_.Add({{"rating", r}});
  for (const char* s : {"free", "cached", "used"}) kv_blocks_.Add({{"state", s}});
  start_time_.Set(ProcessStartTime());
  nvml_ = Nvml::Load();
  if (nvml_ != nullptr) {
    auto gauge = [this](const char* name, const char* help) {
      return &BuildGauge().Name(name).Help(help).Register(*registry_);
    };
    gpu_util_ = gauge("phalanx_gpu_utilization_ratio",
                      "Fraction of the last sample period a kernel ran on the GPU (NVML).");
    gpu_mem_used_ = gauge("phalanx_gpu_memory_used_bytes", "GPU memory in use, all processes.");
    gpu_mem_total_ = gauge("phalanx_gpu_memory_total_bytes", "GPU memory in all.");
    gpu_temp_ = gauge("phalanx_gpu_temperature_celsius", "GPU core temperature.");
    gpu_power_ = gauge("phalanx_gpu_power_watts", "GPU board power draw.");
    gpu_healthy_ = gauge("phalanx_gpu_healthy",
                         "1 while the engine runs; 0 after a failed step (sticky CUDA error).");
  }
}

void Metrics::RefreshGpu(const engine::EngineStats* stats) {
  if (nvml_ == nullptr) return;
  for (const GpuSample& s : nvml_->Sample()) {
    const std::map<std::string, std::string> label{{"gpu", std::to_string(s.index)}};
    auto set = [&label](prometheus::Family<prometheus::Gauge>* f, double v) {
      if (v >= 0) f->Add(label).Set(v);
    };
    set(gpu_util_, s.utilization_ratio);
    set(gpu_mem_used_, s.memory_used_bytes);
    set(gpu_mem_total_, s.memory_total_bytes);
    set(gpu_temp_, s.temperature_celsius);
    set(gpu_power_, s.power_watts);
    if (stats != nullptr) gpu_healthy_->Add(label).Set(stats->failed ? 0 : 1);
  }
}

void Metrics::RequestFinished(const std::string& rpc, const std::string& code, double seconds) {
  requests_.Add({{"rpc", rpc}, {"code", code}}).Increment();
  if (rpc.find("enerate") != std::string::npos || rpc.rfind("http_", 0) == 0) {
    duration_.Add({{"rpc", rpc}}, LatencyBuckets()).Observe(seconds);
  }
}
void Metrics::FirstToken(double s) { ttft_.Observe(s); }
void Metrics::InterToken(double s) { itl_.Observe(s); }
void Metrics::QueueWait(double s) { queue_wait_.Observe(s); }
void Metrics::Tokens(int64_t prompt, int64_t generated) {
  prompt_tokens_.Increment(static_cast<double>(prompt));
  generation_tokens_.Increment(static_cast<double>(generated));
}
void Metrics::EmbeddingTokens(int64_t tokens) {
  embedding_tokens_.Increment(static_cast<double>(tokens));
}
void Metrics::Rejected(RejectReason r) {
  rejected_.Add({{"reason", RejectReasonName(r)}}).Increment();
}
void Metrics::Degraded(DegradedReason r) {
  degraded_.Add({{"reason", DegradedReasonName(r)}}).Increment();
}
void Metrics::Goodput() { goodput_.Increment(); }
void Metrics::Feedback(int rating) {
  feedback_.Add({{"rating", rating < 0   ? "negative"
                            : rating > 0 ? "positive"
                                         : "neutral"}})
      .Increment();
}
void Metrics::IgnoredField(const std::string& label) {
  ignored_fields_.Add({{"field", label}}).Increment();
}
void Metrics::DeclareIgnoredFields(const std::vector<std::string>& labels) {
  for (const std::string& l : labels) ignored_fields_.Add({{"field", l}});
}
void Metrics::AuditSuppressed() { audit_suppressed_.Increment(); }
void Metrics::EngineStep(double seconds) { step_.Observe(seconds); }
void Metrics::SetReady(bool ready) { ready_.Set(ready ? 1 : 0); }

void Metrics::RefreshProcess() {
  std::ifstream st("/proc/self/stat");
  std::string s((std::istreambuf_iterator<char>(st)), {});
  const size_t rp = s.rfind(')');
  if (rp != std::string::npos) {
    std::istringstream in(s.substr(rp + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    long rss_pages = 0;
    // Fields after the command: 3 state ... 14 utime 15 stime ... 24 rss.
    for (int i = 3; i <= 24 && in >> f; ++i) {
      if (i == 14) utime = std::stoull(f);
      if (i == 15) stime = std::stoull(f);
      if (i == 24) rss_pages = std::stol(f);
    }
    CatchUp(cpu_seconds_, static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK));
    rss_.Set(static_cast<double>(rss_pages) * sysconf(_SC_PAGESIZE));
  }
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
    n -= 3;  // ".", ".." and the directory's own descriptor
  }
  fds_.Set(n);
}

void Metrics::RefreshEngine(const engine::EngineStats& s, int admission_queued) {
  running_.Set(s.running);
  waiting_.Set(s.waiting + admission_queued);
  kv_usage_.Set(s.kv_usage());
  kv_blocks_.Add({{"state", "free"}}).Set(s.blocks_free);
  kv_blocks_.Add({{"state", "cached"}}).Set(s.blocks_cached);
  kv_blocks_.Add({{"state", "used"}}).Set(s.blocks_used);
  CatchUp(prefix_queries_, static_cast<double>(s.prefix_queries));
  CatchUp(prefix_hits_, static_cast<double>(s.prefix_hits));
  CatchUp(preemptions_, static_cast<double>(s.preemptions));
  CatchUp(steps_, static_cast<double>(s.steps));
}

std::string Metrics::Scrape(const engine::EngineStats* stats, int admission_queued) {
  std::lock_guard<std::mutex> l(mu_);
  RefreshProcess();
  RefreshGpu(stats);
  if (stats != nullptr) RefreshEngine(*stats, admission_queued);
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace phx::server
