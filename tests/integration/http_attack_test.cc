// Issue #23: the HTTP listeners under hostile clients, against a real in-process server on
// stories260K. Huge chunked and compressed bodies and unauthenticated bodies are answered
// (413/415/401) before the client has sent them, with bounded peak memory; oversized headers
// get 431; slow clients on either port neither delay /readyz nor lock real clients out at the
// connection cap; thousands of idle connections and SSE streams cost no thread each.
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <zlib.h>

#include <atomic>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"
#include "tests/integration/raw_http.h"

namespace phx {
namespace {

using testing::Clock;
using testing::MsSince;
namespace fs = std::filesystem;
const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";
constexpr size_t kMiB = 1 << 20;
const std::string kKey = "sk-attack-test-key";

server::ServeConfig Config() {
  auto c = testing::TestConfig(kStories);
  c.runtime.threads = 1;
  c.response_cache_mb = 0;
  return c;
}

// A keys file with kKey; removed with the object.
struct KeysFile {
  KeysFile() : path(fs::temp_directory_path() / ("phx_keys_" + std::to_string(::getpid()))) {
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(kKey.data()), kKey.size(), h);
    std::string hex;
    for (unsigned char b : h) hex += fmt::format("{:02x}", b);
    std::ofstream(path) << "keys:\n  - id: tester\n    sha256: " << hex << "\n";
  }
  ~KeysFile() { fs::remove(path); }
  fs::path path;
};

// GET path on a new connection; returns {status, milliseconds}.
std::pair<int, double> Get(int port, const std::string& path) {
  const Clock::time_point t0 = Clock::now();
  const int fd = testing::Connect(port);
  if (fd < 0) return {-1, MsSince(t0)};
  testing::SendAll(fd, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string in = testing::ReadUntil(fd, "\r\n\r\n", 5);
  ::close(fd);
  return {testing::StatusOf(in), MsSince(t0)};
}

// A complete keyed completion on a new connection; the raw answer.
std::string Complete(int port, const std::string& key = "") {
  const std::string body = R"({"prompt": "Once upon a time", "max_tokens": 2})";
  const int fd = testing::Connect(port);
  if (fd < 0) return "";
  std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (!key.empty()) req += "Authorization: Bearer " + key + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  testing::SendAll(fd, req);
  const std::string in = testing::ReadUntil(fd, "\"usage\"", 30);
  ::close(fd);
  return in;
}

const char kChunkedHead[] =
    "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

TEST(HttpAttack, ChunkedBodyPastTheCapIs413BeforeItIsSent) {
  auto s = testing::TestServer::Start(Config());
  ASSERT_NE(s, nullptr);
  const std::string chunk = fmt::format("{:x}\r\n{}\r\n", 64 * 1024, std::string(64 * 1024, ' '));
  const long rss0 = testing::ProcKb("VmRSS");
  ASSERT_TRUE(testing::ResetPeakRss());
  const auto r = testing::SendWatching(s->app->api_port(), kChunkedHead, 64 * kMiB,
                                       [&](size_t) { return std::string_view(chunk); });
  const long grown_kb = testing::ProcKb("VmHWM") - rss0;
  std::printf("413 after %zu of %zu body bytes; peak RSS +%ld KiB\n", r.body_sent, 64 * kMiB,
              grown_kb);
  EXPECT_EQ(testing::StatusOf(r.answer), 413) << r.answer.substr(0, 200);
  EXPECT_NE(r.answer.find("invalid_request_error"), std::string::npos);
  EXPECT_FALSE(r.whole_body);
  EXPECT_LT(r.body_sent, 16 * kMiB);
  if (testing::kRssComparable) EXPECT_LT(grown_kb, 16 * 1024);
}

// 64 MiB of zeros, gzipped (about 64 KiB).
std::string GzipBomb() {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string out(256 * 1024, '\0');
  const std::string zeros(kMiB, '\0');
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  for (int i = 0; i < 64; ++i) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    z.avail_in = static_cast<uInt>(zeros.size());
    deflate(&z, i == 63 ? Z_FINISH : Z_NO_FLUSH);
  }
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(HttpAttack, CompressedBodyIs415AndNeverInflated) {
  auto s = testing::TestServer::Start(Config());
  ASSERT_NE(s, nullptr);
  const std::string gz = GzipBomb();
  ASSERT_LT(gz.size(), 512 * 1024u);
  const std::string head =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Encoding: gzip\r\nContent-Length: " +
      std::to_string(gz.size()) + "\r\n\r\n";
  const long rss0 = testing::ProcKb("VmRSS");
  ASSERT_TRUE(testing::ResetPeakRss());
  const auto r = testing::SendWatching(s->app->api_port(), head, gz.size(), [&](size_t off) {
    return std::string_view(gz).substr(off, 4096);
  });
  const long grown_kb = testing::ProcKb("VmHWM") - rss0;
  EXPECT_EQ(testing::StatusOf(r.answer), 415) << r.answer.substr(0, 200);
  if (testing::kRssComparable) EXPECT_LT(grown_kb, 16 * 1024);
  // Chunked and gzipped: the same.
  const std::string head2 =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
  const auto r2 = testing::SendWatching(s->app->api_port(), head2, gz.size(), [&](size_t off) {
    return std::string_view(gz).substr(off, 4096);
  });
  EXPECT_EQ(testing::StatusOf(r2.answer), 415) << r2.answer.substr(0, 200);
  EXPECT_GT(s->app->gate().frontend().engine().stats().running + 1, 0);  // still serving
  EXPECT_NE(Complete(s->app->api_port()).find("200 OK"), std::string::npos);
}

TEST(HttpAttack, UnauthenticatedBodyIsNeverRead) {
  KeysFile keys;
  auto cfg = Config();
  cfg.api_keys = keys.path.string();
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  const std::string chunk = fmt::format("{:x}\r\n{}\r\n", 64 * 1024, std::string(64 * 1024, 'x'));
  const long rss0 = testing::ProcKb("VmRSS");
  ASSERT_TRUE(testing::ResetPeakRss());
  for (const std::string auth : {"", "Authorization: Bearer wrong\r\n"}) {
    const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + auth +
                             "Content-Length: " + std::to_string(64 * kMiB) + "\r\n\r\n";
    const std::string x(64 * 1024, 'x');
    const auto r = testing::SendWatching(s->app->api_port(), head, 64 * kMiB,
                                         [&](size_t) { return std::string_view(x); });
    EXPECT_EQ(testing::StatusOf(r.answer), 401) << r.answer.substr(0, 200);
    EXPECT_FALSE(r.whole_body);
    EXPECT_LT(r.body_sent, 16 * kMiB);
    const auto c = testing::SendWatching(s->app->api_port(), kChunkedHead, 64 * kMiB,
                                         [&](size_t) { return std::string_view(chunk); });
    EXPECT_EQ(testing::StatusOf(c.answer), 401) << c.answer.substr(0, 200);
    EXPECT_FALSE(c.whole_body);
  }
  if (testing::kRssComparable) EXPECT_LT(testing::ProcKb("VmHWM") - rss0, 16 * 1024);
  EXPECT_NE(Complete(s->app->api_port(), kKey).find("200 OK"), std::string::npos);
}

TEST(HttpAttack, OversizedHeadersAre431WithBoundedMemory) {
  auto s = testing::TestServer::Start(Config());
  ASSERT_NE(s, nullptr);
  const long rss0 = testing::ProcKb("VmRSS");
  ASSERT_TRUE(testing::ResetPeakRss());
  std::string line;
  const std::string bs(4096, 'b');
  for (int port : {s->app->api_port(), s->app->http_port()}) {
    // 50,000 headers of 64 bytes (3.2 MB), then a 1 MB header value.
    const auto many = testing::SendWatching(
        port, "GET /v1/models HTTP/1.1\r\nHost: x\r\n", 50000 * 64, [&line](size_t off) {
          line = fmt::format("X-H{:09}: {}\r\n", off / 64, std::string(49, 'v'));
          return std::string_view(line);
        });
    EXPECT_EQ(testing::StatusOf(many.answer), 431) << many.answer.substr(0, 200);
    EXPECT_FALSE(many.whole_body);
    const auto big = testing::SendWatching(port, "GET /readyz HTTP/1.1\r\nX-Big: ", kMiB,
                                           [&bs](size_t) { return std::string_view(bs); });
    EXPECT_EQ(testing::StatusOf(big.answer), 431) << big.answer.substr(0, 200);
  }
  // Over the header count (100) within the size cap.
  std::string head = "GET /readyz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 150; ++i) head += fmt::format("X-{}: 1\r\n", i);
  const int fd = testing::Connect(s->app->http_port());
  testing::SendAll(fd, head + "\r\n");
  EXPECT_EQ(testing::StatusOf(testing::ReadUntil(fd, "\r\n\r\n", 10)), 431);
  ::close(fd);
  if (testing::kRssComparable) EXPECT_LT(testing::ProcKb("VmHWM") - rss0, 16 * 1024);
  EXPECT_EQ(Get(s->app->http_port(), "/readyz").first, 200);
}

// Opens `n` connections that send a partial request head (or a partial body), one more byte
// every `every` until `stop`.
class SlowClients {
 public:
  SlowClients(int port, int n, const std::string& opening) {
    for (int i = 0; i < n; ++i) {
      const int fd = testing::Connect(port, true);
      if (fd < 0) break;
      fds_.push_back(fd);
    }
    for (int fd : fds_) ::send(fd, opening.data(), opening.size(), MSG_NOSIGNAL);
    thread_ = std::thread([this] {
      while (!stop_) {
        for (int fd : fds_) ::send(fd, "a", 1, MSG_NOSIGNAL);
        for (int i = 0; i < 10 && !stop_; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }
  ~SlowClients() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) ::close(fd);
  }
  size_t size() const { return fds_.size(); }

 private:
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The slowest of `n` /readyz probes, each on a new connection, 20 ms apart.
double SlowestProbe(int port, int n, int* failures) {
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    const auto [status, ms] = Get(port, "/readyz");
    if (status != 200) ++*failures;
    worst = std::max(worst, ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return worst;
}

TEST(HttpAttack, SixteenSlowHeaderClientsDoNotDelayProbes) {
  auto s = testing::TestServer::Start(Config());
  ASSERT_NE(s, nullptr);
  SlowClients slow(s->app->http_port(), 16, "GET /readyz HTTP/1.1\r\nX-Slow: ");
  SlowClients slow_api(s->app->api_port(), 16, "GET /v1/models HTTP/1.1\r\nX-Slow: ");
  ASSERT_EQ(slow.size(), 16u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int failures = 0;
  const double worst = SlowestProbe(s->app->http_port(), 25, &failures);
  std::printf("16 slow-header clients per port: slowest of 25 /readyz %.2f ms\n", worst);
  EXPECT_EQ(failures, 0);
  EXPECT_LT(worst, 100 * testing::TimeScale());
}

TEST(HttpAttack, ThousandSlowClientsOnEachPortLockNobodyOut) {
  testing::RaiseFileLimit();
  KeysFile keys;
  auto cfg = Config();
  cfg.api_keys = keys.path.string();
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  // Slow headers on the probe port; on the API port, a keyed request whose body trickles.
  SlowClients slow_probe(s->app->http_port(), 1000, "GET /readyz HTTP/1.1\r\nX-Slow: ");
  SlowClients slow_body(s->app->api_port(), 1000,
                        "POST /v1/completions HTTP/1.1\r\nAuthorization: Bearer " + kKey +
                            "\r\nContent-Length: 100000\r\n\r\n{\"prompt\": \"");
  ASSERT_EQ(slow_probe.size(), 1000u);
  ASSERT_EQ(slow_body.size(), 1000u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int failures = 0;
  const double worst = SlowestProbe(s->app->http_port(), 25, &failures);
  const std::string served = Complete(s->app->api_port(), kKey);
  std::printf("1,000 slow clients per port: slowest of 25 /readyz %.2f ms; open %d + %d\n", worst,
              s->app->api_stats().open, s->app->probe_stats().open);
  EXPECT_EQ(failures, 0);
  EXPECT_LT(worst, 100 * testing::TimeScale());
  EXPECT_NE(served.find("200 OK"), std::string::npos) << served.substr(0, 300);
  EXPECT_GE(s->app->api_stats().open, 1000);
}

TEST(HttpAttack, AtTheConnectionCapSlowClientsAreEvictedFirst) {
  auto cfg = Config();
  cfg.max_connections = 32;
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  const int port = s->app->http_port();
  {
    // The cap is full of fresh connections: nobody to evict yet, a new one gets 503.
    SlowClients slow(port, 32, "GET /readyz HTTP/1.1\r\nX-Slow: ");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(Get(port, "/readyz").first, 503);
    // Once they have waited for their head longer than the eviction grace (1 s), a real
    // client takes the place of the oldest.
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
    int failures = 0;
    const double worst = SlowestProbe(port, 10, &failures);
    EXPECT_EQ(failures, 0);
    EXPECT_LT(worst, 100 * testing::TimeScale());
    EXPECT_GE(s->app->probe_stats().evicted, 1u);  // one slot is enough for sequential probes
    EXPECT_GE(s->app->probe_stats().refused, 1u);
  }
}

// When the server closes `fd` (recv returns 0 or fails); waits at most limit_s.
Clock::time_point ClosedAt(int fd, double limit_s) {
  testing::SetRecvTimeout(fd, limit_s);
  char buf[4096];
  while (::recv(fd, buf, sizeof(buf), 0) > 0) {
  }
  return Clock::now();
}

TEST(HttpAttack, DeadlinesCloseSlowHeadsSlowBodiesAndIdleConnections) {
  auto cfg = Config();
  cfg.header_timeout_s = 0.5;
  cfg.body_timeout_s = 0.5;
  cfg.keepalive_timeout_s = 0.5;
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  const double limit_s = 5 * testing::TimeScale();
  const int head = testing::Connect(s->app->http_port());
  testing::SendAll(head, "GET /readyz HTTP/1.1\r\nX-Slow: ");
  const Clock::time_point head_t = Clock::now();
  const int body = testing::Connect(s->app->api_port());
  testing::SendAll(body, "POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{");
  const Clock::time_point body_t = Clock::now();
  const int idle = testing::Connect(s->app->api_port());
  testing::SendAll(idle, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string answer = testing::ReadUntil(idle, "\r\n\r\n", 5);
  const Clock::time_point idle_t = Clock::now();  // kept alive, idle from here
  EXPECT_EQ(testing::StatusOf(answer), 200);
  for (auto [fd, t] : {std::pair{head, head_t}, {body, body_t}, {idle, idle_t}}) {
    const double ms = std::chrono::duration<double, std::milli>(ClosedAt(fd, limit_s) - t).count();
    EXPECT_GT(ms, 400);  // not before its deadline (0.5 s)
    EXPECT_LT(ms, limit_s * 1e3) << "still open";
    ::close(fd);
  }
  EXPECT_GE(s->app->probe_stats().timed_out + s->app->api_stats().timed_out, 3u);
}

TEST(HttpAttack, IdleConnectionsAndThousandStreamsCostNoThreadEach) {
  testing::RaiseFileLimit();
  auto cfg = Config();
  cfg.runtime.max_batch = 256;
  cfg.max_inflight = 1024;
  cfg.max_queue = 1024;
  cfg.header_timeout_s = 600;  // the idle connections stay for the whole test
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  const int threads0 = testing::ThreadCount();
  const int api = s->app->api_port(), probe = s->app->http_port();
  std::vector<int> idle;
  for (int i = 0; i < 2000; ++i) {
    const int fd = testing::Connect(i % 2 ? api : probe, true);
    ASSERT_GE(fd, 0) << i;
    idle.push_back(fd);
  }
  // 1,000 streams: 16 tokens each, read by one poll loop.
  const std::string body =
      R"({"prompt": "Once upon a time", "max_tokens": 16, "ignore_eos": true, "stream": true})";
  const std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  std::vector<int> streams;
  for (int i = 0; i < 1000; ++i) {
    const int fd = testing::Connect(api);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(testing::SendAll(fd, req));
    streams.push_back(fd);
  }
  std::atomic<int> done{0}, good{0};
  std::thread reader([&] {
    std::vector<std::string> in(streams.size());
    std::vector<bool> closed(streams.size(), false);
    char buf[16384];
    const Clock::time_point t0 = Clock::now();
    while (done < static_cast<int>(streams.size()) && MsSince(t0) < 240e3) {
      std::vector<pollfd> p;
      std::vector<size_t> at;
      for (size_t i = 0; i < streams.size(); ++i) {
        if (!closed[i]) {
          p.push_back({streams[i], POLLIN, 0});
          at.push_back(i);
        }
      }
      ::poll(p.data(), p.size(), 500);
      for (size_t k = 0; k < p.size(); ++k) {
        if (!p[k].revents) continue;
        const size_t i = at[k];
        const ssize_t n = ::recv(streams[i], buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) in[i].append(buf, static_cast<size_t>(n));
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
          closed[i] = true;
          ++done;
          if (in[i].find("data: [DONE]") != std::string::npos) ++good;
        }
      }
    }
  });
  int peak_threads = 0, failures = 0;
  double worst = 0;
  const Clock::time_point t0 = Clock::now();
  while (done < 1000 && MsSince(t0) < 240e3) {
    const auto [status, ms] = Get(probe, "/livez");
    if (status != 200) ++failures;
    worst = std::max(worst, ms);
    peak_threads = std::max(peak_threads, testing::ThreadCount());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  reader.join();
  std::printf(
      "2,000 idle + 1,000 streams: threads %d -> peak %d; slowest /livez %.2f ms; "
      "%d/1000 streams complete\n",
      threads0, peak_threads, worst, good.load());
  EXPECT_EQ(good, 1000);
  EXPECT_EQ(failures, 0);
  EXPECT_LT(worst, 100 * testing::TimeScale());
  EXPECT_LE(peak_threads - threads0, 2);  // no thread per connection or stream
  for (int fd : idle) ::close(fd);
  for (int fd : streams) ::close(fd);
}

}  // namespace
}  // namespace phx
