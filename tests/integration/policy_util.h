// Helpers of the policy attack tests (issue 23): request builders, a keys file, the audit log
// read back, and a minimal HTTP/1.1 client over a raw loopback socket (it tests behaviour, not
// the HTTP library the server happens to use).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "phalanx/v1/generate.pb.h"
#include "server/auth/api_keys.h"
#include "tests/integration/raw_http.h"

namespace phx::testing {

inline phalanx::v1::GenerateRequest Greedy(const std::string& prompt, int max_tokens) {
  phalanx::v1::GenerateRequest r;
  r.set_text(prompt);
  r.mutable_sampling()->set_temperature(0);
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);
  return r;
}

// An engine step hook that makes every step take 20 ms more, so a 480-token request stays in
// flight for seconds (ServeConfig::step_hook_for_testing).
inline void SlowSteps(double) { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

// A fresh directory removed at the end of the test.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() /
             fmt::format("phx_{}_{}_{}", name, ::getpid(), counter_++)) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~ScratchDir() { std::filesystem::remove_all(dir_); }
  std::string File(const std::string& f) const { return (dir_ / f).string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
};

// One keys-file entry: the key string is "key-<id>".
struct TestKey {
  std::string id;
  std::string extra;  // YAML lines for the entry, e.g. "    max_priority: 1000\n"
};

inline void WriteKeys(const std::string& path, const std::vector<TestKey>& keys) {
  std::ofstream f(path);
  f << "keys:\n";
  for (const TestKey& k : keys) {
    f << "  - id: " << k.id << "\n    sha256: " << server::DigestHex(server::Sha256("key-" + k.id))
      << "\n"
      << k.extra;
  }
}

inline std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  return lines;
}

inline uintmax_t FileSize(const std::string& path) {
  std::error_code ec;
  const uintmax_t n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};

// Sends `head` + `body` to 127.0.0.1:port (HTTP/1.1, Connection: close) and reads the whole
// answer (10 s receive timeout).
inline HttpReply RawHttp(int port, const std::string& method, const std::string& path,
                         const std::string& body = "", const std::string& headers = "") {
  HttpReply out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return out;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return out;
  }
  std::string req = fmt::format(
      "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: "
      "application/json\r\nContent-Length: {}\r\n{}\r\n",
      method, path, body.size(), headers);
  req += body;
  size_t sent = 0;
  while (sent < req.size()) {
    const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer (and close) before reading everything
    sent += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;)
    resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.size() < 12) return out;
  out.status = std::atoi(resp.c_str() + 9);
  const size_t b = resp.find("\r\n\r\n");
  if (b != std::string::npos) out.body = resp.substr(b + 4);
  return out;
}

}  // namespace phx::testing
