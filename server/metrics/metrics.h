// The server's Prometheus metrics (names and labels: docs/metrics.md, the contract), built on
// prometheus-cpp's registry and text serializer. Engine and process gauges are refreshed when
// /metrics is scraped.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "runtime/engine/engine.h"
#include "server/metrics/nvml.h"

namespace phx::server {

enum class RejectReason { kRateLimit, kQueueFull, kTooLong, kUnauthenticated, kDraining, kInvalid };
const char* RejectReasonName(RejectReason r);
enum class DegradedReason { kOverload, kDraining, kEngineFailed };
const char* DegradedReasonName(DegradedReason r);

struct BuildInfo {
  std::string version, backend, model;
};

class Metrics {
 public:
  explicit Metrics(const BuildInfo& info);

  void RequestFinished(const std::string& rpc, const std::string& code, double seconds);
  void FirstToken(double ttft_s);
  void InterToken(double gap_s);
  void QueueWait(double s);
  void Tokens(int64_t prompt, int64_t generated);
  // An embedding request's input tokens (not in the prompt-token counter).
  void EmbeddingTokens(int64_t tokens);
  void Rejected(RejectReason r);
  void Degraded(DegradedReason r);
  void Goodput();
  void Feedback(int rating);  // -1, 0, 1
  // A request field the API accepted but ignored (docs/api.md's harmless list, or an unknown
  // field under --lenient-api). `label` comes from a bounded set (the caller maps unknown names
  // to "other"); DeclareIgnoredFields makes each label's series exist from the start at 0.
  void IgnoredField(const std::string& label);
  void DeclareIgnoredFields(const std::vector<std::string>& labels);
  // An unauthenticated failure left out of the audit log (over --audit-unauth-rps).
  void AuditSuppressed();
  void EngineStep(double seconds);
  void SetReady(bool ready);

  // Text exposition of every metric, after refreshing the engine (when given), admission and
  // process gauges.
  std::string Scrape(const engine::EngineStats* stats, int admission_queued);

  prometheus::Registry& registry() { return *registry_; }

 private:
  void RefreshProcess();
  void RefreshEngine(const engine::EngineStats& s, int admission_queued);
  void RefreshGpu(const engine::EngineStats* s);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Histogram& ttft_;
  prometheus::Histogram& itl_;
  prometheus::Histogram& queue_wait_;
  prometheus::Histogram& step_;
  prometheus::Counter& prompt_tokens_;
  prometheus::Counter& generation_tokens_;
  prometheus::Counter& embedding_tokens_;
  prometheus::Gauge& running_;
  prometheus::Gauge& waiting_;
  prometheus::Gauge& kv_usage_;
  prometheus::Family<prometheus::Gauge>& kv_blocks_;
  prometheus::Counter& prefix_queries_;
  prometheus::Counter& prefix_hits_;
  prometheus::Counter& preemptions_;
  prometheus::Counter& steps_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& degraded_;
  prometheus::Counter& goodput_;
  prometheus::Family<prometheus::Counter>& feedback_;
  prometheus::Family<prometheus::Counter>& ignored_fields_;
  prometheus::Counter& audit_suppressed_;
  prometheus::Gauge& ready_;
  prometheus::Counter& cpu_seconds_;
  prometheus::Gauge& rss_;
  prometheus::Gauge& fds_;
  prometheus::Gauge& start_time_;
  // phalanx_gpu_*: registered only when NVML loads (null otherwise).
  std::unique_ptr<Nvml> nvml_;
  prometheus::Family<prometheus::Gauge>* gpu_util_ = nullptr;
  prometheus::Family<prometheus::Gauge>* gpu_mem_used_ = nullptr;
  prometheus::Family<prometheus::Gauge>* gpu_mem_total_ = nullptr;
  prometheus::Family<prometheus::Gauge>* gpu_temp_ = nullptr;
  prometheus::Family<prometheus::Gauge>* gpu_power_ = nullptr;
  prometheus::Family<prometheus::Gauge>* gpu_healthy_ = nullptr;

  std::mutex mu_;  // serializes scrapes (delta bookkeeping below)
};

}  // namespace phx::server
