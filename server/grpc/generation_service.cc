#include "server/grpc/generation_service.h"

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>

#include "server/grpc/convert.h"

namespace phx::server::grpcapi {
namespace {

using phalanx::v1::GenerateResponse;
using phalanx::v1::GenerateStreamResponse;

// Unary generation: the engine-side sink accumulates the response and finishes the reactor.
// The sink outlives the reactor when the engine reports after the call is gone, so the
// reactor pointer is cleared (under the lock) in OnDone.
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  struct Sink final : engine::TokenSink {
    std::mutex mu;
    UnaryCall* call = nullptr;
    Frontend* fe = nullptr;
    GenerateResponse* resp = nullptr;

    void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>& events) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      for (const auto& e : events) {
        resp->mutable_text()->append(e.text);
        FillToken(*fe, e, resp->add_tokens());
      }
    }
    void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                  const engine::Usage& u, const engine::Timing& t, std::string tail) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      resp->mutable_text()->append(tail);
      resp->set_finish_reason(ToProto(r));
      FillUsage(u, resp->mutable_usage());
      FillTiming(t, resp->mutable_timing());
      call->Finish(FinishStatus(r, s));
    }
  };

  UnaryCall(Frontend& fe, grpc::CallbackServerContext* ctx,
            const phalanx::v1::GenerateRequest* req, GenerateResponse* resp)
      : fe_(fe), sink_(std::make_shared<Sink>()) {
    sink_->call = this;
    sink_->fe = &fe;
    sink_->resp = resp;
    // Hold the sink's lock across Submit so the engine thread cannot report before the
    // response carries its id.
    std::unique_lock<std::mutex> l(sink_->mu);
    auto sub = fe.Submit(FromProto(*req, ctx, "Generate"), sink_);
    if (!sub.ok()) {
      sink_->call = nullptr;
      l.unlock();
      Finish(ToGrpc(sub.status()));
      return;
    }
    id_ = sub->engine_id;
    resp->set_request_id(sub->request_id);
    resp->set_prompt_text(sub->prompt_text);
  }

  void OnCancel() override {
    if (id_ != 0) fe_.Cancel(id_);
  }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> l(sink_->mu);
      sink_->call = nullptr;
    }
    delete this;
  }

 private:
  Frontend& fe_;
  std::shared_ptr<Sink> sink_;
  std::atomic<engine::RequestId> id_{0};
};

// Streaming generation. Messages produced while a write is in flight are coalesced into one,
// so a slow client receives fewer, larger messages instead of an unbounded backlog of writes.
class StreamCall final : public grpc::ServerWriteReactor<GenerateStreamResponse> {
 public:
  struct Sink final : engine::TokenSink {
    std::mutex mu;
    StreamCall* call = nullptr;
    Frontend* fe = nullptr;

