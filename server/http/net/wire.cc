#include "server/http/net/wire.h"

#include <cctype>
#include <cstdio>

namespace phx::server::net {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void AppendClean(std::string* out, std::string_view s) {
  for (char c : s) {
    if (c != '\r' && c != '\n' && c != '\0') out->push_back(c);
  }
}

void AppendHeader(std::string* out, std::string_view name, std::string_view value) {
  AppendClean(out, name);
  out->append(": ");
  AppendClean(out, value);
  out->append("\r\n");
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view HttpRequest::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

std::optional<HeadProblem> CheckRequestHead(const HttpRequest& head, const HttpLimits& limits) {
  if (head.headers.size() > limits.max_header_count) {
    return HeadProblem{431, "more than " + std::to_string(limits.max_header_count) + " headers"};
  }
  for (const Header& h : head.headers) {
    if (EqualsIgnoreCase(h.name, "content-encoding")) {
      // Bodies are never decompressed: a small compressed body could inflate past every cap.
      std::string_view v = Trim(h.value);
      if (!v.empty() && !EqualsIgnoreCase(v, "identity")) {
        return HeadProblem{415, "Content-Encoding is not supported: send an identity body"};
      }
    } else if (EqualsIgnoreCase(h.name, "transfer-encoding")) {
      if (!EqualsIgnoreCase(Trim(h.value), "chunked")) {
        return HeadProblem{415, "Transfer-Encoding other than chunked is not supported"};
      }
    }
  }
  return std::nullopt;
}

std::string SerializeHead(const HttpResponse& r, bool chunked, bool keep_alive) {
  std::string out;
  out.reserve(256);
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += ReasonPhrase(r.status);
  out += "\r\n";
  if (!r.content_type.empty()) AppendHeader(&out, "Content-Type", r.content_type);
  for (const Header& h : r.headers) AppendHeader(&out, h.name, h.value);
  if (chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  } else {
    out += "Content-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\n";
  }
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

std::string SerializeResponse(const HttpResponse& r, bool keep_alive) {
  std::string out = SerializeHead(r, false, keep_alive);
  out += r.body;
  return out;
}

std::string ChunkFrame(std::string_view data) {
  if (data.empty()) return {};
  char size[20];
  const int n = std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  std::string out;
  out.reserve(static_cast<size_t>(n) + data.size() + 2);
  out.append(size, static_cast<size_t>(n));
  out.append(data);
  out += "\r\n";
  return out;
}

}  // namespace phx::server::net
