// CpDfa construction by subset construction (Thompson NFA from an Rx expression, then
// determinized, trimmed and minimized) and by products (Intersect, Union): the CpDfaBuilder.
#include <algorithm>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/cpdfa.h"
#include "runtime/grammar/minimize.h"

namespace phx::grammar {
namespace {

constexpr uint32_t kAlphabetEnd = kEndMarker + 1;  // exclusive upper end of every alphabet

// Thompson NFA over code-point sets.
struct Nfa {
  struct State {
    std::vector<int32_t> eps;
    CharSet set;
    int32_t next = -1;  // target of `set`
  };
  std::vector<State> st;
  int32_t start = 0, accept = 0;
  int limit = 0;
  bool overflow = false;

  int32_t New() {
    if (static_cast<int>(st.size()) >= limit) overflow = true;
    st.emplace_back();
    return static_cast<int32_t>(st.size() - 1);
  }
  // Builds `id` between fresh states; returns {start, end}.
  std::pair<int32_t, int32_t> Build(const Rx& rx, Rx::Id id) {
    if (overflow) return {New(), New()};
    const Rx::Node& n = rx.node(id);
    switch (n.op) {
      case Rx::Op::kNothing: {
        return {New(), New()};
      }
      case Rx::Op::kEmpty: {
        int32_t a = New(), b = New();
        st[a].eps.push_back(b);
        return {a, b};
      }
      case Rx::Op::kSet: {
        int32_t a = New(), b = New();
        st[a].set = n.set;
        st[a].next = b;
        return {a, b};
      }
      case Rx::Op::kCat: {
        auto [s, e] = Build(rx, n.kids[0]);
        for (size_t i = 1; i < n.kids.size() && !overflow; ++i) {
          auto [s2, e2] = Build(rx, n.kids[i]);
          st[e].eps.push_back(s2);
          e = e2;
        }
        return {s, e};
      }
      case Rx::Op::kAlt: {
        int32_t a = New(), b = New();
        for (Rx::Id k : n.kids) {
          if (overflow) break;
          auto [s, e] = Build(rx, k);
          st[a].eps.push_back(s);
          st[e].eps.push_back(b);
        }
        return {a, b};
      }
      case Rx::Op::kRepeat: {
        int32_t a = New(), cur = a;
        for (int i = 0; i < n.min && !overflow; ++i) {
          auto [s, e] = Build(rx, n.kids[0]);
          st[cur].eps.push_back(s);
          cur = e;
        }
        int32_t end = New();
        if (n.max == Rx::kInf) {
          auto [s, e] = Build(rx, n.kids[0]);
          st[cur].eps.push_back(s);
          st[cur].eps.push_back(end);
          st[e].eps.push_back(s);
          st[e].eps.push_back(end);
        } else {
          for (int i = n.min; i < n.max && !overflow; ++i) {
            auto [s, e] = Build(rx, n.kids[0]);
            st[cur].eps.push_back(s);
            st[cur].eps.push_back(end);
            cur = e;
          }
          st[cur].eps.push_back(end);
        }
        return {a, end};
      }
    }
    return {New(), New()};
  }
};

struct VecHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    return absl::HashOf(absl::MakeConstSpan(v));
  }
};

}  // namespace

