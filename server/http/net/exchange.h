// Internal to server/http/net: the Exchange a handler gets (ExchangeImpl) and what it asks of
// its connection (ConnCore). Any thread may call an Exchange; each call runs on the
// connection's strand (inline when already there), or not at all once the connection or the
// server is gone. No Beast here.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "server/http/net/connection.h"
#include "server/http/net/wire.h"

namespace phx::server::net {

class ExchangeImpl;

// What an exchange asks of its connection (all on the connection's strand but Post/InStrand).
class ConnCore : public ConnBase {
 public:
  using ConnBase::ConnBase;
  virtual void PostFn(std::function<void()> f) = 0;
  virtual bool InStrand() const = 0;
  virtual void AnswerWhole(ExchangeImpl* ex, HttpResponse r) = 0;
  virtual void BeginChunked(ExchangeImpl* ex, HttpResponse head, Seconds hb, std::string text) = 0;
  virtual void SendFrame(ExchangeImpl* ex, std::string frame) = 0;
  virtual void EndChunked(ExchangeImpl* ex, std::string last) = 0;
  virtual void Overflow(ExchangeImpl* ex) = 0;
  std::atomic<size_t> queued{0};  // bytes accepted by Send and not yet written
  size_t max_queued = 0;
};

class ExchangeImpl final : public Exchange {
 public:
  ExchangeImpl(HttpRequest req, std::weak_ptr<ConnCore> conn, std::shared_ptr<Life> life)
      : req_(std::move(req)), conn_(std::move(conn)), life_(std::move(life)) {}
  ~ExchangeImpl() override = default;

  const HttpRequest& request() const override { return req_; }
  void Respond(HttpResponse r) override {
    Run([this, r = std::move(r)](ConnCore& c) mutable { c.AnswerWhole(this, std::move(r)); });
  }
  void BeginStream(HttpResponse head, Seconds hb, std::string text) override {
    Run([this, head = std::move(head), hb, text = std::move(text)](ConnCore& c) mutable {
      c.BeginChunked(this, std::move(head), hb, std::move(text));
    });
  }
  bool Send(std::string chunk) override {
    if (aborted_.load() || chunk.empty()) return !aborted_.load();
    std::string frame = ChunkFrame(chunk);
    const size_t n = frame.size();
    bool over = false;
    {
      std::shared_lock<std::shared_mutex> l(life_->mu);
      if (!life_->alive) return false;
      auto c = conn_.lock();
      if (!c) return false;
      if (c->queued.fetch_add(n) + n > c->max_queued) {
        c->queued -= n;
        over = true;
      }
    }
    if (over) {
      Run([this](ConnCore& cc) { cc.Overflow(this); });
      return false;
    }
    Run([this, frame = std::move(frame)](ConnCore& c) mutable {
      c.SendFrame(this, std::move(frame));
    });
    return !aborted_.load();
  }
  void End(std::string last) override {
    Run([this, last = std::move(last)](ConnCore& c) mutable {
      c.EndChunked(this, std::move(last));
    });
  }
  void OnAbort(std::function<void()> f) override {
    auto shared = std::make_shared<std::function<void()>>(std::move(f));
    const bool posted = Run([this, shared](ConnCore&) {
      if (aborted_.load()) {
        (*shared)();
      } else if (!done_) {
        on_abort_ = std::move(*shared);
      }
    });
    if (!posted) {
      aborted_ = true;
      (*shared)();
    }
  }
  void Post(std::function<void()> f) override {
    Run([f = std::move(f)](ConnCore&) { f(); });
  }
  bool aborted() const override { return aborted_.load(); }

  // On the strand.
  void FireAbort() {
    if (done_ || aborted_.exchange(true)) return;
    std::function<void()> f = std::move(on_abort_);
    on_abort_ = nullptr;
    if (f) f();
  }
  void MarkDone() {
    done_ = true;
    on_abort_ = nullptr;
  }
  bool done() const { return done_; }

 private:
  // Runs f on the connection's strand (inline when already there); false when the connection
  // or the server is gone (nothing runs).
  template <class F>
  bool Run(F&& f) {
    std::shared_ptr<ConnCore> c;
    {
      std::shared_lock<std::shared_mutex> l(life_->mu);
      if (!life_->alive) return false;
      c = conn_.lock();
      if (!c) return false;
      if (!c->InStrand()) {
        auto self = std::static_pointer_cast<ExchangeImpl>(shared_from_this_());
        c->PostFn([c, self, f = std::forward<F>(f)]() mutable { f(*c); });
        c.reset();  // released under the lock: the io_context is alive
        return true;
      }
    }
    f(*c);  // on an I/O thread of a live server
    return true;
  }
  std::shared_ptr<Exchange> shared_from_this_();

  HttpRequest req_;
  std::weak_ptr<ConnCore> conn_;
  std::shared_ptr<Life> life_;
  std::atomic<bool> aborted_{false};
  bool done_ = false;               // strand
  std::function<void()> on_abort_;  // strand

 public:
  std::weak_ptr<ExchangeImpl> self_;
};

inline std::shared_ptr<Exchange> ExchangeImpl::shared_from_this_() { return self_.lock(); }

}  // namespace phx::server::net
