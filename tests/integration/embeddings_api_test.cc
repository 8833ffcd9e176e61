// Embeddings through the whole server: POST /v1/embeddings and gRPC Embed on a synthesized
// llama served with --embeddings --pooling mean. The same input gives the same vector over
// HTTP (float and base64) and gRPC (normalized, and raw then normalized here); dimensions
// truncate then renormalize; errors name the field; a client that disconnects cancels every
// input; a server without --embeddings refuses; the metrics count embedding tokens apart from
// prompt tokens.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"
#include "tests/support/tiny_synth.h"

namespace phx {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

std::string SynthModel() {
  const auto dir = std::filesystem::temp_directory_path() / "phx_embeddings_api_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "llama.gguf").string();
  const model::SynthOptions o =
      testing::TinySynth("llama", kStories, 256, {.n_layer = 2, .n_embd = 64, .n_head = 4});
  EXPECT_TRUE(model::SynthesizeModel(o, path).ok());
  return path;
}

std::unique_ptr<testing::TestServer> Start(bool embeddings) {
  auto c = testing::TestConfig(SynthModel());
  c.runtime.threads = 1;
  c.runtime.max_tokens_per_step = 64;
  c.runtime.max_batch = 8;
  c.runtime.embeddings = embeddings;
  if (embeddings) c.runtime.pooling = "mean";
  return testing::TestServer::Start(c);
}

json Post(const testing::TestServer& s, const std::string& body, int* status) {
  httplib::Client c("127.0.0.1", s.app->api_port());
  c.set_read_timeout(60, 0);
  auto r = c.Post("/v1/embeddings", body, "application/json");
  *status = r ? r->status : -1;
  return r ? json::parse(r->body, nullptr, false) : json();
}

std::vector<float> Floats(const json& a) { return a.get<std::vector<float>>(); }

std::vector<float> FromBase64(const std::string& b) {
  auto val = [](char c) -> uint32_t {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
  };
  std::string bytes;
  for (size_t i = 0; i + 3 < b.size(); i += 4) {
    uint32_t n = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) n = (n << 6) | (b[i + k] == '=' ? (++pad, 0u) : val(b[i + k]));
    for (int k = 0; k < 3 - pad; ++k) bytes.push_back(static_cast<char>(n >> (16 - 8 * k)));
  }
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);  // little-endian host, as the wire
  return v;
}

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

TEST(EmbeddingsApi, HttpAndGrpcAgree) {
  auto s = Start(true);
  ASSERT_NE(s, nullptr);
  int st = 0;
  const json f = Post(*s, R"({"input": ["Once upon a time", "The end"]})", &st);
  ASSERT_EQ(st, 200) << f.dump();
  ASSERT_EQ(f["data"].size(), 2u);
  EXPECT_EQ(f["object"], "list");
  EXPECT_EQ(f["data"][1]["index"], 1);
  const auto v0 = Floats(f["data"][0]["embedding"]);
  ASSERT_EQ(v0.size(), 64u);
  EXPECT_NEAR(Norm(v0), 1.0, 1e-5);
  EXPECT_NE(v0, Floats(f["data"][1]["embedding"]));
  const auto ids = s->app->gate().frontend().Tokenize("Once upon a time", true, true);
  const auto ids2 = s->app->gate().frontend().Tokenize("The end", true, true);
  ASSERT_TRUE(ids.ok() && ids2.ok());
  EXPECT_EQ(f["usage"]["prompt_tokens"], ids->size() + ids2->size());
  EXPECT_EQ(f["usage"]["total_tokens"], ids->size() + ids2->size());
  const json t = Post(*s, R"({"input": [[1, 20, 30, 40]]})", &st);
  ASSERT_EQ(st, 200) << t.dump();
  const auto v1 = Floats(t["data"][0]["embedding"]);
  EXPECT_EQ(t["usage"]["prompt_tokens"], 4);

  // base64: the same floats, bit for bit.
  const json b = Post(*s, R"({"input": ["Once upon a time"], "encoding_format": "base64"})", &st);
  ASSERT_EQ(st, 200) << b.dump();
  EXPECT_EQ(FromBase64(b["data"][0]["embedding"].get<std::string>()), v0);

  // dimensions: the first 16 components renormalized.
  const json d = Post(*s, R"({"input": [1, 20, 30, 40], "dimensions": 16})", &st);
  ASSERT_EQ(st, 200) << d.dump();
  const auto v16 = Floats(d["data"][0]["embedding"]);
  ASSERT_EQ(v16.size(), 16u);
  std::vector<float> head(v1.begin(), v1.begin() + 16);
  const double n = Norm(head);
  for (size_t i = 0; i < 16; ++i) EXPECT_NEAR(v16[i], head[i] / n, 1e-6);

  // gRPC Embed: normalized equals HTTP; raw is the same direction.
  auto stub = s->Stub();
  phalanx::v1::EmbedRequest req;
  req.add_inputs()->set_text("Once upon a time");
  auto* ids_in = req.add_inputs()->mutable_token_ids();
  for (int id : {1, 20, 30, 40}) ids_in->add_ids(id);
  phalanx::v1::EmbedResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->Embed(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.embeddings_size(), 2);
  EXPECT_EQ(resp.embeddings(1).prompt_tokens(), 4);
  const auto g0 = resp.embeddings(0).values();
  EXPECT_EQ(std::vector<float>(g0.begin(), g0.end()), v0);
  const auto g1 = resp.embeddings(1).values();
  EXPECT_EQ(std::vector<float>(g1.begin(), g1.end()), v1);
  req.set_normalize(false);
  phalanx::v1::EmbedResponse raw;
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub->Embed(&ctx2, req, &raw).ok());
  std::vector<float> r0(raw.embeddings(0).values().begin(), raw.embeddings(0).values().end());
  const double rn = Norm(r0);
  EXPECT_GT(std::fabs(rn - 1.0), 1e-3);  // not normalized
  for (size_t i = 0; i < r0.size(); ++i) EXPECT_NEAR(r0[i] / rn, v0[i], 1e-6);

  // Metrics: embedding tokens apart from prompt tokens.
  httplib::Client m("127.0.0.1", s->app->http_port());
  auto metrics = m.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("phalanx_embedding_tokens_total"));
  EXPECT_THAT(metrics->body, HasSubstr("rpc=\"http_embeddings\""));
  EXPECT_THAT(metrics->body, HasSubstr("rpc=\"Embed\""));
  EXPECT_THAT(metrics->body, HasSubstr("phalanx_prompt_tokens_total 0"));
}

