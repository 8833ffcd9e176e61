#include "runtime/grammar/schema_lex.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

#include "absl/status/status.h"
#include "base/strings.h"

namespace phx::grammar {

std::optional<Decimal> Decimal::Parse(std::string_view s) {
  Decimal d;
  size_t i = 0;
  if (i < s.size() && s[i] == '-') d.neg = true, ++i;
  std::string digits;
  int64_t point = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') digits.push_back(s[i++]);
  point = static_cast<int64_t>(digits.size());
  if (digits.empty()) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') digits.push_back(s[i++]);
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) eneg = s[i] == '-', ++i;
    int64_t e = 0;
    if (i >= s.size()) return std::nullopt;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      e = e * 10 + (s[i++] - '0');
      if (e > 4000) return std::nullopt;
    }
    point += eneg ? -e : e;
  }
  if (i != s.size()) return std::nullopt;
  const auto n = static_cast<int64_t>(digits.size());
  if (point <= 0) {
    d.ip = "0";
    d.fp = std::string(static_cast<size_t>(-point), '0') + digits;
  } else if (point >= n) {
    d.ip = digits + std::string(static_cast<size_t>(point - n), '0');
    d.fp.clear();
  } else {
    d.ip = digits.substr(0, point);
    d.fp = digits.substr(point);
  }
  const size_t nz = d.ip.find_first_not_of('0');
  d.ip = nz == std::string::npos ? "0" : d.ip.substr(nz);
  while (!d.fp.empty() && d.fp.back() == '0') d.fp.pop_back();
  if (d.is_zero()) d.neg = false;
  return d;
}

Decimal Decimal::FromInt(int64_t v) { return *Parse(std::to_string(v)); }

std::string Decimal::ToString() const {
  return (neg ? "-" : "") + ip + (fp.empty() ? "" : "." + fp);
}

namespace {

// Compares digit strings without leading zeros.
int CompareDigits(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

std::string AddOne(std::string s) {
  int i = static_cast<int>(s.size()) - 1;
  while (i >= 0 && s[i] == '9') s[i--] = '0';
  if (i < 0) return "1" + s;
  ++s[i];
  return s;
}

std::string SubOne(std::string s) {  // s >= 1
  int i = static_cast<int>(s.size()) - 1;
  while (i >= 0 && s[i] == '0') s[i--] = '9';
  --s[i];
  const size_t nz = s.find_first_not_of('0');
  return nz == std::string::npos ? "0" : s.substr(nz);
}

}  // namespace

int Compare(const Decimal& a, const Decimal& b) {
  if (a.neg != b.neg) return a.neg ? -1 : 1;
  int c = CompareDigits(a.ip, b.ip);
  if (c == 0) c = a.fp < b.fp ? -1 : a.fp > b.fp ? 1 : 0;
  return a.neg ? -c : c;
}

Decimal Decimal::Negated() const {
  Decimal d = *this;
  if (!d.is_zero()) d.neg = !d.neg;
  return d;
}

Decimal Decimal::PlusOne() const {
  Decimal d = *this;
  if (!neg) {
    d.ip = AddOne(ip);
  } else if (ip == "1") {
    d = Decimal();
  } else {
    d.ip = SubOne(ip);
  }
  return d;
}

Decimal Decimal::MinusOne() const { return Negated().PlusOne().Negated(); }

Decimal Decimal::Floor() const {
  if (fp.empty()) return *this;
  Decimal d = *this;
  d.fp.clear();
  if (neg) d.ip = AddOne(ip);
  if (d.is_zero()) d.neg = false;
  return d;
}

Decimal Decimal::Ceil() const { return Negated().Floor().Negated(); }

namespace {

// Regular expressions for number literals.
class NumRx {
 public:
  explicit NumRx(Rx& rx) : rx_(rx) {}

  Rx::Id Dig(int lo, int hi) {
    if (lo > hi) return rx_.Nothing();
    return rx_.Set(CharSet::Range('0' + lo, '0' + hi));
  }
  Rx::Id AnyDigits(int min, int max) { return rx_.Repeat(Dig(0, 9), min, max); }
  Rx::Id Lit(const std::string& s) { return rx_.Literal(s); }

