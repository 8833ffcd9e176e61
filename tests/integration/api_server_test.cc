// The OpenAI HTTP API against a real in-process server: a client leaving mid-stream cancels
// its request, overload answers 429 with Retry-After, degraded answers carry
// x-phalanx-degraded, a drain finishes open streams and refuses new requests with 503, TLS
// and mutual TLS, and a chat template read from a GGUF (phi-3's vocabulary).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"
#include "tests/support/tiny_synth.h"

namespace phx {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

// A long greedy generation (the context is 512 tokens).
const std::string kLong =
    R"({"prompt": "Once upon a time", "max_tokens": 480, "ignore_eos": true, "temperature": 0,
        "stream": true})";

server::ServeConfig Config() {
  auto c = testing::TestConfig(kStories);
  c.runtime.threads = 1;
  return c;
}

std::unique_ptr<httplib::Client> Api(const testing::TestServer& s) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", s.app->api_port());
  c->set_read_timeout(60, 0);
  return c;
}

std::string Metrics(const testing::TestServer& s) {
  httplib::Client c("127.0.0.1", s.app->http_port());
  auto r = c.Get("/metrics");
  return r ? r->body : "";
}

bool WaitIdle(const testing::TestServer& s) {
  for (int i = 0; i < 500 && s.app->gate().active() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return s.app->gate().active() == 0;
}

// Opens a raw connection and sends a POST; returns the socket.
int Post(int port, const std::string& path, const std::string& body) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return -1;
  const std::string req = "POST " + path +
                          " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  return fd;
}

// Reads until `what` appears (or EOF); returns what was read.
std::string ReadUntil(int fd, const std::string& what) {
  std::string in;
  char buf[4096];
  ssize_t n;
  while (in.find(what) == std::string::npos && (n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
    in.append(buf, static_cast<size_t>(n));
  }
  return in;
}

TEST(ApiServer, ClientLeavingMidStreamCancelsTheRequest) {
  auto s = testing::TestServer::Start(Config());
  ASSERT_NE(s, nullptr);
  const int fd = Post(s->app->api_port(), "/v1/completions", kLong);
  ASSERT_GE(fd, 0);
  const std::string got = ReadUntil(fd, "data: {");
  ASSERT_NE(got.find("200 OK"), std::string::npos) << got;
  ::close(fd);
  ASSERT_TRUE(WaitIdle(*s));
  const std::string m = Metrics(*s);
  EXPECT_NE(m.find("code=\"CANCELLED\",rpc=\"http_completions\"} 1"), std::string::npos) << m;
  // The generation stopped early.
  const size_t at = m.find("\nphalanx_generation_tokens_total ");
  ASSERT_NE(at, std::string::npos) << m;
  const size_t num = m.find(' ', at + 1) + 1;
  EXPECT_LT(std::stod(m.substr(num, m.find('\n', num) - num)), 480);
}

TEST(ApiServer, OverloadAnswers429WithRetryAfter) {
  auto cfg = Config();
  cfg.max_inflight = 1;
  cfg.max_queue = 0;
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  const int fd = Post(s->app->api_port(), "/v1/completions", kLong);
  ASSERT_NE(ReadUntil(fd, "data: {").find("200 OK"), std::string::npos);
  auto r =
      Api(*s)->Post("/v1/completions", R"({"prompt": "Hi", "max_tokens": 2})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_GE(std::stoi(r->get_header_value("Retry-After")), 1);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "rate_limit_error");
  ReadUntil(fd, "data: [DONE]");
  ::close(fd);
  EXPECT_TRUE(WaitIdle(*s));
}

TEST(ApiServer, DegradedAnswersFromTheCacheAreFlagged) {
  auto s = testing::TestServer::Start(Config());
  ASSERT_NE(s, nullptr);
  auto api = Api(*s);
  const std::string body = R"({"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0})";
  auto first = api->Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(first && first->status == 200);
  EXPECT_FALSE(first->has_header("x-phalanx-degraded"));
  const std::string text = json::parse(first->body)["choices"][0]["text"];
  s->app->engine().InjectFaultForTesting(absl::InternalError("injected device fault"));
  auto broken =
      api->Post("/v1/completions", R"({"prompt": "Other", "max_tokens": 4})", "application/json");
  ASSERT_TRUE(broken);
  EXPECT_NE(broken->status, 200);
  ASSERT_TRUE(s->app->engine().failed());
  auto cached = api->Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->status, 200) << cached->body;
  EXPECT_EQ(cached->get_header_value("x-phalanx-degraded"), "cache");
  EXPECT_EQ(json::parse(cached->body)["choices"][0]["text"], text);
  // Streamed: the cached tokens replayed as events.
  json sj = json::parse(body);
  sj["stream"] = true;
  auto streamed = api->Post("/v1/completions", sj.dump(), "application/json");
  ASSERT_TRUE(streamed && streamed->status == 200);
  EXPECT_EQ(streamed->get_header_value("x-phalanx-degraded"), "cache");
  std::string joined;
  for (size_t p = 0; (p = streamed->body.find("data: {", p)) != std::string::npos; ++p) {
    const size_t end = streamed->body.find("\n\n", p);
    joined += json::parse(streamed->body.substr(p + 6, end - p - 6))["choices"][0]["text"];
  }
  EXPECT_EQ(joined, text);
  EXPECT_NE(streamed->body.find("data: [DONE]\n\n"), std::string::npos);
  auto unavailable =
      api->Post("/v1/completions", R"({"prompt": "New", "max_tokens": 2})", "application/json");
  ASSERT_TRUE(unavailable);
  EXPECT_EQ(unavailable->status, 503);
  EXPECT_EQ(Api(*s)->Get("/health")->status, 503);
}

