#include "runtime/tokenizer/special_tokens.h"

#include <algorithm>

namespace phx::tok {
namespace {

// isspace() in the C locale.
bool IsCSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Whether [b, e) overlaps one of the sorted, disjoint `spans`.
bool Overlaps(std::span<const TextSpan> spans, size_t b, size_t e) {
  auto it = std::upper_bound(spans.begin(), spans.end(), b,
                             [](size_t v, const TextSpan& s) { return v < s.end; });
  return it != spans.end() && it->begin < e;
}

}  // namespace

SpecialTokens::SpecialTokens(std::vector<Entry> entries) : entries_(std::move(entries)) {
  ends_.emplace_back();
  for (uint32_t e = 0; e < entries_.size(); ++e) {
    uint32_t node = 0;
    for (const char ch : entries_[e].text) {
      const uint64_t key = (uint64_t{node} << 8) | static_cast<uint8_t>(ch);
      auto [it, inserted] = edges_.try_emplace(key, static_cast<uint32_t>(ends_.size()));
      if (inserted) ends_.emplace_back();
      node = it->second;
    }
    ends_[node].push_back(e);
  }
}

void SpecialTokens::SetAttrs(TokenId id, uint8_t attrs) {
  for (Entry& e : entries_) {
    if (e.id == id) e.attrs = attrs;
  }
}

std::vector<bool> SpecialTokens::Present(std::string_view text) const {
  std::vector<bool> present(entries_.size(), false);
  for (size_t start = 0; start < text.size(); ++start) {
    uint32_t node = 0;
    for (size_t i = start; i < text.size(); ++i) {
      auto it = edges_.find((uint64_t{node} << 8) | static_cast<uint8_t>(text[i]));
      if (it == edges_.end()) break;
      node = it->second;
      for (const uint32_t e : ends_[node]) present[e] = true;
    }
  }
  return present;
}

std::vector<Fragment> SpecialTokens::Partition(std::string_view text, bool parse_special,
                                               std::span<const TextSpan> plain_spans) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({kNoToken, text});
  if (entries_.empty()) return frags;
  const std::vector<bool> present = Present(text);
  std::vector<Fragment> next;
  for (size_t e = 0; e < entries_.size(); ++e) {
    const Entry& tok = entries_[e];
    if (!present[e] || (!parse_special && tok.needs_parse_special)) continue;
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      size_t from = 0;
      while (true) {
        const size_t m = rest.find(tok.text, from);
        if (m == std::string_view::npos) {
          if (!rest.empty()) next.push_back({kNoToken, rest});
          break;
        }
        if (tok.needs_parse_special && !plain_spans.empty()) {
          const size_t at = static_cast<size_t>(rest.data() - text.data()) + m;
          if (Overlaps(plain_spans, at, at + tok.text.size())) {
            from = m + 1;
            continue;
          }
        }
        from = 0;
        std::string_view left = rest.substr(0, m);
        if (tok.attrs & kAttrLstrip) {
          while (!left.empty() && IsCSpace(left.back())) left.remove_suffix(1);
        }
        if (!left.empty()) next.push_back({kNoToken, left});
        next.push_back({tok.id, tok.text});
        rest.remove_prefix(m + tok.text.size());
        if (tok.attrs & kAttrRstrip) {
          while (!rest.empty() && IsCSpace(rest.front())) rest.remove_prefix(1);
        }
      }
    }
    frags.swap(next);
  }
  return frags;
}

}  // namespace phx::tok
