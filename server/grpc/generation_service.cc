#include "server/grpc/generation_service.h"

#include <atomic>
#include <cmath>
#include <deque>
#include <memory>
#include <mutex>

#include "base/elapsed.h"
#include "server/grpc/chat_convert.h"
#include "server/grpc/convert.h"

namespace phx::server::grpcapi {
namespace {

using phalanx::v1::GenerateResponse;
using phalanx::v1::GenerateStreamResponse;
using Clock = engine::Clock;
using Splitter = std::optional<chat::ReasoningSplitter>;

// Generated text into a message: all of it into `text`, or, for a chat whose template thinks,
// the reasoning into `reasoning_text` and the answer into `text`.
template <class M>
void AddText(Splitter& split, std::string_view text, M* m) {
  if (!split) {
    m->mutable_text()->append(text);
    return;
  }
  const chat::ReasoningSplitter::Delta d = split->Push(text);
  m->mutable_text()->append(d.content);
  m->mutable_reasoning_text()->append(d.reasoning);
}
template <class M>
void FlushText(Splitter& split, M* m) {
  if (!split) return;
  const chat::ReasoningSplitter::Delta d = split->Finish();
  m->mutable_text()->append(d.content);
  m->mutable_reasoning_text()->append(d.reasoning);
}

// A Chat prompt: authenticates, then renders the conversation into `a` with the server's chat
// template (and sets up the reasoning splitter). A refusal is recorded and returned.
absl::Status PrepareChat(Gate& gate, const chat::ChatRenderer* chat,
                         const phalanx::v1::GenerateRequest& req, const std::string& auth,
                         ApiRequest* a, Splitter* split) {
  const Clock::time_point t0 = Clock::now();
  const absl::StatusOr<std::string> key = gate.Authenticate(auth);
  absl::Status s = key.status();
  if (s.ok()) s = RenderChat(chat, req.chat(), a);
  if (!s.ok()) {
    gate.RecordSimpleCall(a->rpc, key.ok() ? *key : "", a->peer, s, SecondsSince(t0));
    return s;
  }
  if (chat->splits_reasoning()) split->emplace(chat::ReasoningFormat::kDeepseek, a->in_reasoning);
  return absl::OkStatus();
}

// The structured-output field, then (for chat prompts) the template; an error is recorded
// like the gate records a refused call.
absl::Status PrepareExtras(Gate& gate, const chat::ChatRenderer* chat,
                           const phalanx::v1::GenerateRequest& req, const std::string& auth,
                           ApiRequest* a, Splitter* split) {
  if (absl::Status s = StructuredFromProto(req, a); !s.ok()) {
    const Clock::time_point t0 = Clock::now();
    const absl::StatusOr<std::string> key = gate.Authenticate(auth);
    if (!key.ok()) s = key.status();
    gate.RecordSimpleCall(a->rpc, key.ok() ? *key : "", a->peer, s, SecondsSince(t0));
    return s;
  }
  if (!req.has_chat()) return absl::OkStatus();
  return PrepareChat(gate, chat, req, auth, a, split);
}

// A unary call whose request carries a field this server does not define: refused (and
// recorded like every refused call) before anything else runs.
bool RefusedForUnknownFields(Gate& gate, grpc::CallbackServerContext* ctx, const char* rpc,
                             const google::protobuf::Message& req, grpc::ServerUnaryReactor* r) {
  absl::Status s = CheckNoUnknownFields(req);
  if (s.ok()) return false;
  const Clock::time_point t0 = Clock::now();
  const absl::StatusOr<std::string> key = gate.Authenticate(Authorization(ctx));
  if (!key.ok()) s = key.status();
  gate.RecordSimpleCall(rpc, key.ok() ? *key : "", ctx->peer(), s, SecondsSince(t0));
  r->Finish(ToGrpc(s));
  return true;
}

void AddRetryAfter(grpc::CallbackServerContext* ctx, double retry_after_s) {
  if (retry_after_s > 0) {
    ctx->AddTrailingMetadata("retry-after",
                             std::to_string(static_cast<int>(std::ceil(retry_after_s))));
  }
}

// Unary generation. The handler (shared with the gate and engine) outlives the reactor when
// they report after the call is gone, so the reactor pointer is cleared under the lock in
// OnDone and every callback checks it.
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  struct Handler final : CallHandler {
    std::mutex mu;
    UnaryCall* call = nullptr;
    grpc::CallbackServerContext* ctx = nullptr;
    Frontend* fe = nullptr;
    GenerateResponse* resp = nullptr;
    Splitter split;  // chat prompts with a thinking template

    void OnStarted(const Submitted& s) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      resp->set_request_id(s.request_id);
      resp->set_prompt_text(s.prompt_text);
    }
    void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>& events) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      for (const auto& e : events) {
        AddText(split, e.text, resp);
        FillToken(*fe, e, resp->add_tokens());
      }
    }
    void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                  const engine::Usage& u, const engine::Timing& t, std::string tail) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      AddText(split, tail, resp);
      FlushText(split, resp);
      resp->set_finish_reason(ToProto(r));
      FillUsage(u, resp->mutable_usage());
      FillTiming(t, resp->mutable_timing());
      call->Finish(FinishStatus(r, s));
    }
    void OnRejected(const absl::Status& s, double retry_after_s) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      AddRetryAfter(ctx, retry_after_s);
      call->Finish(ToGrpc(s));
    }
    void OnCached(const std::string& request_id, const CachedResponse& r) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      ctx->AddInitialMetadata("x-phalanx-degraded", "cache");
      resp->set_request_id(request_id);
      resp->clear_text();
      AddText(split, r.text, resp);
      FlushText(split, resp);
      for (const auto& e : r.tokens) FillToken(*fe, e, resp->add_tokens());
      resp->set_finish_reason(ToProto(r.finish));
      FillUsage(r.usage, resp->mutable_usage());
      resp->set_degraded(true);
      call->Finish(grpc::Status::OK);
    }
  };

  UnaryCall(Gate& gate, const chat::ChatRenderer* chat, grpc::CallbackServerContext* ctx,
            const phalanx::v1::GenerateRequest* req, GenerateResponse* resp)
      : gate_(gate), h_(std::make_shared<Handler>()) {
    h_->call = this;
    h_->ctx = ctx;
    h_->fe = &gate.frontend();
    h_->resp = resp;
    ApiRequest a = FromProto(*req, ctx, "Generate");
    const std::string auth = Authorization(ctx);
    if (absl::Status s = PrepareExtras(gate, chat, *req, auth, &a, &h_->split); !s.ok()) {
      Finish(ToGrpc(s));
      return;
    }
    id_ = gate.Handle(std::move(a), auth, h_);
  }
  void OnCancel() override { gate_.Cancel(id_); }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> l(h_->mu);
      h_->call = nullptr;
    }
    delete this;
  }

 private:
  Gate& gate_;
  std::shared_ptr<Handler> h_;
  std::atomic<Gate::CallId> id_{0};
};