TEST(EmbeddingsApi, ErrorsNameTheField) {
  auto s = Start(true);
  ASSERT_NE(s, nullptr);
  struct Case {
    std::string body;
    int status;
    std::string param, message;
  };
  const Case cases[] = {
      {R"({"input": "x", "dimensions": 65})", 400, "dimensions", "dimensions must be in [1, 64]"},
      {R"({"input": "x", "encoding_format": "hex"})", 400, "encoding_format", "encoding_format"},
      {R"({"input": "x", "temperature": 0})", 400, "temperature", "temperature"},
      {R"({"input": [[1, 2], [1, 99999]]})", 400, "input", "input[1] token id 99999"},
      {R"({"input": ["ok", [1, 2]]})", 400, "input", "(input[1] is not a string)"},
      {R"({"input": []})", 400, "input", "input must not be an empty array"},
      {R"({"model": "other", "input": "x"})", 404, "model", "does not exist"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body.substr(0, 80));
    int st = 0;
    const json e = Post(*s, c.body, &st);
    EXPECT_EQ(st, c.status) << e.dump();
    EXPECT_EQ(e["error"]["param"], c.param) << e.dump();
    EXPECT_THAT(e["error"]["message"].get<std::string>(), HasSubstr(c.message));
  }
  // An input longer than the context: named with its index.
  json big = {{"input", json::array({json::array({1}), json::array()})}};
  for (int i = 0; i < 300; ++i) big["input"][1].push_back(5);
  int st = 0;
  const json e = Post(*s, big.dump(), &st);
  EXPECT_EQ(st, 400);
  EXPECT_EQ(e["error"]["param"], "input");
  EXPECT_THAT(e["error"]["message"].get<std::string>(), HasSubstr("input[1] has 300 tokens"));
  // gRPC: the same checks, INVALID_ARGUMENT naming the field.
  auto stub = s->Stub();
  phalanx::v1::EmbedRequest req;
  req.add_inputs()->set_text("a");
  req.add_inputs()->mutable_token_ids()->add_ids(99999);
  phalanx::v1::EmbedResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status gs = stub->Embed(&ctx, req, &resp);
  EXPECT_EQ(gs.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(gs.error_message(), HasSubstr("inputs[1] token id 99999"));
  req.set_dimensions(0);
  grpc::ClientContext ctx2;
  EXPECT_THAT(stub->Embed(&ctx2, req, &resp).error_message(), HasSubstr("dimensions must be"));
  phalanx::v1::EmbedRequest none;
  grpc::ClientContext ctx3;
  EXPECT_EQ(stub->Embed(&ctx3, none, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// A client that goes away cancels every input of its request, queued or running: the engine
// produces fewer vectors than asked, the gate empties, and the inputs are counted CANCELLED.
TEST(EmbeddingsApi, DisconnectCancelsEveryInput) {
  auto s = Start(true);
  ASSERT_NE(s, nullptr);
  json body = {{"input", json::array()}};
  for (int i = 0; i < 64; ++i) {
    json ids = json::array();
    for (int j = 0; j < 200; ++j) ids.push_back(1 + (i * 7 + j * 13) % 500);
    body["input"].push_back(ids);
  }
  const std::string b = body.dump();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(s->app->api_port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  const std::string req =
      "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(b.size()) +
      "\r\n\r\n" + b;
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  // Wait until the engine works on it, then go away.
  for (int i = 0; i < 2000 && s->engine()->stats().embedding_tokens == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::close(fd);
  for (int i = 0; i < 1000 && s->app->gate().active() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(s->app->gate().active(), 0);
  EXPECT_LT(s->engine()->stats().embeddings, 64u);
  EXPECT_EQ(s->engine()->stats().blocks_used, 0);
  httplib::Client m("127.0.0.1", s->app->http_port());
  auto metrics = m.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("code=\"CANCELLED\",rpc=\"http_embeddings\""));
}

TEST(EmbeddingsApi, OffWithoutEmbeddingsFlag) {
  auto s = Start(false);
  ASSERT_NE(s, nullptr);
  int st = 0;
  const json e = Post(*s, R"({"input": "hello"})", &st);
  EXPECT_EQ(st, 400);
  EXPECT_THAT(e["error"]["message"].get<std::string>(), HasSubstr("--embeddings"));
  auto stub = s->Stub();
  phalanx::v1::EmbedRequest req;
  req.add_inputs()->set_text("a");
  phalanx::v1::EmbedResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub->Embed(&ctx, req, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace phx
