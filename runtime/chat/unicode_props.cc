#include "runtime/chat/unicode_props.h"

#include <algorithm>

#include "runtime/tokenizer/unicode.h"

namespace phx::chat {
namespace {

template <typename T>
const T* FindRange(const T* table, size_t n, uint32_t cp) {
  const T* it =
      std::upper_bound(table, table + n, cp, [](uint32_t v, const T& r) { return v < r.first; });
  return it == table ? nullptr : it - 1;
}

}  // namespace

uint16_t PyProps(uint32_t cp) {
  const PropRange* r = FindRange(kPropRanges, kNumPropRanges, cp);
  return r ? r->bits : 0;
}

void AppendCaseMapped(uint32_t cp, CaseMap map, std::string* out) {
  const CaseRun* runs = kLowerRuns;
  size_t nruns = kNumLowerRuns;
  const CaseSpecial* special = kLowerSpecial;
  size_t nspecial = kNumLowerSpecial;
  if (map == CaseMap::kUpper) {
    runs = kUpperRuns, nruns = kNumUpperRuns, special = kUpperSpecial, nspecial = kNumUpperSpecial;
  } else if (map == CaseMap::kTitle) {
    runs = kTitleRuns, nruns = kNumTitleRuns, special = kTitleSpecial, nspecial = kNumTitleSpecial;
  }
  if (cp < 0x80 && map == CaseMap::kLower) {
    out->push_back(cp >= 'A' && cp <= 'Z' ? static_cast<char>(cp + 32) : static_cast<char>(cp));
    return;
  }
  if (cp < 0x80 && map != CaseMap::kLower) {
    out->push_back(cp >= 'a' && cp <= 'z' ? static_cast<char>(cp - 32) : static_cast<char>(cp));
    return;
  }
  for (size_t i = 0; i < nspecial; ++i) {
    if (special[i].cp == cp) {
      out->append(special[i].utf8);
      return;
    }
  }
  const CaseRun* r = FindRange(runs, nruns, cp);
  if (r && cp <= r->last && (r->stride <= 1 || (cp - r->first) % r->stride == 0)) {
    AppendCp(static_cast<uint32_t>(static_cast<int64_t>(cp) + r->delta), out);
    return;
  }
  AppendCp(cp, out);
}

uint32_t NextCp(std::string_view s, size_t* i) {
  const auto b0 = static_cast<uint8_t>(s[*i]);
  if (b0 < 0x80) {
    ++*i;
    return b0;
  }
  int n = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  uint32_t cp = b0 & (0x7F >> n);
  size_t j = *i + 1;
  for (int k = 1; k < n && j < s.size(); ++k, ++j) cp = (cp << 6) | (s[j] & 0x3F);
  *i = j;
  return cp;
}

void AppendCp(uint32_t cp, std::string* out) { tok::AppendUtf8(cp, out); }

size_t CpCount(std::string_view s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return n;
}

std::vector<size_t> CpOffsets(std::string_view s) {
  std::vector<size_t> off;
  off.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<uint8_t>(s[i]) & 0xC0) != 0x80) off.push_back(i);
  }
  off.push_back(s.size());
  return off;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    int n;
    uint32_t min;
    if ((b0 & 0xE0) == 0xC0) {
      n = 2, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      n = 3, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      n = 4, min = 0x10000;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    uint32_t cp = b0 & (0x7F >> n);
    for (int k = 1; k < n; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

}  // namespace phx::chat
