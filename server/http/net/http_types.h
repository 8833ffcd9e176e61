// The event-driven HTTP/1.1 layer's interface, free of Boost: what a handler sees of a request
// (HttpRequest), what it answers (HttpResponse, whole or streamed through an Exchange), and
// the per-connection limits (HttpLimits). The layer itself (http_server.h) runs on Boost.Beast
// over Asio in a few translation units; the OpenAI API and the probe listener only use this.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace phx::server::net {

using Seconds = std::chrono::duration<double>;

// Limits of one listener. Each has a flag (docs/configuration.md, docs/security.md).
struct HttpLimits {
  Seconds header_timeout{10};             // the request line and headers, from their first byte
  Seconds body_timeout{60};               // the whole body, from the end of the headers
  Seconds idle_timeout{30};               // a keep-alive connection waiting for its next request
  uint32_t max_header_bytes = 16 * 1024;  // request line + headers
  uint32_t max_header_count = 100;
  uint64_t max_body_bytes = 5 << 20;  // Content-Length or chunked, enforced while reading
  int max_connections = 4096;         // open connections per listener; beyond: 503
  // A connection counts as idle or slow for eviction (when the cap is reached) once it has
  // waited this long for its request head.
  Seconds evict_after{1};
  // Bytes of a streamed response queued for a client that does not read; past it the
  // connection is closed (and its request cancelled). Also each connection's SO_SNDBUF (the
  // kernel doubles it), so the kernel's share is bounded as well.
  size_t max_queued_bytes = 1 << 20;
};

struct Header {
  std::string name, value;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v1/models?x=1"
  std::string path;    // the target without its query
  std::vector<Header> headers;
  std::string body;   // empty until the body was read
  std::string peer;   // "address:port"
  std::string local;  // the local address the connection came in on (no port)
  // The first value of a header (case-insensitive name); "" when absent.
  std::string_view header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<Header> headers;  // besides Content-Type, Content-Length / Transfer-Encoding
  std::string body;
  bool close = false;  // close the connection after this response
};

// One request being answered; shared by the handler and the connection. Every method may be
// called from any thread: the work runs on the connection's strand, in call order.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const HttpRequest& request() const = 0;
  // A whole answer (ends the exchange).
  virtual void Respond(HttpResponse r) = 0;
  // A streamed answer (chunked): the status and headers, then Send()s, then End(). While
  // nothing was sent for `heartbeat`, `heartbeat_text` is sent (an SSE comment).
  virtual void BeginStream(HttpResponse head, Seconds heartbeat, std::string heartbeat_text) = 0;
  // Queues a chunk. False when the connection is gone, or when the client has not read
  // HttpLimits::max_queued_bytes already queued: then the connection is closed (OnAbort runs).
  virtual bool Send(std::string chunk) = 0;
  // The last chunk (may be empty) and the end of the stream.
  virtual void End(std::string last) = 0;
  // `f` runs once, on the strand, when the connection closes before the answer was complete
  // (the client reset or closed it, a write failed, a buffer cap was hit, the server stops);
  // at once when that already happened. Not after a complete answer.
  virtual void OnAbort(std::function<void()> f) = 0;
  // Runs `f` on the connection's strand.
  virtual void Post(std::function<void()> f) = 0;
  // Whether the connection is gone (may be stale by the time it is read).
  virtual bool aborted() const = 0;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called with the request line and headers before any body is read (body empty): an answer
  // to send without reading the body (a 401, a 404), or nullopt to read it and call Handle.
  // Runs on an I/O thread: must not block.
  virtual std::optional<HttpResponse> CheckHead(const HttpRequest& head) = 0;
  // The whole request was read. Runs on an I/O thread: hand slow work to another thread and
  // answer through the exchange from there.
  virtual void Handle(std::shared_ptr<Exchange> ex) = 0;
  // The body of an error answer the layer itself sends (400, 408, 413, 415, 431, 503).
  virtual std::string ErrorBody(int status, std::string_view message) = 0;
  // The server stops: end what is in flight (an SSE error event, a 503). Called once from
  // HttpServer::Stop before the connections are closed.
  virtual void OnStop() {}
};

// Standard reason phrase ("OK", "Not Found", ...).
std::string_view ReasonPhrase(int status);

}  // namespace phx::server::net
