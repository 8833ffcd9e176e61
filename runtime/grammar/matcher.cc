#include "runtime/grammar/matcher.h"

#include <algorithm>
#include <cstring>

namespace phx::grammar {

CompiledGrammar::CompiledGrammar(std::shared_ptr<const Grammar> g,
                                 std::shared_ptr<const TokenVocab> vocab)
    : grammar_(std::move(g)),
      vocab_(std::move(vocab)),
      lexer_(std::make_unique<Lexer>(grammar_, vocab_)) {}

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> g)
    : g_(std::move(g)), gr_(g_->grammar()), lex_(g_->lexer()), vocab_(g_->vocab()) {
  seeds_.clear();
  for (uint32_t dot : gr_.alts(gr_.root())) seeds_.push_back(InternNode(dot, kBottom));
  initial_row_ = Closure(seeds_);
  Reset();
}

void Matcher::Reset() {
  items_.clear();
  items_.push_back({rows_[initial_row_].lex0, initial_row_, 1});
  hist_items_.clear();
  hist_off_.clear();
  hist_finished_.clear();
  finished_ = false;
}

uint32_t Matcher::InternNode(uint32_t dot, uint32_t parent) {
  const uint64_t key = (uint64_t{dot} << 32) | parent;
  auto it = node_ids_.find(key);
  if (it != node_ids_.end()) return it->second;
  const auto id = static_cast<uint32_t>(nodes_.size());
  nodes_.push_back({dot, parent});
  node_ids_.emplace(key, id);
  return id;
}

uint32_t Matcher::Advance(uint32_t node) {
  const Node n = nodes_[node];
  if (gr_.sym(n.dot + 1) == kEndSym) return n.parent;  // the rule ends: continue in the parent
  return InternNode(n.dot + 1, n.parent);
}

uint32_t Matcher::Closure(const std::vector<uint32_t>& seeds) {
  if (++gen_ == 0) {
    std::fill(mark_.begin(), mark_.end(), 0);
    gen_ = 1;
  }
  found_.clear();
  bool accept = false;
  work_.assign(seeds.begin(), seeds.end());
  while (!work_.empty()) {
    const uint32_t n = work_.back();
    work_.pop_back();
    if (n == kBottom) {
      accept = true;
      continue;
    }
    if (mark_.size() <= n) mark_.resize(nodes_.size() + 64, 0);
    if (mark_[n] == gen_) continue;
    mark_[n] = gen_;
    const Node node = nodes_[n];
    const Sym s = gr_.sym(node.dot);
    if (IsTerm(s)) {
      found_.push_back({s, n});
    } else if (s == kEndSym) {
      work_.push_back(node.parent);
    } else {
      const uint32_t ret =
          gr_.sym(node.dot + 1) == kEndSym ? node.parent : InternNode(node.dot + 1, node.parent);
      for (uint32_t alt : gr_.alts(SymIndex(s))) work_.push_back(InternNode(alt, ret));
    }
  }
  std::sort(found_.begin(), found_.end());
  found_.erase(std::unique(found_.begin(), found_.end()), found_.end());
  key_.clear();
  for (const auto& [t, n] : found_) key_.push_back((uint64_t{t} << 32) | n);
  key_.push_back(accept ? 1 : 0);
  auto it = row_ids_.find(key_);
  if (it != row_ids_.end()) return it->second;
  Row r;
  r.scan_begin = static_cast<uint32_t>(scans_.size());
  r.scan_count = static_cast<uint32_t>(found_.size());
  r.accept = accept;
  terms_.clear();
  for (const auto& [t, n] : found_) {
    scans_.push_back({t, n});
    if (terms_.empty() || terms_.back() != t) terms_.push_back(t);
  }
  r.lex0 = terms_.empty() ? kDeadLex : lex_.StartState(terms_);
  const auto id = static_cast<uint32_t>(rows_.size());
  rows_.push_back(r);
  row_ids_.emplace(key_, id);
  return id;
}

uint32_t Matcher::Complete(uint32_t row, uint32_t lex) {
  const uint64_t key = (uint64_t{row} << 32) | lex;
  auto it = complete_memo_.find(key);
  if (it != complete_memo_.end()) return it->second;
  const auto& accepted = lex_.state(lex).accepted;
  std::vector<uint32_t> seeds;
  const Row r = rows_[row];
  for (uint32_t i = 0; i < r.scan_count; ++i) {
    const auto [t, n] = scans_[r.scan_begin + i];
    if (std::binary_search(accepted.begin(), accepted.end(), t)) seeds.push_back(Advance(n));
  }
  const uint32_t next = Closure(seeds);
  complete_memo_.emplace(key, next);
  return next;
}

