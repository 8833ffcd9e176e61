#include "server/http/net/http_server.h"

#include <pthread.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <thread>

#include "absl/status/statusor.h"
#include "openssl/ssl.h"
#include "server/http/net/connection.h"
#include "server/http/net/wire.h"
#include "spdlog/spdlog.h"

namespace phx::server::net {
namespace {

using error_code = boost::system::error_code;

absl::StatusOr<std::unique_ptr<asio::ssl::context>> MakeTls(const TlsConfig& t) {
  try {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression |
                     asio::ssl::context::single_dh_use);
    SSL_CTX* native = ctx->native_handle();
    if (!t.policy) return absl::InternalError("TLS: no protocol/cipher policy given");
    if (absl::Status s = t.policy(native); !s.ok()) return s;
    ctx->use_certificate_chain(asio::buffer(t.cert_pem));
    ctx->use_private_key(asio::buffer(t.key_pem), asio::ssl::context::pem);
    if (!t.client_ca_pem.empty()) {
      ctx->add_certificate_authority(asio::buffer(t.client_ca_pem));
      ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
      static const unsigned char kSid[] = "phalanx-http";
      SSL_CTX_set_session_id_context(native, kSid, sizeof(kSid) - 1);
    }
    return ctx;
  } catch (const boost::system::system_error& e) {
    return absl::InvalidArgumentError(std::string("TLS setup failed: ") + e.what());
  }
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions o, HttpHandler& h) : opts(std::move(o)) {
    shared.handler = &h;
    shared.limits = opts.limits;
  }

  void Accept(size_t i) {
    auto strand = asio::make_strand(ioc);
    auto sock = std::make_shared<tcp::socket>(strand);
    acceptors[i]->async_accept(*sock, [this, i, strand, sock](error_code ec) mutable {
      if (stopping || ec == asio::error::operation_aborted) return;
      if (ec) {  // out of descriptors or memory: try again shortly
        auto t = std::make_shared<asio::steady_timer>(acceptors[i]->get_executor(),
                                                      std::chrono::milliseconds(50));
        t->async_wait([this, i, t](error_code e) {
          if (!e && !stopping) Accept(i);
        });
        return;
      }
      Listener& l = *listeners[i];
      ++shared.accepted;
      if (l.open.load() >= opts.limits.max_connections && !Evict(l)) {
        Refuse(std::move(*sock));
      } else {
        StartConnection(std::move(strand), std::move(*sock), ssl.get(), &shared, &l);
      }
      Accept(i);
    });
  }

  // At the cap: closes the connection that has waited longest for its request head, if it has
  // waited at least evict_after.
  bool Evict(Listener& l) {
    std::shared_ptr<ConnBase> oldest;
    const Clock::time_point cutoff =
        Clock::now() - std::chrono::duration_cast<Clock::duration>(opts.limits.evict_after);
    {
      std::lock_guard<std::mutex> g(l.mu);
      for (auto& [p, w] : l.conns) {
        auto c = w.lock();
        if (!c || !c->WaitingForHead() || c->evicting.load() || c->since() > cutoff) continue;
        if (!oldest || c->since() < oldest->since()) oldest = std::move(c);
      }
    }
    if (!oldest || oldest->evicting.exchange(true)) return false;
    oldest->Evict();
    return true;
  }

  void Refuse(tcp::socket s) {
    ++shared.refused;
    auto sock = std::make_shared<tcp::socket>(std::move(s));
    if (ssl) {  // no handshake for a connection that is refused anyway
      error_code ig;
      sock->close(ig);
      return;
    }
    asio::async_write(*sock, asio::buffer(refusal), [sock](error_code, size_t) {
      error_code ig;
      sock->shutdown(tcp::socket::shutdown_both, ig);
      sock->close(ig);
    });
  }

