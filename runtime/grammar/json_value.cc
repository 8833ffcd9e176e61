#include "runtime/grammar/json_value.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "base/json_escape.h"
#include "base/strings.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::grammar {

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::Number(std::string text) {
  JsonValue v;
  v.kind_ = Kind::kNumber;
  v.bool_ = text.find_first_of(".eEIN") == std::string::npos;
  if (text == "NaN") {
    v.num_ = std::nan("");
  } else if (text == "Infinity") {
    v.num_ = HUGE_VAL;
  } else if (text == "-Infinity") {
    v.num_ = -HUGE_VAL;
  } else {
    v.num_ = std::strtod(text.c_str(), nullptr);
  }
  v.text_ = std::move(text);
  return v;
}

JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.text_ = std::move(s);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.kind_ = Kind::kArray;
  v.items_ = std::move(items);
  return v;
}

JsonValue JsonValue::Object(std::vector<Member> members) {
  JsonValue v;
  v.kind_ = Kind::kObject;
  v.members_ = std::move(members);
  return v;
}

bool JsonValue::is_integral() const {
  if (kind_ != Kind::kNumber) return false;
  if (bool_) return true;
  return std::isfinite(num_) && std::floor(num_) == num_;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const auto& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

namespace {

// Compares two integer literals (no fraction or exponent) exactly.
bool IntLiteralEqual(std::string_view a, std::string_view b) {
  auto norm = [](std::string_view s) {
    bool neg = !s.empty() && s[0] == '-';
    if (neg) s.remove_prefix(1);
    if (s == "0") neg = false;
    return std::pair<bool, std::string_view>(neg, s);
  };
  return norm(a) == norm(b);
}

}  // namespace

bool JsonValue::Equals(const JsonValue& o) const {
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return bool_ == o.bool_;
    case Kind::kNumber:
      if (bool_ && o.bool_) return IntLiteralEqual(text_, o.text_);
      return num_ == o.num_;
    case Kind::kString:
      return text_ == o.text_;
    case Kind::kArray:
      if (items_.size() != o.items_.size()) return false;
      for (size_t i = 0; i < items_.size(); ++i) {
        if (!items_[i].Equals(o.items_[i])) return false;
      }
      return true;
    case Kind::kObject: {
      if (members_.size() != o.members_.size()) return false;
      for (const auto& m : members_) {
        const JsonValue* v = o.Find(m.first);
        if (v == nullptr || !m.second.Equals(*v)) return false;
      }
      return true;
    }
  }
  return false;
}

namespace {

class Parser {
 public:
  Parser(std::string_view s, const JsonParseOptions& opt) : s_(s), opt_(opt) {}

  absl::StatusOr<JsonValue> Run() {
    SkipWs();
    JsonValue v;
    if (!Value(&v, 0)) return Error();
    SkipWs();
    if (pos_ != s_.size()) {
      err_ = "trailing characters";
      return Error();
    }
    return v;
  }

 private:
  absl::Status Error() const {
    return absl::InvalidArgumentError(StrCat("invalid JSON at byte ", pos_, ": ", err_));
  }
  bool Fail(const char* what) {
    err_ = what;
    return false;
  }
  void SkipWs() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Lit(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  bool Value(JsonValue* out, int depth) {
    if (depth > opt_.max_depth) return Fail("nesting too deep");
    if (pos_ >= s_.size()) return Fail("unexpected end");
    const char c = s_[pos_];
    if (c == '{') return ObjectValue(out, depth);
    if (c == '[') return ArrayValue(out, depth);
    if (c == '"') {
      std::string str;
      if (!StringValue(&str)) return false;
      *out = JsonValue::String(std::move(str));
      return true;
    }
    if (Lit("true")) return *out = JsonValue::Bool(true), true;
    if (Lit("false")) return *out = JsonValue::Bool(false), true;
    if (Lit("null")) return *out = JsonValue::Null(), true;
    if (opt_.allow_nan) {
      if (Lit("NaN")) return *out = JsonValue::Number("NaN"), true;
      if (Lit("Infinity")) return *out = JsonValue::Number("Infinity"), true;
      if (Lit("-Infinity")) return *out = JsonValue::Number("-Infinity"), true;
    }
    return NumberValue(out);
  }

  bool NumberValue(JsonValue* out) {
    const size_t start = pos_;
    auto digits = [&] {
      size_t n = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_, ++n;
      return n;
    };
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size()) return Fail("bad number");
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
      digits();
    } else {
      return Fail("unexpected character");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return Fail("bad number fraction");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return Fail("bad number exponent");
    }
    *out = JsonValue::Number(std::string(s_.substr(start, pos_ - start)));
    return true;
  }

