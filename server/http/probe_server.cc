#include "server/http/probe_server.h"

#include "base/strings.h"
#include "httplib.h"

namespace phx::server {

ProbeServer::ProbeServer(HealthMonitor& health, std::function<std::string()> scrape)
    : health_(health), scrape_(std::move(scrape)), srv_(std::make_unique<httplib::Server>()) {}

ProbeServer::~ProbeServer() { Stop(); }

absl::Status ProbeServer::Start(const std::string& host, int port) {
  // A fixed pool of 4 threads: probes and scrapes are short; nothing else uses this listener.
  srv_->new_task_queue = [] { return new httplib::ThreadPool(4); };
  srv_->set_tcp_nodelay(true);
  srv_->set_keep_alive_max_count(100);
  auto probe = [](const Probe& p, httplib::Response& res) {
    res.status = p.ok ? 200 : 503;
    res.set_content(p.Json(), "application/json");
  };
  srv_->Get("/livez", [this, probe](const httplib::Request&, httplib::Response& res) {
    probe(health_.Live(), res);
  });
  srv_->Get("/readyz", [this, probe](const httplib::Request&, httplib::Response& res) {
    probe(health_.Ready(), res);
  });
  srv_->Get("/startupz", [this, probe](const httplib::Request&, httplib::Response& res) {
    probe(health_.Startup(), res);
  });
  srv_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(scrape_(), "text/plain; version=0.0.4; charset=utf-8");
  });
  port_ = port == 0 ? srv_->bind_to_any_port(host) : (srv_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0) {
    return absl::UnavailableError(StrCat("cannot listen for probes on ", host, ":", port));
  }
  thread_ = std::thread([this] { srv_->listen_after_bind(); });
  return absl::OkStatus();
}

void ProbeServer::Stop() {
  if (thread_.joinable()) {
    srv_->stop();
    thread_.join();
  }
}

}  // namespace phx::server
