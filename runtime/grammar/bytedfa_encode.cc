// Direct byte encodings of code-point automata: each code-point state gets a byte state, and
// the bytes of a character (UTF-8, or a JSON escape: \n, \u00e9, surrogate pairs) lead through
// shared decision states to the target. Ranges of code points that all go to one target share
// one decision state, so "any character" costs a handful of states.
#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "runtime/grammar/bytedfa.h"

namespace phx::grammar {
namespace {

class Encoder {
 public:
  Encoder(const CpDfa& d, bool json, bool lone) : d_(d), json_(json), lone_(lone) {}

  ByteDfa Run() {
    const int n = d_.num_states();
    for (int s = 0; s < n; ++s) NewState();  // byte state s stands for code-point state s
    for (int s = 0; s < n; ++s) Build(s);
    return Finish();
  }

 private:
  static constexpr int32_t kDead = -1;

  int32_t NewState() {
    rows_.emplace_back();
    rows_.back().fill(kDead);
    return static_cast<int32_t>(rows_.size() - 1);
  }
  int32_t Target(uint32_t cp) const {
    if (cp >= 0xD800 && cp <= 0xDFFF) return lone_ ? Target(0xFFFD) : kDead;
    return d_.next(cur_, d_.SymbolOf(cp));
  }
  // The single target of every code point in [lo, hi] (no surrogates), or -2 if they differ.
  int32_t Uniform(uint32_t lo, uint32_t hi) const {
    int sym = d_.SymbolOf(lo);
    const int32_t t = d_.next(cur_, sym);
    while (d_.sym_hi(sym) < hi) {
      ++sym;
      if (d_.next(cur_, sym) != t) return -2;
    }
    return t;
  }
  // Decision state for code points [lo, lo + 64^level) given by continuation bytes.
  int32_t Cont(uint32_t lo, int level) {
    const uint32_t size = 1u << (6 * level);
    const int32_t u = Uniform(lo, lo + size - 1);
    std::vector<int32_t> key;
    if (u != -2) {
      if (u == kDead) return kDead;
      const uint64_t ukey = (uint64_t{static_cast<uint32_t>(level)} << 32) | static_cast<uint32_t>(u);
      auto it = uniform_.find(ukey);
      if (it != uniform_.end()) return it->second;
      const int32_t st = NewState();
      uniform_.emplace(ukey, st);
      const int32_t child = level == 1 ? u : Cont(lo, level - 1);
      for (uint32_t i = 0; i < 64; ++i) rows_[st][0x80 + i] = child;
      return st;
    } else {
      key.push_back(-20 - level);
      for (uint32_t i = 0; i < 64; ++i) {
        key.push_back(level == 1 ? Target(lo + i) : Cont(lo + i * (size / 64), level - 1));
      }
    }
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    const int32_t st = NewState();
    memo_.emplace(key, st);
    for (uint32_t i = 0; i < 64; ++i) {
      const int32_t t = u != -2 ? (level == 1 ? u : Cont(lo + i * (size / 64), level - 1))
                                : key[1 + i];
      rows_[st][0x80 + i] = t;
    }
    return st;
  }
  // What "\u" followed by hex digits means. kBmp: the value is a character (a high surrogate
  // continues with a low one); kLow: a low surrogate after the high one that gave `base`.
  enum Mode { kBmp, kLow };
  // The single result of every value in [lo, hi], or -2.
  int32_t HexUniform(uint32_t lo, uint32_t hi, Mode mode, uint32_t base) {
    if (mode == kLow) {
      if (lo >= 0xDC00 && hi <= 0xDFFF) return Uniform(base + lo - 0xDC00, base + hi - 0xDC00);
      if (hi < 0xDC00 || lo > 0xDFFF) return kDead;
      return -2;
    }
    if (hi < 0xD800 || lo > 0xDFFF) return Uniform(lo, hi);
    if (lone_ && lo >= 0xD800 && hi <= 0xDFFF) return Target(0xFFFD);
    if (lo >= 0xDC00 && hi <= 0xDFFF) return kDead;
    if (lo >= 0xD800 && hi <= 0xDBFF) {
      // High surrogates: uniform when their characters all go to one target.
      const uint32_t b0 = 0x10000 + ((lo - 0xD800) << 10), b1 = 0x10000 + ((hi - 0xD800) << 10);
      const int32_t t = Uniform(b0, b1 + 0x3FF);
      if (t == -2) return -2;
      return HighSurrogate(lo);
    }
    return -2;
  }
  int32_t HexLeaf(uint32_t v, Mode mode, uint32_t base) {
    if (mode == kBmp && !lone_ && v >= 0xD800 && v <= 0xDBFF) return HighSurrogate(v);
    return HexUniform(v, v, mode, base);  // a single value is uniform
  }
  int32_t Hex(uint32_t lo, int digits, Mode mode, uint32_t base) {
    const uint32_t size = 1u << (4 * digits);
    const int32_t u = HexUniform(lo, lo + size - 1, mode, base);
    std::vector<int32_t> kids(16);
    if (u != -2) {
      if (u == kDead) return kDead;
      if (digits == 1) {
        kids.assign(16, u);
      } else {
        const int32_t child = Hex(lo, digits - 1, mode, base);  // same uniform result
        kids.assign(16, child);
      }
    } else {
      for (uint32_t i = 0; i < 16; ++i) {
        kids[i] = digits == 1 ? HexLeaf(lo + i, mode, base)
                              : Hex(lo + i * (size / 16), digits - 1, mode, base);
      }
    }
    if (std::all_of(kids.begin(), kids.end(), [](int32_t k) { return k == kDead; })) return kDead;
    std::vector<int32_t> key = {-100 - digits};
    key.insert(key.end(), kids.begin(), kids.end());
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    const int32_t st = NewState();
    memo_.emplace(key, st);
    for (uint32_t i = 0; i < 16; ++i) {
      if (i < 10) {
        rows_[st]['0' + i] = kids[i];
      } else {
        rows_[st]['a' + i - 10] = kids[i];
        rows_[st]['A' + i - 10] = kids[i];
      }
    }
    return st;
  }

