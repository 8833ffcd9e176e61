// The OpenAI-compatible HTTP API (--api-port): POST /v1/completions, POST /v1/chat/completions
// (JSON or server-sent events), GET /v1/models, GET /health. Generation goes through the Gate
// like gRPC does (auth, rate limits, admission, degraded cache, metrics, audit). cpp-httplib
// serves each connection on its own thread (a stream waits on a condition variable for the
// engine's tokens), from a pool that grows up to --api-threads; TLS and mTLS with the same
// material as gRPC.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "server/app/tls.h"
#include "server/core/gate.h"
#include "server/health/health.h"
#include "server/http/chat_template.h"
#include "server/http/openai_json.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace phx::server {

class HttpCall;
struct ResponseContext;

struct ApiServerOptions {
  std::string host = "0.0.0.0";
  int port = 8000;     // 0: any free port
  int threads = 1024;  // most connections served at once (each SSE stream holds one)
  std::optional<TlsMaterial> tls;
  std::string chat_template;  // --chat-template: a template name or a Jinja file
};

class ApiServer {
 public:
  // `health` (may be null) answers /health.
  ApiServer(Gate& gate, HealthMonitor* health, ApiServerOptions opts);
  ~ApiServer();
  // Resolves the chat template (a bad --chat-template is an error), binds host:port and
  // serves on a background thread.
  absl::Status Start();
  // Ends streams still open (the caller drains the gate first) and joins every thread.
  void Stop();
  int port() const { return port_; }
  // The served model id: the GGUF's general.name, else the file name.
  const std::string& model_id() const { return model_id_; }
  const ChatTemplate& chat_template() const { return chat_; }

 private:
  void Generate(const httplib::Request& req, httplib::Response& res, Endpoint ep);
  void Models(const httplib::Request& req, httplib::Response& res);
  void Health(httplib::Response& res);
  // Renders the chat messages into r->api's prompt; an error when there is no template.
  std::optional<ApiError> RenderChatPrompt(OpenAiRequest* r) const;
  void SendCached(httplib::Response& res, const HttpCall& call, ResponseContext ctx, bool stream);
  void SendStream(httplib::Response& res, std::shared_ptr<HttpCall> call, Gate::CallId id,
                  ResponseContext ctx);

  Gate& gate_;
  HealthMonitor* health_;
  ApiServerOptions opts_;
  ParseOptions parse_opts_;
  std::string model_id_;
  ChatTemplate chat_;
  ChatSpecials specials_;
  int64_t created_ = 0;
  std::unique_ptr<httplib::Server> srv_;
  std::thread thread_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace phx::server
