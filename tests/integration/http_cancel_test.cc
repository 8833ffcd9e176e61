// Issue #23: a client that goes away cancels its request, whether it is queued or running,
// unary or streamed, within 100 ms of the reset; a stream whose client stops reading is
// dropped once its unread bytes pass --stream-buffer-bytes (cancelled, not buffered without
// bound); a drain that times out ends open streams with an SSE error event and queued requests
// with a 503; probes and /metrics on separate addresses of the same port.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/grpc_test_server.h"
#include "tests/integration/raw_http.h"

namespace phx {
namespace {

using testing::Clock;
using testing::MetricValue;
using testing::MsSince;
const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

std::string Long(bool stream, const std::string& extra = "") {
  return std::string(R"({"prompt": "Once upon a time", "max_tokens": 480, "ignore_eos": true,)") +
         R"( "temperature": 0, "stream": )" + (stream ? "true" : "false") + extra + "}";
}

int Post(int port, const std::string& body, int rcvbuf = 0) {
  const int fd = testing::Connect(port, false, rcvbuf);
  if (fd < 0) return -1;
  testing::SendAll(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body);
  return fd;
}

// Waits up to `limit_ms` for pred; the milliseconds it took (or limit_ms when it never held).
template <class Pred>
double WaitMs(Pred pred, double limit_ms = 20000) {
  const Clock::time_point t0 = Clock::now();
  while (!pred() && MsSince(t0) < limit_ms)
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  return pred() ? MsSince(t0) : limit_ms;
}

std::string Metrics(const testing::TestServer& s) {
  const int fd = testing::Connect(s.app->http_port());
  testing::SendAll(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string m = testing::ReadUntil(fd, "\x01", 10);
  ::close(fd);
  return m;
}

TEST(HttpCancel, ResetClientsAreCancelledWithin100Ms) {
  auto cfg = testing::TestConfig(kStories);
  cfg.runtime.threads = 1;
  cfg.max_inflight = 1;
  cfg.max_queue = 8;
  cfg.response_cache_mb = 0;
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  const int port = s->app->api_port();
  server::Gate& gate = s->app->gate();
  engine::Engine& eng = s->app->engine();
  const double bound = 100 * testing::TimeScale();
  int cancelled = 0;
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "unary");
    // Running: reset while it generates.
    const int fd = Post(port, Long(stream));
    ASSERT_LT(WaitMs([&] { return eng.stats().running == 1; }), 20000);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    testing::Reset(fd);
    const double running_ms = WaitMs([&] { return gate.active() == 0; });
    EXPECT_LT(running_ms, bound) << "running request still active";
    // Queued behind a long stream: reset while it waits.
    const int holder = Post(port, Long(true));
    ASSERT_LT(WaitMs([&] { return eng.stats().running == 1; }), 20000);
    const int queued = Post(port, Long(stream));
    ASSERT_LT(WaitMs([&] { return gate.active() == 2; }), 20000);
    testing::Reset(queued);
    const double queued_ms = WaitMs([&] { return gate.active() == 1; });
    EXPECT_LT(queued_ms, bound) << "queued request still active";
    const bool holder_running = gate.active() == 1;  // 480 tokens take a while; not certain
    testing::Reset(holder);
    EXPECT_LT(WaitMs([&] { return gate.active() == 0; }), bound);
    std::printf("%s: running cancelled in %.2f ms, queued in %.2f ms\n",
                stream ? "stream" : "unary", running_ms, queued_ms);
    cancelled += holder_running ? 3 : 2;
  }
  const std::string m = Metrics(*s);
  EXPECT_EQ(MetricValue(m, R"(phalanx_requests_total{code="CANCELLED",rpc="http_completions"})"),
            cancelled)
      << m;
  // The generations stopped early: far fewer tokens than 4 x 480 for 4 + (up to) 2 requests.
  EXPECT_LT(MetricValue(m, "phalanx_generation_tokens_total"), 4 * 480);
}

TEST(HttpCancel, StreamWhoseClientStopsReadingIsDropped) {
  auto cfg = testing::TestConfig(kStories);
  cfg.runtime.threads = 1;
  cfg.stream_buffer_bytes = 4096;
  cfg.response_cache_mb = 0;
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  // Log-probabilities make each event about 2 KB; the client never reads (small buffer).
  const int fd = Post(s->app->api_port(), Long(true, R"(, "logprobs": 20)"), 4096);
  ASSERT_GE(fd, 0);
  ASSERT_LT(WaitMs([&] { return s->app->gate().active() == 1; }), 20000);
  EXPECT_LT(WaitMs([&] { return s->app->gate().active() == 0; }, 60000), 60000);
  const std::string m = Metrics(*s);
  EXPECT_EQ(MetricValue(m, R"(phalanx_requests_total{code="CANCELLED",rpc="http_completions"})"), 1)
      << m;
  EXPECT_LT(MetricValue(m, "phalanx_generation_tokens_total"), 480);
  ::close(fd);
}

TEST(HttpCancel, DrainTimeoutEndsStreamsWithAnErrorEvent) {
  auto cfg = testing::TestConfig(kStories);
  cfg.runtime.threads = 1;
  cfg.max_inflight = 1;
  cfg.max_queue = 8;
  cfg.drain_timeout_s = 0;
  cfg.response_cache_mb = 0;
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  const int port = s->app->api_port();
  const int stream = Post(port, Long(true));
  const std::string begun = testing::ReadUntil(stream, "data: {", 20);
  ASSERT_EQ(testing::StatusOf(begun), 200) << begun;
  const int queued = Post(port, Long(false));
  ASSERT_LT(WaitMs([&] { return s->app->gate().active() == 2; }), 20000);
  s->app->Drain();
  const std::string rest = begun + testing::ReadUntil(stream, "\r\n0\r\n\r\n", 20);
  EXPECT_NE(rest.find("data: {\"error\""), std::string::npos) << rest.substr(rest.size() - 400);
  EXPECT_NE(rest.find("data: [DONE]"), std::string::npos);
  EXPECT_NE(rest.find("\r\n0\r\n\r\n"), std::string::npos) << "the chunked body did not end";
  const std::string refused = testing::ReadUntil(queued, "}}", 20);
  EXPECT_EQ(testing::StatusOf(refused), 503) << refused;
  ::close(stream);
  ::close(queued);
}

int ConnectTo(const char* ip, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int GetFrom(const char* ip, int port, const std::string& path) {
  const int fd = ConnectTo(ip, port);
  if (fd < 0) return -1;
  testing::SendAll(fd, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const int status = testing::StatusOf(testing::ReadUntil(fd, "\r\n\r\n", 10));
  ::close(fd);
  return status;
}

TEST(HttpCancel, ProbesAndMetricsOnSeparateAddresses) {
  auto cfg = testing::TestConfig(kStories);
  cfg.probe_host = "127.0.0.1";
  cfg.metrics_host = "127.0.0.2";
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  const int port = s->app->http_port();
  EXPECT_EQ(GetFrom("127.0.0.1", port, "/readyz"), 200);
  EXPECT_EQ(GetFrom("127.0.0.1", port, "/metrics"), 404);
  EXPECT_EQ(GetFrom("127.0.0.2", port, "/metrics"), 200);
  EXPECT_EQ(GetFrom("127.0.0.2", port, "/livez"), 404);
}

}  // namespace
}  // namespace phx
