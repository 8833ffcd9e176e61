// ApiServer's Anthropic Messages endpoints: POST /v1/messages (through the Gate and the chat
// template like /v1/chat/completions, answered by HttpCall in Anthropic's shapes) and POST
// /v1/messages/count_tokens (the rendered prompt tokenized through Gate::Tokenize).
#include <ctime>

#include "base/elapsed.h"
#include "base/strings.h"
#include "server/http/anthropic_json.h"
#include "server/http/anthropic_response.h"
#include "server/http/api_server.h"
#include "server/http/http_call.h"

namespace phx::server {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

std::optional<AnthropicEndpoint> AnthropicEndpointOf(std::string_view path) {
  if (path == "/v1/messages") return AnthropicEndpoint::kMessages;
  if (path == "/v1/messages/count_tokens") return AnthropicEndpoint::kCountTokens;
  return std::nullopt;
}

std::string AnthropicAuthorization(const net::HttpRequest& req) {
  const std::string_view auth = req.header("authorization");
  if (!auth.empty()) return std::string(auth);
  const std::string_view key = req.header("x-api-key");
  return key.empty() ? std::string() : StrCat("Bearer ", key);
}

void ApiServer::Messages(const std::shared_ptr<net::Exchange>& ex, AnthropicEndpoint ep) {
  const Clock::time_point t0 = Clock::now();
  const net::HttpRequest& hreq = ex->request();
  const bool count = ep == AnthropicEndpoint::kCountTokens;
  const std::string rpc = count ? "http_messages_count_tokens" : "http_messages";
  const std::string auth = AnthropicAuthorization(hreq);
  std::string peer = hreq.peer;
  const absl::StatusOr<std::string> key = gate_.Authenticate(auth);
  auto refuse = [&](const ApiError& e) {
    gate_.RecordSimpleCall(rpc, key.ok() ? *key : "", peer, e.status, SecondsSince(t0));
    ex->Respond(AnthropicErrorResponse(e));
  };
  if (!key.ok()) return refuse(FromStatus(key.status(), Endpoint::kChat));
  AnthropicRequest a;
  if (auto e = ParseAnthropicRequest(hreq.body, parse_opts_, count, &a)) return refuse(*e);
  OpenAiRequest& r = a.chat;
  if (opts_.on_ignored_field) {
    for (const std::string& f : r.ignored_fields) opts_.on_ignored_field(f);
  }
  if (!ServesModel(r.model)) {
    return refuse(ApiError{
        absl::NotFoundError(StrCat("model: the model `", r.model,
                                   "` does not exist; this server serves `", model_id_, "`")),
        "model", ""});
  }
  if (r.tools.active() && opts_.chat != nullptr) {
    const size_t before = r.chat["messages"].size();
    if (auto e = ApplyTools(opts_.chat->tool_format(), &r)) {
      return refuse(AnthropicParamOf(*e, a.message_paths));
    }
    // The generic format's tool description went in as a system message of its own.
    if (r.chat["messages"].size() > before)
      a.message_paths.insert(a.message_paths.begin(), "system");
  }
  if (auto e = RenderChatPrompt(&r)) {
    return refuse(AnthropicParamOf(*e, a.message_paths));
  }
  if (r.tools.active() && r.api.structured.param == "tools" && r.api.structured.triggers.empty()) {
    r.api.in_reasoning = false;  // a call forced from the first token: no thinking (as Generate)
  }
  if (!r.user.empty()) peer += " user=" + r.user.substr(0, 64);
  if (count) {
    // No generation: the prompt's tokens, through the gate (auth, the key's rate limits).
    return gate_.Tokenize(auth, peer, std::move(r.api.text), r.api.add_special,
                          /*parse_special=*/true,
                          [ex](absl::StatusOr<std::vector<int32_t>> ids, double retry_after_s) {
                            if (!ids.ok()) {
                              ApiError e = FromStatus(ids.status(), Endpoint::kChat);
                              return ex->Respond(AnthropicErrorResponse(e, retry_after_s));
                            }
                            net::HttpResponse res;
                            res.body = Dump({{"input_tokens", ids->size()}});
                            ex->Respond(std::move(res));
                          });
  }
  r.api.rpc = rpc;
  r.api.peer = peer;
  r.api.request_id = std::string(hreq.header("x-request-id"));
  HttpCall::Options o;
  o.endpoint = Endpoint::kChat;
  o.stream = r.stream;
  o.ctx.chat = true;
  o.ctx.model = model_id_;
  o.ctx.created = static_cast<int64_t>(std::time(nullptr));
  if (opts_.chat->splits_reasoning()) {
    o.ctx.reasoning.emplace(chat::ReasoningFormat::kDeepseek, r.api.in_reasoning);
  }
  if (r.tools.active()) o.ctx.tools = opts_.chat->tool_format();
  o.id_prefix = "msg_";
  AnthropicOptions ao;
  ao.stop_sequences = a.stop_sequences;
  ao.detokenize = [fe = &gate_.frontend()](const std::vector<int32_t>& ids) {
    return fe->Detokenize(ids);
  };
  o.dialect = std::make_shared<AnthropicDialect>(std::move(ao));
  auto call = std::make_shared<HttpCall>(gate_, ex, std::move(o));
  Track(call);
  // A client that goes away cancels the request, queued or running.
  ex->OnAbort([w = std::weak_ptr<HttpCall>(call)] {
    if (auto c = w.lock()) c->Abort();
  });
  const Gate::CallId id = gate_.Handle(std::move(r.api), auth, call->Sink(0));
  call->SetId(0, id);
}

}  // namespace phx::server
