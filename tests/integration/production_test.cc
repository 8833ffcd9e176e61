// Issue #5's production features against a real in-process server on stories260K: probes
// under load, drain on SIGTERM, overload rejections with retry-after, degraded answers from
// the response cache while the engine fails, API keys with SIGHUP reload, per-key limits.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "fmt/format.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "httplib.h"
#include "server/auth/api_keys.h"
#include "tests/integration/grpc_test_server.h"

namespace phx {
namespace {

using phalanx::v1::GenerateRequest;
using phalanx::v1::GenerateResponse;
using Clock = std::chrono::steady_clock;

const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

GenerateRequest Greedy(const std::string& prompt, int max_tokens) {
  GenerateRequest r;
  r.set_text(prompt);
  r.mutable_sampling()->set_temperature(0);
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);
  return r;
}

double Ms(Clock::time_point a) {
  return std::chrono::duration<double, std::milli>(Clock::now() - a).count();
}

std::string Hex(const std::array<uint8_t, 32>& h) {
  std::string s;
  for (uint8_t b : h) s += fmt::format("{:02x}", b);
  return s;
}

// Starts `n` long streaming requests in the background; returns when they all ended.
struct Load {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, failed{0};
  void Start(const testing::TestServer& s, int n, int max_tokens, const std::string& key = "") {
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i, max_tokens, key] {
        auto stub = s.Stub();
        grpc::ClientContext ctx;
        if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
        GenerateResponse resp;
        grpc::Status st = stub->Generate(
            &ctx, Greedy("Once upon a time " + std::to_string(i), max_tokens), &resp);
        (st.ok() ? ok : failed)++;
      });
    }
  }
  void Join() {
    for (auto& t : threads) t.join();
    threads.clear();
  }
};

TEST(Production, ProbesAnswerFastWithEverySlotBusyAndAQueue) {
  auto cfg = testing::TestConfig(kStories);
  cfg.runtime.max_batch = 4;
  cfg.max_inflight = 4;
  cfg.max_queue = 64;
  cfg.slo_ttft_ms = 60000;
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  Load load;
  load.Start(*server, 16, 400);
  while (server->app->engine().stats().running < 4)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  httplib::Client probe("127.0.0.1", server->app->http_port());
  double worst = 0;
  for (int i = 0; i < 40; ++i) {
    for (const char* path : {"/livez", "/readyz"}) {
      const auto t0 = Clock::now();
      auto res = probe.Get(path);
      worst = std::max(worst, Ms(t0));
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 200) << path << " " << res->body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server->app->engine().stats().running, 4);
  EXPECT_GT(server->app->gate().active(), 4);  // a queue is waiting
  EXPECT_LT(worst, 50.0 * testing::TimeScale()) << "slowest probe " << worst << " ms";
  std::printf("slowest of 80 probes under load: %.2f ms\n", worst);
  load.Join();
  EXPECT_EQ(load.ok, 16);
}

TEST(Production, OverloadRejectsFastWithRetryAfterAndAdmittedFinish) {
  auto cfg = testing::TestConfig(kStories);
  cfg.runtime.max_batch = 4;
  cfg.max_inflight = 4;
  cfg.max_queue = 4;
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  // 4x overload: 32 concurrent requests against 8 places (4 running + 4 queued).
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, rejected{0}, other{0};
  std::atomic<int> without_retry_after{0};
  std::vector<double> reject_ms(32, 0);
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      auto stub = server->Stub();
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      GenerateResponse resp;
      const auto t0 = Clock::now();
      grpc::Status st = stub->Generate(&ctx, Greedy("Once upon a time", 200), &resp);
      if (st.ok()) {
        ++ok;
      } else if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ++rejected;
        reject_ms[i] = Ms(t0);
        const auto& md = ctx.GetServerTrailingMetadata();
        auto it = md.find("retry-after");
        if (it == md.end() || std::stoi(std::string(it->second.data(), it->second.size())) < 1) {
          ++without_retry_after;
        }
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other, 0);
  EXPECT_EQ(ok + rejected, 32);
  EXPECT_GE(ok, 8);
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(without_retry_after, 0);
  for (double ms : reject_ms)
    EXPECT_LT(ms, 200.0 * testing::TimeScale()) << "a rejection took " << ms << " ms";
}