// Streaming generation. Content produced while a write is in flight is coalesced into the next
// message, so a slow client receives fewer, larger messages instead of an unbounded backlog.
class StreamCall final : public grpc::ServerWriteReactor<GenerateStreamResponse> {
 public:
  struct Handler final : CallHandler {
    std::mutex mu;
    StreamCall* call = nullptr;
    grpc::CallbackServerContext* ctx = nullptr;
    Frontend* fe = nullptr;
    Splitter split;  // chat prompts with a thinking template

    void OnStarted(const Submitted& s) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      call->request_id_ = s.request_id;
      if (!s.prompt_text.empty()) {
        call->Pending().set_prompt_text(s.prompt_text);
        call->MaybeWrite();
      }
    }
    void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>& events) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      GenerateStreamResponse& m = call->Pending();
      for (const auto& e : events) {
        AddText(split, e.text, &m);
        FillToken(*fe, e, m.add_tokens());
      }
      // The request's last token goes out with the finish (OnFinish follows at once).
      if (!events.empty() && events.back().last) return;
      call->MaybeWrite();
    }
    void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                  const engine::Usage& u, const engine::Timing& t, std::string tail) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      const grpc::Status st = FinishStatus(r, s);
      if (st.ok()) {
        GenerateStreamResponse& m = call->Pending();
        AddText(split, tail, &m);
        FlushText(split, &m);
        m.set_finish_reason(ToProto(r));
        FillUsage(u, m.mutable_usage());
        FillTiming(t, m.mutable_timing());
      }
      call->FinishAfterWrites(st);
    }
    void OnRejected(const absl::Status& s, double retry_after_s) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      AddRetryAfter(ctx, retry_after_s);
      call->FinishAfterWrites(ToGrpc(s));
    }
    void OnCached(const std::string& request_id, const CachedResponse& r) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      ctx->AddInitialMetadata("x-phalanx-degraded", "cache");
      call->request_id_ = request_id;
      call->degraded_ = true;
      for (const auto& e : r.tokens) {  // replayed token by token
        GenerateStreamResponse& m = call->queue_.emplace_back();
        m.set_request_id(request_id);
        m.set_degraded(true);
        AddText(split, e.text, &m);
        FillToken(*fe, e, m.add_tokens());
      }
      GenerateStreamResponse& last = call->queue_.emplace_back();
      last.set_request_id(request_id);
      last.set_degraded(true);
      AddText(split, std::string_view(r.text).substr(std::min(r.text.size(), TokenTextBytes(r))),
              &last);
      FlushText(split, &last);
      last.set_finish_reason(ToProto(r.finish));
      FillUsage(r.usage, last.mutable_usage());
      call->FinishAfterWrites(grpc::Status::OK);
    }
    static size_t TokenTextBytes(const CachedResponse& r) {
      size_t n = 0;
      for (const auto& e : r.tokens) n += e.text.size();
      return n;
    }
  };

  StreamCall(Gate& gate, const chat::ChatRenderer* chat, grpc::CallbackServerContext* ctx,
             const phalanx::v1::GenerateRequest* req)
      : gate_(gate), h_(std::make_shared<Handler>()) {
    h_->call = this;
    h_->ctx = ctx;
    h_->fe = &gate.frontend();
    request_id_ = req->request_id();
    ApiRequest a = FromProto(*req, ctx, "GenerateStream");
    const std::string auth = Authorization(ctx);
    {
      if (absl::Status s = PrepareExtras(gate, chat, *req, auth, &a, &h_->split); !s.ok()) {
        std::lock_guard<std::mutex> l(h_->mu);
        finished_ = true;
        Finish(ToGrpc(s));
        return;
      }
    }
    id_ = gate.Handle(std::move(a), auth, h_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> l(h_->mu);
    writing_ = false;
    queue_.pop_front();
    if (!ok) {  // the client is gone: stop generating, end the call
      gate_.Cancel(id_);
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream write failed"));
      }
      return;
    }
    MaybeWrite();
  }
  void OnCancel() override { gate_.Cancel(id_); }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> l(h_->mu);
      h_->call = nullptr;
    }
    delete this;
  }

 private:
  // The message new content goes into: the last queued one unless it is being written.
  GenerateStreamResponse& Pending() {
    if (queue_.empty() || (writing_ && queue_.size() == 1)) {
      queue_.emplace_back();
      queue_.back().set_request_id(request_id_);
      queue_.back().set_degraded(degraded_);
    }
    return queue_.back();
  }
  void FinishAfterWrites(const grpc::Status& st) {
    final_status_ = st;
    finishing_ = true;
    MaybeWrite();
  }
  // Called with the lock held. The last message and the status go out in one operation.
  void MaybeWrite() {
    if (writing_ || finished_) return;
    if (finishing_ && queue_.size() == 1) {
      finished_ = true;
      StartWriteAndFinish(&queue_.front(), grpc::WriteOptions(), final_status_);
      return;
    }
    if (!queue_.empty()) {
      writing_ = true;
      StartWrite(&queue_.front());
      return;
    }
    if (finishing_) {
      finished_ = true;
      Finish(final_status_);
    }
  }

  Gate& gate_;
  std::shared_ptr<Handler> h_;
  std::atomic<Gate::CallId> id_{0};
  std::string request_id_;
  bool degraded_ = false;
  std::deque<GenerateStreamResponse> queue_;  // front is being written when writing_
  bool writing_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  grpc::Status final_status_;
};

}  // namespace

