// Unicode helpers for the tokenizers: lenient UTF-8 decoding the way llama.cpp does it, coarse
// general-category classes (from the generated unicode_tables.cc), and GPT-2's byte-level
// alphabet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace phx::tok {

// Class bits of a code point: its general category folded to \p{L}, \p{N}, ... (exactly one of
// the low eight bits), plus kCpWhitespace for Unicode White_Space. Unassigned code points are
// kCpUndefined. A value of 0 means "no code point" (past the end of a segment).
enum CpBits : uint16_t {
  kCpUndefined = 0x01,
  kCpNumber = 0x02,       // \p{N}
  kCpLetter = 0x04,       // \p{L}
  kCpSeparator = 0x08,    // \p{Z}
  kCpMark = 0x10,         // \p{M}
  kCpPunctuation = 0x20,  // \p{P}
  kCpSymbol = 0x40,       // \p{S}
  kCpControl = 0x80,      // \p{C} (Cc, Cf, Co, Cs)
  kCpCategoryMask = 0xFF,
  kCpWhitespace = 0x100,
};

struct CpRange {
  uint32_t first;
  uint8_t bits;
};

// Generated tables (unicode_tables.cc).
extern const CpRange kCpRanges[];
extern const size_t kNumCpRanges;
extern const uint32_t kWhiteSpace[];
extern const size_t kNumWhiteSpace;
extern const char kUnicodeVersion[];

inline constexpr uint32_t kReplacementChar = 0xFFFD;
inline constexpr uint32_t kMaxCodePoint = 0x10FFFF;

// WordPiece maps (unicode_wpm_tables.cc, llama.cpp's unicode_ranges_nfd and
// unicode_map_lowercase): runs of code points whose NFD form starts with `nfd`, and code points
// with the first code point of their lowercase form.
struct NfdRange {
  uint32_t first, last, nfd;
};
struct CpPair {
  uint32_t cp, mapped;
};
extern const NfdRange kNfdRanges[];
extern const size_t kNumNfdRanges;
extern const CpPair kLowercase[];
extern const size_t kNumLowercase;

// The first code point of `cp`'s NFD decomposition (llama.cpp's unicode_cpts_normalize_nfd keeps
// only that one), and of its lowercase form (unicode_tolower).
uint32_t NfdFirst(uint32_t cp);
uint32_t ToLowerFirst(uint32_t cp);

// Class bits of `cp` (kCpUndefined above U+10FFFF).
uint16_t CpClass(uint32_t cp);

// Length of the UTF-8 sequence that `lead` starts, from its high nibble only (1 for stray
// continuation bytes), as llama.cpp's unicode_len_utf8.
inline size_t Utf8SeqLen(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// Decodes `s` like llama.cpp's unicode_cpts_from_utf8: structurally invalid or truncated
// sequences become U+FFFD and consume one byte; overlong forms and surrogates pass through.
std::vector<uint32_t> DecodeUtf8Lenient(std::string_view s);

// Appends the UTF-8 encoding of `cp` (U+FFFD for values above U+10FFFF).
void AppendUtf8(uint32_t cp, std::string* out);

// Length of the well-formed UTF-8 sequence at the start of `s` (Unicode Table 3-7): > 0 when
// complete, 0 when `s` is a proper prefix of a well-formed sequence (more bytes may complete it),
// -1 when the first byte can never start a well-formed sequence here.
int Utf8Complete(std::string_view s);

// GPT-2's byte-level alphabet: each byte maps to one printable code point.
uint32_t ByteToUnicode(uint8_t b);
// The byte that `cp` stands for, or -1 when `cp` is not in the alphabet.
int UnicodeToByte(uint32_t cp);

}  // namespace phx::tok
