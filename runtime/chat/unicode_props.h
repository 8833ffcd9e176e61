// Unicode facts behind Python's str methods (case mappings, isspace/isalpha/... and
// isprintable for repr()), generated from Python's unicodedata by gen_unicode_tables.py into
// unicode_tables.cc, and UTF-8 helpers for code-point indexing (Python strings index code
// points; the engine keeps UTF-8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace phx::chat {

enum PyProp : uint16_t {
  kPySpace = 1 << 0,
  kPyAlpha = 1 << 1,
  kPyDecimal = 1 << 2,
  kPyDigit = 1 << 3,
  kPyNumeric = 1 << 4,
  kPyPrintable = 1 << 5,
  kPyLower = 1 << 6,
  kPyUpper = 1 << 7,
  kPyTitle = 1 << 8,
  kPyCaseIgnorable = 1 << 9,
};

struct PropRange {
  uint32_t first;
  uint16_t bits;
};
// A run of code points first..last (every `stride`-th one) that map to cp + delta.
struct CaseRun {
  uint32_t first, last;
  int32_t delta;
  uint32_t stride;
};
struct CaseSpecial {
  uint32_t cp;
  const char* utf8;  // the mapping when it is not one code point
};

extern const char kPyUnicodeVersion[];
extern const PropRange kPropRanges[];
extern const size_t kNumPropRanges;
extern const CaseRun kLowerRuns[], kUpperRuns[], kTitleRuns[];
extern const size_t kNumLowerRuns, kNumUpperRuns, kNumTitleRuns;
extern const CaseSpecial kLowerSpecial[], kUpperSpecial[], kTitleSpecial[];
extern const size_t kNumLowerSpecial, kNumUpperSpecial, kNumTitleSpecial;

uint16_t PyProps(uint32_t cp);
inline bool PyIsSpace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= '\t' && cp <= '\r') || (cp >= 0x1C && cp <= 0x1F);
  return PyProps(cp) & kPySpace;
}
inline bool PyIsCased(uint32_t cp) { return PyProps(cp) & (kPyLower | kPyUpper | kPyTitle); }

enum class CaseMap { kLower, kUpper, kTitle };
// Appends Python's full case mapping of `cp` (str.lower/upper/title of one character).
void AppendCaseMapped(uint32_t cp, CaseMap map, std::string* out);

// --- UTF-8 (the engine's strings are valid UTF-8: templates and JSON are checked on entry).
// Decodes the code point at s[*i] and advances *i.
uint32_t NextCp(std::string_view s, size_t* i);
void AppendCp(uint32_t cp, std::string* out);
size_t CpCount(std::string_view s);
// Byte offset of every code point, plus s.size() at the end (size CpCount(s) + 1).
std::vector<size_t> CpOffsets(std::string_view s);
// True when `s` is well-formed UTF-8 (no surrogates, no overlong forms).
bool IsValidUtf8(std::string_view s);

}  // namespace phx::chat
