// Everything `phalanx serve` is configured with (docs/configuration.md is the reference).
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/cli/setup.h"

namespace phx::server {

struct ServeConfig {
  cli::RuntimeOptions runtime;
  std::string config_file;  // the YAML the settings came from ("" if none)
  std::string host = "0.0.0.0";
  std::string probe_host;    // probes on --http-port; "" = host
  std::string metrics_host;  // /metrics on --http-port; "" = host
  int grpc_port = 50051;
  int http_port = 8080;
  int api_port = 8000;
  int api_threads = 2;  // API I/O threads (and as many request threads)
  // The HTTP listeners' limits (server/http/net/http_types.h; docs/security.md).
  int max_connections = 4096;  // per listener
  double header_timeout_s = 10;
  double body_timeout_s = 60;
  double keepalive_timeout_s = 30;
  int max_header_bytes = 16384;
  int max_header_count = 100;
  int64_t max_body_bytes = 0;  // 0: 4 x max_prompt_bytes + 1 MiB
  int64_t stream_buffer_bytes = 1 << 20;
  int lb_agent_port = 0;
  std::string tls_cert, tls_key, tls_client_ca;
  std::string api_keys;
  int max_priority = 0;  // with auth off: the highest request priority (keys: max_priority)
  bool grpc_reflection = false;
  double audit_unauth_rps = 10;  // unauthenticated failures audited per second (0: all)
  double rate_limit_rps = 0;
  double rate_limit_tpm = 0;
  int max_inflight = 256;
  int max_queue = 1024;
  int64_t max_prompt_bytes = 1 << 20;
  int max_prompt_tokens = 0;
  int max_tokens_limit = 4096;
  int64_t max_grammar_bytes = 64 << 10;  // structured output: schema/regex/grammar text
  int32_t json_max_whitespace = 1;       // blanks in a row between JSON tokens (schemas)
  double slo_ttft_ms = 2000;
  double slo_itl_ms = 200;
  double slo_e2e_ms = 0;
  double kv_headroom = 0.02;
  int64_t response_cache_mb = 64;
  int response_cache_ttl_s = 600;
  std::string degraded_mode = "cache";
  double drain_timeout_s = 30;
  double drain_grace_s = 0;  // after SIGTERM: not ready, yet still admitting, for this long
  double step_timeout_s = 30;
  double canary_interval_s = 30;
  std::string audit_log;
  bool audit_include_text = false;
  std::string log_format = "text";
  std::string log_level = "info";
  std::string chat_template;                  // OpenAI chat API: override the GGUF's template
  std::string reasoning_format = "deepseek";  // none | deepseek: reasoning_content for thinkers
  // Thinking token budget when a request names none: -1 unlimited, 0 thinking off (the
  // template's enable_thinking switch, and a block the prompt opened is closed at once).
  int32_t reasoning_budget = -1;
  // OpenAI API: ignore (and count) unknown request fields instead of answering 400.
  bool lenient_api = false;
  // OpenAI API: names the model answers to besides its own id; the first is the id reported
  // in /v1/models and responses (vLLM's --served-model-name).
  std::vector<std::string> served_model_names;
  bool check_config = false;
  // Not a flag: embedders and tests set it so that port 0 binds any free port instead of
  // turning the HTTP listeners off.
  bool ephemeral_ports = false;
  // Not a flag: tests set it to run code after every engine step (e.g. a sleep, so requests
  // stay in flight long enough to cancel or abort them). Installed before the engine starts.
  std::function<void(double step_seconds)> step_hook_for_testing;

  // Settings given by flag or environment: a SIGHUP reload of the YAML file leaves them alone.
  std::set<std::string> fixed;

  // Ranges and enums; errors name the flag.
  absl::Status Validate() const;
  // Validate plus what can be checked without loading the model: files readable, TLS
  // material parseable and matching, API-key file valid, ports free.
  absl::Status Check() const;
};

// Re-reads the reloadable limits (rate limits, in-flight and queue sizes) from the YAML file
// into `cfg`, except the keys in cfg.fixed.
absl::Status ReloadLimits(ServeConfig& cfg);

}  // namespace phx::server
