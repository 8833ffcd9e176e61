// Fuzzes request validation: arbitrary bytes are parsed as a phalanx.v1.GenerateRequest,
// converted like the gRPC service does (FromProto) and validated by Frontend::Prepare against
// stories260K (PHX_FUZZ_MODEL, or $PHX_FUZZ_MODEL). The model and engine live in host memory
// through a minimal backend below: the CPU backend (ops/cpu) needs GCC, libFuzzer needs clang,
// and validation runs no forward pass. The same bytes are also tried as a text
// prompt with and without parse_special, and as token ids. Checks: the rate-limit estimate and
// reservation stay in [1, context]; whatever Validate (the checks run before any rate limit)
// refuses, Prepare refuses the same way; Prepare either fails with INVALID_ARGUMENT or returns a
// request the engine can take (ids in the vocabulary, length and max_tokens within the limits,
// sampling parameters valid, token-id prompts unchanged).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "ops/backend.h"
#include "phalanx/v1/generate.pb.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "server/core/frontend.h"
#include "server/grpc/chat_convert.h"
#include "server/grpc/convert.h"

namespace {

using phx::server::ApiRequest;
using phx::server::Frontend;

constexpr phx::server::FrontendLimits kLimits{
    .max_prompt_bytes = 2048, .max_prompt_tokens = 0, .max_tokens = 512};

// Host memory without compute: enough to load weights (views of the mapped file) and build the
// engine's KV cache; every compute op is UNIMPLEMENTED.
class HostBackend : public phx::ops::Backend {
 public:
  using Buffer = phx::ops::Buffer;
  using Tensor = phx::ops::Tensor;
  std::string_view name() const override { return "fuzz-host"; }
  phx::ops::Device device() const override { return phx::ops::Device::kCpu; }
  bool Supports(phx::ops::Op, phx::DType) const override { return true; }
  absl::StatusOr<Buffer> Allocate(phx::DType dtype, std::initializer_list<int64_t> shape) override {
    Tensor t = Tensor::View(static_cast<void*>(nullptr), dtype, shape);
    if (t.nbytes() < 0 || t.nbytes() > (int64_t{1} << 30)) {
      return absl::ResourceExhaustedError("fuzz backend: allocation too large");
    }
    t.data = std::calloc(static_cast<size_t>(std::max<int64_t>(t.nbytes(), 1)), 1);
    if (t.data == nullptr) return absl::ResourceExhaustedError("fuzz backend: out of memory");
    return Buffer(t, [](void* p) { std::free(p); });
  }
  absl::StatusOr<Buffer> AdoptWeight(const Tensor& host) override { return Buffer(host, nullptr); }
  absl::Status CopyToDevice(const void* host, size_t bytes, const Tensor& dst) override {
    if (!dst.packed() || static_cast<int64_t>(bytes) != dst.nbytes()) return Unimplemented();
    std::memcpy(dst.data, host, bytes);
    return absl::OkStatus();
  }
  absl::Status CopyToHost(const Tensor& src, void* host, size_t bytes) override {
    if (!src.packed() || static_cast<int64_t>(bytes) != src.nbytes()) return Unimplemented();
    std::memcpy(host, src.data, bytes);
    return absl::OkStatus();
  }
  absl::Status Fill(const Tensor&, float) override { return absl::OkStatus(); }
  absl::Status Synchronize() override { return absl::OkStatus(); }
  absl::Status Matmul(const Tensor&, const Tensor&, const Tensor*, const Tensor&) override {
    return Unimplemented();
  }
  absl::Status RmsNorm(const Tensor&, const Tensor&, float, const Tensor&) override {
    return Unimplemented();
  }
  absl::Status Rope(const Tensor&, int32_t, const Tensor&, const phx::ops::RopeParams&) override {
    return Unimplemented();
  }
  absl::Status WriteKv(const Tensor&, const Tensor&, const Tensor&,
                       const phx::ops::KvLayer&) override {
    return Unimplemented();
  }
  absl::StatusOr<std::unique_ptr<phx::ops::AttentionPlan>> PlanAttention(
      const phx::ops::AttentionBatch&, int32_t, int32_t, int32_t) override {
    return Unimplemented();
  }
  absl::Status Attention(const Tensor&, const phx::ops::KvLayer&, const phx::ops::AttentionPlan&,
                         const phx::ops::AttentionOptions&, const Tensor&) override {
    return Unimplemented();
  }
  absl::Status SwiGlu(const Tensor&, const Tensor&, const Tensor&) override {
    return Unimplemented();
  }
  absl::Status Add(const Tensor&, const Tensor&, const Tensor&) override { return Unimplemented(); }
  absl::Status Embedding(const Tensor&, const Tensor&, const Tensor&) override {
    return Unimplemented();
  }
  absl::Status Softmax(const Tensor&, float, const Tensor&) override { return Unimplemented(); }
  absl::Status ApplyPenalties(const Tensor&, std::span<const phx::ops::PenaltyRow>) override {
    return Unimplemented();
  }

