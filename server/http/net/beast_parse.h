// Internal to server/http/net: the request parser a connection uses, and what its errors and
// head become. Includes Beast.
#pragma once

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>

#include "server/http/net/http_types.h"

namespace phx::server::net {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// A fresh parser with the listener's header and body caps.
void ResetParser(std::optional<RequestParser>* p, const HttpLimits& limits);
// The request line and headers of a parsed head (body empty).
HttpRequest HeadOf(const RequestParser& p);
// The status a read error is answered with (413 body cap, 431 header cap, 400 malformed), or 0
// when the connection just closes (the client went away, a deadline passed).
int StatusOfReadError(const boost::system::error_code& ec);

}  // namespace phx::server::net