TEST(Production, DegradedCacheAnswersWhileTheEngineFails) {
  auto server = testing::TestServer::Start(testing::TestConfig(kStories));
  ASSERT_NE(server, nullptr);
  auto stub = server->Stub();
  const auto req = Greedy("Once upon a time", 16);
  GenerateResponse first;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Generate(&ctx, req, &first).ok());
    EXPECT_FALSE(first.degraded());
  }
  server->app->engine().InjectFaultForTesting(absl::InternalError("injected device fault"));
  {  // An uncached request now fails (its forward fails) and the engine is marked failed.
    grpc::ClientContext ctx;
    GenerateResponse r;
    EXPECT_FALSE(stub->Generate(&ctx, Greedy("A different prompt", 4), &r).ok());
  }
  EXPECT_TRUE(server->app->engine().failed());
  httplib::Client probe("127.0.0.1", server->app->http_port());
  EXPECT_EQ(probe.Get("/livez")->status, 503);
  {  // The cached one is answered, flagged.
    grpc::ClientContext ctx;
    GenerateResponse r;
    ASSERT_TRUE(stub->Generate(&ctx, req, &r).ok());
    EXPECT_TRUE(r.degraded());
    EXPECT_EQ(r.text(), first.text());
    const auto& md = ctx.GetServerInitialMetadata();
    auto it = md.find("x-phalanx-degraded");
    ASSERT_NE(it, md.end());
    EXPECT_EQ(std::string(it->second.data(), it->second.size()), "cache");
  }
  {  // ... also replayed as a stream.
    grpc::ClientContext ctx;
    auto reader = stub->GenerateStream(&ctx, req);
    phalanx::v1::GenerateStreamResponse m;
    std::string text;
    bool flagged = true;
    while (reader->Read(&m)) {
      text += m.text();
      flagged &= m.degraded();
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(text, first.text());
    EXPECT_TRUE(flagged);
  }
  {  // An uncached request fails fast with UNAVAILABLE.
    grpc::ClientContext ctx;
    GenerateResponse r;
    EXPECT_EQ(stub->Generate(&ctx, Greedy("Never seen before", 4), &r).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_NE(probe.Get("/metrics")
                ->body.find("phalanx_degraded_responses_total{reason=\"engine_failed\"} 2"),
            std::string::npos);
}

TEST(Production, ApiKeysRevocationOnReloadAndPerKeyLimits) {
  const auto dir = std::filesystem::temp_directory_path() / "phx_keys_test";
  std::filesystem::create_directories(dir);
  const std::string keys = (dir / "keys.yaml").string();
  auto write_keys = [&](bool revoke_b) {
    std::ofstream(keys) << "keys:\n"
                        << "  - id: alice\n    sha256: " << Hex(server::Sha256("key-alice"))
                        << "\n    requests_per_second: 1000\n"
                        << "  - id: bob\n    sha256: " << Hex(server::Sha256("key-bob"))
                        << "\n    requests_per_second: 0.5\n"
                        << (revoke_b ? "    revoked: true\n" : "");
  };
  write_keys(false);
  auto cfg = testing::TestConfig(kStories);
  cfg.api_keys = keys;
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  auto stub = server->Stub();
  auto call = [&](const std::string& key) {
    grpc::ClientContext ctx;
    if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
    GenerateResponse r;
    return stub->Generate(&ctx, Greedy("Hi", 2), &r).error_code();
  };
  EXPECT_EQ(call(""), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("wrong-key"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("key-alice"), grpc::StatusCode::OK);
  // Bob's bucket holds one request (burst = 2 s at 0.5/s): the second is rate limited,
  // while Alice is unaffected.
  EXPECT_EQ(call("key-bob"), grpc::StatusCode::OK);
  EXPECT_EQ(call("key-bob"), grpc::StatusCode::RESOURCE_EXHAUSTED);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(call("key-alice"), grpc::StatusCode::OK);
  {  // Non-generation RPCs need a key too.
    grpc::ClientContext ctx;
    phalanx::v1::ModelInfo info;
    EXPECT_EQ(stub->GetModelInfo(&ctx, {}, &info).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  write_keys(true);
  server->app->Reload();  // what SIGHUP does
  EXPECT_EQ(call("key-bob"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("key-alice"), grpc::StatusCode::OK);
}

TEST(Production, SigtermFlipsReadinessAndHealthFastAndDrainLosesNothing) {
  server::BlockServerSignals();  // this thread and every thread started below
  auto cfg = testing::TestConfig(kStories);
  cfg.runtime.max_batch = 8;
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  std::thread runner([&] { server->app->Run(); });
  Load load;
  load.Start(*server, 24, 120);
  while (server->app->gate().active() < 24)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  httplib::Client probe("127.0.0.1", server->app->http_port());
  ASSERT_EQ(probe.Get("/readyz")->status, 200);
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(server->target(), grpc::InsecureChannelCredentials()));
  auto serving = [&] {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    if (!health->Check(&ctx, req, &resp).ok()) return false;
    return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  };
  ASSERT_TRUE(serving());
  const auto t0 = Clock::now();
  kill(getpid(), SIGTERM);
  double ready_flip = -1, health_flip = -1;
  while (Ms(t0) < 1000 * testing::TimeScale() && (ready_flip < 0 || health_flip < 0)) {
    if (ready_flip < 0 && probe.Get("/readyz")->status == 503) ready_flip = Ms(t0);
    if (health_flip < 0 && !serving()) health_flip = Ms(t0);
  }
  EXPECT_GE(ready_flip, 0);
  EXPECT_GE(health_flip, 0);
  EXPECT_LT(ready_flip, 100.0 * testing::TimeScale());
  EXPECT_LT(health_flip, 100.0 * testing::TimeScale());
  std::printf("after SIGTERM: /readyz 503 in %.1f ms, gRPC health NOT_SERVING in %.1f ms\n",
              ready_flip, health_flip);
  // New work is refused while the accepted requests finish.
  {
    auto stub = server->Stub();
    grpc::ClientContext ctx;
    GenerateResponse r;
    EXPECT_EQ(stub->Generate(&ctx, Greedy("late", 2), &r).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  load.Join();
  runner.join();
  EXPECT_EQ(load.ok, 24) << load.failed << " accepted requests lost";
}

// --drain-grace-s: readiness, gRPC health and the lb agent say draining at once, but a request
// that a load balancer still sends during the grace period is served; after it, refused.
TEST(Production, DrainGraceAdmitsUntilLoadBalancersNotice) {
  server::BlockServerSignals();
  auto cfg = testing::TestConfig(kStories);
  cfg.drain_grace_s = 1.5 * testing::TimeScale();
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  std::thread runner([&] { server->app->Run(); });
  httplib::Client probe("127.0.0.1", server->app->http_port());
  ASSERT_EQ(probe.Get("/readyz")->status, 200);
  const auto t0 = Clock::now();
  kill(getpid(), SIGTERM);
  while (probe.Get("/readyz")->status != 503 && Ms(t0) < 1000 * testing::TimeScale()) {
  }
  EXPECT_EQ(probe.Get("/readyz")->status, 503);
  auto stub = server->Stub();
  {
    grpc::ClientContext ctx;
    GenerateResponse r;
    const grpc::Status st = stub->Generate(&ctx, Greedy("Once upon a time", 4), &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_LT(Ms(t0), cfg.drain_grace_s * 1000) << "the request ran after the grace period";
  }
  // After the grace period new work is refused (the server exits once idle).
  std::this_thread::sleep_for(std::chrono::duration<double>(cfg.drain_grace_s) -
                              std::chrono::milliseconds(static_cast<int64_t>(Ms(t0))) +
                              std::chrono::milliseconds(100));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    GenerateResponse r;
    EXPECT_NE(stub->Generate(&ctx, Greedy("late", 2), &r).error_code(), grpc::StatusCode::OK);
  }
  runner.join();
}

}  // namespace
}  // namespace phx
