#include "runtime/tokenizer/bpe.h"

#include <queue>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::tok {
namespace {

struct Symbol {
  int prev, next;
  size_t start, n;
};

struct Bigram {
  int left, right;
  int rank;
  size_t size;
};

// Lowest rank on top; among equal ranks, the leftmost.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> BpeTokenizer::Create(const gguf::File& f) {
  std::string pre;
  if (f.Has("tokenizer.ggml.pre")) {
    PHX_ASSIGN_OR_RETURN(pre, f.GetString("tokenizer.ggml.pre"));
  }
  PHX_ASSIGN_OR_RETURN(PreTokenizer pretok, PreTokenizer::Create(pre));
  VocabDefaults d;
  d.bos = 11;
  d.eos = 11;
  d.add_bos = pretok.traits().add_bos;
  if (pretok.traits().no_bos) d.bos = kNoToken;
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer(std::move(pretok)));
  t->pre_ = pre.empty() ? "default" : pre;
  PHX_RETURN_IF_ERROR(t->Load(f, VocabKind::kBpe, d));
  PHX_RETURN_IF_ERROR(t->LoadMerges(f));
  return std::unique_ptr<Tokenizer>(std::move(t));
}

absl::Status BpeTokenizer::LoadMerges(const gguf::File& f) {
  if (!f.Has("tokenizer.ggml.merges")) {
    return absl::InvalidArgumentError("BPE vocabulary without tokenizer.ggml.merges");
  }
  PHX_ASSIGN_OR_RETURN(std::vector<std::string_view> merges,
                       f.GetStringArray("tokenizer.ggml.merges"));
  auto intern = [&](std::string_view part) {
    auto [it, inserted] =
        merge_parts_.try_emplace(ToAbsl(part), static_cast<uint32_t>(merge_parts_.size()));
    return it->second;
  };
  merge_parts_.reserve(merges.size());
  ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string_view m = merges[i];
    const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
    if (space == std::string_view::npos) continue;  // no pair: never matches
    const uint64_t key = (uint64_t{intern(m.substr(0, space))} << 32) | intern(m.substr(space + 1));
    ranks_.try_emplace(key, static_cast<int32_t>(std::min<size_t>(i, INT32_MAX)));  // first wins
  }
  return absl::OkStatus();
}

int BpeTokenizer::Rank(std::string_view left, std::string_view right) const {
  auto l = merge_parts_.find(ToAbsl(left));
  if (l == merge_parts_.end()) return -1;
  auto r = merge_parts_.find(ToAbsl(right));
  if (r == merge_parts_.end()) return -1;
  auto it = ranks_.find((uint64_t{l->second} << 32) | r->second);
  return it == ranks_.end() ? -1 : it->second;
}

void BpeTokenizer::EncodeFragment(std::string_view text, bool /*after_special*/,
                                  std::vector<TokenId>* out) const {
  for (const std::string& word : pretok_.Split(text)) EncodeWord(word, out);
}

void BpeTokenizer::EncodeWord(std::string_view word, std::vector<TokenId>* out) const {
  if (word.empty()) return;
  if (pretok_.traits().ignore_merges) {
    if (const TokenId id = Find(word); id != kNoToken) {
      out->push_back(id);
      return;
    }
  }
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (size_t off = 0; off < word.size();) {
    const size_t n = std::min(Utf8SeqLen(static_cast<uint8_t>(word[off])), word.size() - off);
    const int index = static_cast<int>(sym.size());
    sym.push_back({index - 1, off + n == word.size() ? -1 : index + 1, off, n});
    off += n;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int rank = Rank(word.substr(sym[left].start, sym[left].n),
                          word.substr(sym[right].start, sym[right].n));
    if (rank < 0) return;
    queue.push({left, right, rank, sym[left].n + sym[right].n});
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = sym[b.left];
    Symbol& right = sym[b.right];
    if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;  // outdated
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }
  for (int i = 0; i != -1; i = sym[i].next) {
    const std::string_view piece = word.substr(sym[i].start, sym[i].n);
    if (const TokenId id = Find(piece); id != kNoToken) {
      out->push_back(id);
      continue;
    }
    for (size_t k = 0; k < piece.size(); ++k) {
      if (const TokenId id = Find(piece.substr(k, 1)); id != kNoToken) out->push_back(id);
    }
  }
}

std::string BpeTokenizer::NormalPiece(TokenId id) const {
  if (types_[id] != TokenType::kNormal) return "";  // llama.cpp renders BPE byte tokens as ""
  const std::string& text = texts_[id];
  std::string out;
  for (const uint32_t cp : DecodeUtf8Lenient(text)) {
    const int b = UnicodeToByte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
      continue;
    }
    // Not in the byte alphabet: llama.cpp's marker, verbatim.
    std::string utf8;
    AppendUtf8(cp, &utf8);
    out += "[UNK_BYTE_0x";
    for (const char c : utf8) out += fmt::format("{:02x}", static_cast<uint8_t>(c));
    out += text;
    out += "]";
  }
  return out;
}

}  // namespace phx::tok
