// One HTTP/1.1 request parsed from bytes already in memory, exactly as a connection parses it
// (Beast's parser with the same limits, then the same head checks): for the parser fuzzer and
// tests. Connections use the pieces in beast_parse.h.
#pragma once

#include <string_view>

#include "server/http/net/http_types.h"

namespace phx::server::net {

struct ParseOutcome {
  // 0: a complete request; -1: the bytes end before the request does; else the status the
  // connection answers with (400, 413, 415, 431) before closing.
  int status = -1;
  HttpRequest request;  // the head (and body when complete)
  size_t consumed = 0;  // bytes of `bytes` used
};

ParseOutcome ParseRequestBytes(std::string_view bytes, const HttpLimits& limits);

}  // namespace phx::server::net