  // Digit strings of the same length between a and b (leading zeros allowed).
  Rx::Id SameLen(const std::string& a, const std::string& b) {
    const size_t n = a.size();
    if (n == 0) return rx_.Empty();
    const int a0 = a[0] - '0', b0 = b[0] - '0';
    const std::string ar = a.substr(1), br = b.substr(1);
    if (a0 == b0) return rx_.Cat(Dig(a0, a0), SameLen(ar, br));
    if (ar.find_first_not_of('0') == std::string::npos &&
        br.find_first_not_of('9') == std::string::npos) {
      return rx_.Cat(Dig(a0, b0), AnyDigits(static_cast<int>(n - 1), static_cast<int>(n - 1)));
    }
    std::vector<Rx::Id> alts;
    alts.push_back(rx_.Cat(Dig(a0, a0), SameLen(ar, std::string(n - 1, '9'))));
    if (b0 - a0 >= 2) {
      alts.push_back(rx_.Cat(Dig(a0 + 1, b0 - 1),
                             AnyDigits(static_cast<int>(n - 1), static_cast<int>(n - 1))));
    }
    alts.push_back(rx_.Cat(Dig(b0, b0), SameLen(std::string(n - 1, '0'), br)));
    return rx_.Alt(std::move(alts));
  }

  // Canonical non-negative integers (no leading zeros) in [lo, hi]; hi empty: unbounded.
  Rx::Id IntRange(const std::string& lo, const std::optional<std::string>& hi) {
    if (hi && CompareDigits(lo, *hi) > 0) return rx_.Nothing();
    const int la = static_cast<int>(lo.size());
    std::vector<Rx::Id> alts;
    if (hi && static_cast<int>(hi->size()) == la) return SameLen(lo, *hi);
    alts.push_back(SameLen(lo, std::string(la, '9')));
    if (hi) {
      const int lb = static_cast<int>(hi->size());
      if (lb - 1 > la) alts.push_back(rx_.Cat(Dig(1, 9), AnyDigits(la, lb - 2)));
      alts.push_back(SameLen("1" + std::string(lb - 1, '0'), *hi));
    } else {
      alts.push_back(rx_.Cat(Dig(1, 9), AnyDigits(la, Rx::kInf)));
    }
    return rx_.Alt(std::move(alts));
  }

  Rx::Id Frac(const std::string& f, bool ge, bool strict) {
    // Fraction digit strings d with 0.d >= 0.f (ge) or <= 0.f, strictly if `strict`.
    if (f.empty()) {
      if (ge) {
        return strict ? rx_.Cat({AnyDigits(0, Rx::kInf), Dig(1, 9), AnyDigits(0, Rx::kInf)})
                      : AnyDigits(0, Rx::kInf);
      }
      return strict ? rx_.Nothing() : rx_.Star(Dig(0, 0));
    }
    const int f0 = f[0] - '0';
    std::vector<Rx::Id> alts;
    if (!ge) alts.push_back(rx_.Empty());  // 0 < 0.f
    if (ge) {
      alts.push_back(rx_.Cat(Dig(f0 + 1, 9), AnyDigits(0, Rx::kInf)));
    } else {
      alts.push_back(rx_.Cat(Dig(0, f0 - 1), AnyDigits(0, Rx::kInf)));
    }
    alts.push_back(rx_.Cat(Dig(f0, f0), Frac(f.substr(1), ge, strict)));
    return rx_.Alt(std::move(alts));
  }
  // "" or "." digits, for fraction-digit language `c`.
  Rx::Id FracPart(Rx::Id c) {
    return rx_.Alt(rx_.Nullable(c) ? rx_.Empty() : rx_.Nothing(), rx_.Cat(rx_.Char('.'), c));
  }
  Rx::Id AnyFrac() { return rx_.Opt(rx_.Cat(rx_.Char('.'), AnyDigits(1, Rx::kInf))); }
  Rx::Id NonNegAny() { return rx_.Cat(IntRange("0", std::nullopt), AnyFrac()); }

