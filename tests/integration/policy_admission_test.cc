// Issue 23's admission attacks against a real in-process server on stories260K (gRPC over
// loopback): the max_tokens = -2^31 lockout, priority above a key's cap, Tokenize under rate
// limits, billing of cancelled requests, and cancellation racing admission (run under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>

#include "tests/integration/grpc_test_server.h"
#include "tests/integration/policy_util.h"

namespace phx {
namespace {

using phalanx::v1::GenerateResponse;
using testing::Greedy;
using Clock = std::chrono::steady_clock;

const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

struct Outcome {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;
  int retry_after = -1;  // seconds, -1 when absent
};

Outcome Generate(phalanx::v1::Generation::Stub& stub, const phalanx::v1::GenerateRequest& req,
                 const std::string& key = "") {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
  GenerateResponse resp;
  const grpc::Status st = stub.Generate(&ctx, req, &resp);
  Outcome o{st.error_code(), st.error_message(), -1};
  const auto& md = ctx.GetServerTrailingMetadata();
  if (auto it = md.find("retry-after"); it != md.end()) {
    o.retry_after = std::stoi(std::string(it->second.data(), it->second.size()));
  }
  return o;
}

// The reproduced attack: max_tokens = -2^31 was refused, but its "refund" charged 2^31 tokens
// to the caller's bucket (and, with auth off, everybody's): retry-after ~21,474,777 s. Now the
// request is refused before any bucket is touched and every caller is served at once.
TEST(PolicyAdmission, NegativeMaxTokensLocksNobodyOut) {
  testing::ScratchDir dir("lockout");
  testing::WriteKeys(dir.File("keys.yaml"), {{"alice", "    tokens_per_minute: 6000\n"},
                                             {"bob", "    tokens_per_minute: 6000\n"}});
  for (bool auth : {false, true}) {
    SCOPED_TRACE(auth ? "with API keys" : "auth off");
    auto cfg = testing::TestConfig(kStories);
    cfg.rate_limit_tpm = 6000;  // the default for the anonymous caller when auth is off
    if (auth) cfg.api_keys = dir.File("keys.yaml");
    auto server = testing::TestServer::Start(cfg);
    ASSERT_NE(server, nullptr);
    auto stub = server->Stub();
    const std::string attacker = auth ? "key-alice" : "";
    auto attack = Greedy("Once upon a time", 4);
    attack.set_max_tokens(std::numeric_limits<int32_t>::min());
    const Outcome a = Generate(*stub, attack, attacker);
    EXPECT_EQ(a.code, grpc::StatusCode::INVALID_ARGUMENT) << a.message;
    EXPECT_NE(a.message.find("max_tokens"), std::string::npos) << a.message;
    // The attacker's own next request, and everybody else's, go through.
    const Outcome same = Generate(*stub, Greedy("Once upon a time", 4), attacker);
    EXPECT_EQ(same.code, grpc::StatusCode::OK)
        << same.message << " retry-after " << same.retry_after;
    if (auth) {
      EXPECT_EQ(Generate(*stub, Greedy("Hello", 4), "key-bob").code, grpc::StatusCode::OK);
    }
    // Other invalid fields cost nothing either: 50 refused requests leave the bucket full.
    for (int i = 0; i < 50; ++i) {
      auto bad = Greedy("Once upon a time", 4000);
      bad.mutable_sampling()->set_top_p(7);
      ASSERT_EQ(Generate(*stub, bad, attacker).code, grpc::StatusCode::INVALID_ARGUMENT);
    }
    // A request reserving most of a minute's tokens is admitted, and then the next is refused
    // with a retry-after within one refill window (60 s for tokens per minute).
    const Outcome big = Generate(*stub, Greedy("Once", 300), attacker);
    EXPECT_EQ(big.code, grpc::StatusCode::OK) << big.message;
  }
}

// The estimate is clamped to [1, context] and a bucket's balance never goes below zero, so
// whatever a key does, a refusal's retry-after is at most one refill window.
TEST(PolicyAdmission, RetryAfterNeverExceedsOneRefillWindow) {
  auto cfg = testing::TestConfig(kStories);
  cfg.rate_limit_tpm = 60;  // one token per second; the context (512) exceeds the bucket
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  auto stub = server->Stub();
  // A reservation larger than the bucket waits for a full bucket, then empties it.
  const Outcome first = Generate(*stub, Greedy("Once upon a time", 400));
  EXPECT_EQ(first.code, grpc::StatusCode::OK) << first.message;
  int worst = 0;
  for (int max_tokens : {1, 50, 400, 4096}) {
    const Outcome o = Generate(*stub, Greedy("Once upon a time", max_tokens));
    ASSERT_EQ(o.code, grpc::StatusCode::RESOURCE_EXHAUSTED) << o.message;
    ASSERT_GE(o.retry_after, 1);
    worst = std::max(worst, o.retry_after);
  }
  EXPECT_LE(worst, 60);
}

TEST(PolicyAdmission, PriorityAboveTheKeysCapIsRefusedNotClamped) {
  testing::ScratchDir dir("priority");
  testing::WriteKeys(
      dir.File("keys.yaml"),
      {{"user", ""}, {"canary", "    max_priority: 1000\n"}, {"batch", "    max_priority: -5\n"}});
  auto cfg = testing::TestConfig(kStories);
  cfg.api_keys = dir.File("keys.yaml");
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  auto stub = server->Stub();
  auto with_priority = [](int p) {
    auto r = Greedy("Once upon a time", 2);
    r.set_priority(p);
    return r;
  };
  // A key without max_priority may not go above 0 ...
  const Outcome up = Generate(*stub, with_priority(1), "key-user");
  EXPECT_EQ(up.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(up.message.rfind("priority 1 is above the limit 0", 0), 0u) << up.message;
  EXPECT_EQ(Generate(*stub, with_priority(1000), "key-user").code,
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Generate(*stub, with_priority(0), "key-user").code, grpc::StatusCode::OK);
  EXPECT_EQ(Generate(*stub, with_priority(-1000), "key-user").code, grpc::StatusCode::OK);
  // ... the canary's key may use 1000, the batch key stays below -5.
  EXPECT_EQ(Generate(*stub, with_priority(1000), "key-canary").code, grpc::StatusCode::OK);
  EXPECT_EQ(Generate(*stub, with_priority(0), "key-batch").code,
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Generate(*stub, with_priority(-5), "key-batch").code, grpc::StatusCode::OK);
  // The OpenAI API answers 400 naming `priority`.
  const auto http = testing::RawHttp(server->app->api_port(), "POST", "/v1/completions",
                                     R"({"prompt": "Once", "max_tokens": 2, "priority": 10})",
                                     "Authorization: Bearer key-user\r\n");
  EXPECT_EQ(http.status, 400) << http.body;
  EXPECT_NE(http.body.find(R"("param":"priority")"), std::string::npos) << http.body;
}

TEST(PolicyAdmission, WithAuthOffMaxPriorityFlagCaps) {
  auto cfg = testing::TestConfig(kStories);
  auto server = testing::TestServer::Start(cfg);  // --max-priority 0 (the default)
  ASSERT_NE(server, nullptr);
  auto stub = server->Stub();
  auto req = Greedy("Once upon a time", 2);
  req.set_priority(5);
  const Outcome o = Generate(*stub, req);
  EXPECT_EQ(o.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(o.message.find("--max-priority"), std::string::npos) << o.message;
  cfg.max_priority = 10;
  server.reset();
  server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  stub = server->Stub();
  EXPECT_EQ(Generate(*stub, req).code, grpc::StatusCode::OK);
  req.set_priority(11);
  EXPECT_EQ(Generate(*stub, req).code, grpc::StatusCode::INVALID_ARGUMENT);
}

grpc::Status Tokenize(phalanx::v1::Generation::Stub& stub, const std::string& text,
                      const std::string& key, int* retry_after = nullptr, int* ids = nullptr) {
  grpc::ClientContext ctx;
  if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
  phalanx::v1::TokenizeRequest req;
  req.set_text(text);
  phalanx::v1::TokenizeResponse resp;
  const grpc::Status st = stub.Tokenize(&ctx, req, &resp);
  if (retry_after != nullptr) {
    const auto& md = ctx.GetServerTrailingMetadata();
    auto it = md.find("retry-after");
    *retry_after =
        it == md.end() ? -1 : std::stoi(std::string(it->second.data(), it->second.size()));
  }
  if (ids != nullptr) *ids = resp.ids_size();
  return st;
}

// Tokenize used to skip rate limits (and ran 1 MB inputs on the gRPC callback thread).
TEST(PolicyAdmission, TokenizeIsAuthenticatedAndRateLimited) {
  testing::ScratchDir dir("tokenize");
  testing::WriteKeys(dir.File("keys.yaml"), {{"slow", "    requests_per_second: 0.5\n"},
                                             {"fast", "    requests_per_second: 1000\n"}});
  auto cfg = testing::TestConfig(kStories);
  cfg.api_keys = dir.File("keys.yaml");
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  auto stub = server->Stub();
  EXPECT_EQ(Tokenize(*stub, "Once", "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  int ids = 0;
  EXPECT_TRUE(Tokenize(*stub, "Once upon a time", "key-slow", nullptr, &ids).ok());
  EXPECT_GT(ids, 1);
  int retry = -1;
  EXPECT_EQ(Tokenize(*stub, "Once", "key-slow", &retry).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 2);  // one refill window: burst 1 at 0.5/s
  // Another key is unaffected; a long text is tokenized (off the gRPC thread) in full.
  std::string text;
  while (text.size() < (64 << 10)) text += "Once upon a time, there was a little dog. ";
  EXPECT_TRUE(Tokenize(*stub, text, "key-fast", nullptr, &ids).ok());
  EXPECT_GT(ids, 10000);
  EXPECT_EQ(Tokenize(*stub, std::string((1 << 20) + 1, 'a'), "key-fast").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// A streaming call held open until Finish: reads `tokens` tokens (0: none) when started.
class OpenStream {
 public:
  OpenStream(phalanx::v1::Generation::Stub& stub, int max_tokens, int tokens) {
    reader_ = stub.GenerateStream(&ctx_, Greedy("Once upon a time", max_tokens));
    phalanx::v1::GenerateStreamResponse m;
    int got = 0;
    while (got < tokens && reader_->Read(&m)) got += m.tokens_size();
  }
  // Cancels (after `wait` for a queued call to settle) and returns the final status code.
  grpc::StatusCode CancelAndFinish(std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
    std::this_thread::sleep_for(wait);
    ctx_.TryCancel();
    phalanx::v1::GenerateStreamResponse m;
    while (reader_->Read(&m)) {
    }
    return reader_->Finish().error_code();
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<phalanx::v1::GenerateStreamResponse>> reader_;
};

// Waits until the server holds at most `n` requests (a client's cancel returns before the
// server has processed it).
void WaitActive(testing::TestServer& s, int n) {
  const auto t0 = Clock::now();
  while (s.app->gate().active() > n && Clock::now() - t0 < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}
void WaitIdle(testing::TestServer& s) { WaitActive(s, 0); }

// A cancelled request is billed for what it used: cancelled while queued, nothing; cancelled
// while decoding, its prompt and the tokens generated (the rest of its reservation comes
// back). Reservations of ~485 tokens in a 600-token bucket: whether the next one fits tells
// whether the cancelled one was refunded.
TEST(PolicyAdmission, CancelledRequestsAreBilledForWhatTheyUsed) {
  auto cfg = testing::TestConfig(kStories);
  cfg.rate_limit_tpm = 600;  // 10 tokens/s
  cfg.max_inflight = 1;
  cfg.step_hook_for_testing = testing::SlowSteps;
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  auto stub = server->Stub();
  // 1. Queued, then cancelled. `a` holds the only slot (45 reserved, 555 left).
  auto a = std::make_unique<OpenStream>(*stub, 40, 1);
  {
    OpenStream b(*stub, 480, 0);  // queued: 70 left
    EXPECT_EQ(b.CancelAndFinish(std::chrono::milliseconds(200)), grpc::StatusCode::CANCELLED);
  }
  WaitActive(*server, 1);
  {
    OpenStream c(*stub, 480, 0);  // fits only if b was refunded
    EXPECT_EQ(c.CancelAndFinish(std::chrono::milliseconds(200)), grpc::StatusCode::CANCELLED);
  }
  WaitActive(*server, 1);
  a->CancelAndFinish();
  a.reset();
  WaitIdle(*server);
  // 2. Running, then cancelled after its first token: ~485 reserved, a few used.
  {
    OpenStream d(*stub, 480, 1);
    EXPECT_EQ(d.CancelAndFinish(), grpc::StatusCode::CANCELLED);
  }
  WaitIdle(*server);
  {
    OpenStream e(*stub, 480, 1);  // fits only if d was refunded down to its usage
    EXPECT_EQ(e.CancelAndFinish(), grpc::StatusCode::CANCELLED);
  }
  // Not one was refused by the rate limit (a refusal racing the client's cancel could still
  // read CANCELLED above; the counter cannot).
  const std::string metrics = testing::RawHttp(server->app->http_port(), "GET", "/metrics").body;
  EXPECT_EQ(testing::MetricValue(metrics, R"(phalanx_rejected_total{reason="rate_limit"})"), 0)
      << "a cancelled request was billed more than it used";
}

// Cancellation racing admission: calls cancelled at every moment (queued, being started,
// running) all end, the queue drains, and nothing stays active. Under TSan this also checks
// that Gate::Cancel reads the queue ticket safely.
TEST(PolicyAdmission, CancelRacingAdmissionLeavesNothingBehind) {
  auto cfg = testing::TestConfig(kStories);
  cfg.max_inflight = 2;
  cfg.max_queue = 256;
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  std::atomic<int> ended{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto stub = server->Stub();
      for (int i = 0; i < 12; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        GenerateResponse resp;
        const phalanx::v1::GenerateRequest req = Greedy("Once", 64);
        std::atomic<bool> done{false};
        std::mutex mu;
        std::condition_variable cv;
        stub->async()->Generate(&ctx, &req, &resp, [&](grpc::Status) {
          std::lock_guard<std::mutex> l(mu);
          done = true;
          cv.notify_all();
        });
        std::this_thread::sleep_for(std::chrono::microseconds((i * 7 + t * 13) % 40 * 50));
        ctx.TryCancel();
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return done.load(); });
        ++ended;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ended, 48);
  const auto t0 = Clock::now();
  while (server->app->gate().active() > 0 && Clock::now() - t0 < std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server->app->gate().active(), 0);
  // And the server still serves.
  auto stub = server->Stub();
  EXPECT_EQ(Generate(*stub, Greedy("Once", 4)).code, grpc::StatusCode::OK);
}

}  // namespace
}  // namespace phx
