// Hand-written versions of the GPT-2, Llama-3 and Qwen2 split patterns, with llama.cpp's exact
// behaviour (its unicode_regex_split_custom_gpt2 / _llama3 / _qwen2): a position past the end of
// the segment has no class bits, and an unassigned code point counts as "other".
#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::tok {
namespace {

constexpr uint32_t kOutOfRange = 0xFFFFFFFF;

// One segment [ini, end) of the text, and the words found in it so far.
class Segment {
 public:
  Segment(std::span<const uint32_t> cpts, std::span<const uint16_t> bits, size_t ini, size_t end,
          std::vector<size_t>* out)
      : cpts_(cpts), bits_(bits), ini_(ini), end_(end), prev_end_(ini), out_(out) {}

  uint32_t Cpt(size_t pos) const { return pos >= ini_ && pos < end_ ? cpts_[pos] : kOutOfRange; }
  uint16_t Bits(size_t pos) const { return pos >= ini_ && pos < end_ ? bits_[pos] : 0; }
  bool Letter(size_t pos) const { return Bits(pos) & kCpLetter; }
  bool Number(size_t pos) const { return Bits(pos) & kCpNumber; }
  bool Space(size_t pos) const { return Bits(pos) & kCpWhitespace; }
  // Neither white space, letter nor number, but inside the segment.
  bool Other(size_t pos) const {
    const uint16_t b = Bits(pos);
    return b != 0 && !(b & (kCpWhitespace | kCpLetter | kCpNumber));
  }

  // Ends the current word at `end`; returns its length.
  size_t Emit(size_t end) {
    const size_t len = end - prev_end_;
    if (len > 0) out_->push_back(len);
    prev_end_ = end;
    return len;
  }

  // 's 't 're 've 'm 'll 'd at `pos` (case-insensitively when `fold`): the length matched, or 0.
  size_t Contraction(size_t pos, bool fold) const {
    if (Cpt(pos) != '\'' || pos + 1 >= end_) return 0;
    auto lower = [&](uint32_t c) { return fold && c >= 'A' && c <= 'Z' ? c + 32 : c; };
    const uint32_t a = lower(Cpt(pos + 1));
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= end_) return 0;
    const uint32_t b = lower(Cpt(pos + 2));
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }

  size_t end() const { return end_; }

 private:
  std::span<const uint32_t> cpts_;
  std::span<const uint16_t> bits_;
  size_t ini_, end_, prev_end_;
  std::vector<size_t>* out_;
};

// \s+(?!\S) then \s+ at `pos` (which is not followed by a word): returns the new position.
size_t TrailingSpace(Segment& s, size_t pos) {
  size_t n = 0;
  while (s.Space(pos + n)) ++n;
  if (n > 1 && s.Cpt(pos + n) != kOutOfRange) return pos + n - 1;  // leave one for the word
  return pos + (n > 0 ? n : 1);
}

void Gpt2Segment(Segment& s, size_t ini) {
  for (size_t pos = ini; pos < s.end();) {
    if (size_t n = s.Contraction(pos, /*fold=*/false)) {
      pos += s.Emit(pos + n);
      continue;
    }
    const size_t p = s.Cpt(pos) == ' ' ? pos + 1 : pos;  // " ?" prefix
    if (s.Letter(p)) {                                   // ' ?\p{L}+'
      pos = p;
      while (s.Letter(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    if (s.Number(p)) {  // ' ?\p{N}+'
      pos = p;
      while (s.Number(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    if (s.Other(p)) {  // ' ?[^\s\p{L}\p{N}]+'
      pos = p;
      while (s.Other(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    pos = TrailingSpace(s, pos);
    s.Emit(pos);
  }
}

// Llama 3's pattern; `max_digits` is 3 for Llama 3 and 1 for Qwen2.
void Llama3Segment(Segment& s, size_t ini, size_t max_digits) {
  for (size_t pos = ini; pos < s.end();) {
    const uint32_t c = s.Cpt(pos);
    if (size_t n = s.Contraction(pos, /*fold=*/true)) {
      pos += s.Emit(pos + n);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c != '\r' && c != '\n' && !s.Number(pos) && (s.Letter(pos) || s.Letter(pos + 1))) {
      ++pos;
      while (s.Letter(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    // \p{N}{1,3}
    if (s.Number(pos)) {
      size_t ini_run = pos;
      while (s.Number(pos)) {
        if (++pos - ini_run >= max_digits) {
          s.Emit(pos);
          ini_run = pos;
        }
      }
      s.Emit(pos);
      continue;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*' (llama.cpp tests the current position for "inside")
    const size_t p = c == ' ' ? pos + 1 : pos;
    const uint16_t b = s.Bits(p);
    if (!(b & (kCpWhitespace | kCpLetter | kCpNumber)) && s.Bits(pos) != 0) {
      pos = p;
      while (s.Other(pos)) ++pos;
      while (s.Cpt(pos) == '\r' || s.Cpt(pos) == '\n') ++pos;
      s.Emit(pos);
      continue;
    }
    // \s*[\r\n]+
    size_t n = 0, last_newline_end = 0;
    while (s.Space(pos + n)) {
      const uint32_t w = s.Cpt(pos + n);
      if (w == '\r' || w == '\n') last_newline_end = pos + n + 1;
      ++n;
    }
    if (last_newline_end > 0) {
      pos = last_newline_end;
      s.Emit(pos);
      continue;
    }
    pos = TrailingSpace(s, pos);
    s.Emit(pos);
  }
}

template <typename Fn>
std::vector<size_t> SplitSegments(std::span<const uint32_t> cpts, std::span<const uint16_t> bits,
                                  std::span<const size_t> offsets, Fn fn) {
  std::vector<size_t> out;
  out.reserve(offsets.size());
  size_t start = 0;
  for (const size_t len : offsets) {
    Segment s(cpts, bits, start, start + len, &out);
    fn(s, start);
    start += len;
  }
  return out;
}

}  // namespace

std::vector<size_t> SplitGpt2(std::span<const uint32_t> cpts, std::span<const uint16_t> bits,
                              std::span<const size_t> offsets) {
  return SplitSegments(cpts, bits, offsets, Gpt2Segment);
}

std::vector<size_t> SplitLlama3(std::span<const uint32_t> cpts, std::span<const uint16_t> bits,
                                std::span<const size_t> offsets) {
  return SplitSegments(cpts, bits, offsets,
                       [](Segment& s, size_t ini) { Llama3Segment(s, ini, 3); });
}

std::vector<size_t> SplitQwen2(std::span<const uint32_t> cpts, std::span<const uint16_t> bits,
                               std::span<const size_t> offsets) {
  return SplitSegments(cpts, bits, offsets,
                       [](Segment& s, size_t ini) { Llama3Segment(s, ini, 1); });
}

}  // namespace phx::tok
