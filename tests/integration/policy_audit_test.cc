// Issue 23's audit and shutdown attacks against a real in-process server on stories260K:
// oversized client strings (a 15 MB request_id, a bad SubmitFeedback id) stay out of the audit
// log, unauthenticated failures are rate limited there, --audit-include-text logs the output,
// cancelled and aborted requests are audited with their real status, a drain timeout ends
// streams with UNAVAILABLE, reflection is off by default, and a deeply nested JSON body is
// refused at once over HTTP.
#include <gtest/gtest.h>

#include <thread>

#include "grpcpp/generic/generic_stub.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"
#include "tests/integration/policy_util.h"

namespace phx {
namespace {

using nlohmann::json;
using phalanx::v1::GenerateResponse;
using testing::Greedy;
using Clock = std::chrono::steady_clock;

const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

std::vector<json> Audit(const std::string& path) {
  std::vector<json> out;
  for (const std::string& l : testing::ReadLines(path)) out.push_back(json::parse(l));
  return out;
}

grpc::Status Call(phalanx::v1::Generation::Stub& stub, const phalanx::v1::GenerateRequest& req,
                  const std::string& key = "", GenerateResponse* resp = nullptr) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
  GenerateResponse r;
  return stub.Generate(&ctx, req, resp != nullptr ? resp : &r);
}

struct KeyedServer {
  testing::ScratchDir dir{"audit"};
  std::unique_ptr<testing::TestServer> server;
  std::string audit;

