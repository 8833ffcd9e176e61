#include "server/http/probe_server.h"

#include <arpa/inet.h>
#include <netdb.h>

#include "base/strings.h"
#include "nlohmann/json.hpp"

namespace phx::server {
namespace {

// The numeric address of `host` ("" for a wildcard or a name that does not resolve).
std::string NumericAddress(const std::string& host) {
  if (IsWildcardHost(host)) return "";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return host;
  char buf[INET6_ADDRSTRLEN] = {};
  if (res->ai_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof(buf));
  } else {
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, buf,
                sizeof(buf));
  }
  ::freeaddrinfo(res);
  return buf;
}

net::HttpResponse Answer(int status, std::string body, std::string type = "application/json") {
  net::HttpResponse r;
  r.status = status;
  r.content_type = std::move(type);
  r.body = std::move(body);
  return r;
}

}  // namespace

bool IsWildcardHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

ProbeServer::ProbeServer(HealthMonitor& health, std::function<std::string()> scrape)
    : health_(health), scrape_(std::move(scrape)) {}

ProbeServer::~ProbeServer() { Stop(); }

absl::Status ProbeServer::Start(const ProbeServerOptions& opts) {
  net::HttpServerOptions o;
  o.name = "probe";
  o.port = opts.port;
  o.threads = 1;  // probes are answered inline; /metrics renders on scraper_
  o.limits = opts.limits;
  o.limits.max_body_bytes = 0;  // GET only: a body is refused
  const bool same = NumericAddress(opts.probe_host) == NumericAddress(opts.metrics_host);
  if (same || IsWildcardHost(opts.probe_host)) {
    o.hosts = {opts.probe_host};
  } else if (IsWildcardHost(opts.metrics_host)) {
    o.hosts = {opts.metrics_host};
  } else {
    o.hosts = {opts.probe_host, opts.metrics_host};
  }
  probe_addr_ = NumericAddress(opts.probe_host);
  metrics_addr_ = NumericAddress(opts.metrics_host);
  scraper_ = std::make_unique<Executor>(1);
  http_ = std::make_unique<net::HttpServer>(std::move(o), *this);
  if (absl::Status s = http_->Start(); !s.ok()) return s;
  port_ = http_->port();
  return absl::OkStatus();
}

void ProbeServer::Stop() {
  if (http_) http_->Stop();
  scraper_.reset();
}

net::HttpServerStats ProbeServer::stats() const {
  return http_ ? http_->stats() : net::HttpServerStats{};
}

bool ProbeServer::Serves(const std::string& addr, const std::string& local) const {
  return addr.empty() || addr == local;
}

std::optional<net::HttpResponse> ProbeServer::CheckHead(const net::HttpRequest& h) {
  auto probe = [](const Probe& p) { return Answer(p.ok ? 200 : 503, p.Json()); };
  if (h.method == "GET") {
    if (Serves(probe_addr_, h.local)) {
      if (h.path == "/livez") return probe(health_.Live());
      if (h.path == "/readyz") return probe(health_.Ready());
      if (h.path == "/startupz") return probe(health_.Startup());
    }
    if (h.path == "/metrics" && Serves(metrics_addr_, h.local)) {
      return std::nullopt;  // rendered off the I/O thread (Handle)
    }
  }
  return Answer(404, ErrorBody(404, StrCat("no route ", h.path)));
}

void ProbeServer::Handle(std::shared_ptr<net::Exchange> ex) {
  scraper_->Post([this, ex = std::move(ex)] {
    if (ex->aborted()) return;
    ex->Respond(Answer(200, scrape_(), "text/plain; version=0.0.4; charset=utf-8"));
  });
}

std::string ProbeServer::ErrorBody(int status, std::string_view message) {
  return nlohmann::json({{"ok", false}, {"status", status}, {"error", std::string(message)}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace phx::server
