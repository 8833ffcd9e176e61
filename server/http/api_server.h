// The OpenAI-compatible HTTP API (--api-port): POST /v1/completions, POST /v1/chat/completions,
// POST /v1/embeddings (embeddings_api.h)
// (JSON or server-sent events; the model's chat template, reasoning_content for thinking
// templates), POST /v1/responses (stateless; responses_json.h), GET /v1/models, GET /health,
// llama-server's POST /tokenize, /detokenize and /apply-template, and Anthropic's POST /v1/messages
// and /v1/messages/count_tokens. Generation goes through the Gate like gRPC does (auth, rate
// limits, admission, degraded cache, metrics, audit). Served by the event-driven HTTP layer
// (server/http/net): a few I/O threads hold every connection, the API key is checked from the
// headers before a body is read, request parsing and admission run on as many request threads, and
// a stream costs no thread (HttpCall). TLS and mTLS with the same material as gRPC.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "runtime/chat/chat_renderer.h"
#include "server/app/tls.h"
#include "server/core/executor.h"
#include "server/core/gate.h"
#include "server/health/health.h"
#include "server/http/anthropic_json.h"
#include "server/http/net/http_server.h"
#include "server/http/openai_json.h"

namespace phx::server {

class HttpCall;
class EmbeddingsCall;

struct ApiServerOptions {
  std::string host = "0.0.0.0";
  int port = 8000;         // 0: any free port
  int threads = 2;         // I/O threads, and as many request threads
  net::HttpLimits limits;  // max_body_bytes 0: 4 x max_prompt_bytes + 1 MiB
  std::optional<TlsMaterial> tls;
  // The server's chat template (ServerApp owns it and shares it with gRPC); null: chat
  // requests are refused.
  const chat::ChatRenderer* chat = nullptr;
  // --served-model-name: names accepted besides the model's own id; the first is the id
  // reported (/v1/models, responses' `model`).
  std::vector<std::string> served_model_names;
  // --lenient-api: unknown request fields are ignored instead of refused.
  bool lenient = false;
  // Called once per ignored field of a request (its bounded metric label); may be empty.
  std::function<void(const std::string& label)> on_ignored_field;
};

class ApiServer final : public net::HttpHandler {
 public:
  // `health` (may be null) answers /health.
  ApiServer(Gate& gate, HealthMonitor* health, ApiServerOptions opts);
  ~ApiServer() override;
  // Binds host:port and serves.
  absl::Status Start();
  // Closes the listener, ends open streams with an error event and requests in flight with a
  // 503 (the caller drains the gate first), and joins every thread.
  void Stop();
  int port() const { return port_; }
  net::HttpServerStats stats() const;
  // The served model id: the first --served-model-name, else the GGUF's general.name, else
  // the file name.
  const std::string& model_id() const { return model_id_; }
  // The chat template (may be null).
  const chat::ChatRenderer* chat() const { return opts_.chat; }

  // net::HttpHandler.
  std::optional<net::HttpResponse> CheckHead(const net::HttpRequest& head) override;
  void Handle(std::shared_ptr<net::Exchange> ex) override;
  std::string ErrorBody(int status, std::string_view message) override;
  void OnStop() override;

 private:
  // responses: POST /v1/responses (the chat path, answered in the Responses API's shape).
  void Generate(const std::shared_ptr<net::Exchange>& ex, Endpoint ep, bool responses);
  // Anthropic's POST /v1/messages and /v1/messages/count_tokens (anthropic_api.cc).
  void Messages(const std::shared_ptr<net::Exchange>& ex, AnthropicEndpoint ep);
  net::HttpResponse Models(const net::HttpRequest& req, std::string_view id);
  net::HttpResponse Health();
  // Whether `name` is the model's id or one of its --served-model-name aliases.
  bool ServesModel(std::string_view name) const;
  // Renders the chat body into r->api's prompt (user text as plain spans; r->api.in_reasoning:
  // the prompt opened a think block); an error when there is no template or the template
  // refuses the conversation.
  std::optional<ApiError> RenderChatPrompt(OpenAiRequest* r) const;
  // /tokenize, /detokenize, /apply-template.
  void Utility(const std::shared_ptr<net::Exchange>& ex);
  void Track(const std::shared_ptr<HttpCall>& call);
  // POST /v1/embeddings (embeddings_api.h).
  void Embeddings(const std::shared_ptr<net::Exchange>& ex);

  Gate& gate_;
  HealthMonitor* health_;
  ApiServerOptions opts_;
  ParseOptions parse_opts_;
  std::string model_id_;
  std::vector<std::string> model_names_;  // every accepted name, model_id_ first
  int64_t created_ = 0;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex calls_mu_;
  std::unordered_map<HttpCall*, std::weak_ptr<HttpCall>> calls_;
  size_t prune_at_ = 64;
  std::vector<std::weak_ptr<EmbeddingsCall>> embed_calls_;  // guarded by calls_mu_
  std::atomic<uint64_t> next_prompt_group_{1};              // ApiRequest::prompt_group of n > 1
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<Executor> workers_;  // last: joined first
};

}  // namespace phx::server
