// The gRPC Chat prompt form (phalanx.v1.Chat): turned into the OpenAI-shaped body that
// /v1/chat/completions parses, and rendered with the server's one chat::ChatRenderer.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "phalanx/v1/generate.pb.h"
#include "runtime/chat/chat_renderer.h"
#include "server/core/api_request.h"

namespace phx::server::grpcapi {

// The OpenAI chat body of `c` (messages, tools, documents, chat_template_kwargs,
// add_generation_prompt). InvalidArgument naming the field ("chat.messages[0].role: ...").
absl::StatusOr<nlohmann::ordered_json> ChatBody(const phalanx::v1::Chat& c);

// Renders `c` into `a`'s prompt: the text, the request's text as plain spans, the template's
// add_special, whether the template thinks and whether generation starts inside a think block
// (a->in_reasoning). Errors: InvalidArgument naming the field or carrying the template's
// message; FailedPrecondition when there is no template (`chat` null or not available()).
absl::Status RenderChat(const chat::ChatRenderer* chat, const phalanx::v1::Chat& c, ApiRequest* a);

}  // namespace phx::server::grpcapi
