// Conversions between the phalanx.v1 protos and the transport-independent request/response
// types. Validation of ranges happens in the frontend; this maps fields and refuses
// combinations of structured-output fields that are not implemented.
#pragma once

#include <optional>

#include "grpcpp/grpcpp.h"
#include "phalanx/v1/generate.pb.h"
#include "server/core/api_request.h"
#include "server/core/frontend.h"

namespace phx::server::grpcapi {

ApiRequest FromProto(const phalanx::v1::GenerateRequest& r, const grpc::CallbackServerContext* ctx,
                     const char* rpc);
// INVALID_ARGUMENT naming the first field of `m` (or of a message inside it) that this server's
// proto does not define: a field we do not implement is an error, never silently ignored.
absl::Status CheckNoUnknownFields(const google::protobuf::Message& m);
// CheckNoUnknownFields(r), then the request's structured_output into a->structured;
// INVALID_ARGUMENT naming the field for a combination that is not implemented (no kind,
// json_object false, strict with a regex or grammar).
absl::Status StructuredFromProto(const phalanx::v1::GenerateRequest& r, ApiRequest* a);
phalanx::v1::FinishReason ToProto(engine::FinishReason r);
void FillToken(const Frontend& fe, const engine::TokenEvent& ev, phalanx::v1::Token* out);
void FillUsage(const engine::Usage& u, phalanx::v1::Usage* out);
void FillTiming(const engine::Timing& t, phalanx::v1::Timing* out);
// The RPC status a finished generation ends with (OK for length/stop/eos).
grpc::Status FinishStatus(engine::FinishReason r, const absl::Status& s);
grpc::Status ToGrpc(const absl::Status& s);

}  // namespace phx::server::grpcapi