void Matcher::PushCompletion(std::vector<Item>& out, uint32_t row, uint32_t lex) {
  const uint32_t r = Complete(row, lex);
  if (rows_[r].scan_count > 0 || rows_[r].accept) out.push_back({rows_[r].lex0, r, 1});
}

void Matcher::StepInto(std::vector<Item>& buf, size_t in_begin, size_t in_end, uint8_t b) {
  const size_t out_begin = buf.size();
  for (size_t i = in_begin; i < in_end; ++i) {
    const Item it = buf[i];
    if (it.lex == kDeadLex) continue;
    const uint32_t nx = lex_.Next(it.lex, b);
    if (nx == kDeadLex) continue;
    const LexState& st = lex_.state(nx);
    if (st.has_out) buf.push_back({nx, it.row, 0});
    if (!st.accepted.empty()) PushCompletion(buf, it.row, nx);
  }
  // Deduplicate the new items.
  const size_t n = buf.size() - out_begin;
  if (n > 1) {
    if (n <= 8) {
      size_t w = out_begin;
      for (size_t i = out_begin; i < buf.size(); ++i) {
        bool dup = false;
        for (size_t j = out_begin; j < w; ++j) dup |= buf[j] == buf[i];
        if (!dup) buf[w++] = buf[i];
      }
      buf.resize(w);
    } else {
      std::sort(buf.begin() + out_begin, buf.end(), [](const Item& a, const Item& b) {
        return a.lex != b.lex ? a.lex < b.lex : a.row != b.row ? a.row < b.row : a.fresh < b.fresh;
      });
      buf.erase(std::unique(buf.begin() + out_begin, buf.end()), buf.end());
    }
  }
  if (buf.size() - out_begin > kMaxItems) {
    overflow_ = true;
    buf.resize(out_begin + kMaxItems);
  }
}

bool Matcher::IsAccepting() const {
  if (finished_) return false;
  for (const Item& it : items_) {
    if (it.fresh && rows_[it.row].accept) return true;
  }
  return false;
}

void Matcher::SaveHistory() {
  hist_off_.push_back(hist_items_.size());
  hist_items_.insert(hist_items_.end(), items_.begin(), items_.end());
  hist_finished_.push_back(finished_);
}

bool Matcher::CommitBytes(std::string_view bytes) {
  if (finished_) return false;
  scratch_a_.assign(items_.begin(), items_.end());
  for (char c : bytes) {
    scratch_b_.clear();
    scratch_b_.insert(scratch_b_.end(), scratch_a_.begin(), scratch_a_.end());
    const size_t n = scratch_b_.size();
    StepInto(scratch_b_, 0, n, static_cast<uint8_t>(c));
    scratch_a_.assign(scratch_b_.begin() + n, scratch_b_.end());
    if (scratch_a_.empty()) return false;
  }
  SaveHistory();
  items_.swap(scratch_a_);
  return true;
}

bool Matcher::Commit(int32_t token) {
  if (finished_ || token < 0 || token >= vocab_.size()) return false;
  if (vocab_.is_eog(token)) {
    if (!IsAccepting()) return false;
    SaveHistory();
    finished_ = true;
    return true;
  }
  const std::string_view b = vocab_.bytes(token);
  if (b.empty()) return false;
  return CommitBytes(b);
}

bool Matcher::Rollback(int n) {
  if (n < 0 || static_cast<size_t>(n) > hist_off_.size()) return false;
  for (int i = 0; i < n; ++i) {
    const size_t off = hist_off_.back();
    items_.assign(hist_items_.begin() + off, hist_items_.end());
    finished_ = hist_finished_.back();
    hist_items_.resize(off);
    hist_off_.pop_back();
    hist_finished_.pop_back();
  }
  return true;
}

void Matcher::Step(const std::vector<Item>& in, uint8_t b, std::vector<Item>& out) {
  out.assign(in.begin(), in.end());
  const size_t n = out.size();
  StepInto(out, 0, n, b);
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
}

