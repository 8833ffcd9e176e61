// HTTP/1.1 on the wire, without Boost: the checks a request head must pass before its body is
// read (header count, no compressed bodies, no transfer coding but chunked) and the bytes of
// an answer (status line and headers, chunk framing). Shared by the connections and the
// parser fuzzer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "server/http/net/http_types.h"

namespace phx::server::net {

struct HeadProblem {
  int status = 400;
  std::string message;
};

// What the request line and headers alone rule out: more than max_header_count headers (431),
// a Content-Encoding other than identity (415: bodies are never decompressed), a
// Transfer-Encoding other than chunked (415).
std::optional<HeadProblem> CheckRequestHead(const HttpRequest& head, const HttpLimits& limits);

// The status line and headers of `r`, ending with the blank line. `chunked`: Transfer-Encoding:
// chunked, else Content-Length of r.body. CR and LF never reach a header.
std::string SerializeHead(const HttpResponse& r, bool chunked, bool keep_alive);
// A whole answer: the head and the body.
std::string SerializeResponse(const HttpResponse& r, bool keep_alive);
// One chunk of a chunked body ("" for empty data, which would end the body).
std::string ChunkFrame(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Case-insensitive ASCII comparison.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace phx::server::net
