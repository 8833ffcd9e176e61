#include "runtime/tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace phx::tok {
namespace {

bool IsWhiteSpace(uint32_t cp) {
  return std::binary_search(kWhiteSpace, kWhiteSpace + kNumWhiteSpace, cp);
}

uint16_t LookUpClass(uint32_t cp) {
  if (cp > kMaxCodePoint) return kCpUndefined;
  // The last range whose first code point is <= cp.
  const CpRange* it = std::upper_bound(kCpRanges, kCpRanges + kNumCpRanges, cp,
                                       [](uint32_t c, const CpRange& r) { return c < r.first; });
  uint16_t bits = it == kCpRanges ? uint16_t{kCpUndefined} : uint16_t{(it - 1)->bits};
  if (IsWhiteSpace(cp)) bits |= kCpWhitespace;
  return bits;
}

struct AsciiClasses {
  std::array<uint16_t, 128> bits;
  AsciiClasses() {
    for (uint32_t c = 0; c < 128; ++c) bits[c] = LookUpClass(c);
  }
};

// Bytes that GPT-2's alphabet keeps as themselves: '!'..'~', '¡'..'¬', '®'..'ÿ'.
constexpr bool KeepsItself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteAlphabet {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 256 + 68> from_cp{};
  constexpr ByteAlphabet() {
    uint32_t n = 0;
    for (int b = 0; b < 256; ++b) to_cp[b] = KeepsItself(b) ? b : 256 + n++;
    for (auto& v : from_cp) v = -1;
    for (int b = 0; b < 256; ++b) from_cp[to_cp[b]] = static_cast<int16_t>(b);
  }
};

constexpr ByteAlphabet kByteAlphabet;

}  // namespace

uint16_t CpClass(uint32_t cp) {
  static const AsciiClasses kAscii;
  if (cp < 128) return kAscii.bits[cp];
  return LookUpClass(cp);
}

uint32_t NfdFirst(uint32_t cp) {
  const NfdRange* end = kNfdRanges + kNumNfdRanges;
  const NfdRange* it = std::upper_bound(kNfdRanges, end, cp,
                                        [](uint32_t c, const NfdRange& r) { return c < r.first; });
  if (it == kNfdRanges) return cp;
  --it;
  return cp <= it->last ? it->nfd : cp;
}

uint32_t ToLowerFirst(uint32_t cp) {
  const CpPair* end = kLowercase + kNumLowercase;
  const CpPair* it =
      std::lower_bound(kLowercase, end, cp, [](const CpPair& p, uint32_t c) { return p.cp < c; });
  return it != end && it->cp == cp ? it->mapped : cp;
}

std::vector<uint32_t> DecodeUtf8Lenient(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  auto cont = [&](size_t i) { return i < n && (p[i] & 0xC0) == 0x80; };
  size_t i = 0;
  while (i < n) {
    const uint8_t b = p[i];
    if (b < 0x80) {
      out.push_back(b);
      i += 1;
    } else if ((b & 0xE0) == 0xC0 && cont(i + 1)) {
      out.push_back(((b & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu));
      i += 2;
    } else if ((b & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
      out.push_back(((b & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu));
      i += 3;
    } else if ((b & 0xF8) == 0xF0 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      out.push_back(((b & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) |
                    (p[i + 3] & 0x3Fu));
      i += 4;
    } else {
      out.push_back(kReplacementChar);
      i += 1;
    }
  }
  return out;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp > kMaxCodePoint) cp = kReplacementChar;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int Utf8Complete(std::string_view s) {
  if (s.empty()) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t b = p[0];
  if (b < 0x80) return 1;
  int len = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int i = 1; i < len; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return 0;
    const uint8_t c = p[i];
    const bool ok = i == 1 ? (c >= lo && c <= hi) : (c & 0xC0) == 0x80;
    if (!ok) return -1;
  }
  return len;
}

uint32_t ByteToUnicode(uint8_t b) { return kByteAlphabet.to_cp[b]; }

int UnicodeToByte(uint32_t cp) {
  return cp < kByteAlphabet.from_cp.size() ? kByteAlphabet.from_cp[cp] : -1;
}

}  // namespace phx::tok
