// An event-driven HTTP/1.1 server (Boost.Beast over Asio, in http_server.cc and connection.cc
// only): a fixed number of I/O threads serve every connection of its listeners, each
// connection on its own strand, under the limits of HttpLimits: header and body deadlines, a
// header size and count cap, a body cap enforced while reading (chunked included), no
// compressed bodies, an idle timeout, a connection cap per listener (503 beyond it, after
// evicting connections that have waited longest for their request head), and a cap on the
// bytes queued for a client that does not read. Optional TLS (TLS 1.2 minimum, modern ciphers,
// mutual TLS with a client CA). The handler decides from the head alone whether the body is
// read at all.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/http/net/http_types.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace phx::server::net {

struct TlsConfig {
  std::string cert_pem, key_pem;  // the server's chain and key
  std::string client_ca_pem;      // non-empty: mutual TLS (a verified client certificate)
  // Sets the protocol versions and ciphers on the context (required: the server's one TLS
  // policy, server/app/tls.h's ApplyTlsPolicy).
  std::function<absl::Status(ssl_ctx_st*)> policy;
};

struct HttpServerOptions {
  std::string name = "http";       // for logs
  std::vector<std::string> hosts;  // one listener each, all on `port`
  int port = 0;                    // 0: any free port (the first listener's, for all)
  int threads = 1;                 // I/O threads
  HttpLimits limits;
  std::optional<TlsConfig> tls;
};

struct HttpServerStats {
  uint64_t accepted = 0;
  uint64_t refused = 0;    // answered 503 at the connection cap
  uint64_t evicted = 0;    // closed to make room at the cap
  uint64_t timed_out = 0;  // closed by a header, body or idle deadline
  int open = 0;            // connections open now
};

class HttpServer {
 public:
  // `handler` must outlive the server.
  HttpServer(HttpServerOptions opts, HttpHandler& handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every host (an error names the address) and starts the I/O threads.
  absl::Status Start();
  // Closes the listeners, lets the handler end what is in flight (HttpHandler::OnStop), sends
  // what is queued (for at most a second), closes every connection and joins the threads.
  void Stop();
  int port() const;
  HttpServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace phx::server::net
