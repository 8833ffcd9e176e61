// phalanx.v1.Generation/Embed: each input is one gate call (an embedding request in the
// engine); the response is sent once every input has its vector, or at the first one refused or
// failed (the others are cancelled then). Errors about an input name inputs[i].
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>

#include "base/elapsed.h"
#include "base/strings.h"
#include "server/core/embedding_vector.h"
#include "server/grpc/convert.h"
#include "server/grpc/generation_service.h"

namespace phx::server::grpcapi {
namespace {

using phalanx::v1::EmbedRequest;
using phalanx::v1::EmbedResponse;
using Clock = engine::Clock;

// The request's own checks (before any gate call): fields this server does not define, the
// number of inputs, each input's kind, dimensions.
absl::Status CheckEmbedRequest(const EmbedRequest& r, int64_t n_embd) {
  if (absl::Status s = CheckNoUnknownFields(r); !s.ok()) return s;
  if (r.inputs_size() < 1 || static_cast<size_t>(r.inputs_size()) > kMaxEmbeddingInputs) {
    return absl::InvalidArgumentError(
        StrCat("inputs must hold 1 to ", kMaxEmbeddingInputs, " inputs; got ", r.inputs_size()));
  }
  for (int i = 0; i < r.inputs_size(); ++i) {
    if (r.inputs(i).input_case() == phalanx::v1::EmbedInput::INPUT_NOT_SET) {
      return absl::InvalidArgumentError(StrCat("inputs[", i, "] has neither text nor token_ids"));
    }
  }
  if (r.has_dimensions() && (r.dimensions() < 1 || r.dimensions() > n_embd)) {
    return absl::InvalidArgumentError(StrCat("dimensions must be in [1, ", n_embd,
                                             "] (the model's embedding size); got ",
                                             r.dimensions()));
  }
  return absl::OkStatus();
}

// An input's error: "input ..." from the frontend or engine becomes "inputs[i] ...".
absl::Status NameInput(const absl::Status& s, int i) {
  const std::string m(s.message());
  if (m.rfind("input", 0) != 0 || m.rfind("inputs", 0) == 0) return s;
  return absl::Status(s.code(), StrCat("inputs[", i, "]", m.substr(5)));
}

class EmbedCall final : public grpc::ServerUnaryReactor {
 public:
  // Shared with the gate and the engine: may outlive the reactor (call cleared in OnDone).
  struct State {
    std::mutex mu;
    EmbedCall* call = nullptr;
    grpc::CallbackServerContext* ctx = nullptr;
    EmbedResponse* resp = nullptr;
    int64_t dims = 0;
    bool l2 = true;
    bool closed = false;  // answered (or the client went away)
    int ok = 0;
    std::vector<Gate::CallId> ids;  // 0 until Handle returned
    std::vector<bool> ended;
    std::vector<std::vector<float>> vectors;
    std::vector<int32_t> tokens;
  };
  struct Handler final : CallHandler {
    std::shared_ptr<State> st;
    Gate* gate = nullptr;
    int i = 0;
    void OnStarted(const Submitted& s) override {
      std::lock_guard<std::mutex> l(st->mu);
      st->tokens[i] = s.prompt_tokens;
    }
    void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>&) override {}
    void OnEmbedding(engine::RequestId, std::vector<float> v) override {
      std::lock_guard<std::mutex> l(st->mu);
      st->vectors[i] = Normalize(std::move(v), st->dims, st->l2);
    }
    void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                  const engine::Usage&, const engine::Timing&, std::string) override {
      End(server::FinishStatus(r, s), 0);  // OK when the vector came (kStop)
    }
    void OnRejected(const absl::Status& s, double retry_after_s) override { End(s, retry_after_s); }
    void OnCached(const std::string&, const CachedResponse&) override {
      End(absl::InternalError("an embedding was answered from the response cache"), 0);
    }
    void End(const absl::Status& s, double retry_after_s) {
      std::vector<Gate::CallId> cancel;
      {
        std::lock_guard<std::mutex> l(st->mu);
        if (st->ended[i]) return;
        st->ended[i] = true;
        if (st->closed || st->call == nullptr) return;
        if (s.ok() && !st->vectors[i].empty()) {
          if (++st->ok < static_cast<int>(st->ended.size())) return;
          st->closed = true;
          int32_t total = 0;
          for (size_t k = 0; k < st->vectors.size(); ++k) {
            auto* e = st->resp->add_embeddings();
            for (float x : st->vectors[k]) e->add_values(x);
            e->set_prompt_tokens(st->tokens[k]);
            total += st->tokens[k];
          }
          st->resp->set_prompt_tokens(total);
          st->call->Finish(grpc::Status::OK);
          return;
        }
        st->closed = true;
        for (size_t k = 0; k < st->ids.size(); ++k) {
          if (!st->ended[k] && st->ids[k] != 0) cancel.push_back(st->ids[k]);
        }
        if (retry_after_s > 0) {
          st->ctx->AddTrailingMetadata("retry-after",
                                       std::to_string(static_cast<int>(std::ceil(retry_after_s))));
        }
        st->call->Finish(ToGrpc(NameInput(
            s.ok() ? absl::InternalError("the engine finished without a vector") : s, i)));
      }
      for (Gate::CallId id : cancel) gate->Cancel(id);
    }
  };

