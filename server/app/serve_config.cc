#include "server/app/serve_config.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/strings.h"
#include "runtime/chat/reasoning.h"
#include "runtime/chat/resolver.h"
#include "server/app/tls.h"
#include "server/auth/api_keys.h"
#include "yaml-cpp/yaml.h"

namespace phx::server {
namespace {

absl::Status Bad(std::string_view flag, std::string_view rule) {
  return absl::InvalidArgumentError(StrCat("--", flag, " ", rule));
}

absl::Status Readable(std::string_view flag, const std::string& path) {
  std::ifstream f(path);
  if (!f.good()) return absl::NotFoundError(StrCat("--", flag, ": cannot read ", path));
  return absl::OkStatus();
}

absl::Status PortFree(std::string_view flag, const std::string& host, int port) {
  if (port == 0) return absl::OkStatus();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  (void)host;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  if (!ok) return absl::UnavailableError(StrCat("--", flag, ": port ", port, " is in use"));
  return absl::OkStatus();
}

}  // namespace

absl::Status ServeConfig::Validate() const {
  for (auto [flag, port] : {std::pair{"grpc-port", grpc_port},
                            {"http-port", http_port},
                            {"api-port", api_port},
                            {"lb-agent-port", lb_agent_port}}) {
    if (port < 0 || port > 65535) return Bad(flag, "must be a port number (0..65535)");
  }
  if (http_port != 0 && (http_port == grpc_port || http_port == api_port)) {
    return Bad("http-port", "must differ from the gRPC and API ports");
  }
  if (api_port != 0 && api_port == grpc_port)
    return Bad("api-port", "must differ from --grpc-port");
  if (api_threads < 1 || api_threads > 64) {
    return Bad(
        "api-threads",
        "must be in [1, 64]: it counts I/O threads, not connections (see --max-connections)");
  }
  if (max_connections < 1 || max_connections > 1000000) {
    return Bad("max-connections", "must be in [1, 1000000]");
  }
  if (!(header_timeout_s > 0) || !(body_timeout_s > 0) || !(keepalive_timeout_s > 0)) {
    return Bad("header-timeout-s", ", --body-timeout-s and --keepalive-timeout-s must be > 0");
  }
  if (max_header_bytes < 1024 || max_header_bytes > (1 << 20)) {
    return Bad("max-header-bytes", "must be in [1024, 1048576]");
  }
  if (max_header_count < 8 || max_header_count > 10000) {
    return Bad("max-header-count", "must be in [8, 10000]");
  }
  if (max_body_bytes < 0) return Bad("max-body-bytes", "must be >= 0 (0: derived)");
  if (stream_buffer_bytes < 4096) return Bad("stream-buffer-bytes", "must be >= 4096");
  if (tls_cert.empty() != tls_key.empty()) return Bad("tls-cert", "and --tls-key go together");
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    return Bad("tls-client-ca", "needs --tls-cert and --tls-key");
  }
  if (max_priority < -1000 || max_priority > 1000) {
    return Bad("max-priority", "must be in [-1000, 1000]");
  }
  if (!(audit_unauth_rps >= 0)) return Bad("audit-unauth-rps", "must be >= 0");
  if (rate_limit_rps < 0) return Bad("rate-limit-rps", "must be >= 0");
  if (rate_limit_tpm < 0) return Bad("rate-limit-tpm", "must be >= 0");
  if (max_inflight < 1) return Bad("max-inflight", "must be >= 1");
  if (max_queue < 0) return Bad("max-queue", "must be >= 0");
  if (max_prompt_bytes < 1) return Bad("max-prompt-bytes", "must be >= 1");
  if (max_prompt_tokens < 0) return Bad("max-prompt-tokens", "must be >= 0");
  if (max_tokens_limit < 1) return Bad("max-tokens-limit", "must be >= 1");
  if (max_grammar_bytes < 1) return Bad("max-grammar-bytes", "must be >= 1");
  if (json_max_whitespace < 0 || json_max_whitespace > 256) {
    return Bad("json-max-whitespace", "must be in [0, 256]");
  }
  if (slo_ttft_ms <= 0) return Bad("slo-ttft-ms", "must be > 0");
  if (slo_itl_ms < 0 || slo_e2e_ms < 0) return Bad("slo-itl-ms", "and --slo-e2e-ms must be >= 0");
  if (kv_headroom < 0 || kv_headroom >= 1) return Bad("kv-headroom", "must be in [0, 1)");
  if (response_cache_mb < 0) return Bad("response-cache-mb", "must be >= 0");
  if (response_cache_ttl_s < 1) return Bad("response-cache-ttl-s", "must be >= 1");
  if (degraded_mode != "cache" && degraded_mode != "off") {
    return Bad("degraded-mode", "must be cache or off");
  }
  if (drain_timeout_s < 0) return Bad("drain-timeout-s", "must be >= 0");
  if (drain_grace_s < 0) return Bad("drain-grace-s", "must be >= 0");
  if (step_timeout_s <= 0) return Bad("step-timeout-s", "must be > 0");
  if (canary_interval_s <= 0) return Bad("canary-interval-s", "must be > 0");
  if (auto r = chat::ParseReasoningFormat(reasoning_format); !r.ok()) return r.status();
  if (reasoning_budget < -1) return Bad("reasoning-budget", "must be -1 (unlimited) or >= 0");
  for (const std::string& n : served_model_names) {
    if (n.empty() || n.size() > 256 || n.find_first_of(" \t\r\n") != std::string::npos) {
      return Bad("served-model-name", "names must be 1..256 bytes without blanks");
    }
  }
  if (log_format != "text" && log_format != "json")
    return Bad("log-format", "must be text or json");
  if (log_level != "debug" && log_level != "info" && log_level != "warn" && log_level != "error") {
    return Bad("log-level", "must be debug, info, warn or error");
  }
  if (runtime.kv_dtype != "f16" && runtime.kv_dtype != "bf16" && runtime.kv_dtype != "f32") {
    return Bad("kv-dtype", "must be f16, bf16 or f32");
  }
  if (!(runtime.gpu_memory_utilization > 0.f && runtime.gpu_memory_utilization <= 1.f)) {
    return Bad("gpu-memory-utilization", "must be in (0, 1]");
  }
  if (runtime.device != "auto" && runtime.device != "cpu" && runtime.device != "cuda") {
    return Bad("device", "must be auto, cpu or cuda");
  }
  if (runtime.max_batch < 1) return Bad("max-batch", "must be >= 1");
  if (!runtime.pooling.empty() && runtime.pooling != "mean" && runtime.pooling != "cls" &&
      runtime.pooling != "last") {
    return Bad("pooling", "must be mean, cls or last");
  }
  if (runtime.kv_cache_mb < 1) return Bad("kv-cache-mb", "must be >= 1");
  return absl::OkStatus();
}