void Matcher::WalkSubtree(const TokenTrie& t, uint32_t p, const std::vector<Item>& at_p,
                          uint64_t* mask) {
  const TrieNode* nodes = t.nodes.data();
  const uint32_t base = nodes[p].depth;
  const uint32_t end = p + nodes[p].subtree;
  if (end == p + 1) return;
  walk_buf_.assign(at_p.begin(), at_p.end());
  walk_off_.resize(static_cast<size_t>(t.max_depth) + 2);
  walk_off_[0] = 0;
  walk_off_[1] = walk_buf_.size();
  uint32_t q = p + 1;
  while (q < end) {
    const TrieNode& node = nodes[q];
    const size_t d = node.depth - base;
    walk_buf_.resize(walk_off_[d]);
    StepInto(walk_buf_, walk_off_[d - 1], walk_off_[d], node.byte);
    if (walk_buf_.size() == walk_off_[d]) {
      q += node.subtree;
      continue;
    }
    walk_off_[d + 1] = walk_buf_.size();
    for (uint32_t k = 0; k < node.tok_count; ++k) {
      const int32_t tok = t.toks[node.tok_begin + k];
      mask[tok >> 6] |= uint64_t{1} << (tok & 63);
    }
    ++q;
  }
}

void Matcher::EvalGroup(const LexGroup& g, const LexEntry& e, uint32_t row, uint64_t* mask) {
  group_base_.clear();
  if (lex_.state(g.boundary).has_out) group_base_.push_back({g.boundary, row, 0});
  PushCompletion(group_base_, row, g.boundary);
  if (group_base_.empty()) return;
  const size_t n = g.refs.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t f = g.refs[i].first;
    size_t j = i;
    while (j < n && g.refs[j].first == f) ++j;
    Step(group_base_, f, group_first_);
    if (!group_first_.empty()) {
      for (size_t k = i; k < j; ++k) {
        const DeadRef& r = g.refs[k];
        const TokenTrie& t = r.trie == kRestTrie ? vocab_.rest() : vocab_.slices()[r.trie].trie;
        const TrieNode& node = t.nodes[r.node];
        const std::vector<Item>* cur = &group_first_;
        if (r.path_len > 0) {
          // The first path byte is applied; then the rest of the path and the node's byte.
          group_cur_ = group_first_;
          for (uint32_t b = 1; b <= r.path_len && !group_cur_.empty(); ++b) {
            const uint8_t byte =
                b < r.path_len ? static_cast<uint8_t>(e.paths[r.path_off + b]) : node.byte;
            Step(group_cur_, byte, group_tmp_);
            group_cur_.swap(group_tmp_);
          }
          cur = &group_cur_;
        }
        if (cur->empty()) continue;
        for (uint32_t x = 0; x < node.tok_count; ++x) {
          const int32_t tok = t.toks[node.tok_begin + x];
          mask[tok >> 6] |= uint64_t{1} << (tok & 63);
        }
        WalkSubtree(t, r.node, *cur, mask);
      }
    }
    i = j;
  }
}

void Matcher::ComputeMask(uint64_t* mask) {
  const size_t words = static_cast<size_t>(vocab_.mask_words());
  std::memset(mask, 0, words * sizeof(uint64_t));
  if (finished_) return;
  for (size_t i = 0; i < items_.size(); ++i) {
    const Item it = items_[i];
    if (it.lex == kDeadLex) continue;
    const LexEntry& e = lex_.Entry(it.lex);
    if (!e.dense.empty()) {
      const uint64_t* src = e.dense.data();
      for (size_t w = 0; w < words; ++w) mask[w] |= src[w];
    } else {
      for (int32_t tok : e.sparse) mask[tok >> 6] |= uint64_t{1} << (tok & 63);
    }
    for (const LexGroup& g : e.groups) EvalGroup(g, e, it.row, mask);
  }
  if (IsAccepting()) {
    for (int32_t tok : vocab_.eog()) mask[tok >> 6] |= uint64_t{1} << (tok & 63);
  }
}

size_t Matcher::MemoryBytes() const {
  return nodes_.size() * (sizeof(Node) + 16) + scans_.size() * 8 + rows_.size() * 48 +
         complete_memo_.size() * 16 + hist_items_.size() * sizeof(Item);
}

}  // namespace phx::grammar
