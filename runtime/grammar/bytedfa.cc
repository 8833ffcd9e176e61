#include "runtime/grammar/bytedfa.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/minimize.h"

namespace phx::grammar {

void Utf8Sequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq>* out) {
  if (lo > hi) return;
  // Surrogates are not scalar values.
  if (lo <= 0xDFFF && hi >= 0xD800) {
    if (lo < 0xD800) Utf8Sequences(lo, 0xD7FF, out);
    if (hi > 0xDFFF) Utf8Sequences(0xE000, hi, out);
    return;
  }
  for (uint32_t max : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= max && hi > max) {
      Utf8Sequences(lo, max, out);
      Utf8Sequences(max + 1, hi, out);
      return;
    }
  }
  if (hi <= 0x7F) {
    out->push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
    return;
  }
  for (int i = 1; i < 4; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        Utf8Sequences(lo, lo | m, out);
        Utf8Sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        Utf8Sequences(lo, (hi & ~m) - 1, out);
        Utf8Sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  auto enc = [](uint32_t c, uint8_t* b) {
    if (c < 0x800) {
      b[0] = 0xC0 | (c >> 6), b[1] = 0x80 | (c & 0x3F);
      return 2;
    }
    if (c < 0x10000) {
      b[0] = 0xE0 | (c >> 12), b[1] = 0x80 | ((c >> 6) & 0x3F), b[2] = 0x80 | (c & 0x3F);
      return 3;
    }
    b[0] = 0xF0 | (c >> 18), b[1] = 0x80 | ((c >> 12) & 0x3F);
    b[2] = 0x80 | ((c >> 6) & 0x3F), b[3] = 0x80 | (c & 0x3F);
    return 4;
  };
  uint8_t a[4], b[4];
  const int n = enc(lo, a);
  enc(hi, b);
  ByteSeq seq;
  for (int i = 0; i < n; ++i) seq.push_back({a[i], b[i]});
  out->push_back(std::move(seq));
}

namespace {

// Byte NFA with epsilon moves.
struct ByteNfa {
  struct Edge {
    uint8_t lo, hi;
    int32_t to;
  };
  struct State {
    std::vector<int32_t> eps;
    std::vector<Edge> edges;
  };
  std::vector<State> st;
  int limit = 1 << 20;
  bool overflow = false;