 private:
  static absl::Status Unimplemented() {
    return absl::UnimplementedError("fuzz backend: no compute");
  }
};

// Built once in LLVMFuzzerInitialize; lives for the whole run.
struct Harness {
  std::unique_ptr<HostBackend> backend;
  std::unique_ptr<phx::model::Model> model;
  std::unique_ptr<phx::engine::Engine> engine;
  std::unique_ptr<Frontend> frontend;
  std::unique_ptr<phx::chat::ChatRenderer> chat;  // the built-in chatml template
};
Harness* harness = nullptr;

[[noreturn]] void Die(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "request_fuzz: %s %s\n", what, detail.c_str());
  std::abort();
}

void Check(bool ok, const char* what, const std::string& detail = "") {
  if (!ok) Die(what, detail);
}

void Exercise(const ApiRequest& req) {
  const Frontend& fe = *harness->frontend;
  const double ctx_tokens = harness->engine->max_model_len();
  // The rate-limit estimate is in [1, context] whatever the request holds (a negative
  // max_tokens once made it negative and locked keys out).
  const double estimate = fe.EstimateTokens(req);
  Check(estimate >= 1 && estimate <= ctx_tokens, "estimate outside [1, context]",
        std::to_string(estimate));
  const absl::Status valid = fe.Validate(req);
  bool too_long = true;
  absl::StatusOr<phx::engine::GenerateRequest> out = fe.Prepare(req, &too_long);
  if (!valid.ok()) Check(!out.ok() && out.status() == valid, "Prepare disagrees with Validate");
  if (out.ok()) {
    const double reserved = fe.ReservedTokens(*out);
    Check(reserved >= 1 && reserved <= ctx_tokens, "reservation outside [1, context]");
  }
  if (!out.ok()) {
    Check(out.status().code() == absl::StatusCode::kInvalidArgument, "unexpected error code",
          out.status().ToString());
    Check(!out.status().message().empty(), "error without a message");
    return;
  }
  Check(!too_long, "accepted but flagged too long");
  const auto& tok = harness->model->tokenizer();
  const int32_t ctx = harness->engine->max_model_len();
  Check(!out->prompt.empty(), "empty prompt accepted");
  Check(static_cast<int32_t>(out->prompt.size()) <= ctx - 1, "prompt longer than the context");
  for (int32_t id : out->prompt) {
    Check(id >= 0 && id < tok.vocab_size(), "token id outside the vocabulary", std::to_string(id));
  }
  if (!req.has_text) Check(out->prompt == req.token_ids, "token-id prompt changed");
  if (req.has_text) {
    Check(static_cast<int64_t>(req.text.size()) <= kLimits.max_prompt_bytes, "prompt too big");
    Check(phx::server::IsValidUtf8(req.text), "invalid UTF-8 prompt accepted");
  }
  Check(out->sampling.max_tokens <= kLimits.max_tokens, "max_tokens above the limit");
  Check(out->sampling.Validate().ok(), "invalid sampling parameters accepted",
        out->sampling.Validate().ToString());
  for (const std::string& s : out->sampling.stop) {
    Check(phx::server::IsValidUtf8(s), "invalid UTF-8 stop string accepted");
  }
  Check(out->priority >= -1000 && out->priority <= 1000, "priority out of range");
  Check(req.request_id.size() <= 128 && phx::server::IsValidUtf8(req.request_id),
        "bad request_id accepted");
  // Decoding what was accepted must not crash either.
  (void)fe.Detokenize(out->prompt);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // Invalid UTF-8 in string fields is logged by protobuf on every such input: keep quiet.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  const char* env = std::getenv("PHX_FUZZ_MODEL");
  const std::string path = env != nullptr ? env : PHX_FUZZ_MODEL;
  auto* h = new Harness;
  h->backend = std::make_unique<HostBackend>();
  auto model = phx::model::Model::Load(path, *h->backend);
  if (!model.ok()) Die("cannot load model", path + ": " + model.status().ToString());
  h->model = std::move(*model);
  phx::engine::EngineConfig cfg;
  cfg.num_blocks = 64;
  cfg.max_num_seqs = 4;
  auto engine = phx::engine::Engine::Create(*h->model, *h->backend, cfg);
  if (!engine.ok()) Die("cannot create engine", engine.status().ToString());
  h->engine = std::move(*engine);
  h->frontend = std::make_unique<Frontend>(*h->engine, "cpu", kLimits);
  phx::chat::ChatRendererOptions co;
  co.template_arg = "chatml";
  auto chat = phx::chat::ChatRenderer::Create(h->model->tokenizer(), std::nullopt, co);
  if (!chat.ok()) Die("cannot create the chat renderer", chat.status().ToString());
  h->chat = std::make_unique<phx::chat::ChatRenderer>(std::move(*chat));
  harness = h;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // 1. The bytes as a protobuf request, through the gRPC conversion.
  phalanx::v1::GenerateRequest proto;
  if (proto.ParseFromArray(data, static_cast<int>(size))) {
    ApiRequest req = phx::server::grpcapi::FromProto(proto, nullptr, "Generate");
    if (proto.has_chat()) {
      // A Chat prompt: rendered as the gRPC service renders it, or refused naming a field.
      const absl::Status s =
          phx::server::grpcapi::RenderChat(harness->chat.get(), proto.chat(), &req);
      if (!s.ok()) {
        Check(s.code() == absl::StatusCode::kInvalidArgument, "unexpected chat error code",
              s.ToString());
        Check(!s.message().empty(), "chat error without a message");
        return 0;
      }
      size_t last = 0;
      for (const auto& span : req.plain_spans) {
        Check(span.begin >= last && span.begin <= span.end && span.end <= req.text.size(),
              "plain span outside the rendered prompt or out of order");
        last = span.end;
      }
    }
    Exercise(req);
  }
  if (size == 0) return 0;
  // 2. The rest as a text prompt: special-token parsing on and off, BOS on and off.
  const uint8_t flags = data[0];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  ApiRequest req;
  req.rpc = "Generate";
  req.text = text;
  req.add_special = flags & 1;
  req.parse_special = true;
  req.sampling.temperature = 0;
  Exercise(req);
  req.parse_special = false;
  Exercise(req);
  // A special token's text embedded in the prompt.
  req.parse_special = true;
  req.text = "<s>" + text.substr(0, 64) + "</s>";
  Exercise(req);
  // 3. The rest as token ids (any int32, negative and past the vocabulary included).
  ApiRequest ids;
  ids.rpc = "Generate";
  ids.has_text = false;
  for (size_t i = 1; i + 4 <= size; i += 4) {
    int32_t v;
    std::memcpy(&v, data + i, 4);
    // Mostly small ids so that valid prompts are common.
    ids.token_ids.push_back(flags & 2 ? v : static_cast<int32_t>(static_cast<uint32_t>(v) % 600));
  }
  ids.sampling.max_tokens = static_cast<int32_t>(flags) * 3;  // 0 is invalid; > 512 too
  Exercise(ids);
  return 0;
}
