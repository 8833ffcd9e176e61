// Internal to the HTTP layer (http_server.cc, connection.cc): one accepted connection, what it
// shares with its server and listener. Includes Boost.Asio; nothing outside server/http/net
// includes this.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "server/http/net/http_types.h"

namespace phx::server::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Strand = asio::strand<asio::io_context::executor_type>;

enum class ConnState : int { kHandshake, kHeader, kIdle, kBody, kBusy, kClosing };

// Whether the server's io_context may still take work from other threads (the engine's
// callbacks post to connections): set false, under the lock, once the I/O threads are joined.
struct Life {
  std::shared_mutex mu;
  bool alive = true;
};

struct ServerShared {
  HttpHandler* handler = nullptr;
  HttpLimits limits;
  std::shared_ptr<Life> life = std::make_shared<Life>();
  std::atomic<uint64_t> accepted{0}, refused{0}, evicted{0}, timed_out{0};
};

class ConnBase;

// One listening socket's connection count and registry (for eviction and shutdown); outlives
// the io_context (connections leave it in their destructors).
struct Listener {
  std::atomic<int> open{0};
  std::mutex mu;
  std::unordered_map<ConnBase*, std::weak_ptr<ConnBase>> conns;
};

class ConnBase {
 public:
  explicit ConnBase(Listener* l);
  virtual ~ConnBase();
  ConnBase(const ConnBase&) = delete;
  ConnBase& operator=(const ConnBase&) = delete;
  virtual void Start() = 0;
  // Each posts to the connection's strand. Evict: close if it still waits for a request head.
  // Shutdown: close once the answer in flight is written (at once when there is none).
  virtual void Evict() = 0;
  virtual void Shutdown() = 0;
  virtual void ForceClose() = 0;
  ConnState state() const { return state_.load(std::memory_order_relaxed); }
  // When the current state began.
  Clock::time_point since() const {
    return Clock::time_point(Clock::duration(since_.load(std::memory_order_relaxed)));
  }
  std::atomic<bool> evicting{false};  // chosen for eviction once
  bool WaitingForHead() const {
    const ConnState s = state();
    return s == ConnState::kHandshake || s == ConnState::kHeader || s == ConnState::kIdle;
  }

 protected:
  void SetState(ConnState s) {
    state_.store(s, std::memory_order_relaxed);
    since_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }

 private:
  Listener* listener_;
  std::atomic<ConnState> state_{ConnState::kHeader};
  std::atomic<Clock::rep> since_{0};
};

// Makes a connection for an accepted socket (whose executor is `strand`), registers it with
// the listener and starts it. `tls` null: plain HTTP.
void StartConnection(Strand strand, tcp::socket socket, asio::ssl::context* tls,
                     ServerShared* shared, Listener* listener);

}  // namespace phx::server::net