  int32_t New() {
    if (static_cast<int>(st.size()) >= limit) overflow = true;
    st.emplace_back();
    return static_cast<int32_t>(st.size() - 1);
  }
  void Eps(int32_t a, int32_t b) { st[a].eps.push_back(b); }
  void Range(int32_t a, uint8_t lo, uint8_t hi, int32_t b) { st[a].edges.push_back({lo, hi, b}); }
  void Seq(int32_t a, const ByteSeq& seq, int32_t b) {
    int32_t cur = a;
    for (size_t i = 0; i < seq.size(); ++i) {
      const int32_t nxt = i + 1 == seq.size() ? b : New();
      Range(cur, seq[i].first, seq[i].second, nxt);
      cur = nxt;
    }
  }
  void Bytes(int32_t a, std::string_view s, int32_t b) {
    ByteSeq seq;
    for (char c : s) seq.push_back({static_cast<uint8_t>(c), static_cast<uint8_t>(c)});
    if (seq.empty()) {
      Eps(a, b);
    } else {
      Seq(a, seq, b);
    }
  }
  void Utf8Set(int32_t a, const CharSet& set, int32_t b) {
    std::vector<ByteSeq> seqs;
    for (const auto& r : set.ranges()) {
      if (r.first > kMaxCodePoint) break;
      Utf8Sequences(r.first, std::min(r.second, kMaxCodePoint), &seqs);
    }
    for (const auto& s : seqs) Seq(a, s, b);
  }
  // Four hex digits (either case) for the values [lo, hi].
  void Hex4(int32_t a, uint32_t lo, uint32_t hi, int32_t b) {
    HexRange(a, lo, hi, 4, b);
  }
  void HexDigits(int32_t a, uint32_t lo, uint32_t hi, int32_t b) {
    // Digit values lo..hi as bytes.
    if (lo <= 9) Range(a, '0' + lo, '0' + std::min(hi, 9u), b);
    if (hi >= 10) {
      const uint32_t l = std::max(lo, 10u) - 10, h = hi - 10;
      Range(a, 'a' + l, 'a' + h, b);
      Range(a, 'A' + l, 'A' + h, b);
    }
  }
  void HexRange(int32_t a, uint32_t lo, uint32_t hi, int nd, int32_t b) {
    if (nd == 1) {
      HexDigits(a, lo, hi, b);
      return;
    }
    const uint32_t m = 1u << (4 * (nd - 1));
    const uint32_t lh = lo / m, hh = hi / m;
    if (lh == hh) {
      const int32_t mid = New();
      HexDigits(a, lh, lh, mid);
      HexRange(mid, lo % m, hi % m, nd - 1, b);
      return;
    }
    uint32_t first_full = lh, last_full = hh;
    if (lo % m != 0) {
      const int32_t mid = New();
      HexDigits(a, lh, lh, mid);
      HexRange(mid, lo % m, m - 1, nd - 1, b);
      first_full = lh + 1;
    }
    if (hi % m != m - 1) {
      const int32_t mid = New();
      HexDigits(a, hh, hh, mid);
      HexRange(mid, 0, hi % m, nd - 1, b);
      last_full = hh - 1;
    }
    if (first_full <= last_full && first_full <= hh) {
      const int32_t mid = New();
      HexDigits(a, first_full, last_full, mid);
      HexRange(mid, 0, m - 1, nd - 1, b);
    }
  }
  // JSON escapes "\uXXXX" (and surrogate pairs) for the code points in `set`, from the state
  // after the backslash.
  void UnicodeEscapes(int32_t esc, const CharSet& set, bool lone, int32_t b) {
    const int32_t u = New();
    Range(esc, 'u', 'u', u);
    CharSet bmp = set.Intersect(CharSet::Range(0, 0xFFFF));
    if (!lone) bmp = bmp.Intersect(CharSet::Scalars());
    for (const auto& r : bmp.ranges()) Hex4(u, r.first, r.second, b);
    const CharSet astral = set.Intersect(CharSet::Range(0x10000, kMaxCodePoint));
    for (const auto& r : astral.ranges()) {
      uint32_t c = r.first;
      while (c <= r.second) {
        const uint32_t v = c - 0x10000, hs = 0xD800 + (v >> 10);
        const uint32_t block_end = 0x10000 + ((v >> 10) << 10) + 0x3FF;
        const uint32_t e = std::min(block_end, r.second);
        if ((c & 0x3FF) == 0 && e == block_end) {
          // Full low-surrogate blocks: extend over consecutive high surrogates.
          uint32_t last = e;
          while (last + 0x400 <= r.second) last += 0x400;
          const uint32_t hs_end = 0xD800 + ((last - 0x10000) >> 10);
          const int32_t m1 = New(), m2 = New(), m3 = New();
          Hex4(u, hs, hs_end, m1);
          Range(m1, '\\', '\\', m2);
          Range(m2, 'u', 'u', m3);
          Hex4(m3, 0xDC00, 0xDFFF, b);
          c = last + 1;
        } else {
          const int32_t m1 = New(), m2 = New(), m3 = New();
          Hex4(u, hs, hs, m1);
          Range(m1, '\\', '\\', m2);
          Range(m2, 'u', 'u', m3);
          Hex4(m3, 0xDC00 + ((c - 0x10000) & 0x3FF), 0xDC00 + ((e - 0x10000) & 0x3FF), b);
          c = e + 1;
        }
        if (c == 0) break;
      }
    }
  }
  // The code points of `set` as the inside of a JSON string, from a to b. `esc` is the state
  // after a backslash from `a` (shared by the edges that leave `a`).
  void JsonSet(int32_t a, int32_t esc, const CharSet& set, bool lone, int32_t b) {
    CharSet raw = set.Intersect(CharSet::Scalars());
    raw = raw.Minus(CharSet::Range(0, 0x1F)).Minus(CharSet::Of('"')).Minus(CharSet::Of('\\'));
    Utf8Set(a, raw, b);
    static constexpr std::pair<uint32_t, char> kShort[] = {
        {'"', '"'}, {'\\', '\\'}, {'/', '/'}, {0x08, 'b'},
        {0x0C, 'f'}, {0x0A, 'n'}, {0x0D, 'r'}, {0x09, 't'}};
    for (auto [cp, ch] : kShort) {
      if (set.Contains(cp)) Range(esc, ch, ch, b);
    }
    UnicodeEscapes(esc, set, lone, b);
  }
};

struct VecHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    return absl::HashOf(absl::MakeConstSpan(v));
  }
};

