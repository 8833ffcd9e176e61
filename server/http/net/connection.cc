#include "server/http/net/connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <deque>
#include <optional>
#include <type_traits>

#include "server/http/net/beast_parse.h"
#include "server/http/net/exchange.h"
#include "server/http/net/wire.h"

namespace phx::server::net {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using error_code = boost::system::error_code;

constexpr size_t kWatchBytes = 4096;      // read while a request is handled
constexpr size_t kLingerBytes = 4 << 20;  // discarded after an early answer, at most
constexpr auto kLinger = std::chrono::seconds(2);

std::chrono::steady_clock::duration Dur(Seconds s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(s);
}

template <class Stream>
class Connection final : public ConnCore, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  Connection(Listener* l, ServerShared* shared, Strand strand, tcp::socket socket,
             asio::ssl::context* tls)
      : ConnCore(l),
        strand_(std::move(strand)),
        stream_(MakeStream(std::move(socket), tls)),
        timer_(strand_),
        beat_(strand_),
        shared_(shared),
        buf_(static_cast<size_t>(std::max<uint32_t>(shared->limits.max_header_bytes, 8192)) +
             65536) {
    max_queued = shared->limits.max_queued_bytes;
  }
  ~Connection() override {
    if (ex_ && !answer_done_) ex_->FireAbort();
  }

