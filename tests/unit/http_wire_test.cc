// The HTTP layer's parsing and serialization without sockets (server/http/net/wire.h, parse.h):
// the caps a request must pass (header bytes and count, body size for Content-Length and
// chunked bodies, no compressed bodies), pipelined requests, and answers whose header values
// cannot inject lines.
#include <gtest/gtest.h>

#include <string>

#include "server/http/net/parse.h"
#include "server/http/net/wire.h"

namespace phx::server::net {
namespace {

HttpLimits Small() {
  HttpLimits l;
  l.max_header_bytes = 1024;
  l.max_header_count = 8;
  l.max_body_bytes = 100;
  return l;
}

TEST(HttpWire, ParsesACompleteRequestAndStopsAtItsEnd) {
  const std::string a =
      "POST /v1/completions?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
      "Authorization: Bearer k\r\n\r\nhello";
  const ParseOutcome r = ParseRequestBytes(a + "GET / HTTP/1.1\r\n\r\n", Small());
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.consumed, a.size());
  EXPECT_EQ(r.request.method, "POST");
  EXPECT_EQ(r.request.path, "/v1/completions");
  EXPECT_EQ(r.request.target, "/v1/completions?x=1");
  EXPECT_EQ(r.request.header("authorization"), "Bearer k");
  EXPECT_EQ(r.request.header("AUTHORIZATION"), "Bearer k");
  EXPECT_EQ(r.request.body, "hello");
  EXPECT_EQ(ParseRequestBytes(a.substr(0, a.size() - 1), Small()).status, -1);
}

TEST(HttpWire, ChunkedBodiesCountAgainstTheCap) {
  std::string chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string fits = chunked + "32\r\n" + std::string(50, 'a') + "\r\n0\r\n\r\n";
  const ParseOutcome ok = ParseRequestBytes(fits, Small());
  ASSERT_EQ(ok.status, 0);
  EXPECT_EQ(ok.request.body.size(), 50u);
  std::string over = chunked;
  for (int i = 0; i < 3; ++i) over += "32\r\n" + std::string(50, 'a') + "\r\n";
  EXPECT_EQ(ParseRequestBytes(over, Small()).status, 413);
  EXPECT_EQ(ParseRequestBytes("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", Small()).status,
            413);
}

TEST(HttpWire, HeaderCapsAre431) {
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 9; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(ParseRequestBytes(many + "\r\n", Small()).status, 431);
  const std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n";
  EXPECT_EQ(ParseRequestBytes(big, Small()).status, 431);
  EXPECT_EQ(ParseRequestBytes("GET / HTTP/1.1\r\n" + std::string(2000, 'b'), Small()).status, 431);
}

TEST(HttpWire, CompressedBodiesAre415AndGarbageIs400) {
  EXPECT_EQ(ParseRequestBytes("POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n"
                              "\r\nabc",
                              Small())
                .status,
            415);
  EXPECT_EQ(ParseRequestBytes("POST / HTTP/1.1\r\nContent-Encoding: identity\r\n"
                              "Content-Length: 3\r\n\r\nabc",
                              Small())
                .status,
            0);
  EXPECT_EQ(
      ParseRequestBytes("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Small())
          .status,
      415);
  EXPECT_EQ(ParseRequestBytes("NOT HTTP AT ALL\r\n\r\n", Small()).status, 400);
  EXPECT_EQ(ParseRequestBytes("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", Small()).status, 400);
}

TEST(HttpWire, AnswersCannotBeSplitByHeaderValues) {
  HttpResponse r;
  r.status = 429;
  r.headers = {{"X-Request-Id", "a\r\nSet-Cookie: x=1"}, {"Retry-After", "3"}};
  r.body = "{}";
  const std::string s = SerializeResponse(r, false);
  EXPECT_EQ(s,
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
            "X-Request-Id: aSet-Cookie: x=1\r\nRetry-After: 3\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\n{}");
  EXPECT_EQ(ChunkFrame("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(ChunkFrame(""), "");
  EXPECT_NE(SerializeHead(r, true, true).find("Transfer-Encoding: chunked\r\n"), std::string::npos);
}

}  // namespace
}  // namespace phx::server::net