  EmbedCall(Gate& gate, grpc::CallbackServerContext* ctx, const EmbedRequest* req,
            EmbedResponse* resp)
      : gate_(gate), st_(std::make_shared<State>()) {
    const std::string auth = Authorization(ctx);
    const int64_t n_embd = gate.frontend().engine().model().config().n_embd;
    if (absl::Status s = CheckEmbedRequest(*req, n_embd); !s.ok()) {
      const Clock::time_point t0 = Clock::now();
      const absl::StatusOr<std::string> key = gate.Authenticate(auth);
      if (!key.ok()) s = key.status();
      gate.RecordSimpleCall("Embed", key.ok() ? *key : "", ctx->peer(), s, SecondsSince(t0));
      Finish(ToGrpc(s));
      return;
    }
    const size_t n = static_cast<size_t>(req->inputs_size());
    st_->call = this;
    st_->ctx = ctx;
    st_->resp = resp;
    st_->dims = req->has_dimensions() ? req->dimensions() : 0;
    st_->l2 = req->has_normalize() ? req->normalize() : true;
    st_->ids.assign(n, 0);
    st_->ended.assign(n, false);
    st_->vectors.resize(n);
    st_->tokens.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      {
        std::lock_guard<std::mutex> l(st_->mu);
        if (st_->closed) break;  // an input was refused: the answer is that error
      }
      const phalanx::v1::EmbedInput& in = req->inputs(static_cast<int>(i));
      ApiRequest a;
      a.embed = true;
      a.rpc = "Embed";
      a.peer = ctx->peer();
      a.priority = req->priority();
      if (i == 0) a.request_id = req->request_id();
      a.has_text = in.has_text();
      if (a.has_text) {
        a.text = in.text();
      } else {
        a.token_ids.assign(in.token_ids().ids().begin(), in.token_ids().ids().end());
      }
      a.add_special = true;  // as llama.cpp tokenizes embedding inputs
      a.parse_special = true;
      auto h = std::make_shared<Handler>();
      h->st = st_;
      h->gate = &gate;
      h->i = static_cast<int>(i);
      const Gate::CallId id = gate.Handle(std::move(a), auth, h);
      bool cancel = false;
      {
        std::lock_guard<std::mutex> l(st_->mu);
        st_->ids[i] = id;
        cancel = st_->closed && !st_->ended[i];
      }
      if (cancel) gate.Cancel(id);
    }
  }
  // The client went away: every input is cancelled; the first to end (CANCELLED) finishes the
  // call.
  void OnCancel() override {
    std::vector<Gate::CallId> ids;
    {
      std::lock_guard<std::mutex> l(st_->mu);
      for (size_t k = 0; k < st_->ids.size(); ++k) {
        if (!st_->ended[k] && st_->ids[k] != 0) ids.push_back(st_->ids[k]);
      }
    }
    for (Gate::CallId id : ids) gate_.Cancel(id);
  }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> l(st_->mu);
      st_->call = nullptr;
    }
    delete this;
  }

 private:
  Gate& gate_;
  std::shared_ptr<State> st_;
};

}  // namespace

grpc::ServerUnaryReactor* GenerationService::Embed(grpc::CallbackServerContext* ctx,
                                                   const EmbedRequest* req, EmbedResponse* resp) {
  return new EmbedCall(gate_, ctx, req, resp);
}

}  // namespace phx::server::grpcapi
