// POST /v1/embeddings through the Gate: each input is one gate call (authenticated, validated,
// rate limited, admitted, billed, audited and counted like a generation request; rpc
// "http_embeddings"), an embedding request in the engine (engine::GenerateRequest::embed). The
// answer is sent once every input has its vector, or at the first input refused or failed
// (the others are cancelled then). A client that goes away cancels every input, queued or
// running; the server stopping answers 503. No thread waits for a call.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/core/gate.h"
#include "server/http/embeddings_json.h"
#include "server/http/net/http_types.h"

namespace phx::server {

class EmbeddingsCall final : public std::enable_shared_from_this<EmbeddingsCall> {
 public:
  struct Options {
    std::string model;  // the id the answer reports
    bool base64 = false;
    int64_t dimensions = 0;       // 0: the whole vector
    bool input_is_array = false;  // errors name input[i]
    size_t n = 1;                 // inputs
  };
  EmbeddingsCall(Gate& gate, std::shared_ptr<net::Exchange> ex, Options opts);

  // The handler of input i's gate call.
  std::shared_ptr<CallHandler> Sink(size_t i);
  // Gate::Handle returned input i's call id.
  void SetId(size_t i, Gate::CallId id);
  // The connection closed first: cancel every input.
  void Abort();
  // The server stops: a 503; cancels every input.
  void Stop();
  // The answer was sent (or the call was aborted or stopped).
  bool done() const;

 private:
  class InputSink;
  struct Input {
    std::optional<Gate::CallId> id;
    bool ended = false;  // finished, refused or failed
    std::vector<float> vector;
    bool has_vector = false;
    int32_t prompt_tokens = 0;
  };
  void OnStarted(size_t i, const Submitted& s);
  void OnEmbedding(size_t i, std::vector<float> v);
  void OnEnd(size_t i, const absl::Status& s, double retry_after_s);
  // Under mu_ with closed_ set: what to cancel.
  std::vector<Gate::CallId> CloseLocked();
  void Fail(size_t i, const absl::Status& s, double retry_after_s);  // outside mu_
  void Answer();                                                     // on the strand

  Gate& gate_;
  std::shared_ptr<net::Exchange> ex_;
  Options opts_;
  mutable std::mutex mu_;
  bool closed_ = false;
  size_t ended_ok_ = 0;
  std::vector<Input> inputs_;
};

// What ServeEmbeddings needs of the API server.
struct EmbeddingsContext {
  std::string model_id;                          // reported in the answer
  std::function<bool(std::string_view)> serves;  // whether a requested model name is served
  ParseOptions parse;
  std::function<void(const std::string&)> on_ignored_field;  // may be empty
};

// Parses the request and hands each input to the gate (on the caller's thread, a request
// thread). Returns the call while it runs (the server tracks it for Stop), or null when the
// request was answered at once (an error).
std::shared_ptr<EmbeddingsCall> ServeEmbeddings(Gate& gate, std::shared_ptr<net::Exchange> ex,
                                                const EmbeddingsContext& ctx);

// The error of input i as the API reports it: param "input", and a message naming input[i]
// when the request held an array.
ApiError EmbeddingError(const absl::Status& s, bool input_is_array, size_t i);

}  // namespace phx::server