absl::Status ServeConfig::Check() const {
  if (absl::Status s = Validate(); !s.ok()) return s;
  if (runtime.model.empty()) return Bad("model", "is required");
  if (absl::Status s = Readable("model", runtime.model); !s.ok()) return s;
  if (!tls_cert.empty()) {
    auto t = LoadTls(tls_cert, tls_key, tls_client_ca);
    if (!t.ok()) return t.status();
  }
  if (!api_keys.empty()) {
    auto k = ApiKeyStore::Load(api_keys);
    if (!k.ok()) return k.status();
  }
  if (!chat_template.empty()) {
    auto t = chat::ResolveChatTemplate(chat_template, std::nullopt);
    if (!t.ok()) return t.status();
  }
  if (!audit_log.empty() && audit_log != "-") {
    const auto dir = std::filesystem::path(audit_log).parent_path();
    if (!dir.empty() && !std::filesystem::is_directory(dir)) {
      return absl::NotFoundError(
          StrCat("--audit-log: directory ", dir.string(), " does not exist"));
    }
  }
  for (auto [flag, port] : {std::pair{"grpc-port", grpc_port},
                            {"http-port", http_port},
                            {"api-port", api_port},
                            {"lb-agent-port", lb_agent_port}}) {
    if (absl::Status s = PortFree(flag, host, port); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ReloadLimits(ServeConfig& cfg) {
  if (cfg.config_file.empty()) return absl::OkStatus();
  try {
    const YAML::Node y = YAML::LoadFile(cfg.config_file);
    auto set = [&](const char* key, auto* field) {
      if (cfg.fixed.count(key) == 0 && y[key]) *field = y[key].as<std::decay_t<decltype(*field)>>();
    };
    set("rate_limit_rps", &cfg.rate_limit_rps);
    set("rate_limit_tpm", &cfg.rate_limit_tpm);
    set("max_inflight", &cfg.max_inflight);
    set("max_queue", &cfg.max_queue);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat(cfg.config_file, ": ", e.what()));
  }
  return cfg.Validate();
}

}  // namespace phx::server
