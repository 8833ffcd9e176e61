// CpDfa: direct constructions (tables, length-bounded strings, literal sets), complement,
// queries, canonical keys, trimming and minimization (cpdfa_build.cc: subset construction
// and products).
#include "runtime/grammar/cpdfa.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/minimize.h"

namespace phx::grammar {
namespace {

constexpr uint32_t kAlphabetEnd = kEndMarker + 1;  // exclusive upper end of every alphabet

}  // namespace

CpDfa CpDfa::FromTable(std::vector<uint32_t> bounds, std::vector<int32_t> trans,
                       std::vector<uint8_t> accept, int32_t start) {
  CpDfa d;
  d.bounds_ = std::move(bounds);
  d.trans_ = std::move(trans);
  d.accept_ = std::move(accept);
  d.start_ = start;
  d.Trim();
  d.Minimize();
  return d;
}

CpDfa CpDfa::Nothing() {
  CpDfa d;
  d.start_ = kDead;
  return d;
}

CpDfa CpDfa::Strings(const CharSet& chars, int64_t min, int64_t max) {
  CpDfa d;
  std::vector<uint32_t> pts = {0, kBeginMarker};
  for (const auto& r : chars.ranges()) {
    pts.push_back(r.first);
    pts.push_back(r.second + 1);
  }
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  d.bounds_ = pts;
  const int nsym = static_cast<int>(pts.size());
  const int64_t n = max >= 0 ? max + 1 : min + 1;  // states: count so far (saturating at min)
  for (int64_t s = 0; s < n; ++s) {
    d.accept_.push_back(s >= min);
    for (int k = 0; k < nsym; ++k) {
      int32_t t = kDead;
      if (chars.Contains(pts[k])) {
        if (max >= 0) {
          t = s + 1 <= max ? static_cast<int32_t>(s + 1) : kDead;
        } else {
          t = static_cast<int32_t>(std::min(s + 1, min));
        }
      }
      d.trans_.push_back(t);
    }
  }
  d.start_ = 0;
  d.Trim();
  return d;
}

CpDfa CpDfa::Literals(const std::vector<std::string>& words) {
  // A trie over the words' code points, then trimmed and minimized (FromTable): the same
  // automaton as the alternation of the literals by subset construction, without the NFA. A
  // word that is not UTF-8 matches nothing (as Rx::Literal).
  std::vector<std::vector<uint32_t>> cps;
  std::vector<uint32_t> pts = {0, kBeginMarker};
  for (const auto& w : words) {
    std::vector<uint32_t> word;
    bool ok = true;
    for (size_t i = 0; i < w.size() && ok;) {
      const auto c = static_cast<uint8_t>(w[i]);
      uint32_t cp;
      int n;
      if (c < 0x80) {
        cp = c, n = 1;
      } else if ((c & 0xE0) == 0xC0) {
        cp = c & 0x1F, n = 2;
      } else if ((c & 0xF0) == 0xE0) {
        cp = c & 0x0F, n = 3;
      } else if ((c & 0xF8) == 0xF0) {
        cp = c & 0x07, n = 4;
      } else {
        ok = false;
        break;
      }
      if (i + n > w.size()) {
        ok = false;
        break;
      }
      for (int k = 1; k < n && ok; ++k) {
        const auto cc = static_cast<uint8_t>(w[i + k]);
        ok = (cc & 0xC0) == 0x80;
        cp = (cp << 6) | (cc & 0x3F);
      }
      ok = ok && cp < kBeginMarker;
      word.push_back(cp);
      pts.push_back(cp);
      pts.push_back(cp + 1);
      i += n;
    }
    if (ok) cps.push_back(std::move(word));
  }
  if (cps.empty()) return Nothing();
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  const size_t nsym = pts.size();
  std::vector<int32_t> trans(nsym, kDead);
  std::vector<uint8_t> accept(1, 0);
  for (const auto& word : cps) {
    int32_t s = 0;
    for (uint32_t cp : word) {
      const size_t k = std::upper_bound(pts.begin(), pts.end(), cp) - pts.begin() - 1;
      int32_t t = trans[static_cast<size_t>(s) * nsym + k];
      if (t == kDead) {
        t = static_cast<int32_t>(accept.size());
        trans[static_cast<size_t>(s) * nsym + k] = t;
        accept.push_back(0);
        trans.resize(trans.size() + nsym, kDead);
      }
      s = t;
    }
    accept[s] = 1;
  }
  if (cps.size() == 1) {
    // One word: a chain, already trimmed and minimal.
    CpDfa d;
    d.bounds_ = std::move(pts);
    d.trans_ = std::move(trans);
    d.accept_ = std::move(accept);
    d.start_ = 0;
    return d;
  }
  return FromTable(std::move(pts), std::move(trans), std::move(accept), 0);
}

CpDfa CpDfa::Complement(const CharSet& universe) const {
  // Refine the alphabet with the universe's boundaries, complete with a sink, flip.
  std::vector<uint32_t> pts = bounds_;
  for (const auto& r : universe.ranges()) {
    pts.push_back(r.first);
    pts.push_back(r.second + 1);
  }
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  while (!pts.empty() && pts.back() >= kAlphabetEnd) pts.pop_back();
  const int nsym = static_cast<int>(pts.size());
  const int n = empty() ? 0 : num_states();
  CpDfa d;
  d.bounds_ = pts;
  const int32_t sink = n;
  for (int s = 0; s <= n; ++s) {
    d.accept_.push_back(s == sink ? 1 : !accepting(s));
    for (int k = 0; k < nsym; ++k) {
      if (!universe.Contains(pts[k])) {
        d.trans_.push_back(kDead);
      } else if (s == sink) {
        d.trans_.push_back(sink);
      } else {
        const int32_t t = next(s, SymbolOf(pts[k]));
        d.trans_.push_back(t < 0 ? sink : t);
      }
    }
  }
  d.start_ = empty() ? sink : start_;
  d.Trim();
  d.Minimize();
  return d;
}

uint32_t CpDfa::sym_hi(int sym) const {
  return (sym + 1 < num_symbols() ? bounds_[sym + 1] : kAlphabetEnd) - 1;
}

int CpDfa::SymbolOf(uint32_t cp) const {
  return static_cast<int>(std::upper_bound(bounds_.begin(), bounds_.end(), cp) - bounds_.begin()) -
         1;
}

CharSet CpDfa::Edge(int s, int t) const {
  CharSet set;
  for (int k = 0; k < num_symbols(); ++k) {
    if (next(s, k) == t) set.Add(sym_lo(k), std::min(sym_hi(k), kMaxCodePoint));
  }
  return set;
}

bool CpDfa::LiveWithin(const CharSet& chars) const {
  const auto& r = chars.ranges();
  for (int k = 0; k < num_symbols(); ++k) {
    bool live = false;
    for (int s = 0; s < num_states() && !live; ++s) live = next(s, k) >= 0;
    if (!live) continue;
    const uint32_t lo = sym_lo(k), hi = sym_hi(k);
    auto it = std::upper_bound(r.begin(), r.end(), std::make_pair(lo, ~uint32_t{0}));
    if (it == r.begin() || std::prev(it)->second < hi) return false;
  }
  return true;
}

bool CpDfa::Matches(std::string_view utf8) const {
  if (empty()) return false;
  Rx rx;
  Rx::Id lit = rx.Literal(utf8);
  if (lit == rx.Nothing()) return false;
  int32_t s = start_;
  const auto& n = rx.node(lit);
  std::vector<Rx::Id> kids = n.op == Rx::Op::kCat ? n.kids : std::vector<Rx::Id>{};
  if (n.op == Rx::Op::kSet) kids = {lit};
  for (Rx::Id k : kids) {
    s = next(s, SymbolOf(rx.node(k).set.ranges()[0].first));
    if (s < 0) return false;
  }
  return accepting(s);
}

int64_t CpDfa::MinLength() const {
  if (empty()) return -1;
  std::vector<int64_t> dist(num_states(), -1);
  std::vector<int32_t> q = {start_};
  dist[start_] = 0;
  for (size_t i = 0; i < q.size(); ++i) {
    if (accepting(q[i])) return dist[q[i]];
    for (int k = 0; k < num_symbols(); ++k) {
      const int32_t t = next(q[i], k);
      if (t >= 0 && dist[t] < 0) {
        dist[t] = dist[q[i]] + 1;
        q.push_back(t);
      }
    }
  }
  return -1;
}

int64_t CpDfa::MaxLength() const {
  if (empty()) return -1;
  // Longest path in a DAG (trimmed: any cycle means unbounded).
  const int n = num_states();
  std::vector<int> color(n, 0);
  std::vector<int64_t> best(n, 0);
  std::vector<std::pair<int32_t, int>> stack = {{start_, 0}};
  color[start_] = 1;
  while (!stack.empty()) {
    auto& [s, k] = stack.back();
    if (k < num_symbols()) {
      const int32_t t = next(s, k++);
      if (t < 0) continue;
      if (color[t] == 1) return -1;
      if (color[t] == 0) {
        color[t] = 1;
        stack.push_back({t, 0});
      }
      continue;
    }
    int64_t b = 0;
    for (int kk = 0; kk < num_symbols(); ++kk) {
      const int32_t t = next(s, kk);
      if (t >= 0) b = std::max(b, best[t] + 1);
    }
    best[s] = b;
    color[s] = 2;
    stack.pop_back();
  }
  return best[start_];
}

std::string CpDfa::Key() const {
  if (auto k = std::atomic_load(&key_)) return *k;
  std::string key = KeyUncached();
  std::atomic_store(&key_, std::make_shared<const std::string>(key));
  return key;
}

std::string CpDfa::KeyUncached() const {
  if (empty()) return "dfa:none";
  // States renumbered in BFS order from the start; transitions as merged edge sets.
  const int n = num_states();
  std::vector<int32_t> order(n, -1);
  std::vector<int32_t> q = {start_};
  order[start_] = 0;
  for (size_t i = 0; i < q.size(); ++i) {
    for (int k = 0; k < num_symbols(); ++k) {
      const int32_t t = next(q[i], k);
      if (t >= 0 && order[t] < 0) {
        order[t] = static_cast<int32_t>(q.size());
        q.push_back(t);
      }
    }
  }
  std::string key = "dfa:";
  std::vector<std::pair<int32_t, CharSet>> edges;  // by target order
  for (int32_t s : q) {
    key += accepting(s) ? "A" : "N";
    edges.clear();
    for (int k = 0; k < num_symbols(); ++k) {
      const int32_t t = next(s, k);
      if (t < 0) continue;
      auto it = std::find_if(edges.begin(), edges.end(),
                             [&](const auto& e) { return e.first == order[t]; });
      if (it == edges.end()) {
        edges.push_back({order[t], CharSet()});
        it = edges.end() - 1;
      }
      it->second.Add(sym_lo(k), sym_hi(k));
    }
    std::sort(edges.begin(), edges.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [t, set] : edges) {
      key += std::to_string(t);
      key += set.Key();
    }
    key += ";";
  }
  return key;
}

void CpDfa::Trim() {
  key_.reset();
  if (start_ < 0) return;
  const int n = num_states(), k = num_symbols();
  // Reachable from start.
  std::vector<uint8_t> reach(n, 0);
  std::vector<int32_t> q = {start_};
  reach[start_] = 1;
  for (size_t i = 0; i < q.size(); ++i) {
    for (int s = 0; s < k; ++s) {
      const int32_t t = next(q[i], s);
      if (t >= 0 && !reach[t]) reach[t] = 1, q.push_back(t);
    }
  }
  // Co-reachable: can reach an accepting state.
  std::vector<std::vector<int32_t>> rev(n);
  for (int s = 0; s < n; ++s) {
    for (int c = 0; c < k; ++c) {
      const int32_t t = next(s, c);
      if (t >= 0) rev[t].push_back(s);
    }
  }
  std::vector<uint8_t> live(n, 0);
  q.clear();
  for (int s = 0; s < n; ++s) {
    if (accepting(s)) live[s] = 1, q.push_back(s);
  }
  for (size_t i = 0; i < q.size(); ++i) {
    for (int32_t p : rev[q[i]]) {
      if (!live[p]) live[p] = 1, q.push_back(p);
    }
  }
  std::vector<int32_t> remap(n, kDead);
  int32_t m = 0;
  for (int s = 0; s < n; ++s) {
    if (reach[s] && live[s]) remap[s] = m++;
  }
  if (remap[start_] < 0) {
    *this = Nothing();
    return;
  }
  std::vector<int32_t> trans;
  std::vector<uint8_t> acc;
  trans.reserve(static_cast<size_t>(m) * k);
  for (int s = 0; s < n; ++s) {
    if (remap[s] < 0) continue;
    acc.push_back(accept_[s]);
    for (int c = 0; c < k; ++c) {
      const int32_t t = next(s, c);
      trans.push_back(t >= 0 ? remap[t] : kDead);
    }
  }
  start_ = remap[start_];
  trans_ = std::move(trans);
  accept_ = std::move(acc);
}

void CpDfa::Minimize() {
  key_.reset();
  if (start_ < 0) return;
  const int n = num_states(), k = num_symbols();
  std::vector<int32_t> block;
  const int nb = MinimizeBlocks(n, k, trans_, accept_, &block);
  if (nb == n) return;
  std::vector<int32_t> trans(static_cast<size_t>(nb) * k, kDead);
  std::vector<uint8_t> acc(nb, 0);
  for (int s = 0; s < n; ++s) {
    acc[block[s]] = accept_[s];
    for (int c = 0; c < k; ++c) {
      const int32_t t = next(s, c);
      trans[static_cast<size_t>(block[s]) * k + c] = t >= 0 ? block[t] : kDead;
    }
  }
  start_ = block[start_];
  trans_ = std::move(trans);
  accept_ = std::move(acc);
}

}  // namespace phx::grammar
