// Raw bytes into the HTTP/1.1 request parser layer (server/http/net): Beast's parser with the
// listener's limits and the head checks a connection applies, fed whole and split at a point
// the input picks. Checks: a complete request respects the caps (header count, body size, no
// Content-Encoding), the split and whole parses agree, and an answer serialized with header
// values taken from the input never carries a CR or LF into a header line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/http/net/parse.h"
#include "server/http/net/wire.h"

namespace {

using phx::server::net::HttpLimits;
using phx::server::net::ParseOutcome;
using phx::server::net::ParseRequestBytes;

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  HttpLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_header_count = 16;
  limits.max_body_bytes = 4096;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const ParseOutcome whole = ParseRequestBytes(bytes, limits);
  Check(whole.consumed <= bytes.size());
  if (whole.status == 0) {
    Check(whole.request.headers.size() <= limits.max_header_count);
    Check(whole.request.body.size() <= limits.max_body_bytes);
    const std::string_view enc = whole.request.header("content-encoding");
    Check(enc.empty() || phx::server::net::EqualsIgnoreCase(enc, "identity"));
    // A proper prefix of a complete request is incomplete; the request itself is complete.
    const size_t cut = data[0] % (whole.consumed + 1);
    const ParseOutcome part = ParseRequestBytes(bytes.substr(0, cut), limits);
    Check(cut == whole.consumed ? part.status == 0 : part.status == -1);
  }
  // Header values from the input (a request id echoed back) cannot split the answer's head.
  phx::server::net::HttpResponse r;
  for (const auto& h : whole.request.headers) r.headers.push_back(h);
  r.headers.push_back({"X-Request-Id", std::string(bytes.substr(0, 64))});
  const std::string head = phx::server::net::SerializeHead(r, false, true);
  size_t lines = 0;
  for (size_t p = 0; (p = head.find("\r\n", p)) != std::string::npos; p += 2) ++lines;
  // Status line + Content-Type + each header + Content-Length + blank line.
  Check(lines == r.headers.size() + 4);
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n') Check(i > 0 && head[i - 1] == '\r');
    if (head[i] == '\r') Check(i + 1 < head.size() && head[i + 1] == '\n');
  }
  return 0;
}
