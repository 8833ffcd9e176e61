#include "server/http/api_server.h"

#include <sys/socket.h>

#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>

#include "base/strings.h"
#include "httplib.h"
#include "server/core/status_map.h"
#include "server/http/http_call.h"
#include "server/http/openai_response.h"
#include "server/http/thread_pool.h"
#include "spdlog/spdlog.h"

namespace phx::server {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr auto kTick = std::chrono::milliseconds(500);  // stop checks while waiting
constexpr auto kHeartbeat = std::chrono::seconds(15);   // SSE comment on an idle stream

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void SendError(httplib::Response& res, const ApiError& e, double retry_after_s = 0) {
  res.status = HttpStatus(e.status);
  if (retry_after_s > 0) {
    res.set_header("Retry-After", std::to_string(static_cast<int>(std::ceil(retry_after_s))));
  }
  res.set_content(Dump(ErrorJson(e)), "application/json");
}

// An error status from the gate or the engine as the API reports it.
ApiError FromStatus(const absl::Status& s, Endpoint ep) {
  ApiError e{s, ParamOfMessage(ToStd(s.message()), ep), ""};
  switch (HttpStatus(s)) {
    case 401:
      e.code = "invalid_api_key";
      break;
    case 429:
      e.code = "rate_limit_exceeded";
      break;
    default:
      break;
  }
  return e;
}

std::string ServedModelId(Gate& gate) {
  const ModelInfoData d = gate.frontend().ModelInfo();
  const std::string& path = gate.frontend().engine().model().path();
  if (!d.name.empty() && d.name != path) return d.name;
  return std::filesystem::path(path).filename().string();
}

}  // namespace

ApiServer::ApiServer(Gate& gate, HealthMonitor* health, ApiServerOptions opts)
    : gate_(gate), health_(health), opts_(std::move(opts)) {
  model_id_ = ServedModelId(gate_);
  created_ = static_cast<int64_t>(std::time(nullptr));
  parse_opts_.default_chat_max_tokens = gate_.frontend().limits().max_tokens;
  const tok::Tokenizer& tok = gate_.frontend().engine().model().tokenizer();
  specials_.bos = tok.bos() >= 0 ? std::string(tok.token_text(tok.bos())) : "";
  specials_.eos = tok.eos() >= 0 ? std::string(tok.token_text(tok.eos())) : "";
}

ApiServer::~ApiServer() { Stop(); }

absl::Status ApiServer::Start() {
  const gguf::File& file = gate_.frontend().engine().model().file();
  std::optional<std::string> jinja;
  if (auto t = file.GetString("tokenizer.chat_template"); t.ok()) jinja = *t;
  auto tmpl = ResolveChatTemplate(opts_.chat_template, jinja);
  if (!tmpl.ok()) return tmpl.status();
  chat_ = std::move(*tmpl);
  if (chat_.format) {
    spdlog::info("chat template: {} (from {})", ChatFamilyName(chat_.format->family), chat_.source);
  } else {
    spdlog::warn("/v1/chat/completions will answer 400: {}", chat_.problem);
  }
  // A write to a client that went away must fail with EPIPE, not kill the server.
  std::signal(SIGPIPE, SIG_IGN);
  if (opts_.tls) {
    const TlsMaterial& t = *opts_.tls;
    srv_ = std::make_unique<httplib::SSLServer>(
        t.cert_path.c_str(), t.key_path.c_str(),
        t.client_ca_path.empty() ? nullptr : t.client_ca_path.c_str());
  } else {
    srv_ = std::make_unique<httplib::Server>();
  }
  if (!srv_->is_valid()) return absl::InvalidArgumentError("API server: TLS setup failed");
  const size_t threads = static_cast<size_t>(std::max(1, opts_.threads));
  srv_->new_task_queue = [threads] { return new GrowingThreadPool(threads); };
  srv_->set_tcp_nodelay(true);
  srv_->set_keep_alive_max_count(1000);
  srv_->set_keep_alive_timeout(5);
  srv_->set_payload_max_length(
      static_cast<size_t>(std::max<int64_t>(gate_.frontend().limits().max_prompt_bytes, 1 << 20)) *
          4 +
      (1 << 20));
  // SO_REUSEADDR only (httplib's default SO_REUSEPORT would let a second server share the
  // port); keep the descriptor to raise the listen backlog.
  srv_->set_socket_options([this](int fd) {
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    listen_fd_ = fd;
  });
  srv_->Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(req, res, Endpoint::kCompletions);
  });
  srv_->Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(req, res, Endpoint::kChat);
  });
  srv_->Get("/v1/models",
            [this](const httplib::Request& req, httplib::Response& res) { Models(req, res); });
  srv_->Get(R"(/v1/models/(.+))",
            [this](const httplib::Request& req, httplib::Response& res) { Models(req, res); });
  srv_->Get("/health", [this](const httplib::Request&, httplib::Response& res) { Health(res); });
  srv_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // already an API error
    const absl::Status s =
        res.status == 404
            ? absl::NotFoundError(StrCat("no route ", req.path))
            : absl::InvalidArgumentError(StrCat("HTTP ", res.status, " for ", req.path));
    res.set_content(Dump(ErrorJson(ApiError{s, "", ""})), "application/json");
  });
  srv_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content(Dump(ErrorJson(ApiError{absl::InternalError("internal error"), "", ""})),
                        "application/json");
      });
  port_ = opts_.port == 0 ? srv_->bind_to_any_port(opts_.host)
                          : (srv_->bind_to_port(opts_.host, opts_.port) ? opts_.port : -1);
  if (port_ <= 0) {
    return absl::UnavailableError(
        StrCat("cannot listen for the API on ", opts_.host, ":", opts_.port));
  }
  // httplib listens with a backlog of 5; a burst of connections needs more.
  if (listen_fd_ >= 0) ::listen(listen_fd_, SOMAXCONN);
  thread_ = std::thread([this] { srv_->listen_after_bind(); });
  return absl::OkStatus();
}