  void Build(int s) {
    cur_ = s;
    // Raw characters (JSON strings: not '"', '\\' or controls).
    for (uint32_t b = 0; b < 0x80; ++b) {
      if (json_ && (b < 0x20 || b == '"' || b == '\\')) continue;
      rows_[s][b] = Target(b);
    }
    for (uint32_t lead = 0xC2; lead <= 0xDF; ++lead) rows_[s][lead] = Cont((lead & 0x1F) << 6, 1);
    for (uint32_t lead = 0xE0; lead <= 0xEF; ++lead) {
      const uint32_t base = (lead & 0x0F) << 12;
      // Second-byte limits: E0 needs A0-BF, ED 80-9F (no surrogates).
      const uint32_t lo_blk = lead == 0xE0 ? 0x20 : 0, hi_blk = lead == 0xED ? 0x1F : 0x3F;
      rows_[s][lead] = Lead(base, 1, lo_blk, hi_blk);
    }
    for (uint32_t lead = 0xF0; lead <= 0xF4; ++lead) {
      const uint32_t base = (lead & 0x07) << 18;
      const uint32_t lo_blk = lead == 0xF0 ? 0x10 : 0, hi_blk = lead == 0xF4 ? 0x0F : 0x3F;
      rows_[s][lead] = Lead(base, 2, lo_blk, hi_blk);
    }
    if (!json_) return;
    // Escapes.
    const int32_t esc = NewState();
    bool any_esc = false;
    static constexpr std::pair<uint32_t, char> kShort[] = {
        {'"', '"'}, {'\\', '\\'}, {'/', '/'}, {0x08, 'b'},
        {0x0C, 'f'}, {0x0A, 'n'}, {0x0D, 'r'}, {0x09, 't'}};
    for (auto [cp, ch] : kShort) {
      const int32_t t = Target(cp);
      if (t != kDead) rows_[esc][static_cast<uint8_t>(ch)] = t, any_esc = true;
    }
    // \uXXXX: BMP values directly; high surrogates continue with "\uDC00-DFFF".
    const int32_t u = Hex(0, 4, kBmp, 0);
    if (u != kDead) {
      const int32_t ust = NewState();
      rows_[ust]['u'] = u;
      rows_[esc]['u'] = ust;
      any_esc = true;
    }
    if (any_esc) rows_[s]['\\'] = esc;
  }
  // After "\uD8xx": "\u" and a low surrogate.
  int32_t HighSurrogate(uint32_t hs) {
    const uint32_t base = 0x10000 + ((hs - 0xD800) << 10);
    const int32_t low = Hex(0xD000, 3, kLow, base);  // values D000-DFFF; only DC00-DFFF live
    if (low == kDead) return kDead;
    std::vector<int32_t> key = {-50, low};
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    const int32_t a = NewState(), b = NewState(), c = NewState();
    rows_[a]['\\'] = b;
    rows_[b]['u'] = c;
    rows_[c]['d'] = rows_[c]['D'] = low;
    memo_.emplace(key, a);
    return a;
  }
  // The state after a 3- or 4-byte lead: second bytes 0x80 + [lo_blk, hi_blk], each a block of
  // 64^level code points.
  int32_t Lead(uint32_t base, int level, uint32_t lo_blk, uint32_t hi_blk) {
    const uint32_t blk = 1u << (6 * level);
    const int32_t u = Uniform(base + lo_blk * blk, base + (hi_blk + 1) * blk - 1);
    std::vector<int32_t> key = {-30 - level, static_cast<int32_t>(lo_blk),
                                static_cast<int32_t>(hi_blk)};
    if (u != -2) {
      if (u == kDead) return kDead;
      const int32_t k = Cont(base + lo_blk * blk, level);  // the uniform block state
      key.push_back(-1);
      key.push_back(k);
    } else {
      for (uint32_t i = lo_blk; i <= hi_blk; ++i) key.push_back(Cont(base + i * blk, level));
    }
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    const int32_t st = NewState();
    memo_.emplace(key, st);
    for (uint32_t i = lo_blk; i <= hi_blk; ++i) {
      rows_[st][0x80 + i] = u != -2 ? key[4] : key[3 + i - lo_blk];
    }
    return st;
  }
  int32_t Intern(const std::vector<int32_t>& key, uint32_t first_byte) {
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    const int32_t st = NewState();
    memo_.emplace(key, st);
    for (size_t i = 2; i < key.size(); ++i) rows_[st][first_byte + i - 2] = key[i];
    return st;
  }