// Embeds `d` between a and b: a is d's start, every accepting state has an epsilon to b.
void Embed(ByteNfa& nfa, const CpDfa& d, bool json, bool lone, int32_t a, int32_t b) {
  if (d.empty()) return;
  const int n = d.num_states();
  std::vector<int32_t> ids(n);
  for (int s = 0; s < n; ++s) ids[s] = s == d.start() ? a : nfa.New();
  for (int s = 0; s < n && !nfa.overflow; ++s) {
    if (d.accepting(s)) nfa.Eps(ids[s], b);
    std::map<int32_t, CharSet> edges;
    for (int k = 0; k < d.num_symbols(); ++k) {
      const int32_t t = d.next(s, k);
      if (t >= 0) edges[t].Add(d.sym_lo(k), std::min(d.sym_hi(k), kMaxCodePoint));
    }
    if (edges.empty()) continue;
    if (!json) {
      for (const auto& [t, set] : edges) nfa.Utf8Set(ids[s], set, ids[t]);
      continue;
    }
    const int32_t esc = nfa.New();
    nfa.Range(ids[s], '\\', '\\', esc);
    for (const auto& [t, set] : edges) nfa.JsonSet(ids[s], esc, set, lone, ids[t]);
  }
}

}  // namespace

TerminalSpec& TerminalSpec::Ws(int max) {
  TermPiece p;
  p.kind = TermPiece::Kind::kWs;
  p.ws_max = max;
  pieces.push_back(std::move(p));
  return *this;
}

TerminalSpec& TerminalSpec::Bytes(std::string_view b) {
  if (!pieces.empty() && pieces.back().kind == TermPiece::Kind::kBytes) {
    pieces.back().bytes.append(b);
    return *this;
  }
  TermPiece p;
  p.kind = TermPiece::Kind::kBytes;
  p.bytes = std::string(b);
  pieces.push_back(std::move(p));
  return *this;
}

TerminalSpec& TerminalSpec::Utf8(std::shared_ptr<const CpDfa> d) {
  TermPiece p;
  p.kind = TermPiece::Kind::kUtf8;
  p.dfa = std::move(d);
  pieces.push_back(std::move(p));
  return *this;
}

TerminalSpec& TerminalSpec::JsonContent(std::shared_ptr<const CpDfa> d, bool lone_surrogates) {
  TermPiece p;
  p.kind = TermPiece::Kind::kJsonContent;
  p.dfa = std::move(d);
  p.lone_surrogates = lone_surrogates;
  pieces.push_back(std::move(p));
  return *this;
}

std::string TerminalSpec::Key() const {
  std::string k;
  for (const auto& p : pieces) {
    switch (p.kind) {
      case TermPiece::Kind::kWs:
        k += StrCat("<ws", p.ws_max, ">");
        break;
      case TermPiece::Kind::kBytes:
        k += StrCat("<b", p.bytes.size(), ":", p.bytes, ">");
        break;
      case TermPiece::Kind::kUtf8:
        k += "<u:" + p.dfa->Key() + ">";
        break;
      case TermPiece::Kind::kJsonContent:
        k += StrCat("<j", p.lone_surrogates ? "l" : "", ":", p.dfa->Key(), ">");
        break;
    }
  }
  return k;
}

