// End-to-end tests of the gRPC API over a loopback port with the real engine on stories260K.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "google/protobuf/unknown_field_set.h"
#include "tests/integration/grpc_test_server.h"

namespace phx {
namespace {

using phalanx::v1::GenerateRequest;
using phalanx::v1::GenerateResponse;
using phalanx::v1::GenerateStreamResponse;

const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

GenerateRequest Greedy(const std::string& prompt, int max_tokens) {
  GenerateRequest r;
  r.set_text(prompt);
  r.mutable_sampling()->set_temperature(0);
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);
  return r;
}

std::string StreamText(phalanx::v1::Generation::Stub& stub, const GenerateRequest& req,
                       grpc::Status* status, GenerateStreamResponse* last = nullptr) {
  grpc::ClientContext ctx;
  auto reader = stub.GenerateStream(&ctx, req);
  GenerateStreamResponse m;
  std::string text;
  while (reader->Read(&m)) {
    text += m.text();
    if (last != nullptr) *last = m;
  }
  *status = reader->Finish();
  return text;
}

class GrpcGenerate : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = testing::TestServer::Start(kStories, 64);
    ASSERT_NE(server_, nullptr);
    stub_ = server_->Stub();
  }
  std::unique_ptr<testing::TestServer> server_;
  std::unique_ptr<phalanx::v1::Generation::Stub> stub_;
};