  void Start() override {
    error_code ec;
    const auto remote = Sock().remote_endpoint(ec);
    if (!ec) peer_ = remote.address().to_string() + ":" + std::to_string(remote.port());
    const auto local = Sock().local_endpoint(ec);
    if (!ec) {
      asio::ip::address a = local.address();
      if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
      }
      local_ = a.to_string();
    }
    Sock().set_option(tcp::no_delay(true), ec);
    // What the kernel holds for a client that does not read is bounded too (autotuning would
    // let it grow to tcp_wmem's maximum, 4 MiB by default, per connection).
    Sock().set_option(asio::socket_base::send_buffer_size(static_cast<int>(
                          std::min<size_t>(shared_->limits.max_queued_bytes, 1 << 30))),
                      ec);
    if constexpr (kTls) {
      SetState(ConnState::kHandshake);
      Arm(shared_->limits.header_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code e) {
                                if (self->closed_) return;
                                if (e) return self->Close();
                                self->ReadHead();
                              });
    } else {
      ReadHead();
    }
  }
  void Evict() override {
    asio::post(strand_, [self = this->shared_from_this()] {
      if (!self->closed_ && self->WaitingForHead()) {
        ++self->shared_->evicted;
        self->Close();
      }
    });
  }
  void Shutdown() override {
    asio::post(strand_, [self = this->shared_from_this()] {
      self->shutting_down_ = true;
      if (self->closed_ || self->lingering_) return;
      if (self->WaitingForHead() || self->state() == ConnState::kBody) return self->Close();
      if (!self->ex_ && !self->writing_ && self->out_.empty()) self->Close();
    });
  }
  void ForceClose() override {
    asio::post(strand_, [self = this->shared_from_this()] { self->Close(); });
  }

  // ConnCore.
  void PostFn(std::function<void()> f) override { asio::post(strand_, std::move(f)); }
  bool InStrand() const override { return strand_.running_in_this_thread(); }
  void AnswerWhole(ExchangeImpl* ex, HttpResponse r) override {
    if (closed_ || ex != ex_.get() || answer_done_ || began_) return;
    keep_alive_ = keep_alive_ && !r.close && !shutting_down_;
    Enqueue(SerializeResponse(r, keep_alive_), false);
    FinishAnswer();
  }
  void BeginChunked(ExchangeImpl* ex, HttpResponse head, Seconds hb, std::string text) override {
    if (closed_ || ex != ex_.get() || answer_done_ || began_) return;
    began_ = true;
    keep_alive_ = keep_alive_ && !head.close && !shutting_down_;
    Enqueue(SerializeHead(head, true, keep_alive_), false);
    if (!head.body.empty()) Enqueue(ChunkFrame(head.body), false);
    if (hb.count() > 0) {
      heartbeat_ = hb;
      heartbeat_text_ = ChunkFrame(text);
      ArmBeat();
    }
  }
  void SendFrame(ExchangeImpl* ex, std::string frame) override {
    if (closed_ || ex != ex_.get() || answer_done_ || !began_) {
      queued -= frame.size();
      return;
    }
    Enqueue(std::move(frame), true);
  }
  void EndChunked(ExchangeImpl* ex, std::string last) override {
    if (closed_ || ex != ex_.get() || answer_done_ || !began_) return;
    if (!last.empty()) Enqueue(ChunkFrame(last), false);
    Enqueue(std::string(kLastChunk), false);
    FinishAnswer();
  }
  void Overflow(ExchangeImpl* ex) override {
    if (ex == ex_.get() && !answer_done_) Close();
  }

 private:
  static Stream MakeStream(tcp::socket s, asio::ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(s), *tls);
    } else {
      (void)tls;
      return s;
    }
  }

  tcp::socket& Sock() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // Deadlines: one at a time; a new Arm replaces the old.
  void Arm(Seconds d) {
    const uint64_t gen = ++arm_gen_;
    timer_.expires_after(Dur(d));
    timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->arm_gen_ || self->closed_) return;
      if (self->lingering_) return self->Close();
      ++self->shared_->timed_out;
      self->Close();
    });
  }
  void Disarm() {
    ++arm_gen_;
    timer_.cancel();
  }
  void ArmBeat() {
    beat_.expires_at(last_write_ + Dur(heartbeat_));
    beat_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->closed_ || self->answer_done_ || !self->began_) return;
      if (Clock::now() - self->last_write_ >= Dur(self->heartbeat_)) {
        self->Enqueue(self->heartbeat_text_, false);
      }
      self->ArmBeat();
    });
  }

  void ReadHead() {
    SetState(ConnState::kHeader);
    Arm(shared_->limits.header_timeout);
    ResetParser(&parser_, shared_->limits);
    http::async_read_header(
        stream_, buf_, *parser_,
        [self = this->shared_from_this()](error_code ec, size_t) { self->OnHead(ec); });
  }

  // A read error as an answer (or none: the client is gone or too slow).
  void ReadFailed(error_code ec) {
    switch (StatusOfReadError(ec)) {
      case 431:
        return Fail(431, "request headers over " +
                             std::to_string(shared_->limits.max_header_bytes) + " bytes");
      case 413:
        return Fail(
            413, "request body over " + std::to_string(shared_->limits.max_body_bytes) + " bytes");
      case 400:
        return Fail(400, "malformed HTTP request: " + ec.message());
      default:
        return Close();
    }
  }

  void OnHead(error_code ec) {
    if (closed_) return;
    Disarm();
    if (ec) return ReadFailed(ec);
    HttpRequest head = HeadOf(*parser_);
    head.peer = peer_;
    head.local = local_;
    if (auto p = CheckRequestHead(head, shared_->limits)) return Fail(p->status, p->message);
    keep_alive_ = parser_->get().keep_alive();
    std::optional<HttpResponse> early;
    try {
      early = shared_->handler->CheckHead(head);
    } catch (...) {
      early = HttpResponse{
          500, "application/json", {}, shared_->handler->ErrorBody(500, "internal error"), true};
    }
    if (early) {
      if (!parser_->is_done()) early->close = true;  // the body is never read
      SetState(ConnState::kBusy);
      keep_alive_ = keep_alive_ && !early->close && !shutting_down_;
      Enqueue(SerializeResponse(*early, keep_alive_), false);
      parser_.reset();
      return FinishAnswer();
    }
    if (ApplyBodyLimit(*parser_, shared_->limits) != 0) {
      return Fail(413,
                  "request body over " + std::to_string(shared_->limits.max_body_bytes) + " bytes");
    }
    head_ = std::move(head);
    if (parser_->is_done()) return OnBody({});
    if (EqualsIgnoreCase(head_.header("expect"), "100-continue")) {
      Enqueue("HTTP/1.1 100 Continue\r\n\r\n", false);
    }
    SetState(ConnState::kBody);
    Arm(shared_->limits.body_timeout);
    http::async_read(stream_, buf_, *parser_,
                     [self = this->shared_from_this()](error_code e, size_t) { self->OnBody(e); });
  }

  void OnBody(error_code ec) {
    if (closed_) return;
    Disarm();
    if (ec) return ReadFailed(ec);
    head_.body = parser_->get().body().Join();
    parser_.reset();
    SetState(ConnState::kBusy);
    began_ = false;
    answer_done_ = false;
    ex_ = std::make_shared<ExchangeImpl>(std::move(head_), this->weak_from_this(), shared_->life);
    ex_->self_ = ex_;
    head_ = HttpRequest();
    if (buf_.size() == 0 && !watching_) Watch();
    auto ex = ex_;
    try {
      shared_->handler->Handle(ex);
    } catch (...) {
      AnswerWhole(ex.get(), HttpResponse{500,
                                         "application/json",
                                         {},
                                         shared_->handler->ErrorBody(500, "internal error"),
                                         true});
    }
  }

  // A read kept pending while a request is handled (a reset or FIN aborts it) and while a
  // keep-alive connection waits for its next request.
  void Watch() {
    watching_ = true;
    stream_.async_read_some(
        buf_.prepare(kWatchBytes),
        [self = this->shared_from_this()](error_code ec, size_t n) { self->OnWatch(ec, n); });
  }
  void OnWatch(error_code ec, size_t n) {
    watching_ = false;
    if (closed_) return;
    if (lingering_) return LingerRead();
    if (ec) return Close();
    buf_.commit(n);
    if (state() == ConnState::kIdle) {
      Disarm();
      ReadHead();
    }
  }

  void FinishAnswer() {
    answer_done_ = true;
    if (ex_) ex_->MarkDone();
    beat_.cancel();
    if (!writing_ && out_.empty()) AfterAnswer();
  }
  // The answer is written: the next request, or close.
  void AfterAnswer() {
    ex_.reset();
    answer_done_ = false;
    began_ = false;
    if (!keep_alive_ || shutting_down_) return Linger();
    if (buf_.size() > 0 && !watching_) return ReadHead();
    SetState(ConnState::kIdle);
    Arm(shared_->limits.idle_timeout);
    if (!watching_) Watch();
  }

  void Fail(int status, const std::string& message) {
    SetState(ConnState::kBusy);
    HttpResponse r{
        status, "application/json", {}, shared_->handler->ErrorBody(status, message), true};
    keep_alive_ = false;
    Enqueue(SerializeResponse(r, false), false);
    parser_.reset();
    FinishAnswer();
  }

  void Enqueue(std::string s, bool counted) {
    if (closed_) {
      if (counted) queued -= s.size();
      return;
    }
    if (!counted) queued += s.size();
    last_write_ = Clock::now();
    out_.push_back(std::move(s));
    if (!writing_) DoWrite();
  }
  void DoWrite() {
    writing_ = true;
    bufs_.clear();
    for (size_t i = 0; i < out_.size() && i < 32; ++i) bufs_.push_back(asio::buffer(out_[i]));
    asio::async_write(stream_, bufs_, [self = this->shared_from_this()](error_code ec, size_t) {
      self->OnWrite(ec);
    });
  }
  void OnWrite(error_code ec) {
    writing_ = false;
    size_t bytes = 0;
    for (size_t i = bufs_.size(); i > 0 && !out_.empty(); --i) {
      bytes += out_.front().size();
      out_.pop_front();
    }
    queued -= bytes;
    if (closed_) return;
    if (ec) return Close();
    if (!out_.empty()) return DoWrite();
    if (answer_done_) return AfterAnswer();
  }

  // Closing after an answer: no more writes; what the client still sends is read and dropped
  // for a while, so that it gets the answer rather than a reset.
  void Linger() {
    if (closed_ || lingering_) return;
    SetState(ConnState::kClosing);
    lingering_ = true;
    error_code ig;
    Sock().shutdown(tcp::socket::shutdown_send, ig);
    Arm(Seconds(kLinger));
    if (!watching_) LingerRead();
  }
  void LingerRead() {
    if (closed_) return;
    if (lingered_ > kLingerBytes) return Close();
    if (!linger_buf_) linger_buf_ = std::make_unique<char[]>(kWatchBytes);
    watching_ = true;
    Sock().async_read_some(asio::buffer(linger_buf_.get(), kWatchBytes),
                           [self = this->shared_from_this()](error_code ec, size_t n) {
                             self->watching_ = false;
                             if (self->closed_) return;
                             if (ec) return self->Close();
                             self->lingered_ += n;
                             self->LingerRead();
                           });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    SetState(ConnState::kClosing);
    ++arm_gen_;
    error_code ig;
    timer_.cancel();
    beat_.cancel();
    Sock().shutdown(tcp::socket::shutdown_both, ig);
    Sock().close(ig);
    if (ex_ && !answer_done_) ex_->FireAbort();
  }

  Strand strand_;
  Stream stream_;
  asio::steady_timer timer_, beat_;
  ServerShared* shared_;
  beast::flat_buffer buf_;
  std::optional<RequestParser> parser_;
  HttpRequest head_;
  std::shared_ptr<ExchangeImpl> ex_;
  std::deque<std::string> out_;
  std::vector<asio::const_buffer> bufs_;
  std::string peer_, local_;
  std::string heartbeat_text_;
  Seconds heartbeat_{0};
  Clock::time_point last_write_ = Clock::now();
  std::unique_ptr<char[]> linger_buf_;
  size_t lingered_ = 0;
  uint64_t arm_gen_ = 0;
  bool closed_ = false, keep_alive_ = true, watching_ = false, writing_ = false;
  bool answer_done_ = false, began_ = false, lingering_ = false, shutting_down_ = false;
};

}  // namespace

ConnBase::ConnBase(Listener* l) : listener_(l) {
  ++listener_->open;
  SetState(ConnState::kHeader);
}

ConnBase::~ConnBase() {
  std::lock_guard<std::mutex> g(listener_->mu);
  listener_->conns.erase(this);
  --listener_->open;
}

void StartConnection(Strand strand, tcp::socket socket, asio::ssl::context* tls,
                     ServerShared* shared, Listener* listener) {
  std::shared_ptr<ConnBase> c;
  if (tls != nullptr) {
    c = std::make_shared<Connection<asio::ssl::stream<tcp::socket>>>(
        listener, shared, std::move(strand), std::move(socket), tls);
  } else {
    c = std::make_shared<Connection<tcp::socket>>(listener, shared, std::move(strand),
                                                  std::move(socket), nullptr);
  }
  {
    std::lock_guard<std::mutex> g(listener->mu);
    listener->conns.emplace(c.get(), c);
  }
  c->Start();
}

}  // namespace phx::server::net