    void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>& events) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      GenerateStreamResponse& m = call->Pending();
      for (const auto& e : events) {
        m.mutable_text()->append(e.text);
        FillToken(*fe, e, m.add_tokens());
      }
      call->MaybeWrite();
    }
    void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                  const engine::Usage& u, const engine::Timing& t, std::string tail) override {
      std::lock_guard<std::mutex> l(mu);
      if (call == nullptr) return;
      const grpc::Status st = FinishStatus(r, s);
      if (st.ok()) {
        GenerateStreamResponse& m = call->Pending();
        m.mutable_text()->append(tail);
        m.set_finish_reason(ToProto(r));
        FillUsage(u, m.mutable_usage());
        FillTiming(t, m.mutable_timing());
      }
      call->final_status_ = st;
      call->finishing_ = true;
      call->MaybeWrite();
    }
  };

  StreamCall(Frontend& fe, grpc::CallbackServerContext* ctx,
             const phalanx::v1::GenerateRequest* req)
      : fe_(fe), sink_(std::make_shared<Sink>()) {
    sink_->call = this;
    sink_->fe = &fe;
    std::unique_lock<std::mutex> l(sink_->mu);
    auto sub = fe.Submit(FromProto(*req, ctx, "GenerateStream"), sink_);
    if (!sub.ok()) {
      sink_->call = nullptr;
      l.unlock();
      Finish(ToGrpc(sub.status()));
      return;
    }
    id_ = sub->engine_id;
    request_id_ = sub->request_id;
    if (!sub->prompt_text.empty()) {
      Pending().set_prompt_text(sub->prompt_text);
      MaybeWrite();
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> l(sink_->mu);
    writing_ = false;
    queue_.pop_front();
    if (!ok) {  // the client is gone: stop generating, end the call
      if (id_ != 0) fe_.Cancel(id_);
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream write failed"));
      }
      return;
    }
    MaybeWrite();
  }
  void OnCancel() override {
    if (id_ != 0) fe_.Cancel(id_);
  }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> l(sink_->mu);
      sink_->call = nullptr;
    }
    delete this;
  }

 private:
  // The message new content goes into: the last queued one unless it is being written.
  GenerateStreamResponse& Pending() {
    if (queue_.empty() || (writing_ && queue_.size() == 1)) {
      queue_.emplace_back();
      queue_.back().set_request_id(request_id_);
    }
    return queue_.back();
  }
  // Called with the lock held.
  void MaybeWrite() {
    if (writing_ || finished_) return;
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

  Frontend& fe_;
  std::shared_ptr<Sink> sink_;
  std::atomic<engine::RequestId> id_{0};
  std::string request_id_;
  std::deque<GenerateStreamResponse> queue_;  // front is being written when writing_
  bool writing_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  grpc::Status final_status_;
};

}  // namespace

grpc::ServerUnaryReactor* GenerationService::Generate(grpc::CallbackServerContext* ctx,
                                                      const phalanx::v1::GenerateRequest* req,
                                                      GenerateResponse* resp) {
  return new UnaryCall(fe_, ctx, req, resp);
}

grpc::ServerWriteReactor<GenerateStreamResponse>* GenerationService::GenerateStream(
    grpc::CallbackServerContext* ctx, const phalanx::v1::GenerateRequest* req) {
  return new StreamCall(fe_, ctx, req);
}

grpc::ServerUnaryReactor* GenerationService::Tokenize(grpc::CallbackServerContext* ctx,
                                                      const phalanx::v1::TokenizeRequest* req,
                                                      phalanx::v1::TokenizeResponse* resp) {
  auto* r = ctx->DefaultReactor();
  auto ids = fe_.Tokenize(req->text(),
                          req->has_add_special_tokens() ? req->add_special_tokens() : true,
                          req->parse_special());
  if (!ids.ok()) {
    r->Finish(ToGrpc(ids.status()));
    return r;
  }
  for (int32_t id : *ids) {
    resp->add_ids(id);
    resp->add_pieces(fe_.TokenText(id));
  }
  r->Finish(grpc::Status::OK);
  return r;
}

grpc::ServerUnaryReactor* GenerationService::GetModelInfo(grpc::CallbackServerContext* ctx,
                                                          const phalanx::v1::GetModelInfoRequest*,
                                                          phalanx::v1::ModelInfo* resp) {
  const ModelInfoData d = fe_.ModelInfo();
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
  auto* r = ctx->DefaultReactor();
  r->Finish(grpc::Status::OK);
  return r;
}

grpc::ServerUnaryReactor* GenerationService::SubmitFeedback(grpc::CallbackServerContext* ctx,
                                                            const phalanx::v1::FeedbackRequest* req,
                                                            phalanx::v1::FeedbackResponse*) {
  auto* r = ctx->DefaultReactor();
  if (req->rating() < -1 || req->rating() > 1) {
    r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "rating must be -1, 0 or 1"));
  } else if (req->request_id().empty()) {
    r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "request_id must not be empty"));
  } else if (req->comment().size() > 4096) {
    r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                           "comment must be at most 4096 bytes"));
  } else {
    r->Finish(grpc::Status::OK);
  }
  return r;
}

}  // namespace phx::server::grpcapi