  explicit KeyedServer(double unauth_rps = 10, bool keys = true,
                       void (*tweak)(server::ServeConfig&) = nullptr) {
    auto cfg = testing::TestConfig(kStories);
    if (keys) {
      testing::WriteKeys(dir.File("keys.yaml"), {{"alice", ""}});
      cfg.api_keys = dir.File("keys.yaml");
    }
    audit = dir.File("audit.jsonl");
    cfg.audit_log = audit;
    cfg.audit_unauth_rps = unauth_rps;
    if (tweak != nullptr) tweak(cfg);
    server = testing::TestServer::Start(cfg);
  }
};

// An unauthenticated call with a 15 MB request_id wrote it verbatim (31 MB for 2 calls).
TEST(PolicyAudit, HugeRequestIdNeverReachesTheAuditLog) {
  KeyedServer s;
  ASSERT_NE(s.server, nullptr);
  auto stub = s.server->Stub();
  auto req = Greedy("Once upon a time", 2);
  req.set_request_id(std::string(15 << 20, 'x'));
  const uintmax_t before = testing::FileSize(s.audit);
  EXPECT_EQ(Call(*stub, req).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call(*stub, req, "key-alice").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const uintmax_t grown = testing::FileSize(s.audit) - before;
  EXPECT_LT(grown, 64u << 10) << "audit log grew by " << grown << " bytes for 2 calls";
  const auto records = Audit(s.audit);
  ASSERT_EQ(records.size(), 2u);
  for (const json& r : records) {
    EXPECT_EQ(r["request_id"], std::string(128, 'x') + "...[15728640 bytes]");
  }
  EXPECT_EQ(records[0]["status"], "UNAUTHENTICATED");
  EXPECT_EQ(records[1]["status"], "INVALID_ARGUMENT");
}

TEST(PolicyAudit, SubmitFeedbackWithABadIdIsAuditedCut) {
  KeyedServer s;
  ASSERT_NE(s.server, nullptr);
  auto stub = s.server->Stub();
  for (const std::string key : {"key-alice", ""}) {
    grpc::ClientContext ctx;
    if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
    phalanx::v1::FeedbackRequest req;
    req.set_request_id(std::string(1 << 20, 'y'));
    req.set_rating(1);
    req.set_comment(std::string(1 << 20, 'c'));
    phalanx::v1::FeedbackResponse resp;
    const grpc::Status st = stub->SubmitFeedback(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(),
              key.empty() ? grpc::StatusCode::UNAUTHENTICATED : grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_LT(testing::FileSize(s.audit), 16u << 10);
  for (const json& r : Audit(s.audit)) {
    EXPECT_EQ(r["rpc"], "SubmitFeedback");
    EXPECT_EQ(r["request_id"], std::string(128, 'y') + "...[1048576 bytes]");
    EXPECT_EQ(r["comment"], "[redacted 1048576 bytes]");
  }
}

std::string Scrape(const testing::TestServer& s) {
  return testing::RawHttp(s.app->http_port(), "GET", "/metrics").body;
}

TEST(PolicyAudit, UnauthenticatedFailuresAreRateLimitedInTheAuditLog) {
  KeyedServer s(/*unauth_rps=*/1);
  ASSERT_NE(s.server, nullptr);
  auto stub = s.server->Stub();
  const auto t0 = Clock::now();
  const int n = 60;
  for (int i = 0; i < n; ++i) {
    if (i % 2 == 0) {
      EXPECT_EQ(Call(*stub, Greedy("Once", 2), "wrong-key").error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
    } else {
      grpc::ClientContext ctx;
      phalanx::v1::ModelInfo info;
      EXPECT_EQ(stub->GetModelInfo(&ctx, {}, &info).error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // A keyed call is always audited (its record is written just after the answer).
  EXPECT_TRUE(Call(*stub, Greedy("Once", 2), "key-alice").ok());
  const auto t1 = Clock::now();
  while (testing::ReadLines(s.audit).empty() ||
         json::parse(testing::ReadLines(s.audit).back())["key_id"] != "alice") {
    ASSERT_LT(Clock::now() - t1, std::chrono::seconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto records = Audit(s.audit);
  int unauth = 0;
  for (const json& r : records) unauth += r["status"] == "UNAUTHENTICATED";
  EXPECT_EQ(records.size(), static_cast<size_t>(unauth) + 1);
  // Burst 2, then one per second.
  EXPECT_GE(unauth, 2);
  EXPECT_LE(unauth, 2 + static_cast<int>(seconds) + 1) << seconds << " s";
  const double suppressed = testing::MetricValue(
      Scrape(*s.server), R"(phalanx_audit_records_suppressed_total{reason="unauthenticated"})");
  EXPECT_EQ(suppressed, n - unauth);
}

TEST(PolicyAudit, IncludeTextLogsTheOutputWithAndWithoutTheResponseCache) {
  for (int64_t cache_mb : {64, 0}) {
    SCOPED_TRACE(cache_mb);
    testing::ScratchDir dir("text");
    auto cfg = testing::TestConfig(kStories);
    cfg.audit_log = dir.File("audit.jsonl");
    cfg.audit_include_text = true;
    cfg.response_cache_mb = cache_mb;
    auto server = testing::TestServer::Start(cfg);
    ASSERT_NE(server, nullptr);
    auto stub = server->Stub();
    GenerateResponse resp;
    ASSERT_TRUE(Call(*stub, Greedy("Once upon a time", 24), "", &resp).ok());
    // A stream too.
    grpc::ClientContext ctx;
    auto reader = stub->GenerateStream(&ctx, Greedy("The little dog", 16));
    phalanx::v1::GenerateStreamResponse m;
    std::string streamed;
    while (reader->Read(&m)) streamed += m.text();
    ASSERT_TRUE(reader->Finish().ok());
    const auto t0 = Clock::now();
    while (testing::ReadLines(cfg.audit_log).size() < 2 &&
           Clock::now() - t0 < std::chrono::seconds(10)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    auto records = Audit(cfg.audit_log);
    ASSERT_EQ(records.size(), 2u);
    if (records[0]["prompt"] != "Once upon a time") std::swap(records[0], records[1]);
    EXPECT_FALSE(resp.text().empty());
    EXPECT_EQ(records[0]["prompt"], "Once upon a time");
    EXPECT_EQ(records[0]["output"], resp.text());
    EXPECT_EQ(records[1]["prompt"], "The little dog");
    EXPECT_EQ(records[1]["output"], streamed);
  }
}

// A drain timeout ends what is still in flight with UNAVAILABLE (gRPC status; an SSE error
// event over HTTP), queued or running, audited as UNAVAILABLE, instead of cutting streams.
TEST(PolicyAudit, DrainTimeoutAbortsEveryRequestWithUnavailable) {
  KeyedServer s(10, /*keys=*/false, [](server::ServeConfig& c) {
    c.max_inflight = 1;
    c.drain_timeout_s = 0.5;
    c.step_hook_for_testing = testing::SlowSteps;
  });
  ASSERT_NE(s.server, nullptr);
  auto stub = s.server->Stub();
  grpc::ClientContext running_ctx;
  auto running = stub->GenerateStream(&running_ctx, Greedy("Once upon a time", 480));
  phalanx::v1::GenerateStreamResponse m;
  ASSERT_TRUE(running->Read(&m));  // started and streaming
  grpc::Status queued_status;
  std::thread queued([&] { queued_status = Call(*stub, Greedy("The little dog", 480)); });
  while (s.server->app->gate().active() < 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto t0 = Clock::now();
  std::thread drain([&] { s.server->app->Drain(); });
  int after = 0;
  while (running->Read(&m)) ++after;
  const grpc::Status st = running->Finish();
  const double ended_s = std::chrono::duration<double>(Clock::now() - t0).count();
  queued.join();
  drain.join();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_NE(st.error_message().find("drain timeout"), std::string::npos) << st.error_message();
  EXPECT_EQ(queued_status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << queued_status.error_message();
  EXPECT_LT(ended_s, 0.5 + 5 * testing::TimeScale());
  const auto records = Audit(s.audit);
  ASSERT_EQ(records.size(), 2u);
  for (const json& r : records) {
    EXPECT_EQ(r["status"], "UNAVAILABLE") << r.dump();
  }
  std::printf("drain timeout 0.5 s: stream ended UNAVAILABLE after %.2f s (%d messages)\n", ended_s,
              after);
}

// Over the OpenAI API a stream running at the drain timeout ends with an SSE error event
// (503, overloaded_error) and [DONE], not a cut connection.
TEST(PolicyAudit, DrainTimeoutEndsAnSseStreamWithAnErrorEvent) {
  KeyedServer s(10, /*keys=*/false, [](server::ServeConfig& c) {
    c.drain_timeout_s = 0.3;
    c.step_hook_for_testing = testing::SlowSteps;
  });
  ASSERT_NE(s.server, nullptr);
  testing::HttpReply reply;
  std::thread client([&] {
    reply = testing::RawHttp(s.server->app->api_port(), "POST", "/v1/completions",
                             R"({"prompt": "Once upon a time", "max_tokens": 480,
                                 "ignore_eos": true, "stream": true})");
  });
  while (s.server->app->engine().stats().running < 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a few tokens streamed
  s.server->app->Drain();
  client.join();
  EXPECT_EQ(reply.status, 200);
  EXPECT_NE(reply.body.find("\"text\""), std::string::npos) << reply.body.substr(0, 400);
  const size_t err = reply.body.find("\"error\"");
  ASSERT_NE(err, std::string::npos)
      << reply.body.substr(reply.body.size() > 600 ? reply.body.size() - 600 : 0);
  EXPECT_NE(reply.body.find("overloaded_error", err), std::string::npos);
  EXPECT_NE(reply.body.find("drain timeout", err), std::string::npos);
  EXPECT_NE(reply.body.find("data: [DONE]", err), std::string::npos);
  const auto records = Audit(s.audit);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["status"], "UNAVAILABLE");
  EXPECT_EQ(records[0]["rpc"], "http_completions");
}

TEST(PolicyAudit, CancelledRequestsAreAuditedCancelledQueuedOrRunning) {
  KeyedServer s(10, /*keys=*/false, [](server::ServeConfig& c) {
    c.max_inflight = 1;
    c.step_hook_for_testing = testing::SlowSteps;
  });
  ASSERT_NE(s.server, nullptr);
  auto stub = s.server->Stub();
  grpc::ClientContext a_ctx;
  auto a = stub->GenerateStream(&a_ctx, Greedy("Once upon a time", 480));
  phalanx::v1::GenerateStreamResponse m;
  ASSERT_TRUE(a->Read(&m));
  {
    grpc::ClientContext b_ctx;
    auto b = stub->GenerateStream(&b_ctx, Greedy("The little dog", 480));
    while (s.server->app->gate().active() < 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    b_ctx.TryCancel();
    while (b->Read(&m)) {
    }
    EXPECT_EQ(b->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  a_ctx.TryCancel();
  while (a->Read(&m)) {
  }
  EXPECT_EQ(a->Finish().error_code(), grpc::StatusCode::CANCELLED);
  const auto t0 = Clock::now();
  while (testing::ReadLines(s.audit).size() < 2 && Clock::now() - t0 < std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto records = Audit(s.audit);
  ASSERT_EQ(records.size(), 2u);
  for (const json& r : records) EXPECT_EQ(r["status"], "CANCELLED") << r.dump();
  // The running one is billed (and audited) for the tokens it produced, not its max_tokens.
  const json& running = records[0]["completion_tokens"] > 0 ? records[0] : records[1];
  EXPECT_GT(running["completion_tokens"], 0);
  EXPECT_LT(running["completion_tokens"], 480);
}

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with a list_services request,
// through the generic stub; returns the status and the raw response.
grpc::Status Reflect(const std::string& target, std::string* response) {
  grpc::GenericStub stub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t want) {
    return cq.Next(&tag, &ok) && reinterpret_cast<intptr_t>(tag) == want && ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  const char kListServices[] = {0x3a, 0x00};  // field 7 (list_services), empty string
  grpc::Slice slice(kListServices, sizeof(kListServices));
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  step(2);
  call->WritesDone(reinterpret_cast<void*>(3));
  step(3);
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(4));
  if (step(4)) {
    std::vector<grpc::Slice> slices;
    (void)resp.Dump(&slices);
    for (const auto& s : slices)
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  grpc::Status st;
  call->Finish(&st, reinterpret_cast<void*>(5));
  step(5);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return st;
}

TEST(PolicyAudit, ReflectionIsOffUnlessAskedFor) {
  for (bool on : {false, true}) {
    auto cfg = testing::TestConfig(kStories);
    cfg.grpc_reflection = on;
    auto server = testing::TestServer::Start(cfg);
    ASSERT_NE(server, nullptr);
    std::string response;
    const grpc::Status st = Reflect(server->target(), &response);
    if (on) {
      EXPECT_TRUE(st.ok()) << st.error_message();
      EXPECT_NE(response.find("phalanx.v1.Generation"), std::string::npos);
    } else {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
      EXPECT_EQ(response, "");
    }
  }
}

// End to end over the OpenAI API: 4.9 MB of '[' is a 400 naming the problem, at once.
TEST(PolicyAudit, DeeplyNestedJsonBodyIsA400) {
  auto server = testing::TestServer::Start(testing::TestConfig(kStories));
  ASSERT_NE(server, nullptr);
  const auto t0 = Clock::now();
  const auto r = testing::RawHttp(server->app->api_port(), "POST", "/v1/completions",
                                  std::string(4900000, '['));
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);
  EXPECT_NE(r.body.find("deeper than 64 levels"), std::string::npos) << r.body.substr(0, 300);
  EXPECT_LT(ms, 2000.0 * testing::TimeScale());
  std::printf("4.9 MB of '[' over HTTP: %d in %.1f ms\n", r.status, ms);
}

}  // namespace
}  // namespace phx
