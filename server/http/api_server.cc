#include "server/http/api_server.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>

#include "base/elapsed.h"
#include "base/strings.h"
#include "server/core/status_map.h"
#include "server/http/anthropic_response.h"
#include "server/http/embeddings_api.h"
#include "server/http/http_call.h"
#include "server/http/openai_response.h"
#include "server/http/responses_json.h"
#include "server/http/responses_stream.h"
#include "server/http/utility_api.h"
#include "spdlog/spdlog.h"

namespace phx::server {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

std::string ServedModelId(Gate& gate) {
  const ModelInfoData d = gate.frontend().ModelInfo();
  const std::string& path = gate.frontend().engine().model().path();
  if (!d.name.empty() && d.name != path) return d.name;
  return std::filesystem::path(path).filename().string();
}

// The status behind an error the HTTP layer answers by itself.
absl::Status StatusOfHttp(int status, std::string message) {
  switch (status) {
    case 401:
      return absl::UnauthenticatedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 408:
      return absl::DeadlineExceededError(message);
    case 500:
      return absl::InternalError(message);
    case 503:
      return absl::UnavailableError(message);
    default:
      return absl::InvalidArgumentError(message);
  }
}

net::HttpResponse JsonResponse(int status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

ApiServer::ApiServer(Gate& gate, HealthMonitor* health, ApiServerOptions opts)
    : gate_(gate), health_(health), opts_(std::move(opts)) {
  // vLLM's --served-model-name: the first name is the id; the model's own id stays accepted.
  for (const std::string& n : opts_.served_model_names) {
    if (std::find(model_names_.begin(), model_names_.end(), n) == model_names_.end()) {
      model_names_.push_back(n);
    }
  }
  const std::string own = ServedModelId(gate_);
  if (std::find(model_names_.begin(), model_names_.end(), own) == model_names_.end()) {
    model_names_.push_back(own);
  }
  model_id_ = model_names_.front();
  parse_opts_.lenient = opts_.lenient;
  created_ = static_cast<int64_t>(std::time(nullptr));
  parse_opts_.default_chat_max_tokens = gate_.frontend().limits().max_tokens;
}

ApiServer::~ApiServer() { Stop(); }

absl::Status ApiServer::Start() {
  // A write to a client that went away must fail with EPIPE, not kill the server.
  std::signal(SIGPIPE, SIG_IGN);
  net::HttpServerOptions o;
  o.name = "api";
  o.hosts = {opts_.host};
  o.port = opts_.port;
  o.threads = std::max(1, opts_.threads);
  o.limits = opts_.limits;
  if (o.limits.max_body_bytes == 0) {
    // A JSON body holds the prompt escaped: room for 4x the largest prompt, plus the rest.
    o.limits.max_body_bytes =
        static_cast<uint64_t>(std::max<int64_t>(gate_.frontend().limits().max_prompt_bytes, 1)) *
            4 +
        (1 << 20);
  }
  if (opts_.tls)
    o.tls = net::TlsConfig{opts_.tls->cert_pem, opts_.tls->key_pem, opts_.tls->client_ca_pem,
                           ApplyTlsPolicy};
  workers_ = std::make_unique<Executor>(o.threads);
  http_ = std::make_unique<net::HttpServer>(std::move(o), *this);
  if (absl::Status s = http_->Start(); !s.ok()) return s;
  port_ = http_->port();
  return absl::OkStatus();
}

void ApiServer::Stop() {
  stopping_ = true;
  if (http_) http_->Stop();
  workers_.reset();  // runs what is queued (the gate refuses it while draining), joins
}

net::HttpServerStats ApiServer::stats() const {
  return http_ ? http_->stats() : net::HttpServerStats{};
}

std::optional<net::HttpResponse> ApiServer::CheckHead(const net::HttpRequest& h) {
  const bool completions = h.path == "/v1/completions";
  if (completions || h.path == "/v1/chat/completions" || h.path == "/v1/responses") {
    if (h.method != "POST") {
      return ErrorResponse(ApiError{absl::NotFoundError(StrCat("no route ", h.path)), "", ""});
    }
    // The key is checked before a byte of the body is read.
    const Clock::time_point t0 = Clock::now();
    const auto key = gate_.Authenticate(h.header("authorization"));
    if (key.ok()) return std::nullopt;
    gate_.RecordSimpleCall(completions                 ? "http_completions"
                           : h.path == "/v1/responses" ? "http_responses"
                                                       : "http_chat_completions",
                           "", h.peer, key.status(), SecondsSince(t0));
    return ErrorResponse(
        FromStatus(key.status(), completions ? Endpoint::kCompletions : Endpoint::kChat));
  }
  if (auto a = AnthropicEndpointOf(h.path)) {
    if (h.method != "POST") {
      return AnthropicErrorResponse(
          ApiError{absl::NotFoundError(StrCat("no route ", h.method, " ", h.path)), "", ""});
    }
    // x-api-key or Authorization: Bearer, checked before the body is read.
    const Clock::time_point t0 = Clock::now();
    const auto key = gate_.Authenticate(AnthropicAuthorization(h));
    if (key.ok()) return std::nullopt;
    gate_.RecordSimpleCall(
        *a == AnthropicEndpoint::kMessages ? "http_messages" : "http_messages_count_tokens", "",
        h.peer, key.status(), SecondsSince(t0));
    return AnthropicErrorResponse(FromStatus(key.status(), Endpoint::kChat));
  }
  if (h.path == "/v1/embeddings") {
    if (h.method != "POST") {
      return ErrorResponse(ApiError{absl::NotFoundError(StrCat("no route ", h.path)), "", ""});
    }
    const Clock::time_point t0 = Clock::now();
    const auto key = gate_.Authenticate(h.header("authorization"));
    if (key.ok()) return std::nullopt;
    gate_.RecordSimpleCall("http_embeddings", "", h.peer, key.status(), SecondsSince(t0));
    return ErrorResponse(FromStatus(key.status(), Endpoint::kCompletions));
  }
  if (auto u = UtilityEndpointOf(h.path)) {
    if (h.method != "POST") {
      return ErrorResponse(ApiError{absl::NotFoundError(StrCat("no route ", h.path)), "", ""});
    }
    const Clock::time_point t0 = Clock::now();
    const auto key = gate_.Authenticate(h.header("authorization"));
    if (key.ok()) return std::nullopt;
    gate_.RecordSimpleCall(UtilityRpcName(*u), "", h.peer, key.status(), SecondsSince(t0));
    return ErrorResponse(FromStatus(key.status(), Endpoint::kCompletions));
  }
  if (h.method == "GET") {
    if (h.path == "/v1/models") return Models(h, "");
    if (h.path.rfind("/v1/models/", 0) == 0 && h.path.size() > 11) {
      return Models(h, std::string_view(h.path).substr(11));
    }
    if (h.path == "/health") return Health();
  }
  return ErrorResponse(ApiError{absl::NotFoundError(StrCat("no route ", h.path)), "", ""});
}

void ApiServer::Handle(std::shared_ptr<net::Exchange> ex) {
  if (auto a = AnthropicEndpointOf(ex->request().path)) {
    workers_->Post([this, ex = std::move(ex), a = *a] { Messages(ex, a); });
    return;
  }
  if (ex->request().path == "/v1/embeddings") {
    workers_->Post([this, ex = std::move(ex)] { Embeddings(ex); });
    return;
  }
  if (UtilityEndpointOf(ex->request().path)) {
    workers_->Post([this, ex = std::move(ex)] { Utility(ex); });
    return;
  }
  const bool responses = ex->request().path == "/v1/responses";
  const Endpoint ep = responses || ex->request().path == "/v1/chat/completions"
                          ? Endpoint::kChat
                          : Endpoint::kCompletions;
  // Parsing, chat rendering and admission (which may tokenize) off the I/O threads.
  workers_->Post([this, ex = std::move(ex), ep, responses] { Generate(ex, ep, responses); });
}

std::string ApiServer::ErrorBody(int status, std::string_view message) {
  return Dump(ErrorJson(ApiError{StatusOfHttp(status, std::string(message)), "", ""}));
}

void ApiServer::OnStop() {
  stopping_ = true;
  std::vector<std::shared_ptr<HttpCall>> live;
  {
    std::lock_guard<std::mutex> l(calls_mu_);
    for (auto& [p, w] : calls_) {
      if (auto c = w.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) c->Stop();
  std::vector<std::shared_ptr<EmbeddingsCall>> embeds;
  {
    std::lock_guard<std::mutex> l(calls_mu_);
    for (auto& w : embed_calls_) {
      if (auto c = w.lock()) embeds.push_back(std::move(c));
    }
  }
  for (auto& c : embeds) c->Stop();
}

void ApiServer::Embeddings(const std::shared_ptr<net::Exchange>& ex) {
  EmbeddingsContext ctx;
  ctx.model_id = model_id_;
  ctx.serves = [this](std::string_view n) { return ServesModel(n); };
  ctx.parse = parse_opts_;
  ctx.on_ignored_field = opts_.on_ignored_field;
  std::shared_ptr<EmbeddingsCall> call = ServeEmbeddings(gate_, ex, ctx);
  if (!call) return;
  std::lock_guard<std::mutex> l(calls_mu_);
  std::erase_if(embed_calls_, [](const auto& w) {
    auto c = w.lock();
    return !c || c->done();
  });
  embed_calls_.push_back(call);
}

void ApiServer::Track(const std::shared_ptr<HttpCall>& call) {
  std::lock_guard<std::mutex> l(calls_mu_);
  calls_.emplace(call.get(), call);
  if (calls_.size() < prune_at_) return;
  for (auto it = calls_.begin(); it != calls_.end();) {
    auto c = it->second.lock();
    it = (!c || c->done()) ? calls_.erase(it) : std::next(it);
  }
  prune_at_ = std::max<size_t>(64, calls_.size() * 2);
}

std::optional<ApiError> ApiServer::RenderChatPrompt(OpenAiRequest* r) const {
  const chat::ChatRenderer* renderer = chat();
  if (renderer == nullptr || !renderer->available()) {
    return ApiError{absl::InvalidArgumentError(renderer ? renderer->problem() : "no chat template"),
                    "messages", ""};
  }
  // A thinking budget of 0 (the request's or --reasoning-budget) turns thinking off through the
  // template's switch, unless the request sets enable_thinking itself; the engine then closes a
  // block the prompt still opens (a template without the switch) at once.
  if (renderer->thinks() &&
      r->api.reasoning_budget.value_or(gate_.frontend().limits().reasoning_budget) == 0) {
    nlohmann::ordered_json& kw = r->chat["chat_template_kwargs"];
    if (kw.is_null()) kw = nlohmann::ordered_json::object();
    if (kw.is_object() && !kw.contains("enable_thinking")) kw["enable_thinking"] = false;
  }
  auto p = renderer->Render(r->chat);
  if (!p.ok()) {
    return ApiError{absl::InvalidArgumentError(p.status().message()),
                    chat::ChatErrorField(p.status()), ""};
  }
  ApiRequest& a = r->api;
  a.has_text = true;
  a.text = std::move(p->text);
  a.parse_special = true;  // in the template's text only: user text is in plain_spans
  a.plain_spans = std::move(p->plain_spans);
  a.add_special = p->add_special;
  a.thinks = renderer->thinks();
  a.in_reasoning = p->in_reasoning;
  return std::nullopt;
}

void ApiServer::Utility(const std::shared_ptr<net::Exchange>& ex) {
  const Clock::time_point t0 = Clock::now();
  const net::HttpRequest& req = ex->request();
  const UtilityEndpoint ep = *UtilityEndpointOf(req.path);
  const tok::Tokenizer& tokenizer = gate_.frontend().engine().model().tokenizer();
  if (ep == UtilityEndpoint::kTokenize) {
    // Through the gate, as gRPC Tokenize: auth, the key's rate limits, bounded pending work.
    auto body = ParseTokenizeBody(req.body, parse_opts_);
    if (const ApiError* e = std::get_if<ApiError>(&body)) {
      gate_.RecordSimpleCall("Tokenize", "", req.peer, e->status, SecondsSince(t0));
      return ex->Respond(ErrorResponse(*e));
    }
    TokenizeBody& t = std::get<TokenizeBody>(body);
    const bool pieces = t.with_pieces;
    return gate_.Tokenize(
        req.header("authorization"), req.peer, std::move(t.content), t.add_special, t.parse_special,
        [ex, pieces, &tokenizer](absl::StatusOr<std::vector<int32_t>> ids, double retry_after_s) {
          if (!ids.ok()) {
            ApiError e = FromStatus(ids.status(), Endpoint::kCompletions);
            if (e.param == "prompt" || ToStd(ids.status().message()).rfind("text ", 0) == 0) {
              e.param = "content";
            }
            return ex->Respond(ErrorResponse(e, retry_after_s));
          }
          ex->Respond(JsonResponse(200, Dump(TokenizeAnswer(*ids, pieces, tokenizer))));
        });
  }
  const auto key = gate_.Authenticate(req.header("authorization"));
  auto answer = key.status().ok() ? (ep == UtilityEndpoint::kDetokenize
                                         ? DetokenizeAnswer(req.body, parse_opts_, tokenizer)
                                         : ApplyTemplateAnswer(req.body, parse_opts_, chat()))
                                  : std::variant<nlohmann::json, ApiError>(
                                        FromStatus(key.status(), Endpoint::kCompletions));
  const ApiError* e = std::get_if<ApiError>(&answer);
  gate_.RecordSimpleCall(UtilityRpcName(ep), key.ok() ? *key : "", req.peer,
                         e ? e->status : absl::OkStatus(), SecondsSince(t0));
  if (e) return ex->Respond(ErrorResponse(*e));
  ex->Respond(JsonResponse(200, Dump(std::get<nlohmann::json>(answer))));
}

void ApiServer::Generate(const std::shared_ptr<net::Exchange>& ex, Endpoint ep, bool responses) {
  const Clock::time_point t0 = Clock::now();
  const net::HttpRequest& hreq = ex->request();
  const bool chat = ep == Endpoint::kChat;
  const std::string rpc = responses ? "http_responses"
                          : chat    ? "http_chat_completions"
                                    : "http_completions";
  const std::string auth(hreq.header("authorization"));
  std::string peer = hreq.peer;
  const absl::StatusOr<std::string> key = gate_.Authenticate(auth);
  auto refuse = [&](ApiError e) {
    if (responses) RenameParam(&e);  // the chat request's names in the Responses API's
    gate_.RecordSimpleCall(rpc, key.ok() ? *key : "", peer, e.status, SecondsSince(t0));
    ex->Respond(ErrorResponse(e));
  };
  if (!key.ok()) return refuse(FromStatus(key.status(), ep));
  OpenAiRequest r;
  nlohmann::json echo;  // Responses: the request fields the response object repeats
  if (responses) {
    ResponsesRequest rr;
    if (auto e = ParseResponsesRequest(hreq.body, parse_opts_, &rr)) return refuse(*e);
    r = std::move(rr.chat);
    echo = std::move(rr.echo);
  } else if (auto e = ParseRequest(hreq.body, ep, parse_opts_, &r)) {
    return refuse(*e);
  }
  if (opts_.on_ignored_field) {
    for (const std::string& f : r.ignored_fields) opts_.on_ignored_field(f);
  }
  if (!r.model.empty() && !ServesModel(r.model)) {
    return refuse(ApiError{
        absl::NotFoundError(StrCat("The model `", r.model, "` does not exist; this server serves `",
                                   model_id_, "`")),
        "model", "model_not_found"});
  }
  if (chat) {
    if (r.tools.active() && opts_.chat != nullptr) {
      if (auto e = ApplyTools(opts_.chat->tool_format(), &r)) return refuse(*e);
    }
    if (auto e = RenderChatPrompt(&r)) return refuse(*e);
    // A call forced from the first token is no thinking, even where the prompt opened a think
    // block (DeepSeek R1): the answer is content, parsed for the calls.
    if (r.tools.active() && r.api.structured.param == "tools" &&
        r.api.structured.triggers.empty()) {
      r.api.in_reasoning = false;
    }
  }
  if (!r.user.empty()) peer += " user=" + r.user.substr(0, 64);
  r.api.rpc = rpc;
  r.api.peer = peer;
  r.api.request_id = std::string(hreq.header("x-request-id"));
  HttpCall::Options o;
  o.endpoint = ep;
  o.stream = r.stream;
  o.ctx.chat = chat;
  o.ctx.model = model_id_;
  o.ctx.created = static_cast<int64_t>(std::time(nullptr));
  o.ctx.logprobs = r.logprobs;
  o.ctx.include_usage = r.stream && r.include_usage;
  o.ctx.token_text = [fe = &gate_.frontend()](int32_t id) { return fe->TokenText(id); };
  if (chat && opts_.chat->splits_reasoning()) {
    o.ctx.reasoning.emplace(chat::ReasoningFormat::kDeepseek, r.api.in_reasoning);
  }
  if (chat && r.tools.active() && opts_.chat != nullptr) o.ctx.tools = opts_.chat->tool_format();
  o.id_prefix = responses ? "resp_" : chat ? "chatcmpl-" : "cmpl-";
  if (responses) {
    o.dialect = std::make_shared<ResponsesDialect>(std::move(echo));
  }
  o.n = r.n;
  // For a cached answer (no Submitted then).
  if (r.api.echo) {
    o.echo = r.api.has_text ? r.api.text : gate_.frontend().Detokenize(r.api.token_ids);
  }
  auto call = std::make_shared<HttpCall>(gate_, ex, std::move(o));
  Track(call);
  // A client that goes away (reset, FIN, a stream it stops reading) cancels the request.
  ex->OnAbort([w = std::weak_ptr<HttpCall>(call)] {
    if (auto c = w.lock()) c->Abort();
  });
  if (r.n == 1) {
    const Gate::CallId id = gate_.Handle(std::move(r.api), auth, call->Sink(0));
    call->SetId(0, id);
    return;
  }
  // n > 1: one gate call per choice (each admitted, rate limited and billed as a request), in
  // one prompt group so that the engine computes the prompt once; choice i samples with seed
  // + i when a seed was given. The first choice's request id names the answer.
  r.api.prompt_group = next_prompt_group_.fetch_add(1);
  for (int32_t i = 0; i < r.n; ++i) {
    if (call->done()) break;  // a choice was refused: the answer is that error
    ApiRequest a = r.api;
    if (a.sampling.seed) a.sampling.seed = *a.sampling.seed + static_cast<uint64_t>(i);
    if (i > 0) a.request_id.clear();
    const Gate::CallId id = gate_.Handle(std::move(a), auth, call->Sink(i));
    call->SetId(i, id);
  }
}

net::HttpResponse ApiServer::Models(const net::HttpRequest& req, std::string_view id) {
  const Clock::time_point t0 = Clock::now();
  const auto key = gate_.Authenticate(req.header("authorization"));
  absl::Status s = key.status();
  auto model = [&](const std::string& name) {
    return json{{"id", name},
                {"object", "model"},
                {"created", created_},
                {"owned_by", "phalanx"},
                {"root", model_names_.back()},  // the model's own id
                {"max_model_len", gate_.frontend().engine().max_model_len()}};
  };
  if (s.ok() && !id.empty() && !ServesModel(id)) {
    s = absl::NotFoundError(StrCat("The model `", id, "` does not exist"));
  }
  gate_.RecordSimpleCall("http_models", key.ok() ? *key : "", req.peer, s, SecondsSince(t0));
  if (!s.ok()) {
    const bool nf = s.code() == absl::StatusCode::kNotFound;
    return ErrorResponse(
        ApiError{s, nf ? "model" : "", nf ? "model_not_found" : "invalid_api_key"});
  }
  if (!id.empty()) return JsonResponse(200, Dump(model(std::string(id))));
  json data = json::array();
  for (const std::string& n : model_names_) data.push_back(model(n));
  return JsonResponse(200, Dump({{"object", "list"}, {"data", std::move(data)}}));
}

bool ApiServer::ServesModel(std::string_view name) const {
  return std::find(model_names_.begin(), model_names_.end(), name) != model_names_.end();
}

net::HttpResponse ApiServer::Health() {
  if (health_ != nullptr) {
    const Probe p = health_->Ready();
    return JsonResponse(p.ok ? 200 : 503, p.Json());
  }
  const bool ok = !gate_.draining() && !gate_.frontend().engine().failed();
  return JsonResponse(ok ? 200 : 503, ok ? "{\"ok\":true}" : "{\"ok\":false}");
}

}  // namespace phx::server
