#include "runtime/chat/resolver.h"

#include <fstream>
#include <sstream>

#include "base/strings.h"
#include "runtime/chat/builtin_templates.h"

namespace phx::chat {
namespace {

std::string Trimmed(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

ResolvedTemplate Builtin(std::string_view name, std::string origin) {
  ResolvedTemplate r;
  auto t = Template::Parse(*BuiltinTemplate(name));
  r.tpl = std::move(*t);  // the built-ins are tested to parse
  r.origin = std::move(origin);
  r.builtin = std::string(name);
  r.add_special = true;
  return r;
}

}  // namespace

std::optional<std::string> GgufChatTemplate(const gguf::File& f) {
  if (!f.Has("tokenizer.chat_template")) return std::nullopt;
  auto s = f.GetString("tokenizer.chat_template");
  if (!s.ok()) return std::nullopt;
  return std::string(*s);
}

absl::StatusOr<ResolvedTemplate> ResolveChatTemplate(std::string_view override_arg,
                                                     const std::optional<std::string>& gguf) {
  if (!override_arg.empty()) {
    if (BuiltinTemplate(override_arg)) {
      return Builtin(override_arg, StrCat("--chat-template ", override_arg));
    }
    std::ifstream in{std::string(override_arg), std::ios::binary};
    if (!in.good()) {
      return absl::InvalidArgumentError(StrCat("--chat-template: '", override_arg,
                                               "' is neither a template name (",
                                               BuiltinTemplateList(), ") nor a readable file"));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto t = Template::Parse(ss.str());
    if (!t.ok()) {
      return absl::InvalidArgumentError(StrCat("--chat-template: the template in ", override_arg,
                                               " does not parse: ", t.status().message()));
    }
    ResolvedTemplate r;
    r.tpl = std::move(*t);
    r.origin = StrCat("--chat-template file ", override_arg);
    return r;
  }
  ResolvedTemplate r;
  if (!gguf || Trimmed(*gguf).empty()) {
    r.problem = StrCat(
        "the model has no chat template (tokenizer.chat_template); start the server with "
        "--chat-template NAME|FILE (names: ",
        BuiltinTemplateList(), ")");
    return r;
  }
  if (BuiltinTemplate(Trimmed(*gguf))) {
    return Builtin(Trimmed(*gguf), StrCat("GGUF tokenizer.chat_template (", Trimmed(*gguf), ")"));
  }
  auto t = Template::Parse(*gguf);
  if (!t.ok()) {
    r.problem = StrCat(
        "the model's chat template does not parse (", t.status().message(),
        "); start the server with --chat-template NAME|FILE (names: ", BuiltinTemplateList(), ")");
    return r;
  }
  r.tpl = std::move(*t);
  r.origin = "GGUF tokenizer.chat_template";
  return r;
}

}  // namespace phx::chat
