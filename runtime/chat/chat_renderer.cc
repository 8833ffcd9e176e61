#include "runtime/chat/chat_renderer.h"

#include "runtime/chat/chat_request.h"

namespace phx::chat {

absl::StatusOr<ChatRenderer> ChatRenderer::Create(const tok::Tokenizer& tokenizer,
                                                  const std::optional<std::string>& model_template,
                                                  ChatRendererOptions opts) {
  auto resolved = ResolveChatTemplate(opts.template_arg, model_template);
  if (!resolved.ok()) return resolved.status();
  ChatRenderer r;
  r.resolved_ = std::move(*resolved);
  r.opts_ = std::move(opts);
  if (tokenizer.bos() != tok::kNoToken) r.bos_ = std::string(tokenizer.token_text(tokenizer.bos()));
  if (tokenizer.eos() != tok::kNoToken) r.eos_ = std::string(tokenizer.token_text(tokenizer.eos()));
  if (r.resolved_.tpl) {
    const std::string& src = r.resolved_.tpl->source();
    r.content_as_parts_ = TemplateIteratesContent(src);
    r.thinks_ = TemplateThinks(src);
    r.splits_reasoning_ = r.opts_.reasoning == ReasoningFormat::kDeepseek && r.thinks_;
    r.tool_format_ = DetectToolFormat(src);
  }
  return r;
}

ReasoningSplitter ChatRenderer::Splitter(const ChatPrompt& prompt) const {
  return ReasoningSplitter(splits_reasoning_ ? ReasoningFormat::kDeepseek : ReasoningFormat::kNone,
                           splits_reasoning_ && prompt.in_reasoning);
}

absl::StatusOr<ChatPrompt> ChatRenderer::Render(const nlohmann::ordered_json& body) const {
  if (!resolved_.tpl) return absl::FailedPreconditionError(resolved_.problem);
  ChatRequestOptions ro;
  ro.bos_token = bos_;
  ro.eos_token = eos_;
  ro.content_as_parts = content_as_parts_;
  auto vars = ChatTemplateVariables(body, ro);
  if (!vars.ok()) return vars.status();
  RenderOptions opt;
  opt.limits = opts_.limits;
  opt.clock = opts_.clock;
  auto rendered = resolved_.tpl->Render(*vars, opt);
  if (!rendered.ok()) return rendered.status();
  ChatPrompt p;
  p.in_reasoning = PromptOpensThink(*rendered);
  p.plain_spans.reserve(rendered->user_spans.size());
  for (const ByteRange& s : rendered->user_spans) p.plain_spans.push_back({s.begin, s.end});
  p.text = std::move(rendered->text);
  p.add_special = resolved_.add_special;
  return p;
}

std::string ChatErrorField(const absl::Status& s) {
  if (!TemplateErrorKind(s).empty() || IsRaisedByTemplate(s)) return "messages";
  const std::string m(s.message());
  const size_t colon = m.find(": ");
  if (colon == std::string::npos || m.find(' ') < colon) return "messages";
  return m.substr(0, colon);
}

}  // namespace phx::chat
