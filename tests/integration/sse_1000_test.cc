// Issue #9: 1,000 concurrent SSE streams on loopback are held to completion with no error
// while /readyz keeps answering within 50 ms. An in-process server on stories260K (max batch
// 256); the client is one poll() loop over 1,000 non-blocking sockets (no thread per stream);
// a separate thread probes /readyz on the probe port every 50 ms.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"

namespace phx {
namespace {

using Clock = std::chrono::steady_clock;
const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";
constexpr int kStreams = 1000;
constexpr int kTokens = 32;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void RaiseFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

struct Stream {
  int fd = -1;
  std::string out, in;
  size_t sent = 0;
  bool headers = false, closed = false;
};

// Decodes a chunked body; false when malformed or incomplete.
bool Dechunk(const std::string& body, std::string* out) {
  size_t pos = 0;
  while (true) {
    const size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    const size_t n = std::stoul(body.substr(pos, eol - pos), nullptr, 16);
    pos = eol + 2;
    if (n == 0) return true;
    if (pos + n + 2 > body.size()) return false;
    out->append(body, pos, n);
    pos += n + 2;
  }
}

// Checks one raw HTTP response: 200, SSE, every event JSON without an error, kTokens tokens
// (the usage chunk says so), a finish chunk, and [DONE] last. "" when fine, else why not.
std::string Check(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 200", 0) != 0) return "status: " + raw.substr(0, raw.find("\r\n"));
  const size_t hend = raw.find("\r\n\r\n");
  if (hend == std::string::npos) return "no header end";
  if (raw.substr(0, hend).find("text/event-stream") == std::string::npos) return "not SSE";
  std::string body;
  if (!Dechunk(raw.substr(hend + 4), &body)) return "bad chunked body";
  size_t pos = 0;
  std::vector<std::string> events;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) return "unterminated event";
    const std::string ev = body.substr(pos, end - pos);
    pos = end + 2;
    if (ev.rfind(':', 0) == 0) continue;  // an SSE comment: the server's keep-alive on idle streams
    if (ev.rfind("data: ", 0) != 0) return "not a data line: " + ev;
    events.push_back(ev.substr(6));
  }
  if (events.size() < 3 || events.back() != "[DONE]") return "does not end with [DONE]";
  bool finished = false;
  int completion_tokens = -1;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const auto j = nlohmann::json::parse(events[i], nullptr, false);
    if (j.is_discarded() || !j.is_object()) return "bad JSON: " + events[i];
    if (j.contains("error")) return "error event: " + events[i];
    if (j.contains("usage") && j["usage"].is_object()) {
      completion_tokens = j["usage"].value("completion_tokens", -1);
    }
    if (j["choices"].size() == 1 && j["choices"][0]["finish_reason"] == "length") finished = true;
  }
  if (!finished) return "no finish_reason length";
  if (completion_tokens != kTokens) return "usage says " + std::to_string(completion_tokens);
  return "";
}