void ApiServer::Stop() {
  stopping_ = true;
  if (thread_.joinable()) {
    srv_->stop();
    thread_.join();
  }
}

std::optional<ApiError> ApiServer::RenderChatPrompt(OpenAiRequest* r) const {
  if (!chat_.format) return ApiError{absl::InvalidArgumentError(chat_.problem), "messages", ""};
  ApiRequest& a = r->api;
  a.has_text = true;
  a.text = RenderChat(*chat_.format, r->messages, r->add_generation_prompt, specials_);
  a.parse_special = true;
  // BOS comes from the tokenizer (as the vocabulary says) unless the text already starts with it.
  a.add_special = specials_.bos.empty() || a.text.rfind(specials_.bos, 0) != 0;
  return std::nullopt;
}

void ApiServer::Generate(const httplib::Request& hreq, httplib::Response& res, Endpoint ep) {
  const Clock::time_point t0 = Clock::now();
  const bool chat = ep == Endpoint::kChat;
  const std::string rpc = chat ? "http_chat_completions" : "http_completions";
  const std::string auth = hreq.get_header_value("Authorization");
  std::string peer = StrCat(hreq.remote_addr, ":", hreq.remote_port);
  const absl::StatusOr<std::string> key = gate_.Authenticate(auth);
  auto refuse = [&](const ApiError& e) {
    gate_.RecordSimpleCall(rpc, key.ok() ? *key : "", peer, e.status, Since(t0));
    SendError(res, e);
  };
  if (!key.ok()) return refuse(FromStatus(key.status(), ep));
  OpenAiRequest r;
  if (auto e = ParseRequest(hreq.body, ep, parse_opts_, &r)) return refuse(*e);
  if (!r.model.empty() && r.model != model_id_) {
    return refuse(ApiError{
        absl::NotFoundError(StrCat("The model `", r.model, "` does not exist; this server serves `",
                                   model_id_, "`")),
        "model", "model_not_found"});
  }
  if (chat) {
    if (auto e = RenderChatPrompt(&r)) return refuse(*e);
  }
  if (!r.user.empty()) peer += " user=" + r.user.substr(0, 64);
  r.api.rpc = rpc;
  r.api.peer = peer;
  r.api.request_id = hreq.get_header_value("X-Request-Id");
  ResponseContext ctx;
  ctx.chat = chat;
  ctx.model = model_id_;
  ctx.created = static_cast<int64_t>(std::time(nullptr));
  ctx.logprobs = r.logprobs;
  ctx.include_usage = r.stream && r.include_usage;
  ctx.token_text = [fe = &gate_.frontend()](int32_t id) { return fe->TokenText(id); };
  std::string echo;  // for a cached answer (no Submitted then)
  if (r.api.echo) echo = r.api.has_text ? r.api.text : gate_.frontend().Detokenize(r.api.token_ids);
  const char* id_prefix = chat ? "chatcmpl-" : "cmpl-";

  auto call = std::make_shared<HttpCall>();
  const Gate::CallId id = gate_.Handle(std::move(r.api), auth, call);
  switch (call->WaitForStart(stopping_, kTick)) {
    case HttpCall::Phase::kWaiting:
      gate_.Cancel(id);
      call->Close();
      return SendError(res, ApiError{absl::UnavailableError("server is stopping"), "", ""});
    case HttpCall::Phase::kRejected:
      call->Close();
      return SendError(res, FromStatus(call->rejection(), ep), call->retry_after_s());
    case HttpCall::Phase::kCached:
      ctx.id = id_prefix + call->cached_request_id();
      ctx.echo = std::move(echo);
      res.set_header("X-Request-Id", call->cached_request_id());
      return SendCached(res, *call, std::move(ctx), r.stream);
    case HttpCall::Phase::kStarted:
      break;
  }
  ctx.id = id_prefix + call->submitted().request_id;
  ctx.echo = call->submitted().prompt_text;
  res.set_header("X-Request-Id", call->submitted().request_id);
  if (r.stream) return SendStream(res, std::move(call), id, std::move(ctx));
  HttpCall::Update u;
  const bool finished = call->WaitForFinish(&u, stopping_, kTick);
  call->Close();
  if (!finished) {
    gate_.Cancel(id);
    return SendError(res, ApiError{absl::UnavailableError("server is stopping"), "", ""});
  }
  if (!u.status.ok()) return SendError(res, FromStatus(u.status, ep));
  ResponseBuilder b(std::move(ctx));
  b.Add(u.tokens);
  res.set_content(Dump(b.Body(u.reason, u.usage, u.tail)), "application/json");
}

