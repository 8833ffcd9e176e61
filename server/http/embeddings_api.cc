#include "server/http/embeddings_api.h"

#include <chrono>

#include "base/elapsed.h"
#include "base/strings.h"
#include "server/core/status_map.h"
#include "server/http/http_call.h"
#include "server/http/openai_response.h"

namespace phx::server {

ApiError EmbeddingError(const absl::Status& s, bool input_is_array, size_t i) {
  std::string msg(s.message());
  const bool about_input = msg.rfind("input", 0) == 0;
  if (about_input && input_is_array) msg = StrCat("input[", i, "]", msg.substr(5));
  ApiError e = FromStatus(absl::Status(s.code(), msg), Endpoint::kCompletions);
  if (about_input) e.param = "input";
  return e;
}

class EmbeddingsCall::InputSink final : public CallHandler {
 public:
  InputSink(std::shared_ptr<EmbeddingsCall> call, size_t i) : call_(std::move(call)), i_(i) {}
  void OnStarted(const Submitted& s) override { call_->OnStarted(i_, s); }
  void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>&) override {}
  void OnEmbedding(engine::RequestId, std::vector<float> v) override {
    call_->OnEmbedding(i_, std::move(v));
  }
  void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                const engine::Usage&, const engine::Timing&, std::string) override {
    call_->OnEnd(i_, FinishStatus(r, s), 0);
  }
  void OnRejected(const absl::Status& s, double retry_after_s) override {
    call_->OnEnd(i_, s, retry_after_s);
  }
  void OnCached(const std::string&, const CachedResponse&) override {
    // The gate never answers an embedding from the response cache.
    call_->OnEnd(i_, absl::InternalError("an embedding was answered from the response cache"), 0);
  }

 private:
  std::shared_ptr<EmbeddingsCall> call_;
  size_t i_;
};

EmbeddingsCall::EmbeddingsCall(Gate& gate, std::shared_ptr<net::Exchange> ex, Options opts)
    : gate_(gate), ex_(std::move(ex)), opts_(std::move(opts)) {
  inputs_.resize(std::max<size_t>(1, opts_.n));
}

std::shared_ptr<CallHandler> EmbeddingsCall::Sink(size_t i) {
  return std::make_shared<InputSink>(shared_from_this(), i);
}

void EmbeddingsCall::SetId(size_t i, Gate::CallId id) {
  bool cancel = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    inputs_[i].id = id;
    cancel = closed_ && !inputs_[i].ended;
  }
  if (cancel) gate_.Cancel(id);
}

std::vector<Gate::CallId> EmbeddingsCall::CloseLocked() {
  closed_ = true;
  std::vector<Gate::CallId> ids;
  for (Input& in : inputs_) {
    if (!in.ended && in.id) ids.push_back(*in.id);  // else SetId cancels it
  }
  return ids;
}

void EmbeddingsCall::Abort() {
  std::vector<Gate::CallId> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    ids = CloseLocked();
  }
  for (Gate::CallId id : ids) gate_.Cancel(id);
}

void EmbeddingsCall::Stop() {
  std::vector<Gate::CallId> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return;
    ids = CloseLocked();
  }
  ex_->Respond(ErrorResponse(ApiError{absl::UnavailableError("server is stopping"), "", ""}));
  for (Gate::CallId id : ids) gate_.Cancel(id);
}

bool EmbeddingsCall::done() const {
  std::lock_guard<std::mutex> l(mu_);
  return closed_;
}

void EmbeddingsCall::OnStarted(size_t i, const Submitted& s) {
  std::lock_guard<std::mutex> l(mu_);
  inputs_[i].prompt_tokens = s.prompt_tokens;
}

void EmbeddingsCall::OnEmbedding(size_t i, std::vector<float> v) {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_) return;
  inputs_[i].vector = std::move(v);
  inputs_[i].has_vector = true;
}

