// OpenAI-API client for the load tool: POST /v1/completions with `stream: true` (server-sent
// events) and per-chunk arrival times. The model name "phalanx" (the tool's default) or ""
// sends no `model` field: the server then uses the model it serves (a wrong name is a 404).
#include <atomic>

#include "bench/load/load.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace phx::bench {
namespace {

class HttpClient final : public Client {
 public:
  HttpClient(std::string base, std::string model)
      : base_(std::move(base)), model_(std::move(model)) {}

  Sample Send(const Prompt& p, const RequestOptions& o, Clock::time_point t0) override {
    nlohmann::json body = {{"max_tokens", p.max_tokens},
                           {"temperature", o.temperature},
                           {"stream", o.stream},
                           {"ignore_eos", o.ignore_eos}};
    if (!model_.empty() && model_ != "phalanx") body["model"] = model_;
    if (!p.ids.empty()) {
      body["prompt"] = p.ids;
    } else {
      body["prompt"] = p.text;
    }
    if (o.stream) body["stream_options"] = {{"include_usage", true}};
    httplib::Client cli(base_);
    cli.set_read_timeout(static_cast<time_t>(o.timeout_s), 0);
    cli.set_tcp_nodelay(true);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    if (!o.api_key.empty()) req.set_header("Authorization", "Bearer " + o.api_key);
    Sample s;
    const Clock::time_point start = Clock::now();
    s.start = std::chrono::duration<double>(start - t0).count();
    Clock::time_point prev{};
    std::string buf, whole;
    bool done = false;
    int usage_tokens = -1;  // completion_tokens of the final usage chunk
    auto on_event = [&](const std::string& data) {
      if (data == "[DONE]") {
        done = true;
        return;
      }
      auto j = nlohmann::json::parse(data, nullptr, false);
      if (j.is_discarded()) return;
      if (j.contains("usage") && j["usage"].is_object()) {
        s.prompt_tokens = j["usage"].value("prompt_tokens", 0);
        usage_tokens = j["usage"].value("completion_tokens", -1);
      }
      // A token is a chunk with text (the final chunk may carry only finish_reason).
      if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return;
      const auto& c = j["choices"][0];
      if (!c.contains("text") || !c["text"].is_string() || c["text"].get<std::string>().empty()) {
        return;
      }
      const Clock::time_point now = Clock::now();
      if (s.output_tokens == 0) {
        s.ttft = std::chrono::duration<double>(now - start).count();
      } else {
        s.itl.push_back(std::chrono::duration<double>(now - prev).count());
      }
      prev = now;
      ++s.output_tokens;
    };
    if (o.stream) {
      req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        buf.append(data, n);
        size_t pos;
        while ((pos = buf.find("\n\n")) != std::string::npos) {
          const std::string event = buf.substr(0, pos);
          buf.erase(0, pos + 2);
          if (event.rfind("data: ", 0) == 0) on_event(event.substr(6));
        }
        return true;
      };
    }
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool sent = cli.send(req, res, err);
    s.e2e = std::chrono::duration<double>(Clock::now() - start).count();
    if (!sent) {
      s.code = "connect";
      return s;
    }
    s.code = res.status == 200 ? "OK" : std::to_string(res.status);
    if (res.status != 200) return s;
    if (!o.stream) {
      auto j = nlohmann::json::parse(res.body, nullptr, false);
      if (!j.is_discarded() && j.contains("usage")) {
        s.output_tokens = j["usage"].value("completion_tokens", 0);
        s.prompt_tokens = j["usage"].value("prompt_tokens", 0);
      }
      s.ttft = s.e2e;
      s.ok = true;
      return s;
    }
    if (usage_tokens >= 0) s.output_tokens = usage_tokens;  // chunks may merge tokens
    s.ok = done;
    s.stream_broken = !done;
    if (!done) s.code = "STREAM_BROKEN";
    return s;
  }

 private:
  std::string base_, model_;
};

}  // namespace

std::unique_ptr<Client> MakeHttpClient(const std::string& base_url, const std::string& model) {
  return std::make_unique<HttpClient>(base_url, model);
}

}  // namespace phx::bench