  ByteDfa Finish() {
    const int n = static_cast<int>(rows_.size());
    ByteDfa out;
    // Byte classes: bytes whose columns agree in every row (grouped by a column hash).
    std::array<uint64_t, 256> h{};
    for (int st = 0; st < n; ++st) {
      for (int b = 0; b < 256; ++b) h[b] = h[b] * 0x9E3779B97F4A7C15ull + uint64_t(rows_[st][b] + 2);
    }
    std::vector<int> rep;
    std::vector<uint64_t> rep_hash;
    for (int b = 0; b < 256; ++b) {
      int cls = -1;
      for (size_t c = 0; c < rep.size() && cls < 0; ++c) {
        if (rep_hash[c] != h[b]) continue;
        bool same = true;
        for (int st = 0; st < n && same; ++st) same = rows_[st][b] == rows_[st][rep[c]];
        if (same) cls = static_cast<int>(c);
      }
      if (cls < 0) {
        cls = static_cast<int>(rep.size());
        rep.push_back(b);
        rep_hash.push_back(h[b]);
      }
      out.cls[b] = static_cast<uint8_t>(cls);
    }
    out.ncls = static_cast<int32_t>(rep.size());
    // Trim to the states that can reach an accepting code-point state.
    std::vector<std::vector<int32_t>> rev(n);
    for (int st = 0; st < n; ++st) {
      for (int c = 0; c < out.ncls; ++c) {
        const int32_t t = rows_[st][rep[c]];
        if (t >= 0) rev[t].push_back(st);
      }
    }
    std::vector<uint8_t> live(n, 0);
    std::vector<int32_t> q;
    for (int st = 0; st < d_.num_states(); ++st) {
      if (d_.accepting(st)) live[st] = 1, q.push_back(st);
    }
    for (size_t i = 0; i < q.size(); ++i) {
      for (int32_t p : rev[q[i]]) {
        if (!live[p]) live[p] = 1, q.push_back(p);
      }
    }
    std::vector<int32_t> order(n, -1), bfs;
    const int32_t start = d_.start();
    if (!live[start]) return out;
    bfs.push_back(start);
    order[start] = 0;
    for (size_t i = 0; i < bfs.size(); ++i) {
      for (int c = 0; c < out.ncls; ++c) {
        const int32_t t = rows_[bfs[i]][rep[c]];
        if (t >= 0 && live[t] && order[t] < 0) {
          order[t] = static_cast<int32_t>(bfs.size());
          bfs.push_back(t);
        }
      }
    }
    for (int32_t st : bfs) {
      bool any = false;
      for (int c = 0; c < out.ncls; ++c) {
        const int32_t t = rows_[st][rep[c]];
        const bool ok = t >= 0 && live[t];
        out.next.push_back(ok ? order[t] : ByteDfa::kDead);
        any |= ok;
      }
      out.accept.push_back(st < d_.num_states() && d_.accepting(st));
      out.has_out.push_back(any);
    }
    out.start = 0;
    return out;
  }

  const CpDfa& d_;
  bool json_, lone_;
  int cur_ = 0;
  std::vector<std::array<int32_t, 256>> rows_;
  std::map<std::vector<int32_t>, int32_t> memo_;
  absl::flat_hash_map<uint64_t, int32_t> uniform_;
};

}  // namespace

ByteDfa EncodeCpDfa(const CpDfa& d, bool json, bool lone_surrogates) {
  if (d.empty()) return ByteDfa{};
  return Encoder(d, json, lone_surrogates).Run();
}

}  // namespace phx::grammar