void ApiServer::SendCached(httplib::Response& res, const HttpCall& call, ResponseContext ctx,
                           bool stream) {
  res.set_header("x-phalanx-degraded", "cache");
  const CachedResponse& c = call.cached();
  size_t token_bytes = 0;
  for (const auto& e : c.tokens) token_bytes += e.text.size();
  const std::string tail = c.text.substr(std::min(c.text.size(), token_bytes));
  if (!stream) {
    ResponseBuilder b(std::move(ctx));
    b.Add(c.tokens);
    res.set_content(Dump(b.Body(c.finish, c.usage, tail)), "application/json");
    return;
  }
  StreamEncoder enc(std::move(ctx));
  std::string body = enc.Begin();
  for (const auto& e : c.tokens) body += enc.Tokens({e});  // replayed token by token
  body += enc.End(c.finish, c.usage, tail);
  res.set_header("Cache-Control", "no-cache");
  res.set_content(body, "text/event-stream");
}

void ApiServer::SendStream(httplib::Response& res, std::shared_ptr<HttpCall> call, Gate::CallId id,
                           ResponseContext ctx) {
  struct State {
    bool begun = false;
    bool done = false;
    Clock::time_point last_write = Clock::now();
  };
  const Endpoint ep = ctx.chat ? Endpoint::kChat : Endpoint::kCompletions;
  auto enc = std::make_shared<StreamEncoder>(std::move(ctx));
  auto st = std::make_shared<State>();
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, call, enc, st, ep](size_t, httplib::DataSink& sink) {
        std::string out;
        if (!st->begun) {
          st->begun = true;
          out = enc->Begin();
        }
        HttpCall::Update u;
        // With something to send already, only collect what is there.
        const bool got = call->Take(
            &u, out.empty() ? std::chrono::milliseconds(kTick) : std::chrono::milliseconds(0));
        if (got) {
          if (!u.tokens.empty()) out += enc->Tokens(u.tokens);
          if (u.finished) {
            out += u.status.ok() ? enc->End(u.reason, u.usage, u.tail)
                                 : StreamEncoder::Error(FromStatus(u.status, ep));
          }
        }
        const Clock::time_point now = Clock::now();
        if (out.empty() && now - st->last_write > kHeartbeat) out = ": keep-alive\n\n";
        if (!out.empty()) {
          if (!sink.write(out.data(), out.size())) return false;  // the client is gone
          st->last_write = now;
        }
        if (got && u.finished) {
          st->done = true;
          sink.done();
          return true;
        }
        return !stopping_.load();
      },
      [this, call, st, id](bool) {
        if (!st->done) gate_.Cancel(id);  // disconnect or stop mid-stream
        call->Close();
      });
}

void ApiServer::Models(const httplib::Request& req, httplib::Response& res) {
  const Clock::time_point t0 = Clock::now();
  const auto key = gate_.Authenticate(req.get_header_value("Authorization"));
  absl::Status s = key.status();
  json model = {{"id", model_id_},
                {"object", "model"},
                {"created", created_},
                {"owned_by", "phalanx"},
                {"max_model_len", gate_.frontend().engine().max_model_len()}};
  if (s.ok() && req.matches.size() > 1 && req.matches[1] != model_id_) {
    s = absl::NotFoundError(StrCat("The model `", req.matches[1].str(), "` does not exist"));
  }
  gate_.RecordSimpleCall("http_models", key.ok() ? *key : "",
                         StrCat(req.remote_addr, ":", req.remote_port), s, Since(t0));
  if (!s.ok()) {
    return SendError(res, ApiError{s, s.code() == absl::StatusCode::kNotFound ? "model" : "",
                                   s.code() == absl::StatusCode::kNotFound ? "model_not_found"
                                                                           : "invalid_api_key"});
  }
  if (req.matches.size() > 1) {
    res.set_content(Dump(model), "application/json");
  } else {
    res.set_content(Dump({{"object", "list"}, {"data", json::array({model})}}), "application/json");
  }
}

void ApiServer::Health(httplib::Response& res) {
  if (health_ != nullptr) {
    const Probe p = health_->Ready();
    res.status = p.ok ? 200 : 503;
    res.set_content(p.Json(), "application/json");
    return;
  }
  const bool ok = !gate_.draining() && !gate_.frontend().engine().failed();
  res.status = ok ? 200 : 503;
  res.set_content(ok ? "{\"ok\":true}" : "{\"ok\":false}", "application/json");
}

}  // namespace phx::server