  template <class F>
  void ForEachConnection(F f) {
    for (auto& l : listeners) {
      std::vector<std::shared_ptr<ConnBase>> all;
      {
        std::lock_guard<std::mutex> g(l->mu);
        for (auto& [p, w] : l->conns) {
          if (auto c = w.lock()) all.push_back(std::move(c));
        }
      }
      for (auto& c : all) f(*c);
    }
  }
  int Open() const {
    int n = 0;
    for (const auto& l : listeners) n += l->open.load();
    return n;
  }
  bool WaitClosed(std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (Open() > 0 && Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Open() == 0;
  }

  HttpServerOptions opts;
  ServerShared shared;
  std::vector<std::unique_ptr<Listener>> listeners;  // outlive ioc (connections leave them)
  std::unique_ptr<asio::ssl::context> ssl;
  std::string refusal;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  int port = 0;
  bool started = false, stopped = false;
};

HttpServer::HttpServer(HttpServerOptions opts, HttpHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(opts), handler)) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  Impl& m = *impl_;
  if (m.opts.tls) {
    auto t = MakeTls(*m.opts.tls);
    if (!t.ok()) return t.status();
    m.ssl = std::move(*t);
  }
  HttpResponse busy{503,
                    "application/json",
                    {{"Retry-After", "1"}},
                    m.shared.handler->ErrorBody(503, "too many connections"),
                    true};
  m.refusal = SerializeResponse(busy, false);
  int port = m.opts.port;
  for (const std::string& host : m.opts.hosts) {
    auto fail = [&](const error_code& ec) {
      return absl::UnavailableError("cannot listen for " + m.opts.name + " on " + host + ":" +
                                    std::to_string(port) + ": " + ec.message());
    };
    error_code ec;
    tcp::resolver resolver(m.ioc);
    auto results = resolver.resolve(host, std::to_string(port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) return fail(ec);
    const tcp::endpoint ep = results.begin()->endpoint();
    auto a = std::make_unique<tcp::acceptor>(asio::make_strand(m.ioc));
    a->open(ep.protocol(), ec);
    if (ec) return fail(ec);
    a->set_option(asio::socket_base::reuse_address(true), ec);
    a->bind(ep, ec);
    if (ec) return fail(ec);
    a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(ec);
    if (port == 0) port = a->local_endpoint(ec).port();
    m.acceptors.push_back(std::move(a));
    m.listeners.push_back(std::make_unique<Listener>());
  }
  if (m.acceptors.empty())
    return absl::InvalidArgumentError(m.opts.name + ": no address to listen on");
  m.port = port;
  m.work.emplace(m.ioc.get_executor());
  for (size_t i = 0; i < m.acceptors.size(); ++i) {
    asio::post(m.acceptors[i]->get_executor(), [&m, i] { m.Accept(i); });
  }
  const int threads = std::max(1, m.opts.threads);
  for (int i = 0; i < threads; ++i) {
    m.threads.emplace_back([&m, i] {
      const std::string name = (m.opts.name + "-io" + std::to_string(i)).substr(0, 15);
      pthread_setname_np(pthread_self(), name.c_str());
      m.ioc.run();
    });
  }
  m.started = true;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return;
  m.stopped = true;
  m.stopping = true;
  // Listeners first (each closed on its own strand).
  std::vector<std::future<void>> closed;
  for (auto& a : m.acceptors) {
    auto p = std::make_shared<std::promise<void>>();
    closed.push_back(p->get_future());
    asio::post(a->get_executor(), [acc = a.get(), p] {
      error_code ig;
      acc->close(ig);
      p->set_value();
    });
  }
  for (auto& f : closed) f.wait();
  m.shared.handler->OnStop();
  m.ForEachConnection([](ConnBase& c) { c.Shutdown(); });
  if (!m.WaitClosed(std::chrono::milliseconds(1000))) {
    m.ForEachConnection([](ConnBase& c) { c.ForceClose(); });
    m.WaitClosed(std::chrono::milliseconds(500));
  }
  m.work.reset();
  m.ioc.stop();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
  std::unique_lock<std::shared_mutex> l(m.shared.life->mu);
  m.shared.life->alive = false;
}

int HttpServer::port() const { return impl_->port; }

HttpServerStats HttpServer::stats() const {
  HttpServerStats s;
  s.accepted = impl_->shared.accepted.load();
  s.refused = impl_->shared.refused.load();
  s.evicted = impl_->shared.evicted.load();
  s.timed_out = impl_->shared.timed_out.load();
  s.open = impl_->Open();
  return s;
}

}  // namespace phx::server::net
