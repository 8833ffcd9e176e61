#include "runtime/chat/tool_json_scan.h"

#include <algorithm>
#include <cstdint>

#include "base/json_escape.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::chat::tooljson {
namespace {

bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool NumberChar(char c) {
  return c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9');
}

size_t SkipLiteral(std::string_view s, size_t i, std::string_view lit) {
  const int r = StartsWith(s, i, lit);
  if (r < 0) return kBad;
  return r == 0 ? kIncomplete : i + lit.size();
}

}  // namespace

size_t SkipWs(std::string_view s, size_t i) {
  while (i < s.size() && IsWs(s[i])) ++i;
  return i;
}

int StartsWith(std::string_view s, size_t i, std::string_view lit) {
  const size_t n = std::min(lit.size(), s.size() - std::min(i, s.size()));
  if (s.substr(i, n) != lit.substr(0, n)) return -1;
  return n == lit.size() ? 1 : 0;
}

size_t PartialSuffix(std::string_view s, std::string_view marker) {
  for (size_t n = std::min(s.size(), marker.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

size_t SkipValue(std::string_view s, size_t i, ScanMemo* memo) {
  if (i >= s.size()) return kIncomplete;
  const char c0 = s[i];
  switch (c0) {
    case '{':
    case '[':
      return ScanContainer(s, i, memo).end;
    case 't':
      return SkipLiteral(s, i, "true");
    case 'f':
      return SkipLiteral(s, i, "false");
    case 'n':
      return SkipLiteral(s, i, "null");
    default:
      break;
  }
  // A string or a number: resumed where the last scan of it stopped. Only a value the text
  // ended inside is remembered (a container that holds a finished one has moved past it).
  ScanMemo::Skip k;
  const auto it = memo->skips_.find(i);
  if (it != memo->skips_.end()) {
    k = it->second;
  } else {
    k.pos = c0 == '"' ? i + 1 : i;
  }
  size_t j = k.pos;
  if (c0 == '"') {
    for (; j < s.size() && k.end == kIncomplete; ++j) {
      const unsigned char c = static_cast<unsigned char>(s[j]);
      if (k.escape) {
        k.escape = false;
      } else if (c == '"') {
        k.end = j + 1;
      } else if (c < 0x20) {
        k.end = kBad;
      } else if (c == '\\') {
        k.escape = true;
      }
    }
  } else {
    while (j < s.size() && NumberChar(s[j])) ++j;
    if (j == i && j < s.size()) k.end = kBad;
    if (j < s.size() && j > i) k.end = j;
  }
  memo->Count(j - k.pos);
  k.pos = j;
  if (k.end != kIncomplete) {
    if (it != memo->skips_.end()) memo->skips_.erase(it);
  } else if (it != memo->skips_.end()) {
    it->second = k;
  } else {
    memo->skips_.emplace(i, k);
  }
  return k.end;
}

const Scan& ScanContainer(std::string_view s, size_t i, ScanMemo* memo) {
  using Phase = ScanMemo::Phase;
  auto [it, fresh] = memo->containers_.try_emplace(i);
  ScanMemo::Container& c = it->second;
  Scan& out = c.scan;
  if (fresh) {
    c.object = s[i] == '{';
    c.pos = i + 1;
  }
  const char close = c.object ? '}' : ']';
  auto ws = [&] {
    const size_t from = c.pos;
    c.pos = SkipWs(s, c.pos);
    memo->Count(c.pos - from);
    return c.pos < s.size();
  };
  auto bad = [&]() -> const Scan& {
    out.end = kBad;
    c.phase = Phase::kDone;
    return out;
  };
  while (true) {
    switch (c.phase) {
      case Phase::kDone:
        return out;
      case Phase::kFirst:
        if (!ws()) return out;
        if (s[c.pos] == close) {
          out.end = c.pos + 1;
          c.phase = Phase::kDone;
          return out;
        }
        c.phase = Phase::kMember;
        break;
      case Phase::kMember:
        if (!ws()) return out;
        c.pending = Member{};
        if (!c.object) {
          c.phase = Phase::kValueStart;
          break;
        }
        if (s[c.pos] != '"') return bad();
        {
          const Decoded key = DecodeString(s, c.pos, memo);
          if (key.ok && !key.closed) return out;
          c.pending.key = std::string(key.text);
          memo->decodes_.erase(c.pos);  // the key is read: its decoding is not needed again
          if (!key.ok) return bad();
          c.pos = key.end;
        }
        c.phase = Phase::kColon;
        break;
      case Phase::kColon:
        if (!ws()) return out;
        if (s[c.pos] != ':') return bad();
        ++c.pos;
        c.phase = Phase::kValueStart;
        break;
      case Phase::kValueStart:
        if (!ws()) return out;
        c.pending.begin = c.pos;
        c.phase = Phase::kValue;
        break;
      case Phase::kValue: {
        // A bad value is kept too: what came before it still decodes the same.
        if (!c.open_last) out.members.push_back(std::move(c.pending));
        c.open_last = true;
        const size_t begin = out.members.back().begin;
        const size_t end = SkipValue(s, begin, memo);  // (nested scans leave `out` as it is)
        out.members.back().end = end;
        if (end == kIncomplete) return out;
        c.open_last = false;
        if (end == kBad) return bad();
        c.pos = end;
        c.phase = Phase::kAfter;
        break;
      }
      case Phase::kAfter:
        if (!ws()) return out;
        if (s[c.pos] == close) {
          out.end = c.pos + 1;
          c.phase = Phase::kDone;
          return out;
        }
        if (s[c.pos] != ',') return bad();
        ++c.pos;
        c.phase = Phase::kMember;
        break;
    }
  }
}

Decoded DecodeString(std::string_view s, size_t i, ScanMemo* memo) {
  if (i >= s.size() || s[i] != '"') return Decoded{.ok = false};
  auto [it, fresh] = memo->decodes_.try_emplace(i);
  ScanMemo::Decode& d = it->second;
  if (fresh) d.pos = i + 1;
  auto result = [&] { return Decoded{d.out, d.ok, d.closed, d.end}; };
  if (!d.ok || d.closed) return result();
  const size_t from = d.pos;
  // Decodes from d.pos; stops (leaving d.pos at the cut) where the text ends inside an escape.
  auto run = [&]() -> bool {
    for (size_t& j = d.pos; j < s.size(); ++j) {
      const unsigned char c = static_cast<unsigned char>(s[j]);
      if (c == '"') {
        d.closed = true;
        d.end = j + 1;
        ++j;
        return d.high == 0;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        if (d.high != 0) return false;
        d.out.push_back(static_cast<char>(c));
        continue;
      }
      if (j + 1 >= s.size()) return true;  // the escape is cut off
      const char e = s[j + 1];
      if (e == 'u') {
        if (j + 6 > s.size()) {  // \uXXXX cut off
          for (size_t k = j + 2; k < s.size(); ++k) {
            if (Hex(s[k]) < 0) return false;
          }
          return true;
        }
        uint32_t cp = 0;
        for (size_t k = j + 2; k < j + 6; ++k) {
          const int h = Hex(s[k]);
          if (h < 0) return false;
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        j += 5;
        if (cp >= 0xD800 && cp < 0xDC00) {
          if (d.high != 0) return false;
          d.high = cp;
          continue;
        }
        if (cp >= 0xDC00 && cp < 0xE000) {
          if (d.high == 0) return false;
          cp = 0x10000 + ((d.high - 0xD800) << 10) + (cp - 0xDC00);
          d.high = 0;
        } else if (d.high != 0) {
          return false;
        }
        tok::AppendUtf8(cp, &d.out);
        continue;
      }
      if (d.high != 0) return false;
      ++j;
      const int v = DecodeJsonEscape(e);
      if (v < 0) return false;
      d.out.push_back(static_cast<char>(v));
    }
    return true;
  };
  d.ok = run();
  memo->Count(d.pos - from);
  return result();
}

}  // namespace phx::chat::tooljson