std::string Authorization(const grpc::CallbackServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

grpc::ServerUnaryReactor* GenerationService::Generate(grpc::CallbackServerContext* ctx,
                                                      const phalanx::v1::GenerateRequest* req,
                                                      GenerateResponse* resp) {
  return new UnaryCall(gate_, chat_, ctx, req, resp);
}

grpc::ServerWriteReactor<GenerateStreamResponse>* GenerationService::GenerateStream(
    grpc::CallbackServerContext* ctx, const phalanx::v1::GenerateRequest* req) {
  return new StreamCall(gate_, chat_, ctx, req);
}

grpc::ServerUnaryReactor* GenerationService::Tokenize(grpc::CallbackServerContext* ctx,
                                                      const phalanx::v1::TokenizeRequest* req,
                                                      phalanx::v1::TokenizeResponse* resp) {
  auto* r = ctx->DefaultReactor();
  if (RefusedForUnknownFields(gate_, ctx, "Tokenize", *req, r)) return r;
  // The gate authenticates, rate limits and tokenizes on its own executor; the response and
  // the context stay valid until Finish (the call cannot complete before it).
  gate_.Tokenize(Authorization(ctx), ctx->peer(), req->text(),
                 req->has_add_special_tokens() ? req->add_special_tokens() : true,
                 req->parse_special(),
                 [r, ctx, resp, fe = &gate_.frontend()](absl::StatusOr<std::vector<int32_t>> ids,
                                                        double retry_after_s) {
                   if (ids.ok()) {
                     for (int32_t id : *ids) {
                       resp->add_ids(id);
                       resp->add_pieces(fe->TokenText(id));
                     }
                   } else {
                     AddRetryAfter(ctx, retry_after_s);
                   }
                   r->Finish(ToGrpc(ids.status()));
                 });
  return r;
}

grpc::ServerUnaryReactor* GenerationService::GetModelInfo(
    grpc::CallbackServerContext* ctx, const phalanx::v1::GetModelInfoRequest* req,
    phalanx::v1::ModelInfo* resp) {
  const Clock::time_point t0 = Clock::now();
  auto* r = ctx->DefaultReactor();
  if (RefusedForUnknownFields(gate_, ctx, "GetModelInfo", *req, r)) return r;
  auto key = gate_.Authenticate(Authorization(ctx));
  if (key.ok()) {
    const ModelInfoData d = gate_.frontend().ModelInfo();
    resp->set_name(d.name);
    resp->set_architecture(d.architecture);
    resp->set_parameters(d.parameters);
    resp->set_dtype(d.dtype);
    resp->set_context_length(d.context_length);
    resp->set_vocab_size(d.vocab_size);
    resp->set_layers(d.layers);
    resp->set_embedding_size(d.embedding_size);
    resp->set_heads(d.heads);
    resp->set_kv_heads(d.kv_heads);
    resp->set_bos_token_id(d.bos);
    resp->set_eos_token_id(d.eos);
    resp->set_backend(d.backend);
    resp->set_max_batch(d.max_batch);
    resp->set_kv_cache_tokens(d.kv_cache_tokens);
  }
  gate_.RecordSimpleCall("GetModelInfo", key.ok() ? *key : "", ctx->peer(), key.status(),
                         SecondsSince(t0));
  r->Finish(ToGrpc(key.status()));
  return r;
}

grpc::ServerUnaryReactor* GenerationService::SubmitFeedback(grpc::CallbackServerContext* ctx,
                                                            const phalanx::v1::FeedbackRequest* req,
                                                            phalanx::v1::FeedbackResponse*) {
  auto* r = ctx->DefaultReactor();
  if (RefusedForUnknownFields(gate_, ctx, "SubmitFeedback", *req, r)) return r;
  r->Finish(ToGrpc(gate_.Feedback(Authorization(ctx), ctx->peer(), req->request_id(), req->rating(),
                                  req->comment())));
  return r;
}

}  // namespace phx::server::grpcapi
