// Raw-socket HTTP helpers for the attack tests: clients that misbehave on purpose (slow
// headers, huge or compressed bodies, resets), the server process's peak memory and thread
// count, and a poll loop that sends a body while watching for an early answer.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#if defined(__SANITIZE_THREAD__)
#define PHX_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PHX_TSAN_BUILD 1
#endif
#endif

namespace phx::testing {

// Peak-RSS bounds are checked in release and ASan builds (ASan's shadow is 1/8 of the heap);
// under TSan every heap byte has several bytes of shadow, so RSS is not comparable there.
#ifdef PHX_TSAN_BUILD
inline constexpr bool kRssComparable = false;
#else
inline constexpr bool kRssComparable = true;
#endif

using Clock = std::chrono::steady_clock;

inline double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

inline void RaiseFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

// A connected TCP socket to 127.0.0.1:port (-1 on failure); blocking unless `nonblock`.
inline int Connect(int port, bool nonblock = false, int rcvbuf = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  if (rc != 0 && !(nonblock && errno == EINPROGRESS)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline void SetRecvTimeout(int fd, double seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

inline bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads until `what` appears, EOF, an error or the receive timeout; returns what was read.
inline std::string ReadUntil(int fd, const std::string& what, double timeout_s = 30) {
  SetRecvTimeout(fd, timeout_s);
  std::string in;
  char buf[16384];
  ssize_t n;
  while (in.find(what) == std::string::npos && (n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
    in.append(buf, static_cast<size_t>(n));
  }
  return in;
}

// A reset instead of a FIN: SO_LINGER 0, then close.
inline void Reset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  ::close(fd);
}

// The HTTP status of a raw answer (0 when none).
inline int StatusOf(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return 0;
  return std::atoi(raw.c_str() + 9);
}

// A field of /proc/self/status in KiB ("VmHWM", "VmRSS").
inline long ProcKb(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

// Resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
inline bool ResetPeakRss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  return static_cast<bool>(f);
}

inline int ThreadCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

struct EarlyAnswer {
  std::string answer;       // what the server sent (status line first)
  size_t body_sent = 0;     // body bytes the client had sent when the answer arrived
  bool whole_body = false;  // the client got to send all of it
};

// Sends `head`, then `body_size` body bytes made by `next_chunk(size_t offset)` (each call
// returns a view of the next piece, which must stay valid until the next call: the client
// allocates nothing per piece, so the process's peak RSS is the server's), reading meanwhile;
// stops when an answer's head arrived.
template <class NextChunk>
EarlyAnswer SendWatching(int port, const std::string& head, size_t body_size, NextChunk next_chunk,
                         double timeout_s = 60) {
  EarlyAnswer r;
  const int fd = Connect(port, true);
  if (fd < 0) return r;
  std::string_view out = head;
  size_t off = 0;  // into out
  bool in_head = true;
  const Clock::time_point t0 = Clock::now();
  char buf[16384];
  while (MsSince(t0) < timeout_s * 1e3) {
    if (off == out.size()) {
      in_head = false;
      if (r.body_sent < body_size) {
        out = next_chunk(r.body_sent);
        off = 0;
      } else {
        r.whole_body = true;
      }
    }
    const bool sending = off < out.size();
    pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 200) < 0) break;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 0) r.answer.append(buf, static_cast<size_t>(n));
      if (r.answer.find("\r\n\r\n") != std::string::npos || n == 0 || (n < 0 && errno != EAGAIN)) {
        break;
      }
    }
    if (sending && (p.revents & POLLOUT)) {
      const ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) break;
      if (n > 0) {
        off += static_cast<size_t>(n);
        if (!in_head) r.body_sent += static_cast<size_t>(n);
      }
    }
  }
  ::close(fd);
  return r;
}

// The value of an unlabelled (or fully labelled) series in /metrics text; -1 when absent.
inline double MetricValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::atof(line.c_str() + series.size() + 1);
  }
  return -1;
}

}  // namespace phx::testing