// Builds CpDfa objects (friend access).
class CpDfaBuilder {
 public:
  static absl::StatusOr<CpDfa> Determinize(const Nfa& nfa, int max_states) {
    // Alphabet: every boundary of every set.
    std::vector<uint32_t> pts = {0, kBeginMarker, kEndMarker};
    for (const auto& s : nfa.st) {
      for (const auto& r : s.set.ranges()) {
        pts.push_back(r.first);
        if (r.second + 1 < kAlphabetEnd) pts.push_back(r.second + 1);
      }
    }
    std::sort(pts.begin(), pts.end());
    pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
    CpDfa d;
    d.bounds_ = pts;
    const int nsym = static_cast<int>(pts.size());
    // Symbol ranges of each NFA state's set.
    std::vector<std::vector<std::pair<int, int>>> sym_ranges(nfa.st.size());
    for (size_t i = 0; i < nfa.st.size(); ++i) {
      for (const auto& r : nfa.st[i].set.ranges()) {
        const int a =
            static_cast<int>(std::lower_bound(pts.begin(), pts.end(), r.first) - pts.begin());
        const int b =
            static_cast<int>(std::upper_bound(pts.begin(), pts.end(), r.second) - pts.begin()) - 1;
        sym_ranges[i].push_back({a, b});
      }
    }
    std::vector<uint8_t> mark(nfa.st.size(), 0);
    std::vector<int32_t> stack;
    auto closure = [&](std::vector<int32_t>& set) {
      stack.assign(set.begin(), set.end());
      for (int32_t s : set) mark[s] = 1;
      while (!stack.empty()) {
        int32_t s = stack.back();
        stack.pop_back();
        for (int32_t t : nfa.st[s].eps) {
          if (!mark[t]) {
            mark[t] = 1;
            set.push_back(t);
            stack.push_back(t);
          }
        }
      }
      for (int32_t s : set) mark[s] = 0;
      // Keep only states that matter: with a set, or the accept state.
      set.erase(std::remove_if(set.begin(), set.end(),
                               [&](int32_t s) { return nfa.st[s].next < 0 && s != nfa.accept; }),
                set.end());
      std::sort(set.begin(), set.end());
    };
    absl::flat_hash_map<std::vector<int32_t>, int32_t, VecHash> ids;
    std::vector<std::vector<int32_t>> states;
    std::vector<int32_t> init = {nfa.start};
    closure(init);
    ids.emplace(init, 0);
    states.push_back(init);
    std::vector<std::vector<int32_t>> per_sym(nsym);
    for (size_t cur = 0; cur < states.size(); ++cur) {
      for (auto& v : per_sym) v.clear();
      const std::vector<int32_t> members = states[cur];
      for (int32_t s : members) {
        for (auto [a, b] : sym_ranges[s]) {
          for (int k = a; k <= b; ++k) per_sym[k].push_back(nfa.st[s].next);
        }
      }
      d.accept_.push_back(std::binary_search(members.begin(), members.end(), nfa.accept));
      for (int k = 0; k < nsym; ++k) {
        if (per_sym[k].empty()) {
          d.trans_.push_back(CpDfa::kDead);
          continue;
        }
        closure(per_sym[k]);
        auto it = ids.find(per_sym[k]);
        if (it == ids.end()) {
          if (static_cast<int>(states.size()) >= max_states) {
            return absl::ResourceExhaustedError(
                StrCat("regular expression needs more than ", max_states, " states"));
          }
          it = ids.emplace(per_sym[k], static_cast<int32_t>(states.size())).first;
          states.push_back(per_sym[k]);
        }
        d.trans_.push_back(it->second);
      }
    }
    d.start_ = 0;
    d.Trim();
    d.Minimize();
    return d;
  }

