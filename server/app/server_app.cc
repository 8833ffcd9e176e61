#include "server/app/server_app.h"

#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <thread>

#include "base/status.h"
#include "base/strings.h"
#include "server/app/logging.h"
#include "server/app/tls.h"
#include "server/audit/log_strings.h"
#include "server/http/openai_fields.h"
#include "spdlog/spdlog.h"

namespace phx::server {

void BlockServerSignals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
}

net::HttpLimits HttpLimitsOf(const ServeConfig& c) {
  net::HttpLimits l;
  l.header_timeout = net::Seconds(c.header_timeout_s);
  l.body_timeout = net::Seconds(c.body_timeout_s);
  l.idle_timeout = net::Seconds(c.keepalive_timeout_s);
  l.max_header_bytes = static_cast<uint32_t>(c.max_header_bytes);
  l.max_header_count = static_cast<uint32_t>(c.max_header_count);
  l.max_body_bytes = static_cast<uint64_t>(c.max_body_bytes);
  l.max_connections = c.max_connections;
  l.max_queued_bytes = static_cast<size_t>(c.stream_buffer_bytes);
  return l;
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

ServerApp::ServerApp(ServeConfig cfg) : cfg_(std::move(cfg)) {}

ServerApp::~ServerApp() {
  if (!drained_) Drain();
}

std::shared_ptr<const ApiKeyStore> ServerApp::keys() const {
  std::lock_guard<std::mutex> l(keys_mu_);
  return keys_;
}

absl::Status ServerApp::Start() {
  PHX_RETURN_IF_ERROR(cfg_.Validate());
  std::optional<TlsMaterial> tls;
  if (!cfg_.tls_cert.empty()) {
    auto t = LoadTls(cfg_.tls_cert, cfg_.tls_key, cfg_.tls_client_ca);
    if (!t.ok()) return t.status();
    tls = std::move(*t);
  }
  if (!cfg_.api_keys.empty()) {
    auto k = ApiKeyStore::Load(cfg_.api_keys);
    if (!k.ok()) return k.status();
    keys_ = *k;
  }
  if (!cfg_.audit_log.empty()) {
    auto a =
        AuditLog::Open(cfg_.audit_log, cfg_.audit_include_text,
                       std::max(kMinLoggedTextBytes,
                                static_cast<size_t>(std::max<int64_t>(0, cfg_.max_prompt_bytes))));
    if (!a.ok()) return a.status();
    audit_ = std::move(*a);
  }
  auto rt = cli::BuildRuntime(cfg_.runtime);
  if (!rt.ok()) return rt.status();
  runtime_ = std::move(*rt);
  engine::Engine& eng = *runtime_.engine;
  FrontendLimits fl;
  fl.max_prompt_bytes = cfg_.max_prompt_bytes;
  fl.max_grammar_bytes = cfg_.max_grammar_bytes;
  fl.json_max_whitespace = cfg_.json_max_whitespace;
  fl.max_prompt_tokens = cfg_.max_prompt_tokens;
  fl.max_tokens = cfg_.max_tokens_limit;
  fl.reasoning_budget = cfg_.reasoning_budget;
  // Structured output: the vocabulary's byte tries are built once per model, here.
  grammar_ = grammar::GrammarEngine::FromTokenizer(eng.model().tokenizer());
  frontend_ =
      std::make_unique<Frontend>(eng, std::string(runtime_.backend->name()), fl, grammar_.get());
  const std::string model_name = frontend_->ModelInfo().name;
  metrics_ = std::make_unique<Metrics>(
      BuildInfo{"0.1.0", std::string(runtime_.backend->name()), model_name});
  eng.SetStepObserver([m = metrics_.get(), hook = cfg_.step_hook_for_testing](double s) {
    m->EngineStep(s);
    if (hook) hook(s);
  });
  limiter_ = std::make_unique<RateLimiter>(RateLimits{cfg_.rate_limit_rps, cfg_.rate_limit_tpm});
  admission_ = std::make_unique<AdmissionQueue>(cfg_.max_inflight, cfg_.max_queue);
  if (cfg_.response_cache_mb > 0) {
    cache_ = std::make_unique<ResponseCache>(static_cast<size_t>(cfg_.response_cache_mb) << 20,
                                             std::chrono::seconds(cfg_.response_cache_ttl_s));
  }
  GateConfig gc;
  gc.degraded_cache = cfg_.degraded_mode == "cache";
  gc.slo_ttft_s = cfg_.slo_ttft_ms / 1e3;
  gc.slo_itl_s = cfg_.slo_itl_ms / 1e3;
  gc.slo_e2e_s = cfg_.slo_e2e_ms / 1e3;
  gc.model_id = cfg_.runtime.model;
  gc.max_priority = cfg_.max_priority;
  gc.audit_unauth_rps = cfg_.audit_unauth_rps;
  gate_ = std::make_unique<Gate>(
      *frontend_, *metrics_, *limiter_, *admission_, cache_.get(), audit_.get(),
      [this] { return keys(); }, gc);
  HealthConfig hc;
  hc.step_timeout_s = cfg_.step_timeout_s;
  hc.canary_interval_s = cfg_.canary_interval_s;
  hc.slo_ttft_s = cfg_.slo_ttft_ms / 1e3;
  hc.kv_headroom = cfg_.kv_headroom;
  health_ = std::make_unique<HealthMonitor>(eng, *admission_, *gate_, *metrics_, hc);

  // Probes first, so /startupz answers (503) while the warm-up runs.
  probes_ = std::make_unique<ProbeServer>(*health_, [this] {
    const engine::EngineStats s = runtime_.engine->stats();
    return metrics_->Scrape(&s, admission_->queued());
  });
  if (cfg_.http_port != 0 || cfg_.ephemeral_ports) {
    ProbeServerOptions po;
    po.probe_host = cfg_.probe_host.empty() ? cfg_.host : cfg_.probe_host;
    po.metrics_host = cfg_.metrics_host.empty() ? cfg_.host : cfg_.metrics_host;
    po.port = cfg_.http_port;
    po.limits = HttpLimitsOf(cfg_);
    PHX_RETURN_IF_ERROR(probes_->Start(po));
  }
  eng.Start();
  if (absl::Status s = health_->WarmUp(); !s.ok()) {
    return Annotate(s, "warm-up forward failed");
  }
  {
    // One chat template for gRPC's Chat prompts and the HTTP chat endpoints.
    chat::ChatRendererOptions co;
    co.template_arg = cfg_.chat_template;
    PHX_ASSIGN_OR_RETURN(co.reasoning, chat::ParseReasoningFormat(cfg_.reasoning_format));
    const auto& model = runtime_.engine->model();
    auto renderer =
        chat::ChatRenderer::Create(model.tokenizer(), chat::GgufChatTemplate(model.file()), co);
    if (!renderer.ok()) return renderer.status();
    chat_ = std::make_unique<chat::ChatRenderer>(std::move(*renderer));
    if (chat_->available()) {
      spdlog::info("chat template: {}{}", chat_->origin(),
                   chat_->splits_reasoning() ? " (thinks: reasoning_content)" : "");
    } else {
      spdlog::warn("chat requests will be refused: {}", chat_->problem());
    }
  }
  service_ = std::make_unique<grpcapi::GenerationService>(*gate_, chat_.get());
  GrpcServerOptions go;
  go.address = StrCat(cfg_.host, ":", cfg_.grpc_port);
  if (tls) go.credentials = GrpcCredentials(*tls);
  go.reflection = cfg_.grpc_reflection;
  auto g = StartGrpcServer(go, {service_.get()});
  if (!g.ok()) return g.status();
  grpc_ = std::move(*g);
  health_->Start(grpc_.server->GetHealthCheckService());
  if (cfg_.api_port != 0 || cfg_.ephemeral_ports) {
    ApiServerOptions ao;
    ao.host = cfg_.host;
    ao.port = cfg_.api_port;
    ao.threads = cfg_.api_threads;
    ao.limits = HttpLimitsOf(cfg_);
    ao.tls = tls;
    ao.chat = chat_.get();
    ao.served_model_names = cfg_.served_model_names;
    ao.lenient = cfg_.lenient_api;
    metrics_->DeclareIgnoredFields(IgnoredFieldLabels());
    ao.on_ignored_field = [m = metrics_.get()](const std::string& label) {
      m->IgnoredField(label);
    };
    api_ = std::make_unique<ApiServer>(*gate_, health_.get(), std::move(ao));
    PHX_RETURN_IF_ERROR(api_->Start());
  }
  if (cfg_.lb_agent_port != 0 || cfg_.ephemeral_ports) {
    lb_ = std::make_unique<LbAgent>([this] {
      const engine::EngineStats s = runtime_.engine->stats();
      const double queue = admission_->max_inflight() > 0
                               ? static_cast<double>(gate_->active()) / admission_->max_inflight()
                               : 0;
      return AgentAnswer(health_->Live().ok, health_->draining() || gate_->draining(),
                         std::max(queue, s.kv_usage()));
    });
    PHX_RETURN_IF_ERROR(lb_->Start(cfg_.host, cfg_.lb_agent_port));
  }
  health_->MarkServing();
  poller_ = std::thread([this] {
    while (!stopping_) {
      admission_->Poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  if (!keys_ && !IsLoopbackHost(cfg_.host)) {
    spdlog::warn(
        "authentication is off (no --api-keys) and the API listens on {}: anyone who can reach "
        "it can generate; bind --host 127.0.0.1 or set --api-keys (docs/security.md)",
        cfg_.host);
  }
  spdlog::info("serving {} | gRPC {}:{}{} | probes+metrics :{}{}{}", model_name, cfg_.host,
               grpc_.port, tls ? (tls->mutual() ? " (mTLS)" : " (TLS)") : "", http_port(),
               api_ ? StrCat(" | OpenAI API :", api_->port()) : std::string(),
               lb_ ? StrCat(" | lb agent :", lb_->port()) : std::string());
  return absl::OkStatus();
}

void ServerApp::Reload() {
  if (!cfg_.api_keys.empty()) {
    auto k = ApiKeyStore::Load(cfg_.api_keys);
    if (k.ok()) {
      std::lock_guard<std::mutex> l(keys_mu_);
      keys_ = *k;
      spdlog::info("reloaded {} API keys from {}", (*k)->keys().size(), cfg_.api_keys);
    } else {
      spdlog::error("API key reload failed, keeping the old keys: {}", k.status().message());
    }
  }
  if (absl::Status s = ReloadLimits(cfg_); !s.ok()) {
    spdlog::error("limit reload failed, keeping the old limits: {}", s.message());
    return;
  }
  limiter_->SetDefaults({cfg_.rate_limit_rps, cfg_.rate_limit_tpm});
  admission_->Reconfigure(cfg_.max_inflight, cfg_.max_queue);
  if (audit_) (void)audit_->Reopen();
}

void ServerApp::Run() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  while (true) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      Reload();
      continue;
    }
    spdlog::info("signal {}: draining (timeout {} s)", sig, cfg_.drain_timeout_s);
    Drain();
    return;
  }
}

void ServerApp::Drain() {
  if (drained_) return;
  drained_ = true;
  if (gate_) {
    if (health_) health_->OnDrain();
    if (cfg_.drain_grace_s > 0) {
      // Load balancers see /readyz 503, gRPC NOT_SERVING and the agent's `drain` now; requests
      // they still send meanwhile are served rather than refused.
      spdlog::info("draining: still admitting for {} s while load balancers notice",
                   cfg_.drain_grace_s);
      std::this_thread::sleep_for(std::chrono::duration<double>(cfg_.drain_grace_s));
    }
    gate_->StartDrain();
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(cfg_.drain_timeout_s));
    while (gate_->active() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (gate_->active() > 0) {
      spdlog::warn("drain timeout: {} requests still in flight are ended", gate_->active());
      // Queued and running requests end now with UNAVAILABLE (gRPC status, HTTP error event),
      // audited as such, so clients retry elsewhere instead of seeing a cut stream.
      gate_->AbortAll(absl::UnavailableError(
          StrCat("server shutting down: drain timeout (", cfg_.drain_timeout_s, " s)")));
    }
  }
  // Requests have finished (or the drain timed out): close the API listener and its streams.
  if (api_) api_->Stop();
  stopping_ = true;
  if (poller_.joinable()) poller_.join();
  if (grpc_.server)
    grpc_.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (health_) health_->Stop();
  if (runtime_.engine) runtime_.engine->Stop();
  if (grpc_.server) grpc_.server->Wait();
  if (lb_) lb_->Stop();
  if (probes_) probes_->Stop();
  spdlog::info("stopped");
}

}  // namespace phx::server