  // Non-negative decimals y with y >= a (ge) or y <= a (a >= 0), strictly if `strict`.
  Rx::Id NonNegBound(const Decimal& a, bool ge, bool strict) {
    std::vector<Rx::Id> alts;
    if (ge) {
      alts.push_back(rx_.Cat(IntRange(AddOne(a.ip), std::nullopt), AnyFrac()));
    } else if (a.ip != "0") {
      alts.push_back(rx_.Cat(IntRange("0", SubOne(a.ip)), AnyFrac()));
    }
    alts.push_back(rx_.Cat(Lit(a.ip), FracPart(Frac(a.fp, ge, strict))));
    return rx_.Alt(std::move(alts));
  }

 private:
  Rx& rx_;
};

CpDfa MustDfa(const Rx& rx, Rx::Id id) {
  auto d = CpDfa::FromRx(rx, id, 200000);
  return d.ok() ? *std::move(d) : CpDfa::Nothing();
}

}  // namespace

absl::StatusOr<CpDfa> NumberDfa(const NumberBounds& b, bool integer, bool plain) {
  Rx rx;
  NumRx n(rx);
  const Rx::Id sign = rx.Opt(rx.Char('-'));
  const Rx::Id canon_int = n.IntRange("0", std::nullopt);
  if (integer) {
    std::optional<Decimal> lo, hi;
    if (b.lo) lo = b.lo_excl ? b.lo->Floor().PlusOne() : b.lo->Ceil();
    if (b.hi) hi = b.hi_excl ? b.hi->Ceil().MinusOne() : b.hi->Floor();
    const Rx::Id zeros = plain ? rx.Empty() : rx.Opt(rx.Cat(rx.Char('.'), rx.Plus(rx.Char('0'))));
    if (!lo && !hi && plain) return MustDfa(rx, rx.Cat(sign, canon_int));
    if (!lo && !hi) {
      // Any integral literal: plain integers (Python ints, any length), and the float forms
      // validators parse as finite integral doubles (a fraction or exponent makes Python read a
      // float, and one beyond ~1.8e308 is inf, not an integer): 12.00 with at most 291 digits,
      // 12e5 with at most 16 mantissa digits and an exponent up to 289, and Python's
      // 1.5e+16 forms (exponent 16..289).
      const Rx::Id e_char = rx.Set(CharSet::Of('e').Union(CharSet::Of('E')));
      const Rx::Id exp_upto_289 = rx.Cat(
          rx.Star(rx.Char('0')), rx.Alt({n.AnyDigits(1, 2), rx.Cat(rx.Char('1'), n.AnyDigits(2, 2)),
                                         rx.Cat({rx.Char('2'), n.Dig(0, 8), n.Dig(0, 9)})}));
      const Rx::Id exp = rx.Cat({e_char, rx.Opt(rx.Char('+')), exp_upto_289});
      const Rx::Id int_291 = rx.Alt(rx.Char('0'), rx.Cat(n.Dig(1, 9), n.AnyDigits(0, 290)));
      const Rx::Id int_16 = rx.Alt(rx.Char('0'), rx.Cat(n.Dig(1, 9), n.AnyDigits(0, 15)));
      const Rx::Id big =
          rx.Cat({n.Dig(1, 9), rx.Char('.'), n.AnyDigits(1, 15), e_char, rx.Opt(rx.Char('+')),
                  rx.Star(rx.Char('0')),
                  rx.Alt({rx.Cat(rx.Char('1'), n.Dig(6, 9)), rx.Cat(n.Dig(2, 9), n.Dig(0, 9)),
                          rx.Cat(rx.Char('1'), n.AnyDigits(2, 2)),
                          rx.Cat({rx.Char('2'), n.Dig(0, 8), n.Dig(0, 9)})})});
      return MustDfa(
          rx,
          rx.Cat(sign, rx.Alt({canon_int, rx.Cat({int_291, rx.Char('.'), rx.Plus(rx.Char('0'))}),
                               rx.Cat({int_16, zeros, exp}), big})));
    }
    if (lo && hi && Compare(*lo, *hi) > 0) return CpDfa::Nothing();
    std::vector<Rx::Id> parts;
    const Decimal zero;
    // Non-negative values.
    if (!hi || !hi->neg) {
      const std::string from = lo && !lo->neg ? lo->ip : "0";
      parts.push_back(n.IntRange(from, hi ? std::optional<std::string>(hi->ip) : std::nullopt));
    }
    // Negative values: -x for x in [max(1, -hi), -lo].
    if (!lo || lo->neg) {
      const std::string from = hi && hi->neg ? hi->ip : "1";
      parts.push_back(rx.Cat(
          rx.Char('-'), n.IntRange(from, lo ? std::optional<std::string>(lo->ip) : std::nullopt)));
    }
    const bool has_zero = (!lo || Compare(*lo, zero) <= 0) && (!hi || Compare(*hi, zero) >= 0);
    if (has_zero) parts.push_back(rx.Literal("-0"));
    return MustDfa(rx, rx.Cat(rx.Alt(std::move(parts)), zeros));
  }
  const Rx::Id syntax = rx.Cat({sign, canon_int, n.AnyFrac()});
  if (!b.lo && !b.hi) {
    const Rx::Id exp = rx.Cat({rx.Set(CharSet::Of('e').Union(CharSet::Of('E'))),
                               rx.Opt(rx.Set(CharSet::Of('+').Union(CharSet::Of('-')))),
                               n.AnyDigits(1, Rx::kInf)});
    return MustDfa(rx, rx.Cat(syntax, rx.Opt(exp)));
  }
  const Rx::Id minus = rx.Char('-');
  std::vector<Rx::Id> terms = {syntax};
  if (b.lo) {
    const Decimal& a = *b.lo;
    if (!a.neg && !(a.is_zero() && !b.lo_excl)) {
      terms.push_back(n.NonNegBound(a, true, b.lo_excl));  // x >= a > 0 (or x > 0)
    } else {
      terms.push_back(
          rx.Alt(n.NonNegAny(), rx.Cat(minus, n.NonNegBound(a.Negated(), false, b.lo_excl))));
    }
  }
  if (b.hi) {
    const Decimal& a = *b.hi;
    if (a.neg || (a.is_zero() && b.hi_excl)) {
      terms.push_back(rx.Cat(minus, n.NonNegBound(a.Negated(), true, b.hi_excl)));
    } else {
      terms.push_back(rx.Alt(rx.Cat(minus, n.NonNegAny()), n.NonNegBound(a, false, b.hi_excl)));
    }
  }
  CpDfa d = MustDfa(rx, terms[0]);
  for (size_t i = 1; i < terms.size(); ++i) {
    auto x = CpDfa::Intersect(d, MustDfa(rx, terms[i]));
    if (!x.ok()) return x.status();
    d = *std::move(x);
  }
  return d;
}

absl::StatusOr<CpDfa> MultipleOfDfa(uint64_t k) {
  if (k == 0 || k > 100000) return absl::InvalidArgumentError("multipleOf too large");
  // Symbols: '-', '.', '0', '1', ..., '9' (and the gaps between them).
  std::vector<uint32_t> bounds = {0, '-', '-' + 1, '.', '.' + 1};
  for (uint32_t c = '0'; c <= '9' + 1; ++c) bounds.push_back(c);
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  auto sym = [&](uint32_t c) {
    return static_cast<int>(std::upper_bound(bounds.begin(), bounds.end(), c) - bounds.begin()) - 1;
  };
  const int nsym = static_cast<int>(bounds.size());
  // States: 0 start, 1 minus, 2 zero, 3 dot, 4 zeros after dot, 5 + r remainders.
  const int64_t n = 5 + static_cast<int64_t>(k);
  std::vector<int32_t> trans(static_cast<size_t>(n) * nsym, CpDfa::kDead);
  std::vector<uint8_t> accept(n, 0);
  auto set = [&](int64_t s, uint32_t c, int64_t t) {
    trans[static_cast<size_t>(s) * nsym + sym(c)] = static_cast<int32_t>(t);
  };
  accept[2] = accept[4] = accept[5] = 1;
  for (int64_t s : {0, 1}) {
    set(s, '0', 2);
    for (uint32_t d = 1; d <= 9; ++d) set(s, '0' + d, 5 + d % k);
  }
  set(0, '-', 1);
  set(2, '.', 3);
  set(5, '.', 3);
  set(3, '0', 4);
  set(4, '0', 4);
  for (uint64_t r = 0; r < k; ++r) {
    for (uint32_t d = 0; d <= 9; ++d) set(5 + r, '0' + d, 5 + (10 * r + d) % k);
  }
  return CpDfa::FromTable(bounds, trans, accept, 0);
}

CpDfa NumberLiteralDfa(const Decimal& v, bool plain) {
  Rx rx;
  Rx::Id body;
  const Rx::Id zeros = plain ? rx.Empty() : rx.Opt(rx.Cat(rx.Char('.'), rx.Plus(rx.Char('0'))));
  if (v.is_zero()) {
    body = rx.Cat({rx.Opt(rx.Char('-')), rx.Char('0'), zeros});
  } else if (v.is_integer()) {
    body = rx.Cat({rx.Literal(v.neg ? "-" + v.ip : v.ip), zeros});
  } else {
    body = rx.Cat({rx.Literal((v.neg ? "-" : "") + v.ip + "." + v.fp), rx.Star(rx.Char('0'))});
  }
  return MustDfa(rx, body);
}

namespace {

// Formats validators check, as ECMAScript patterns over the whole string. Each accepts only
// what both Python's jsonschema (with its optional format packages) and Rust's jsonschema
// accept; see docs/structured-output.md.
constexpr char kYear[] = "(?:[1-9]\\d{3}|0[1-9]\\d{2}|00[1-9]\\d|000[1-9])";
constexpr char kLeapYear[] =
    "(?:\\d\\d(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)";

std::string DateRx() {
  return StrCat("(?:", kYear,
                "-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]"
                "\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))|",
                kLeapYear, "-02-29)");
}
std::string TimeRx() {
  return "(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)";
}
constexpr char kLabel[] = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?";
std::string HostRx() { return StrCat(kLabel, "(?:\\.", kLabel, "){0,5}"); }
constexpr char kOctet[] = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
std::string Ipv4Rx() { return StrCat(kOctet, "(?:\\.", kOctet, "){3}"); }
std::string Ipv6Rx() {
  const std::string h = "[0-9A-Fa-f]{1,4}";
  std::vector<std::string> forms = {"(?:" + h + ":){7}" + h};
  // "::" after i groups and before j groups, i + j <= 6.
  for (int i = 0; i <= 7; ++i) {
    for (int j = 0; i + j <= 6 || (i + j == 7 && false); ++j) {
      std::string left = i == 0 ? "" : "(?:" + h + ":){" + std::to_string(i - 1) + "}" + h;
      std::string right = j == 0 ? "" : "(?:" + h + ":){" + std::to_string(j - 1) + "}" + h;
      forms.push_back(left + "::" + right);
    }
  }
  std::string out = "(?:";
  for (size_t i = 0; i < forms.size(); ++i) out += (i ? "|" : "") + forms[i];
  return out + ")";
}
std::string UriRx(bool reference) {
  const std::string unres = "A-Za-z0-9\\-._~";
  const std::string sub = "!$&'()*+,;=";
  const std::string pct = "%[0-9A-Fa-f]{2}";
  const std::string pchar = "(?:[" + unres + sub + ":@]|" + pct + ")";
  const std::string seg = pchar + "*";
  const std::string segnz = pchar + "+";
  const std::string port =
      "(?:6553[0-5]|655[0-2]\\d|65[0-4]\\d\\d|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3}|0)";
  // Hosts: an IPv4 address, an IPv6 literal, or a name whose last label starts with a letter
  // (so that WHATWG URL parsers never read it as a malformed IPv4 address).
  const std::string name =
      "(?:" + std::string(kLabel) + "\\.){0,5}[A-Za-z](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?";
  const std::string host = "(?:" + Ipv4Rx() + "|\\[" + Ipv6Rx() + "\\]|" + name + ")";
  const std::string userinfo = "(?:(?:[" + unres + sub + ":]|" + pct + ")*@)?";
  const std::string authority = userinfo + host + "(?::" + port + ")?";
  const std::string hier = "(?://" + authority + "(?:/" + seg + ")*|/(?:" + segnz + "(?:/" + seg +
                           ")*)?|" + segnz + "(?:/" + seg + ")*)";
  const std::string query = "(?:\\?(?:" + pchar + "|[/?])*)?";
  const std::string frag = "(?:#(?:" + pchar + "|[/?])*)?";
  const std::string uri = "[A-Za-z][A-Za-z0-9+.\\-]*:" + hier + query + frag;
  if (!reference) return uri;
  const std::string segnc = "(?:[" + unres + sub + "@]|" + pct + ")+";
  const std::string rel = "(?://" + authority + "(?:/" + seg + ")*|/(?:" + segnz + "(?:/" + seg +
                          ")*)?|" + segnc + "(?:/" + seg + ")*|)" + query + frag;
  return "(?:" + uri + "|" + rel + ")";
}
std::string EmailRx() {
  const std::string atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-]";
  return StrCat(atext, "{1,64}(?:\\.", atext, "{1,64}){0,3}@", HostRx());
}
std::string DurationRx() {
  const std::string d = "\\d+";
  const std::string time =
      "T(?:" + d + "H(?:" + d + "M(?:" + d + "S)?)?|" + d + "M(?:" + d + "S)?|" + d + "S)";
  const std::string date =
      "(?:" + d + "Y(?:" + d + "M(?:" + d + "D)?)?|" + d + "M(?:" + d + "D)?|" + d + "D)";
  return "P(?:" + date + "(?:" + time + ")?|" + time + "|" + d + "W)";
}

// Formats that JSON-schema validators check but this engine does not implement.
bool CheckedElsewhere(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "idn-email",    "idn-hostname",          "iri",  "iri-reference", "uri-template",
      "json-pointer", "relative-json-pointer", "regex"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CpDfa>> FormatDfa(std::string_view name) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const CpDfa>, std::less<>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  std::string rx_text;
  if (name == "date") {
    rx_text = DateRx();
  } else if (name == "time") {
    rx_text = TimeRx();
  } else if (name == "date-time") {
    rx_text = DateRx() + "T" + TimeRx();
  } else if (name == "duration") {
    rx_text = DurationRx();
  } else if (name == "email") {
    rx_text = EmailRx();
  } else if (name == "hostname") {
    rx_text = HostRx();
  } else if (name == "ipv4") {
    rx_text = Ipv4Rx();
  } else if (name == "ipv6") {
    rx_text = Ipv6Rx();
  } else if (name == "uri") {
    rx_text = UriRx(false);
  } else if (name == "uri-reference") {
    rx_text = UriRx(true);
  } else if (name == "uuid") {
    rx_text = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}";
  } else if (CheckedElsewhere(name)) {
    return absl::UnimplementedError(StrCat("format '", name, "' is not supported"));
  } else {
    cache.emplace(std::string(name), nullptr);
    return std::shared_ptr<const CpDfa>();
  }
  Rx rx;
  auto root = ParsePattern("^(?:" + rx_text + ")$", &rx, PatternOptions{.search = false});
  if (!root.ok()) return root.status();
  auto d = CpDfa::FromPattern(rx, *root, /*search=*/false, 200000);
  if (!d.ok()) return d.status();
  // Kept to scalar values (string content can hold nothing else), as StringDfa would.
  if (!d->LiveWithin(CharSet::Scalars())) {
    d = CpDfa::Intersect(*d, CpDfa::Strings(CharSet::Scalars()), 200000);
    if (!d.ok()) return d.status();
  }
  auto ptr = std::make_shared<const CpDfa>(*std::move(d));
  cache.emplace(std::string(name), ptr);
  return ptr;
}

}  // namespace phx::grammar