TEST(Sse1000, ThousandStreamsWhileProbesAnswerFast) {
  RaiseFileLimit();
  auto cfg = testing::TestConfig(kStories);
  cfg.runtime.max_batch = 256;
  cfg.runtime.threads = 1;  // a 260K-parameter model decodes fastest on one thread
  cfg.max_inflight = 1024;  // every stream is admitted: all 1,000 are open at once
  cfg.max_queue = 1024;
  cfg.response_cache_mb = 0;
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  const int api_port = server->app->api_port();
  const int probe_port = server->app->http_port();
  ASSERT_GT(api_port, 0);

  // The probe thread: GET /readyz every 50 ms on a new connection, like a kubelet.
  std::atomic<bool> stop{false};
  std::vector<double> probe_ms;
  std::vector<int> probe_status;
  std::thread prober([&] {
    while (!stop) {
      const Clock::time_point t = Clock::now();
      httplib::Client c("127.0.0.1", probe_port);
      c.set_connection_timeout(2, 0);
      c.set_read_timeout(2, 0);
      auto r = c.Get("/readyz");
      probe_ms.push_back(Ms(t, Clock::now()));
      probe_status.push_back(r ? r->status : -1);
      std::this_thread::sleep_until(t + std::chrono::milliseconds(50));
    }
  });

  const Clock::time_point t0 = Clock::now();
  std::vector<Stream> streams(kStreams);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(api_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < kStreams; ++i) {
    Stream& s = streams[i];
    s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(s.fd, 0) << "socket: " << std::strerror(errno);
    const int rc = ::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
    const std::string body =
        R"({"prompt": "Once upon a time", "max_tokens": 32, "ignore_eos": true, "stream": true,)"
        R"( "stream_options": {"include_usage": true}, "temperature": 0.8, "seed": )" +
        std::to_string(i) + "}";
    s.out =
        "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  // One poll loop: write each request, read until the server closes the connection.
  int open = kStreams, streaming = 0, peak_streaming = 0;
  const Clock::time_point deadline = t0 + std::chrono::minutes(5);
  std::vector<pollfd> pfds;
  std::vector<int> index;
  char buf[16384];
  while (open > 0 && Clock::now() < deadline) {
    pfds.clear();
    index.clear();
    for (int i = 0; i < kStreams; ++i) {
      const Stream& s = streams[i];
      if (s.closed) continue;
      pfds.push_back({s.fd, static_cast<short>(s.sent < s.out.size() ? POLLOUT : POLLIN), 0});
      index.push_back(i);
    }
    if (::poll(pfds.data(), pfds.size(), 1000) < 0 && errno != EINTR) FAIL() << "poll";
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (pfds[k].revents == 0) continue;
      Stream& s = streams[index[k]];
      if (s.sent < s.out.size()) {
        const ssize_t n = ::send(s.fd, s.out.data() + s.sent, s.out.size() - s.sent, MSG_NOSIGNAL);
        if (n > 0) s.sent += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN) {
          s.closed = true;
          --open;
        }
        continue;
      }
      ssize_t n;
      while ((n = ::recv(s.fd, buf, sizeof(buf), 0)) > 0) s.in.append(buf, static_cast<size_t>(n));
      if (!s.headers && s.in.find("\r\n\r\n") != std::string::npos) {
        s.headers = true;
        peak_streaming = std::max(peak_streaming, ++streaming);
      }
      if (n == 0 || (n < 0 && errno != EAGAIN)) {
        s.closed = true;
        --open;
        if (s.headers) --streaming;
      }
    }
  }
  const double total_s = Ms(t0, Clock::now()) / 1e3;
  stop = true;
  prober.join();

  int good = 0;
  std::string first_problem;
  for (int i = 0; i < kStreams; ++i) {
    ::close(streams[i].fd);
    const std::string why = streams[i].closed ? Check(streams[i].in) : "not finished in time";
    if (why.empty()) {
      ++good;
    } else if (first_problem.empty()) {
      first_problem = "stream " + std::to_string(i) + ": " + why;
    }
  }
  const double slowest = probe_ms.empty() ? 0 : *std::max_element(probe_ms.begin(), probe_ms.end());
  const int ready_503 = static_cast<int>(std::count(probe_status.begin(), probe_status.end(), 503));
  std::printf(
      "%d/%d streams complete in %.2f s (peak %d open at once); %zu /readyz probes, "
      "slowest %.2f ms (%d answered 503 not-ready)\n",
      good, kStreams, total_s, peak_streaming, probe_ms.size(), slowest, ready_503);
  EXPECT_EQ(good, kStreams) << first_problem;
  EXPECT_LT(total_s, 300);
  EXPECT_GE(peak_streaming, kStreams * 9 / 10) << "the streams were not concurrent";
  ASSERT_FALSE(probe_ms.empty());
  for (size_t i = 0; i < probe_ms.size(); ++i) {
    EXPECT_TRUE(probe_status[i] == 200 || probe_status[i] == 503) << probe_status[i];
    EXPECT_LT(probe_ms[i], 50.0 * testing::TimeScale()) << "probe " << i;
  }
  EXPECT_EQ(server->app->gate().active(), 0);
}

}  // namespace
}  // namespace phx
