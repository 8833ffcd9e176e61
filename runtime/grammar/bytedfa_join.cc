// BuildTerminal's fast path: per-piece DFAs (whitespace chains and fixed bytes made directly,
// automaton pieces cached by key) joined end to start.
#include <map>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "runtime/grammar/bytedfa.h"

namespace phx::grammar {
namespace {

ByteDfa WsChain(int max) {
  ByteDfa d;
  d.ncls = 2;
  d.cls.fill(0);
  for (uint8_t w : {' ', '\t', '\n', '\r'}) d.cls[w] = 1;
  for (int i = 0; i <= max; ++i) {
    d.next.push_back(ByteDfa::kDead);
    d.next.push_back(i < max ? i + 1 : ByteDfa::kDead);
    d.accept.push_back(1);
    d.has_out.push_back(i < max);
  }
  d.start = 0;
  return d;
}

ByteDfa Fixed(std::string_view bytes) {
  ByteDfa d;
  std::array<uint8_t, 256> used{};
  for (char c : bytes) used[static_cast<uint8_t>(c)] = 1;
  int n = 1;
  d.cls.fill(0);
  for (int b = 0; b < 256; ++b) {
    if (used[b]) d.cls[b] = static_cast<uint8_t>(n++);
  }
  d.ncls = n;
  for (size_t i = 0; i <= bytes.size(); ++i) {
    for (int c = 0; c < n; ++c) d.next.push_back(ByteDfa::kDead);
    d.accept.push_back(i == bytes.size());
    d.has_out.push_back(i < bytes.size());
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    d.next[i * n + d.cls[static_cast<uint8_t>(bytes[i])]] = static_cast<int32_t>(i + 1);
  }
  d.start = 0;
  return d;
}

// Automaton pieces by key (shared by every terminal that uses them; bounded).
absl::StatusOr<std::shared_ptr<const ByteDfa>> CachedPiece(const TermPiece& p, int max_states) {
  static std::mutex mu;
  static auto* cache = new absl::flat_hash_map<std::string, std::shared_ptr<const ByteDfa>>();
  TerminalSpec one;
  one.pieces.push_back(p);
  const std::string key = one.Key();
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache->find(key);
    if (it != cache->end()) return it->second;
  }
  auto ptr = std::make_shared<const ByteDfa>(
      EncodeCpDfa(*p.dfa, p.kind == TermPiece::Kind::kJsonContent, p.lone_surrogates));
  if (ptr->num_states() > max_states) {
    return absl::ResourceExhaustedError("terminal automaton too large");
  }
  std::lock_guard<std::mutex> lock(mu);
  if (cache->size() > 8192) cache->clear();
  cache->emplace(key, ptr);
  return ptr;
}

}  // namespace

absl::StatusOr<ByteDfa> BuildTerminal(const TerminalSpec& spec, int max_states) {
  std::vector<std::shared_ptr<const ByteDfa>> pieces;
  for (const TermPiece& p : spec.pieces) {
    switch (p.kind) {
      case TermPiece::Kind::kWs:
        pieces.push_back(std::make_shared<const ByteDfa>(WsChain(p.ws_max)));
        break;
      case TermPiece::Kind::kBytes:
        pieces.push_back(std::make_shared<const ByteDfa>(Fixed(p.bytes)));
        break;
      default: {
        auto d = CachedPiece(p, max_states);
        if (!d.ok()) return d.status();
        pieces.push_back(*d);
      }
    }
    if (pieces.back()->start < 0) return ByteDfa{};  // a piece matches nothing
  }
  if (pieces.size() == 1) return *pieces[0];
  // Common byte classes.
  std::array<int32_t, 256> cls{};
  int ncls = 1;
  for (const auto& d : pieces) {
    std::map<std::pair<int32_t, int32_t>, int32_t> ids;
    for (int b = 0; b < 256; ++b) {
      cls[b] = ids.emplace(std::pair{cls[b], static_cast<int32_t>(d->cls[b])},
                           static_cast<int32_t>(ids.size()))
                   .first->second;
    }
    ncls = static_cast<int>(ids.size());
  }
  std::vector<uint8_t> rep(ncls);
  for (int b = 255; b >= 0; --b) rep[cls[b]] = static_cast<uint8_t>(b);
  const size_t np = pieces.size();
  std::vector<int32_t> off(np + 1, 0);
  for (size_t i = 0; i < np; ++i) off[i + 1] = off[i] + pieces[i]->num_states();
  std::vector<uint8_t> nullable(np), tail_nullable(np + 1, 1);
  for (size_t i = 0; i < np; ++i) nullable[i] = pieces[i]->accept[pieces[i]->start];
  for (size_t i = np; i-- > 0;) tail_nullable[i] = tail_nullable[i + 1] && nullable[i];
  const int32_t total = off[np];
  std::vector<int32_t> next(static_cast<size_t>(total) * ncls, ByteDfa::kDead);
  std::vector<uint8_t> accept(total, 0);
  auto add_from = [&](int32_t g, size_t j, int32_t s) -> bool {  // piece j's state s into g
    const ByteDfa& d = *pieces[j];
    for (int c = 0; c < ncls; ++c) {
      const int32_t t = d.Step(s, rep[c]);
      if (t < 0) continue;
      int32_t& slot = next[static_cast<size_t>(g) * ncls + c];
      const int32_t target = off[j] + t;
      if (slot >= 0 && slot != target) return false;  // not deterministic: general path
      slot = target;
    }
    return true;
  };
  for (size_t i = 0; i < np; ++i) {
    const ByteDfa& d = *pieces[i];
    for (int32_t s = 0; s < d.num_states(); ++s) {
      const int32_t g = off[i] + s;
      if (!add_from(g, i, s)) return BuildTerminalNfa(spec, max_states);
      if (!d.accept[s]) continue;
      accept[g] = tail_nullable[i + 1];
      for (size_t j = i + 1; j < np; ++j) {
        if (!add_from(g, j, pieces[j]->start)) return BuildTerminalNfa(spec, max_states);
        if (!nullable[j]) break;
      }
    }
  }
  // Keep the states reachable from the start, numbered breadth first.
  ByteDfa out;
  out.ncls = ncls;
  for (int b = 0; b < 256; ++b) out.cls[b] = static_cast<uint8_t>(cls[b]);
  std::vector<int32_t> order(total, -1), bfs = {off[0] + pieces[0]->start};
  order[bfs[0]] = 0;
  for (size_t k = 0; k < bfs.size(); ++k) {
    for (int c = 0; c < ncls; ++c) {
      const int32_t t = next[static_cast<size_t>(bfs[k]) * ncls + c];
      if (t >= 0 && order[t] < 0) {
        order[t] = static_cast<int32_t>(bfs.size());
        bfs.push_back(t);
      }
    }
  }
  if (static_cast<int>(bfs.size()) > max_states) {
    return absl::ResourceExhaustedError("terminal automaton too large");
  }
  for (int32_t g : bfs) {
    bool out_any = false;
    for (int c = 0; c < ncls; ++c) {
      const int32_t t = next[static_cast<size_t>(g) * ncls + c];
      out.next.push_back(t >= 0 ? order[t] : ByteDfa::kDead);
      out_any |= t >= 0;
    }
    out.accept.push_back(accept[g]);
    out.has_out.push_back(out_any);
  }
  out.start = 0;
  return out;
}

}  // namespace phx::grammar