  bool Hex4(uint32_t* v) {
    if (pos_ + 4 > s_.size()) return Fail("bad \\u escape");
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_ + i];
      r <<= 4;
      if (c >= '0' && c <= '9') {
        r |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        r |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        r |= c - 'A' + 10;
      } else {
        return Fail("bad \\u escape");
      }
    }
    pos_ += 4;
    *v = r;
    return true;
  }

  // Length of the valid UTF-8 sequence at pos_, or 0.
  size_t Utf8Len() const {
    const auto b = [&](size_t i) { return static_cast<uint8_t>(s_[pos_ + i]); };
    const uint8_t c = b(0);
    const size_t left = s_.size() - pos_;
    auto cont = [&](size_t i) { return i < left && (b(i) & 0xC0) == 0x80; };
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(1) || !cont(2)) return 0;
      if (c == 0xE0 && b(1) < 0xA0) return 0;
      if (c == 0xED && b(1) > 0x9F) return 0;
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3)) return 0;
      if (c == 0xF0 && b(1) < 0x90) return 0;
      if (c == 0xF4 && b(1) > 0x8F) return 0;
      return 4;
    }
    return 0;
  }

  bool StringValue(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) return Fail("unterminated string");
      const uint8_t c = static_cast<uint8_t>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("control character in string");
      if (c != '\\') {
        const size_t n = Utf8Len();
        if (n == 0) return Fail("invalid UTF-8 in string");
        out->append(s_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      if (++pos_ >= s_.size()) return Fail("unterminated string");
      const char e = s_[pos_++];
      if (const int d = DecodeJsonEscape(e); d >= 0) {
        out->push_back(static_cast<char>(d));
        continue;
      }
      switch (e) {
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && s_.substr(pos_, 2) == "\\u") {
            const size_t save = pos_;
            pos_ += 2;
            uint32_t lo;
            if (Hex4(&lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              pos_ = save;  // a lone high surrogate; the next escape stands alone
            }
          }
          tok::AppendUtf8(cp, out);  // lone surrogates as WTF-8, like Python keeps them
          break;
        }
        default:
          return Fail("bad escape");
      }
    }
  }

  bool ArrayValue(JsonValue* out, int depth) {
    ++pos_;
    std::vector<JsonValue> items;
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      *out = JsonValue::Array(std::move(items));
      return true;
    }
    while (true) {
      SkipWs();
      items.emplace_back();
      if (!Value(&items.back(), depth + 1)) return false;
      SkipWs();
      if (pos_ >= s_.size()) return Fail("unterminated array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        *out = JsonValue::Array(std::move(items));
        return true;
      }
      return Fail("expected ',' or ']'");
    }
  }

  bool ObjectValue(JsonValue* out, int depth) {
    ++pos_;
    std::vector<JsonValue::Member> members;
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      *out = JsonValue::Object(std::move(members));
      return true;
    }
    while (true) {
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("expected a key");
      std::string key;
      if (!StringValue(&key)) return false;
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      SkipWs();
      JsonValue v;
      if (!Value(&v, depth + 1)) return false;
      bool replaced = false;
      for (auto& m : members) {
        if (m.first == key) {
          m.second = std::move(v);
          replaced = true;
          break;
        }
      }
      if (!replaced) members.emplace_back(std::move(key), std::move(v));
      SkipWs();
      if (pos_ >= s_.size()) return Fail("unterminated object");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        *out = JsonValue::Object(std::move(members));
        return true;
      }
      return Fail("expected ',' or '}'");
    }
  }

  std::string_view s_;
  const JsonParseOptions& opt_;
  size_t pos_ = 0;
  const char* err_ = "";
};

}  // namespace

absl::StatusOr<JsonValue> ParseJson(std::string_view text, const JsonParseOptions& opt) {
  return Parser(text, opt).Run();
}

}  // namespace phx::grammar