void EmbeddingsCall::OnEnd(size_t i, const absl::Status& s, double retry_after_s) {
  bool answer = false, fail = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    Input& in = inputs_[i];
    if (in.ended) return;
    in.ended = true;
    if (closed_) return;
    if (s.ok() && in.has_vector) {
      answer = ++ended_ok_ == inputs_.size();
      if (answer) closed_ = true;
    } else {
      fail = true;
    }
  }
  if (answer) {
    // Normalizing and encoding off the engine thread, on the connection's strand.
    ex_->Post([self = shared_from_this()] { self->Answer(); });
  } else if (fail) {
    Fail(i, s.ok() ? absl::InternalError("the engine finished without a vector") : s,
         retry_after_s);
  }
}

void EmbeddingsCall::Fail(size_t i, const absl::Status& s, double retry_after_s) {
  std::vector<Gate::CallId> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return;
    ids = CloseLocked();
  }
  ex_->Respond(ErrorResponse(EmbeddingError(s, opts_.input_is_array, i), retry_after_s));
  for (Gate::CallId id : ids) gate_.Cancel(id);
}

void EmbeddingsCall::Answer() {
  std::vector<std::vector<float>> vectors;
  int64_t tokens = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (Input& in : inputs_) {
      vectors.push_back(Normalize(std::move(in.vector), opts_.dimensions));
      tokens += in.prompt_tokens;
    }
  }
  net::HttpResponse r;
  r.status = 200;
  r.body = Dump(EmbeddingsAnswer(vectors, opts_.base64, opts_.model, tokens));
  ex_->Respond(std::move(r));
}

std::shared_ptr<EmbeddingsCall> ServeEmbeddings(Gate& gate, std::shared_ptr<net::Exchange> ex,
                                                const EmbeddingsContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const net::HttpRequest& hreq = ex->request();
  const std::string rpc = "http_embeddings";
  const std::string auth(hreq.header("authorization"));
  const absl::StatusOr<std::string> key = gate.Authenticate(auth);
  auto refuse = [&](const ApiError& e) -> std::shared_ptr<EmbeddingsCall> {
    gate.RecordSimpleCall(rpc, key.ok() ? *key : "", hreq.peer, e.status, SecondsSince(t0));
    ex->Respond(ErrorResponse(e));
    return nullptr;
  };
  if (!key.ok()) return refuse(FromStatus(key.status(), Endpoint::kCompletions));
  EmbeddingsRequest r;
  if (auto e = ParseEmbeddingsRequest(hreq.body, ctx.parse, &r)) return refuse(*e);
  if (ctx.on_ignored_field) {
    for (const std::string& f : r.ignored_fields) ctx.on_ignored_field(f);
  }
  if (!r.model.empty() && !ctx.serves(r.model)) {
    return refuse(ApiError{
        absl::NotFoundError(StrCat("The model `", r.model, "` does not exist; this server serves `",
                                   ctx.model_id, "`")),
        "model", "model_not_found"});
  }
  const int64_t n_embd = gate.frontend().engine().model().config().n_embd;
  if (auto e = CheckDimensions(r, n_embd)) return refuse(*e);
  EmbeddingsCall::Options o;
  o.model = ctx.model_id;
  o.base64 = r.base64;
  o.dimensions = r.dimensions.value_or(0);
  o.input_is_array = r.input_is_array;
  o.n = r.inputs.size();
  auto call = std::make_shared<EmbeddingsCall>(gate, ex, o);
  // A client that goes away cancels every input, queued or running.
  ex->OnAbort([w = std::weak_ptr<EmbeddingsCall>(call)] {
    if (auto c = w.lock()) c->Abort();
  });
  std::string peer = hreq.peer;
  if (!r.user.empty()) peer += " user=" + r.user.substr(0, 64);  // audit only
  const std::string request_id(hreq.header("x-request-id"));
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    if (call->done()) break;  // an input was refused: the answer is that error
    ApiRequest a;
    a.embed = true;
    a.rpc = rpc;
    a.peer = peer;
    if (i == 0) a.request_id = request_id;
    EmbeddingInput& in = r.inputs[i];
    a.has_text = in.has_text;
    a.text = std::move(in.text);
    a.token_ids = std::move(in.token_ids);
    // As llama.cpp tokenizes embedding inputs: the model's BOS/EOS, special tokens parsed.
    a.add_special = true;
    a.parse_special = true;
    const Gate::CallId id = gate.Handle(std::move(a), auth, call->Sink(i));
    call->SetId(i, id);
  }
  return call;
}

}  // namespace phx::server
