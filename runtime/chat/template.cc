#include "runtime/chat/template.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "base/strings.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace {

constexpr char kKindPayload[] = "phx.chat/error_kind";

std::tm LocalNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

}  // namespace

Value ValueFromJson(const nlohmann::ordered_json& j, bool trusted) {
  using J = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case J::null:
    case J::discarded:
      return Value::None();
    case J::boolean:
      return Value::Bool(j.get<bool>());
    case J::number_integer:
      return Value::Int(j.get<int64_t>());
    case J::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      return u <= static_cast<uint64_t>(INT64_MAX) ? Value::Int(static_cast<int64_t>(u))
                                                   : Value::Float(static_cast<double>(u));
    }
    case J::number_float:
      return Value::Float(j.get<double>());
    case J::string: {
      std::string s = j.get<std::string>();
      return Value::String(trusted ? Str(std::move(s)) : Str::User(std::move(s)));
    }
    case J::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(ValueFromJson(x, trusted));
      return Value::List(std::move(items));
    }
    case J::object: {
      Dict d;
      for (const auto& [k, v] : j.items()) {
        d.Set(Value::String(trusted ? Str(k) : Str::User(k)), ValueFromJson(v, trusted));
      }
      return Value::MakeDict(std::move(d));
    }
    case J::binary:
      break;
  }
  return Value::None();
}

absl::StatusOr<Template> Template::Parse(std::string_view source, const ParseOptions& opt) {
  auto program = chat::Parse(source, opt);
  if (!program.ok()) {
    absl::Status s = program.status();
    s.SetPayload(kKindPayload, absl::Cord("TemplateSyntaxError"));
    return s;
  }
  Template t;
  t.program_ = std::make_shared<const Program>(std::move(*program));
  t.source_ = std::make_shared<const std::string>(source);
  return t;
}

absl::StatusOr<RenderedPrompt> Template::Render(const nlohmann::ordered_json& vars,
                                                const RenderOptions& opt) const {
  if (!vars.is_object()) {
    return absl::InvalidArgumentError("the template variables must be a JSON object");
  }
  Dict context;
  for (const auto& [k, v] : vars.items()) {
    const bool trusted =
        std::find(opt.trusted_keys.begin(), opt.trusted_keys.end(), k) != opt.trusted_keys.end();
    context.Set(Value::Text(k), ValueFromJson(v, trusted));
  }
  try {
    Interp in(context, opt.limits, opt.clock ? opt.clock : LocalNow);
    Str out = in.Run(*program_);
    RenderedPrompt r;
    r.text = out.text();
    r.user_spans = out.user();
    return r;
  } catch (const TemplateError& e) {
    absl::Status s;
    if (e.kind == ErrorKind::kRaised) {
      s = absl::InvalidArgumentError(e.message);
    } else if (e.kind == ErrorKind::kLimit) {
      s = absl::ResourceExhaustedError(StrCat("chat template: ", e.message));
    } else {
      s = absl::InvalidArgumentError(StrCat(ErrorKindName(e.kind), ": ", e.message));
    }
    s.SetPayload(kKindPayload, absl::Cord(ToAbsl(ErrorKindName(e.kind))));
    return s;
  }
}

bool IsRaisedByTemplate(const absl::Status& s) { return TemplateErrorKind(s) == "TemplateError"; }

std::string TemplateErrorKind(const absl::Status& s) {
  auto p = s.GetPayload(kKindPayload);
  return p ? std::string(*p) : std::string();
}

}  // namespace phx::chat
