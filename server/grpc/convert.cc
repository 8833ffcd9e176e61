#include "server/grpc/convert.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "base/status.h"
#include "base/strings.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"
#include "server/core/gate.h"
#include "server/core/status_map.h"

namespace phx::server::grpcapi {

ApiRequest FromProto(const phalanx::v1::GenerateRequest& r, const grpc::CallbackServerContext* ctx,
                     const char* rpc) {
  ApiRequest a;
  a.rpc = rpc;
  a.request_id = r.request_id();
  if (r.has_token_ids()) {
    a.has_text = false;
    a.token_ids.assign(r.token_ids().ids().begin(), r.token_ids().ids().end());
  } else {
    a.text = r.text();
  }
  a.add_special = r.has_add_special_tokens() ? r.add_special_tokens() : true;
  a.parse_special = r.parse_special();
  const auto& s = r.sampling();
  auto& p = a.sampling;
  if (s.has_temperature()) p.temperature = s.temperature();
  if (s.has_top_k()) p.top_k = s.top_k();
  if (s.has_top_p()) p.top_p = s.top_p();
  if (s.has_min_p()) p.min_p = s.min_p();
  if (s.has_repetition_penalty()) p.repetition_penalty = s.repetition_penalty();
  if (s.has_presence_penalty()) p.presence_penalty = s.presence_penalty();
  if (s.has_frequency_penalty()) p.frequency_penalty = s.frequency_penalty();
  if (s.has_penalty_last_n()) p.penalty_last_n = s.penalty_last_n();
  if (s.has_seed()) p.seed = s.seed();
  for (const auto& [id, bias] : s.logit_bias()) p.logit_bias.emplace_back(id, bias);
  std::sort(p.logit_bias.begin(), p.logit_bias.end());  // a map's order is unspecified
  p.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  if (s.has_min_tokens()) p.min_tokens = s.min_tokens();
  if (r.has_max_tokens()) {
    p.max_tokens = r.max_tokens();
    a.explicit_max_tokens = true;
  }
  p.stop.assign(r.stop().begin(), r.stop().end());
  p.ignore_eos = r.ignore_eos();
  p.logprobs = r.has_logprobs() ? r.logprobs() : -1;
  a.priority = r.priority();
  a.echo = r.echo();
  if (ctx != nullptr) {
    a.peer = ctx->peer();
    const auto dl = ctx->deadline();
    const auto now = std::chrono::system_clock::now();
    if (dl < now + std::chrono::hours(24 * 365)) {
      a.deadline =
          engine::Clock::now() + std::chrono::duration_cast<engine::Clock::duration>(dl - now);
    }
  }
  return a;
}

namespace {

// The path of the first field `m` (or a message inside it) carries that this server's proto
// does not define ("sampling.#42"), or "" when there is none.
std::string UnknownFieldPath(const google::protobuf::Message& m, const std::string& prefix) {
  const google::protobuf::Reflection* refl = m.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = refl->GetUnknownFields(m);
  if (!unknown.empty()) return StrCat(prefix, "#", unknown.field(0).number());
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string name = StrCat(prefix, f->name());
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(m, f); ++i) {
        std::string p =
            UnknownFieldPath(refl->GetRepeatedMessage(m, f, i), StrCat(name, "[", i, "]."));
        if (!p.empty()) return p;
      }
    } else if (std::string p = UnknownFieldPath(refl->GetMessage(m, f), name + "."); !p.empty()) {
      return p;
    }
  }
  return "";
}

}  // namespace

absl::Status CheckNoUnknownFields(const google::protobuf::Message& m) {
  const std::string path = UnknownFieldPath(m, "");
  if (path.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      StrCat("unknown field ", path, " (field number ", path.substr(path.rfind('#') + 1),
             "): this server does not implement it (a client built from a newer "
             "phalanx/v1 proto?)"));
}

absl::Status StructuredFromProto(const phalanx::v1::GenerateRequest& r, ApiRequest* a) {
  PHX_RETURN_IF_ERROR(CheckNoUnknownFields(r));
  if (!r.has_structured_output()) return absl::OkStatus();
  using P = phalanx::v1::StructuredOutput;
  using Kind = StructuredSpec::Kind;
  const P& so = r.structured_output();
  StructuredSpec& s = a->structured;
  s = StructuredSpec();
  switch (so.kind_case()) {
    case P::kJsonSchema:
      s.kind = Kind::kJsonSchema;
      s.text = so.json_schema();
      s.param = "structured_output.json_schema";
      break;
    case P::kJsonObject:
      if (!so.json_object()) {
        return absl::InvalidArgumentError(
            "structured_output.json_object must be true (leave structured_output unset for "
            "free text)");
      }
      s.kind = Kind::kJsonObject;
      s.param = "structured_output.json_object";
      break;
    case P::kRegex:
      s.kind = Kind::kRegex;
      s.text = so.regex();
      s.param = "structured_output.regex";
      break;
    case P::kGbnf:
      s.kind = Kind::kGbnf;
      s.text = so.gbnf();
      s.param = "structured_output.gbnf";
      break;
    case P::KIND_NOT_SET:
      return absl::InvalidArgumentError(
          "structured_output must set one of json_schema, json_object, regex, gbnf");
  }
  if (so.has_strict()) {
    if (s.kind != Kind::kJsonSchema && s.kind != Kind::kJsonObject) {
      return absl::InvalidArgumentError(
          "structured_output.strict applies to json_schema and json_object only");
    }
    s.strict = so.strict();
  }
  return absl::OkStatus();
}

phalanx::v1::FinishReason ToProto(engine::FinishReason r) {
  switch (r) {
    case engine::FinishReason::kLength:
      return phalanx::v1::FINISH_REASON_LENGTH;
    case engine::FinishReason::kStop:
      return phalanx::v1::FINISH_REASON_STOP;
    case engine::FinishReason::kEos:
      return phalanx::v1::FINISH_REASON_EOS;
    case engine::FinishReason::kCancelled:
    case engine::FinishReason::kDeadline:
      return phalanx::v1::FINISH_REASON_CANCELLED;
    case engine::FinishReason::kError:
      return phalanx::v1::FINISH_REASON_ERROR;
    case engine::FinishReason::kNone:
      break;
  }
  return phalanx::v1::FINISH_REASON_UNSPECIFIED;
}

void FillToken(const Frontend& fe, const engine::TokenEvent& ev, phalanx::v1::Token* out) {
  out->set_id(ev.token);
  out->set_text(fe.TokenText(ev.token));
  out->set_logprob(ev.logprob);
  for (const auto& t : ev.top) {
    auto* tl = out->add_top_logprobs();
    tl->set_id(t.token);
    tl->set_text(fe.TokenText(t.token));
    tl->set_logprob(t.logprob);
  }
}

void FillUsage(const engine::Usage& u, phalanx::v1::Usage* out) {
  out->set_prompt_tokens(u.prompt_tokens);
  out->set_completion_tokens(u.completion_tokens);
  out->set_cached_prompt_tokens(u.cached_prompt_tokens);
}

void FillTiming(const engine::Timing& t, phalanx::v1::Timing* out) {
  out->set_queue_seconds(t.queue_seconds());
  out->set_time_to_first_token_seconds(t.ttft_seconds());
  out->set_total_seconds(t.total_seconds());
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(GrpcCode(s)), std::string(s.message()));
}

grpc::Status FinishStatus(engine::FinishReason r, const absl::Status& s) {
  return ToGrpc(server::FinishStatus(r, s));
}

}  // namespace phx::server::grpcapi