TEST_F(GrpcGenerate, SixtyFourConcurrentStreamsMatchSequentialGreedy) {
  const int n = 64;
  std::vector<std::string> prompts;
  for (int i = 0; i < n; ++i) {
    prompts.push_back("Once upon a time " + std::string(i % 7, ' ') + "there was a " +
                      (i % 2 ? "cat" : "dog") + " number " + std::to_string(i));
  }
  std::vector<std::string> sequential(n);
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    GenerateResponse resp;
    ASSERT_TRUE(stub_->Generate(&ctx, Greedy(prompts[i], 48), &resp).ok());
    sequential[i] = resp.text();
    EXPECT_EQ(resp.usage().completion_tokens(), 48);
  }
  std::vector<std::string> concurrent(n);
  std::vector<grpc::Status> st(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back(
        [&, i] { concurrent[i] = StreamText(*stub_, Greedy(prompts[i], 48), &st[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(st[i].ok()) << st[i].error_message();
    EXPECT_EQ(concurrent[i], sequential[i]) << "prompt " << i;
  }
}

// The request's last token and the finish travel in one message, followed by the status.
TEST_F(GrpcGenerate, LastTokenTravelsWithTheFinish) {
  grpc::ClientContext ctx;
  auto reader = stub_->GenerateStream(&ctx, Greedy("Once upon a time", 12));
  GenerateStreamResponse m;
  std::vector<GenerateStreamResponse> msgs;
  while (reader->Read(&m)) msgs.push_back(m);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_GE(msgs.size(), 2u);
  int tokens = 0;
  for (size_t i = 0; i < msgs.size(); ++i) {
    tokens += msgs[i].tokens_size();
    EXPECT_EQ(msgs[i].finish_reason() != phalanx::v1::FINISH_REASON_UNSPECIFIED,
              i + 1 == msgs.size())
        << "message " << i;
  }
  EXPECT_EQ(tokens, 12);
  EXPECT_GE(msgs.back().tokens_size(), 1);
  EXPECT_EQ(msgs.back().finish_reason(), phalanx::v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(msgs.back().usage().completion_tokens(), 12);
}

TEST_F(GrpcGenerate, CancelMidStreamFreesBlocks) {
  const int used_before = server_->engine()->stats().blocks_used;
  grpc::ClientContext ctx;
  auto req = Greedy("Once upon a time", 400);
  auto reader = stub_->GenerateStream(&ctx, req);
  GenerateStreamResponse m;
  int got = 0;
  while (got < 5 && reader->Read(&m)) got += m.tokens_size();
  EXPECT_GT(server_->engine()->stats().blocks_used, used_before);
  ctx.TryCancel();
  while (reader->Read(&m)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // Within a few steps the engine has reaped the request and released its blocks.
  for (int i = 0; i < 200 && server_->engine()->stats().blocks_used != used_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto s = server_->engine()->stats();
  EXPECT_EQ(s.blocks_used, used_before);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.blocks_free + s.blocks_cached, s.blocks_total);
}

TEST_F(GrpcGenerate, DeadlineExceeded) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(30));
  GenerateResponse resp;
  auto req = Greedy("Once upon a time", 4000);
  req.set_max_tokens(400);
  grpc::Status s = stub_->Generate(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  for (int i = 0; i < 200 && server_->engine()->stats().running != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server_->engine()->stats().running, 0);
}

TEST_F(GrpcGenerate, InvalidRequestsNameTheFieldAndServerKeepsServing) {
  struct Case {
    const char* what;
    std::function<void(GenerateRequest&)> mutate;
    const char* field;
  };
  const Case cases[] = {
      {"empty prompt",
       [](GenerateRequest& r) {
         r.set_text("");
         r.set_add_special_tokens(false);
       },
       "prompt"},
      {"no token ids", [](GenerateRequest& r) { r.mutable_token_ids(); }, "prompt"},
      {"token out of vocab", [](GenerateRequest& r) { r.mutable_token_ids()->add_ids(99999); },
       "token id"},
      {"top_p", [](GenerateRequest& r) { r.mutable_sampling()->set_top_p(1.5f); }, "top_p"},
      {"temperature", [](GenerateRequest& r) { r.mutable_sampling()->set_temperature(-1); },
       "temperature"},
      {"max_tokens", [](GenerateRequest& r) { r.set_max_tokens(0); }, "max_tokens"},
      {"logprobs", [](GenerateRequest& r) { r.set_logprobs(100); }, "logprobs"},
      {"stop", [](GenerateRequest& r) { r.add_stop(""); }, "stop"},
      {"top_k", [](GenerateRequest& r) { r.mutable_sampling()->set_top_k(-3); }, "top_k"},
      // Fields this server's proto does not define (a client built from a newer proto): refused,
      // never ignored, at the top level and inside a message.
      {"unknown field",
       [](GenerateRequest& r) { r.GetReflection()->MutableUnknownFields(&r)->AddVarint(999, 1); },
       "unknown field #999"},
      {"unknown sampling field",
       [](GenerateRequest& r) {
         auto* s = r.mutable_sampling();
         s->GetReflection()->MutableUnknownFields(s)->AddFixed32(77, 5);
       },
       "unknown field sampling.#77"},
  };
  for (const auto& c : cases) {
    auto req = Greedy("hello", 4);
    c.mutate(req);
    grpc::ClientContext ctx;
    GenerateResponse resp;
    grpc::Status s = stub_->Generate(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << c.what << ": " << s.error_message();
    grpc::Status ss;
    StreamText(*stub_, req, &ss);
    EXPECT_EQ(ss.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
  }
  {  // Tokenize too.
    grpc::ClientContext ctx;
    phalanx::v1::TokenizeRequest tr;
    tr.set_text("hello");
    tr.GetReflection()->MutableUnknownFields(&tr)->AddVarint(50, 1);
    phalanx::v1::TokenizeResponse resp;
    const grpc::Status s = stub_->Tokenize(&ctx, tr, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("unknown field #50"), std::string::npos) << s.error_message();
  }
  grpc::ClientContext ctx;
  GenerateResponse resp;
  ASSERT_TRUE(stub_->Generate(&ctx, Greedy("Once upon a time", 8), &resp).ok());
  EXPECT_EQ(resp.usage().completion_tokens(), 8);
}

TEST_F(GrpcGenerate, PrefixCacheReportsCachedTokensAndLowersTtft) {
  // A 200+ token shared prefix, then two different suffixes.
  std::string prefix = "Once upon a time there was a little girl named Lily.";
  while (server_->app->gate().frontend().Tokenize(prefix, true, false)->size() < 210) {
    prefix += " She liked to play in the park with her friends.";
  }
  auto run = [&](const std::string& suffix) {
    grpc::ClientContext ctx;
    GenerateResponse resp;
    EXPECT_TRUE(stub_->Generate(&ctx, Greedy(prefix + suffix, 4), &resp).ok());
    return resp;
  };
  const auto first = run(" The dog ran.");
  const auto second = run(" The cat sat.");
  EXPECT_EQ(first.usage().cached_prompt_tokens(), 0);
  EXPECT_GE(second.usage().cached_prompt_tokens(), 192);
  EXPECT_LT(second.timing().time_to_first_token_seconds(),
            first.timing().time_to_first_token_seconds());
}

TEST_F(GrpcGenerate, ByteFallbackTokensTravelAsBytes) {
  // The emoji is not in the 512-token vocabulary: it becomes byte tokens whose pieces are
  // partial UTF-8, which a proto3 `string` field could not carry.
  grpc::ClientContext c1;
  phalanx::v1::TokenizeRequest tr;
  tr.set_text("\xF0\x9F\xA6\x99 llama");
  tr.set_add_special_tokens(false);
  phalanx::v1::TokenizeResponse tresp;
  ASSERT_TRUE(stub_->Tokenize(&c1, tr, &tresp).ok());
  std::string joined;
  for (const auto& p : tresp.pieces()) joined += p;
  EXPECT_EQ(joined, " \xF0\x9F\xA6\x99 llama");
  // Token-id prompts made of those byte tokens, echoed and continued with top alternatives.
  GenerateRequest req;
  req.mutable_token_ids()->mutable_ids()->CopyFrom(tresp.ids());
  req.mutable_sampling()->set_temperature(0);
  req.set_max_tokens(16);
  req.set_logprobs(20);
  req.set_echo(true);
  grpc::ClientContext c2;
  GenerateResponse resp;
  ASSERT_TRUE(stub_->Generate(&c2, req, &resp).ok());
  EXPECT_EQ(resp.prompt_text(), "\xF0\x9F\xA6\x99 llama");
  grpc::Status st;
  StreamText(*stub_, req, &st);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(GrpcGenerate, TokenizeModelInfoEchoAndRequestIds) {
  grpc::ClientContext c1;
  phalanx::v1::TokenizeRequest tr;
  tr.set_text("Hello world");
  phalanx::v1::TokenizeResponse tresp;
  ASSERT_TRUE(stub_->Tokenize(&c1, tr, &tresp).ok());
  EXPECT_EQ(tresp.ids(0), 1);  // BOS
  EXPECT_EQ(tresp.ids_size(), tresp.pieces_size());
  grpc::ClientContext c2;
  phalanx::v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&c2, {}, &info).ok());
  EXPECT_EQ(info.architecture(), "llama");
  EXPECT_EQ(info.vocab_size(), 512);
  EXPECT_EQ(info.context_length(), 512);
  auto req = Greedy("Once upon a time", 4);
  req.set_echo(true);
  req.set_request_id("my-id-1");
  grpc::ClientContext c3;
  GenerateResponse resp;
  ASSERT_TRUE(stub_->Generate(&c3, req, &resp).ok());
  EXPECT_EQ(resp.request_id(), "my-id-1");
  EXPECT_EQ(resp.prompt_text(), "Once upon a time");
  EXPECT_EQ(resp.tokens_size(), 4);
  grpc::ClientContext c4;
  GenerateResponse r2;
  ASSERT_TRUE(stub_->Generate(&c4, Greedy("x", 1), &r2).ok());
  EXPECT_FALSE(r2.request_id().empty());
}

}  // namespace
}  // namespace phx
