#include "server/http/net/parse.h"

#include <limits>
#include <optional>
#include <string>

#include "server/http/net/beast_parse.h"
#include "server/http/net/wire.h"

namespace phx::server::net {
namespace {

namespace http = boost::beast::http;

template <class View>
std::string Str(const View& v) {
  return std::string(v.data(), v.size());
}

}  // namespace

std::string BlockBody::value_type::Join() {
  if (blocks.size() == 1) return std::move(blocks[0]);
  size_t n = 0;
  for (const auto& b : blocks) n += b.size();
  std::string out;
  out.reserve(n);
  for (auto& b : blocks) {
    out += b;
    std::string().swap(b);
  }
  blocks.clear();
  return out;
}

void ResetParser(std::optional<RequestParser>* p, const HttpLimits& limits) {
  p->emplace();
  (*p)->header_limit(limits.max_header_bytes);
  // No body cap while the head is parsed (Beast would refuse a large Content-Length before
  // the API key was looked at); ApplyBodyLimit sets it.
  (*p)->body_limit(std::numeric_limits<std::uint64_t>::max());
}

int ApplyBodyLimit(RequestParser& p, const HttpLimits& limits) {
  if (const auto n = p.content_length(); n && *n > limits.max_body_bytes) return 413;
  p.body_limit(limits.max_body_bytes);
  return 0;
}

HttpRequest HeadOf(const RequestParser& p) {
  const auto& msg = p.get();
  HttpRequest head;
  head.method = Str(msg.method_string());
  head.target = Str(msg.target());
  head.path = head.target.substr(0, head.target.find('?'));
  for (const auto& f : msg) head.headers.push_back({Str(f.name_string()), Str(f.value())});
  return head;
}

int StatusOfReadError(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == http::error::need_more) {
    return 0;
  }
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) return 400;
  return 0;
}

ParseOutcome ParseRequestBytes(std::string_view bytes, const HttpLimits& limits) {
  ParseOutcome out;
  std::optional<RequestParser> p;
  ResetParser(&p, limits);
  p->eager(false);
  bool head_checked = false;
  while (true) {
    boost::system::error_code ec;
    const std::string_view rest = bytes.substr(out.consumed);
    const size_t n = p->put(boost::asio::buffer(rest.data(), rest.size()), ec);
    out.consumed += n;
    if (ec && ec != http::error::need_more) {
      out.status = StatusOfReadError(ec);
      if (out.status == 0) out.status = 400;
      return out;
    }
    if (p->is_header_done() && !head_checked) {
      head_checked = true;
      out.request = HeadOf(*p);
      if (auto problem = CheckRequestHead(out.request, limits)) {
        out.status = problem->status;
        return out;
      }
      if (const int status = ApplyBodyLimit(*p, limits); status != 0) {
        out.status = status;
        return out;
      }
      p->eager(true);
    }
    if (p->is_done()) {
      out.request.body = p->get().body().Join();
      out.status = 0;
      return out;
    }
    if (n == 0) return out;  // incomplete: the bytes end before the request
  }
}

}  // namespace phx::server::net
