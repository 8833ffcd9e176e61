// Internal to server/http/net: the request parser a connection uses, and what its errors and
// head become. Includes Beast.
#pragma once

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/http/net/http_types.h"

namespace phx::server::net {

// A request body read into blocks: one of the announced size for Content-Length, else 64 KiB
// blocks, so a chunked body never reallocates (and copies) as it grows; joined once complete.
struct BlockBody {
  static constexpr size_t kBlock = 64 * 1024;
  struct value_type {
    std::vector<std::string> blocks;
    // The whole body (the blocks are consumed).
    std::string Join();
  };
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& b) : body_(b) {}
    void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& ec) {
      ec = {};
      if (length && *length > 0) {
        body_.blocks.emplace_back();
        body_.blocks.back().reserve(static_cast<size_t>(*length));
        fixed_ = true;
      }
    }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
      ec = {};
      size_t n = 0;
      for (auto b : boost::beast::buffers_range_ref(buffers)) {
        const char* p = static_cast<const char*>(b.data());
        size_t left = b.size();
        while (left > 0) {
          if (body_.blocks.empty() || (!fixed_ && body_.blocks.back().size() == kBlock)) {
            body_.blocks.emplace_back();
            body_.blocks.back().reserve(kBlock);
          }
          std::string& last = body_.blocks.back();
          const size_t take = fixed_ ? left : std::min(left, kBlock - last.size());
          last.append(p, take);
          p += take;
          left -= take;
          n += take;
        }
      }
      return n;
    }
    void finish(boost::system::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
    bool fixed_ = false;
  };
};

using RequestParser = boost::beast::http::request_parser<BlockBody>;

// A fresh parser with the listener's header cap. The body cap is applied once the head has
// passed its checks (ApplyBodyLimit), so an unauthenticated client gets 401, not 413.
void ResetParser(std::optional<RequestParser>* p, const HttpLimits& limits);
// After the head: 413 when Content-Length exceeds the cap, else 0 (and a chunked body is
// counted against the cap while it is read).
int ApplyBodyLimit(RequestParser& p, const HttpLimits& limits);
// The request line and headers of a parsed head (body empty).
HttpRequest HeadOf(const RequestParser& p);
// The status a read error is answered with (413 body cap, 431 header cap, 400 malformed), or 0
// when the connection just closes (the client went away, a deadline passed).
int StatusOfReadError(const boost::system::error_code& ec);

}  // namespace phx::server::net
