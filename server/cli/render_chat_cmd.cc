// `phalanx model render-chat`: what a chat template renders for a request, byte for byte.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/strings.h"
#include "runtime/chat/chat_prompt.h"
#include "runtime/chat/resolver.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "server/cli/commands.h"

namespace phx::cli {
namespace {

int Error(std::string_view msg) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(msg.size()), msg.data());
  return 1;
}

// "YYYY-MM-DDTHH:MM:SS" as a naive local time (Python's datetime.fromisoformat).
bool ParseNow(const std::string& s, std::tm* tm) {
  *tm = {};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec) < 3) return false;
  tm->tm_year = y - 1900, tm->tm_mon = mo - 1, tm->tm_mday = d;
  tm->tm_hour = h, tm->tm_min = mi, tm->tm_sec = sec, tm->tm_isdst = -1;
  std::tm copy = *tm;
  if (timegm(&copy) == -1) return false;  // fills the weekday and day of the year
  tm->tm_wday = copy.tm_wday, tm->tm_yday = copy.tm_yday;
  return true;
}

}  // namespace

int ModelRenderChat(const RenderChatOptions& o) {
  if (o.model.empty() && o.tmpl.empty()) return Error("error: give --model or --template");
  std::ifstream in(o.request, std::ios::binary);
  if (!in.good()) return Error(StrCat("error: cannot read --request ", o.request));
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::ordered_json vars = nlohmann::ordered_json::parse(ss.str(), nullptr, false);
  if (vars.is_discarded() || !vars.is_object()) {
    return Error(StrCat("error: --request ", o.request, " is not a JSON object"));
  }
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::optional<std::string> model_template;
  if (!o.model.empty()) {
    auto f = gguf::File::Open(o.model);
    if (!f.ok()) return Error(StrCat("error: ", f.status().message()));
    file = std::move(*f);
    model_template = chat::GgufChatTemplate(*file);
    auto t = tok::Tokenizer::FromGguf(*file);
    if (t.ok()) {
      tokenizer = std::move(*t);
      // The vocabulary's BOS/EOS texts where the request has none.
      if (!vars.contains("bos_token") && tokenizer->bos() != tok::kNoToken) {
        vars["bos_token"] = std::string(tokenizer->token_text(tokenizer->bos()));
      }
      if (!vars.contains("eos_token") && tokenizer->eos() != tok::kNoToken) {
        vars["eos_token"] = std::string(tokenizer->token_text(tokenizer->eos()));
      }
    } else if (o.ids) {
      return Error(StrCat("error: ", t.status().message()));
    }
  }
  auto resolved = chat::ResolveChatTemplate(o.tmpl, model_template);
  if (!resolved.ok()) return Error(StrCat("error: ", resolved.status().message()));
  if (!resolved->tpl) return Error(StrCat("error: ", resolved->problem));
  chat::RenderOptions opt;
  if (!o.now.empty()) {
    std::tm tm;
    if (!ParseNow(o.now, &tm)) return Error("error: --now wants YYYY-MM-DDTHH:MM:SS");
    opt.clock = [tm] { return tm; };
  }
  auto r = resolved->tpl->Render(vars, opt);
  if (!r.ok()) return Error(ToStd(r.status().message()));
  if (o.ids) {
    if (!tokenizer) return Error("error: --ids needs --model");
    const auto ids = chat::TokenizePrompt(*tokenizer, *r, resolved->add_special);
    std::printf("%s\n", StrJoin(ids, " ").c_str());
    return 0;
  }
  std::fwrite(r->text.data(), 1, r->text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace phx::cli