  // Product of two automata over the merged alphabet; `mode` 0: intersection, 1: union.
  static absl::StatusOr<CpDfa> Product(const CpDfa& a, const CpDfa& b, int mode, int max_states) {
    std::vector<uint32_t> pts = a.bounds_;
    pts.insert(pts.end(), b.bounds_.begin(), b.bounds_.end());
    std::sort(pts.begin(), pts.end());
    pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
    const int nsym = static_cast<int>(pts.size());
    std::vector<int> sa(nsym), sb(nsym);
    for (int k = 0; k < nsym; ++k) {
      sa[k] = a.SymbolOf(pts[k]);
      sb[k] = b.SymbolOf(pts[k]);
    }
    CpDfa d;
    d.bounds_ = pts;
    if ((mode == 0 && (a.empty() || b.empty())) || (a.empty() && b.empty()))
      return CpDfa::Nothing();
    std::map<std::pair<int32_t, int32_t>, int32_t> ids;
    std::vector<std::pair<int32_t, int32_t>> states = {{a.start_, b.start_}};
    ids[states[0]] = 0;
    for (size_t cur = 0; cur < states.size(); ++cur) {
      const auto [x, y] = states[cur];
      const bool ax = x >= 0 && a.accepting(x), by = y >= 0 && b.accepting(y);
      d.accept_.push_back(mode == 0 ? (ax && by) : (ax || by));
      for (int k = 0; k < nsym; ++k) {
        const int32_t nx = x >= 0 ? a.next(x, sa[k]) : CpDfa::kDead;
        const int32_t ny = y >= 0 ? b.next(y, sb[k]) : CpDfa::kDead;
        if ((mode == 0 && (nx < 0 || ny < 0)) || (nx < 0 && ny < 0)) {
          d.trans_.push_back(CpDfa::kDead);
          continue;
        }
        auto it = ids.find({nx, ny});
        if (it == ids.end()) {
          if (static_cast<int>(states.size()) >= max_states) {
            return absl::ResourceExhaustedError(
                StrCat("automaton product needs more than ", max_states, " states"));
          }
          it = ids.emplace(std::pair{nx, ny}, static_cast<int32_t>(states.size())).first;
          states.push_back({nx, ny});
        }
        d.trans_.push_back(it->second);
      }
    }
    d.start_ = 0;
    d.Trim();
    d.Minimize();
    return d;
  }
};

absl::StatusOr<CpDfa> CpDfa::FromRx(const Rx& rx, Rx::Id root, int max_states) {
  Nfa nfa;
  nfa.limit = max_states * 8;
  auto [s, e] = nfa.Build(rx, root);
  if (nfa.overflow) {
    return absl::ResourceExhaustedError("regular expression too large");
  }
  nfa.start = s;
  nfa.accept = e;
  return CpDfaBuilder::Determinize(nfa, max_states);
}

absl::StatusOr<CpDfa> CpDfa::FromPattern(const Rx& rx0, Rx::Id root, bool search, int max_states) {
  Rx rx = rx0;
  Rx::Id body;
  if (search) {
    Rx::Id any = rx.Star(rx.Set(CharSet::Range(0, kEndMarker)));
    body = rx.Cat({any, root, any});
  } else {
    body = rx.Cat({rx.Opt(rx.Char(kBeginMarker)), root, rx.Opt(rx.Char(kEndMarker))});
  }
  // Text w is accepted when "<begin> w <end>" is in L(body).
  auto marked = FromRx(rx, body, max_states);
  if (!marked.ok()) return marked.status();
  // Derive: text w is accepted when "<begin> w <end>" is; drop the marker transitions.
  CpDfa d = *std::move(marked);
  if (d.empty()) return d;
  const int begin_sym = d.SymbolOf(kBeginMarker), end_sym = d.SymbolOf(kEndMarker);
  const int32_t new_start = d.next(d.start_, begin_sym);
  std::vector<uint8_t> acc(d.accept_.size(), 0);
  for (int s = 0; s < d.num_states(); ++s) {
    const int32_t t = d.next(s, end_sym);
    acc[s] = t >= 0 && d.accepting(t);
  }
  d.accept_ = acc;
  for (int s = 0; s < d.num_states(); ++s) {
    for (int k = 0; k < d.num_symbols(); ++k) {
      if (d.bounds_[k] >= kBeginMarker)
        d.trans_[static_cast<size_t>(s) * d.num_symbols() + k] = kDead;
    }
  }
  d.start_ = new_start;
  d.Trim();
  d.Minimize();
  return d;
}

absl::StatusOr<CpDfa> CpDfa::Intersect(const CpDfa& a, const CpDfa& b, int max_states) {
  return CpDfaBuilder::Product(a, b, 0, max_states);
}

absl::StatusOr<CpDfa> CpDfa::Union(const CpDfa& a, const CpDfa& b, int max_states) {
  return CpDfaBuilder::Product(a, b, 1, max_states);
}

}  // namespace phx::grammar