TEST(ApiServer, DrainFinishesOpenStreamsAndRefusesNewRequests) {
  auto s = testing::TestServer::Start(Config());
  ASSERT_NE(s, nullptr);
  const int port = s->app->api_port();
  const int fd = Post(port, "/v1/completions", kLong);
  ASSERT_NE(ReadUntil(fd, "data: {").find("200 OK"), std::string::npos);
  std::thread drain([&] { s->app->Drain(); });
  while (!s->app->gate().draining()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  httplib::Client c("127.0.0.1", port);
  auto refused =
      c.Post("/v1/completions", R"({"prompt": "Hi", "max_tokens": 2})", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(json::parse(refused->body)["error"]["type"], "overloaded_error");
  EXPECT_EQ(c.Get("/health")->status, 503);
  const std::string rest = ReadUntil(fd, "data: [DONE]\n\n");
  EXPECT_NE(rest.find("\"finish_reason\":\"length\""), std::string::npos);
  EXPECT_NE(rest.find("data: [DONE]\n\n"), std::string::npos);
  ::close(fd);
  drain.join();
  EXPECT_FALSE(httplib::Client("127.0.0.1", port).Get("/health"));  // the listener is closed
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl.
class Pki {
 public:
  Pki() : dir_(fs::temp_directory_path() / ("phx_api_tls_" + std::to_string(::getpid()))) {
    fs::create_directories(dir_);
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script =
        "set -e; cd " + dir_.string() + "; openssl req -x509 " + ec +
        " -keyout ca.key -out ca.pem -days 1 -subj /CN=ca; openssl req " + ec +
        " -keyout server.key -out server.csr -subj /CN=localhost; printf "
        "'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > s.ext; openssl x509 -req -in "
        "server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile "
        "s.ext; openssl req " +
        ec +
        " -keyout client.key -out client.csr -subj /CN=client; "
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
        "client.pem -days 1";
    std::ofstream(dir_ / "make.sh") << script << "\n";
    ok_ = std::system(("bash " + (dir_ / "make.sh").string() + " >/dev/null 2>&1").c_str()) == 0;
  }
  ~Pki() { fs::remove_all(dir_); }
  bool ok() const { return ok_; }
  std::string path(const std::string& f) const { return (dir_ / f).string(); }

 private:
  fs::path dir_;
  bool ok_ = false;
};

int TlsModels(int port, const Pki& pki, bool client_cert) {
  auto c = client_cert ? std::make_unique<httplib::SSLClient>(
                             "127.0.0.1", port, pki.path("client.pem"), pki.path("client.key"))
                       : std::make_unique<httplib::SSLClient>("127.0.0.1", port);
  c->set_ca_cert_path(pki.path("ca.pem").c_str());
  c->enable_server_certificate_verification(true);
  auto r = c->Get("/v1/models");
  return r ? r->status : -1;
}

// Whether `openssl s_client` completes a handshake with these extra arguments.
bool Handshakes(int port, const std::string& args) {
  const std::string cmd = "openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " " +
                          args + " </dev/null >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

TEST(ApiServer, TlsAndMutualTls) {
  Pki pki;
  ASSERT_TRUE(pki.ok()) << "openssl failed";
  auto cfg = Config();
  cfg.tls_cert = pki.path("server.pem");
  cfg.tls_key = pki.path("server.key");
  {
    auto s = testing::TestServer::Start(cfg);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(TlsModels(s->app->api_port(), pki, false), 200);
    EXPECT_FALSE(httplib::Client("127.0.0.1", s->app->api_port()).Get("/v1/models"));
    // TLS 1.2 with forward-secret AEAD suites only; TLS 1.3 as usual.
    const int port = s->app->api_port();
    EXPECT_TRUE(Handshakes(port, "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256"));
    EXPECT_TRUE(Handshakes(port, "-tls1_3"));
    EXPECT_FALSE(Handshakes(port, "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA"));  // CBC
    EXPECT_FALSE(Handshakes(port, "-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384"));
    EXPECT_FALSE(Handshakes(port, "-tls1_1 -cipher DEFAULT@SECLEVEL=0"));
  }
  cfg.tls_client_ca = pki.path("ca.pem");
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(TlsModels(s->app->api_port(), pki, true), 200);
  EXPECT_EQ(TlsModels(s->app->api_port(), pki, false), -1);  // no client certificate
}

TEST(ApiServer, ChatTemplateFromTheGguf) {
  const std::string path =
      (fs::temp_directory_path() / ("phx_phi3_" + std::to_string(::getpid()) + ".gguf")).string();
  model::SynthOptions so = testing::TinySynth(
      "llama", std::string(PHX_SHARED_DIR) + "/vocab/ggml-vocab-phi-3.gguf", 512, {.n_embd = 64});
  so.name = "phi3-synth";
  ASSERT_TRUE(model::SynthesizeModel(so, path).ok());
  auto cfg = testing::TestConfig(path);
  auto s = testing::TestServer::Start(cfg);
  ASSERT_NE(s, nullptr);
  auto r =
      Api(*s)->Post("/v1/chat/completions",
                    R"({"model": "phi3-synth", "messages": [{"role": "user", "content": "Hello"}],
          "max_tokens": 3, "temperature": 0, "ignore_eos": true})",
                    "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  // The prompt was rendered with phi3's markers, which became their special tokens.
  auto ids =
      s->app->gate().frontend().Tokenize("<|user|>\nHello<|end|>\n<|assistant|>\n", true, true);
  ASSERT_TRUE(ids.ok());
  const json j = json::parse(r->body);
  EXPECT_EQ(j["usage"]["prompt_tokens"], ids->size());
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_EQ(j["model"], "phi3-synth");
  s.reset();
  fs::remove(path);
}

}  // namespace
}  // namespace phx
