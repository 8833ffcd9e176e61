#include "runtime/tokenizer/spm.h"

#include <queue>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::tok {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

struct Symbol {
  int prev, next;
  size_t start, n;
};

struct Bigram {
  int left, right;
  float score;
  size_t size;
};

// Highest score on top; among equal scores, the leftmost.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> SpmTokenizer::Create(const gguf::File& f) {
  std::unique_ptr<SpmTokenizer> t(new SpmTokenizer());
  VocabDefaults d;
  d.bos = 1;
  d.eos = 2;
  d.unk = 0;
  d.add_bos = true;
  d.add_space_prefix = true;
  PHX_RETURN_IF_ERROR(t->Load(f, VocabKind::kSpm, d));
  t->pre_ = "default";
  if (auto pre = f.GetString("tokenizer.ggml.pre"); pre.ok()) t->pre_ = *pre;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char name[] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    TokenId id = t->Find(std::string_view(name, sizeof(name)));
    if (id == kNoToken) {
      const char byte = static_cast<char>(b);
      id = t->Find(std::string_view(&byte, 1));
    }
    t->byte_tokens_[b] = id;
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

void SpmTokenizer::EncodeFragment(std::string_view text, bool after_special,
                                  std::vector<TokenId>* out) const {
  std::string s;
  s.reserve(text.size() * 2 + kSpace.size());
  if (add_space_prefix_ && after_special) s.append(kSpace);
  for (const char c : text) {
    if (c == ' ') {
      s.append(kSpace);
    } else {
      s.push_back(c);
    }
  }
  if (s.empty()) return;

  std::vector<Symbol> sym;
  sym.reserve(s.size());
  for (size_t off = 0; off < s.size();) {
    const size_t n = std::min(Utf8SeqLen(static_cast<uint8_t>(s[off])), s.size() - off);
    const int index = static_cast<int>(sym.size());
    sym.push_back({index - 1, off + n == s.size() ? -1 : index + 1, off, n});
    off += n;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t size = sym[left].n + sym[right].n;
    const TokenId id = Find(std::string_view(s).substr(sym[left].start, size));
    if (id == kNoToken) return;
    queue.push({left, right, scores_[id], size});
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = sym[b.left];
    Symbol& right = sym[b.right];
    // Skip pairs that an earlier merge changed.
    if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  for (int i = 0; i != -1; i = sym[i].next) {
    const std::string_view piece = std::string_view(s).substr(sym[i].start, sym[i].n);
    const TokenId id = Find(piece);
    if (id != kNoToken) {
      out->push_back(id);
      continue;
    }
    for (const char c : piece) {
      const TokenId byte = byte_tokens_[static_cast<uint8_t>(c)];
      if (byte != kNoToken) {
        out->push_back(byte);
      } else if (unk_ != kNoToken) {
        out->push_back(unk_);
      }
    }
  }
}

std::string SpmTokenizer::NormalPiece(TokenId id) const {
  const std::string& text = texts_[id];
  if (types_[id] == TokenType::kByte) {
    // "<0xNN>"
    if (text.size() >= 5) {
      const int hi = HexDigit(text[3]), lo = HexDigit(text[4]);
      if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
    }
    return "";
  }
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpace.size(), kSpace) == 0) {
      out.push_back(' ');
      i += kSpace.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

}  // namespace phx::tok