absl::StatusOr<ByteDfa> BuildTerminalNfa(const TerminalSpec& spec, int max_states) {
  ByteNfa nfa;
  nfa.limit = max_states * 16;
  const int32_t start = nfa.New();
  int32_t cur = start;
  for (const auto& p : spec.pieces) {
    const int32_t nxt = nfa.New();
    switch (p.kind) {
      case TermPiece::Kind::kWs: {
        int32_t c = cur;
        for (int i = 0; i < p.ws_max; ++i) {
          const int32_t n2 = nfa.New();
          for (char w : {' ', '\t', '\n', '\r'}) nfa.Range(c, w, w, n2);
          nfa.Eps(c, nxt);
          c = n2;
        }
        nfa.Eps(c, nxt);
        break;
      }
      case TermPiece::Kind::kBytes:
        nfa.Bytes(cur, p.bytes, nxt);
        break;
      case TermPiece::Kind::kUtf8:
      case TermPiece::Kind::kJsonContent:
        Embed(nfa, *p.dfa, p.kind == TermPiece::Kind::kJsonContent, p.lone_surrogates, cur, nxt);
        break;
    }
    if (nfa.overflow) return absl::ResourceExhaustedError("terminal automaton too large");
    cur = nxt;
  }
  const int32_t accept = cur;

  // Byte classes from every edge boundary.
  std::array<uint8_t, 257> cut{};
  cut[0] = 1;
  for (const auto& s : nfa.st) {
    for (const auto& e : s.edges) {
      cut[e.lo] = 1;
      cut[e.hi + 1] = 1;
    }
  }
  ByteDfa d;
  int ncls = 0;
  for (int b = 0; b < 256; ++b) {
    if (cut[b]) ++ncls;
    d.cls[b] = static_cast<uint8_t>(ncls - 1);
  }
  d.ncls = ncls;

  std::vector<uint8_t> mark(nfa.st.size(), 0);
  std::vector<int32_t> stack;
  auto closure = [&](std::vector<int32_t>& set) {
    stack.assign(set.begin(), set.end());
    for (int32_t s : set) mark[s] = 1;
    while (!stack.empty()) {
      const int32_t s = stack.back();
      stack.pop_back();
      for (int32_t t : nfa.st[s].eps) {
        if (!mark[t]) mark[t] = 1, set.push_back(t), stack.push_back(t);
      }
    }
    for (int32_t s : set) mark[s] = 0;
    set.erase(std::remove_if(set.begin(), set.end(),
                             [&](int32_t s) { return nfa.st[s].edges.empty() && s != accept; }),
              set.end());
    std::sort(set.begin(), set.end());
  };
  absl::flat_hash_map<std::vector<int32_t>, int32_t, VecHash> ids;
  std::vector<std::vector<int32_t>> states;
  std::vector<int32_t> init = {start};
  closure(init);
  ids.emplace(init, 0);
  states.push_back(init);
  std::vector<std::vector<int32_t>> per(ncls);
  for (size_t cur_state = 0; cur_state < states.size(); ++cur_state) {
    for (auto& v : per) v.clear();
    const std::vector<int32_t> members = states[cur_state];
    for (int32_t s : members) {
      for (const auto& e : nfa.st[s].edges) {
        for (int c = d.cls[e.lo]; c <= d.cls[e.hi]; ++c) per[c].push_back(e.to);
      }
    }
    d.accept.push_back(std::binary_search(members.begin(), members.end(), accept));
    for (int c = 0; c < ncls; ++c) {
      if (per[c].empty()) {
        d.next.push_back(ByteDfa::kDead);
        continue;
      }
      std::sort(per[c].begin(), per[c].end());
      per[c].erase(std::unique(per[c].begin(), per[c].end()), per[c].end());
      closure(per[c]);
      auto it = ids.find(per[c]);
      if (it == ids.end()) {
        if (static_cast<int>(states.size()) >= max_states) {
          return absl::ResourceExhaustedError(
              StrCat("terminal automaton needs more than ", max_states, " states"));
        }
        it = ids.emplace(per[c], static_cast<int32_t>(states.size())).first;
        states.push_back(per[c]);
      }
      d.next.push_back(it->second);
    }
  }
  d.start = 0;
  {
    // Trim: reachable from start and co-reachable to accept.
    const int n = d.num_states();
    std::vector<std::vector<int32_t>> rev(n);
    for (int s = 0; s < n; ++s) {
      for (int c = 0; c < ncls; ++c) {
        const int32_t t = d.next[static_cast<size_t>(s) * ncls + c];
        if (t >= 0) rev[t].push_back(s);
      }
    }
    std::vector<uint8_t> live(n, 0);
    std::vector<int32_t> q;
    for (int s = 0; s < n; ++s) {
      if (d.accept[s]) live[s] = 1, q.push_back(s);
    }
    for (size_t i = 0; i < q.size(); ++i) {
      for (int32_t p : rev[q[i]]) {
        if (!live[p]) live[p] = 1, q.push_back(p);
      }
    }
    // Minimize the live states (reachable ones: the subset construction only makes those).
    std::vector<int32_t> live_id(n, -1);
    int nl = 0;
    for (int s = 0; s < n; ++s) {
      if (live[s]) live_id[s] = nl++;
    }
    std::vector<int32_t> lt(static_cast<size_t>(nl) * ncls, ByteDfa::kDead);
    std::vector<uint8_t> la(nl, 0);
    for (int s = 0; s < n; ++s) {
      if (!live[s]) continue;
      la[live_id[s]] = d.accept[s];
      for (int c = 0; c < ncls; ++c) {
        const int32_t t = d.next[static_cast<size_t>(s) * ncls + c];
        if (t >= 0 && live[t]) lt[static_cast<size_t>(live_id[s]) * ncls + c] = live_id[t];
      }
    }
    std::vector<int32_t> blk;
    const int ncl = nl > 0 ? MinimizeBlocks(nl, ncls, lt, la, &blk) : 0;
    std::vector<int32_t> cls(n, -1);
    for (int s = 0; s < n; ++s) {
      if (live[s]) cls[s] = blk[live_id[s]];
    }
    ByteDfa out;
    out.cls = d.cls;
    out.ncls = ncls;
    if (!live[d.start]) return out;  // empty language
    // Renumber classes in BFS order from the start (deterministic layout).
    std::vector<int32_t> order(std::max(ncl, 0), -1);
    std::vector<int32_t> rep_state(std::max(ncl, 0), -1);
    for (int s = 0; s < n; ++s) {
      if (cls[s] >= 0 && rep_state[cls[s]] < 0) rep_state[cls[s]] = s;
    }
    std::vector<int32_t> bfs = {cls[d.start]};
    order[cls[d.start]] = 0;
    for (size_t i = 0; i < bfs.size(); ++i) {
      const int s = rep_state[bfs[i]];
      for (int c = 0; c < ncls; ++c) {
        const int32_t t = d.next[static_cast<size_t>(s) * ncls + c];
        if (t >= 0 && cls[t] >= 0 && order[cls[t]] < 0) {
          order[cls[t]] = static_cast<int32_t>(bfs.size());
          bfs.push_back(cls[t]);
        }
      }
    }
    const int m = static_cast<int>(bfs.size());
    out.next.assign(static_cast<size_t>(m) * ncls, ByteDfa::kDead);
    out.accept.assign(m, 0);
    out.has_out.assign(m, 0);
    for (int i = 0; i < m; ++i) {
      const int s = rep_state[bfs[i]];
      out.accept[i] = d.accept[s];
      for (int c = 0; c < ncls; ++c) {
        const int32_t t = d.next[static_cast<size_t>(s) * ncls + c];
        if (t >= 0 && cls[t] >= 0) {
          out.next[static_cast<size_t>(i) * ncls + c] = order[cls[t]];
          out.has_out[i] = 1;
        }
      }
    }
    out.start = 0;
    return out;
  }
}

ByteDfa WithoutEmpty(const ByteDfa& d) {
  if (d.start < 0 || !d.accept[d.start]) return d;
  ByteDfa out = d;
  const int32_t ns = d.num_states();
  for (int c = 0; c < d.ncls; ++c) out.next.push_back(d.next[static_cast<size_t>(d.start) * d.ncls + c]);
  out.accept.push_back(0);
  out.has_out.push_back(d.has_out[d.start]);
  out.start = ns;
  if (!out.has_out[ns]) out.start = ByteDfa::kDead;
  return out;
}

bool ByteDfa::Matches(std::string_view bytes) const {
  int32_t s = start;
  for (char c : bytes) {
    if (s < 0) return false;
    s = Step(s, static_cast<uint8_t>(c));
  }
  return s >= 0 && accept[s];
}

}  // namespace phx::grammar
