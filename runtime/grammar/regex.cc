#include "runtime/grammar/regex.h"

#include <algorithm>

#include "absl/status/status.h"
#include "base/strings.h"

namespace phx::grammar {

namespace {
Rx::Node MakeNode(Rx::Op op) {
  Rx::Node n;
  n.op = op;
  return n;
}
}  // namespace

Rx::Rx() {
  nodes_.push_back(MakeNode(Op::kNothing));
  nodes_.push_back(MakeNode(Op::kEmpty));
}

Rx::Id Rx::Set(CharSet s) {
  if (s.empty()) return Nothing();
  Node n = MakeNode(Op::kSet);
  n.set = std::move(s);
  nodes_.push_back(std::move(n));
  return static_cast<Id>(nodes_.size() - 1);
}

Rx::Id Rx::Literal(std::string_view s) {
  std::vector<Id> kids;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
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
      return Nothing();
    }
    if (i + n > s.size()) return Nothing();
    for (int k = 1; k < n; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return Nothing();
      cp = (cp << 6) | (cc & 0x3F);
    }
    kids.push_back(Char(cp));
    i += n;
  }
  return Cat(std::move(kids));
}

Rx::Id Rx::Cat(std::vector<Id> kids) {
  std::vector<Id> flat;
  for (Id k : kids) {
    if (k == Nothing()) return Nothing();
    if (k == Empty()) continue;
    if (nodes_[k].op == Op::kCat) {
      const auto& kk = nodes_[k].kids;
      flat.insert(flat.end(), kk.begin(), kk.end());
    } else {
      flat.push_back(k);
    }
  }
  if (flat.empty()) return Empty();
  if (flat.size() == 1) return flat[0];
  Node n = MakeNode(Op::kCat);
  n.kids = std::move(flat);
  nodes_.push_back(std::move(n));
  return static_cast<Id>(nodes_.size() - 1);
}

Rx::Id Rx::Alt(std::vector<Id> kids) {
  std::vector<Id> flat;
  for (Id k : kids) {
    if (k == Nothing()) continue;
    if (nodes_[k].op == Op::kAlt) {
      const auto& kk = nodes_[k].kids;
      flat.insert(flat.end(), kk.begin(), kk.end());
    } else {
      flat.push_back(k);
    }
  }
  std::sort(flat.begin(), flat.end());
  flat.erase(std::unique(flat.begin(), flat.end()), flat.end());
  if (flat.empty()) return Nothing();
  if (flat.size() == 1) return flat[0];
  Node n = MakeNode(Op::kAlt);
  n.kids = std::move(flat);
  nodes_.push_back(std::move(n));
  return static_cast<Id>(nodes_.size() - 1);
}

Rx::Id Rx::Repeat(Id x, int32_t min, int32_t max) {
  if (max != kInf && max < min) return Nothing();
  if (max == 0) return Empty();
  if (x == Empty()) return Empty();
  if (x == Nothing()) return min == 0 ? Empty() : Nothing();
  if (min == 1 && max == 1) return x;
  Node n = MakeNode(Op::kRepeat);
  n.min = min;
  n.max = max;
  n.kids = {x};
  nodes_.push_back(std::move(n));
  return static_cast<Id>(nodes_.size() - 1);
}

bool Rx::Nullable(Id id) const {
  const Node& n = nodes_[id];
  switch (n.op) {
    case Op::kNothing:
    case Op::kSet:
      return false;
    case Op::kEmpty:
      return true;
    case Op::kCat:
      return std::all_of(n.kids.begin(), n.kids.end(), [&](Id k) { return Nullable(k); });
    case Op::kAlt:
      return std::any_of(n.kids.begin(), n.kids.end(), [&](Id k) { return Nullable(k); });
    case Op::kRepeat:
      return n.min == 0 || Nullable(n.kids[0]);
  }
  return false;
}

std::string Rx::Key(Id id) const {
  const Node& n = nodes_[id];
  switch (n.op) {
    case Op::kNothing:
      return "!";
    case Op::kEmpty:
      return "e";
    case Op::kSet:
      return n.set.Key();
    case Op::kCat:
    case Op::kAlt: {
      std::string s = n.op == Op::kCat ? "(" : "(|";
      for (Id k : n.kids) s += Key(k) + ",";
      return s + ")";
    }
    case Op::kRepeat:
      return StrCat("(", Key(n.kids[0]), "){", n.min, ",", n.max, "}");
  }
  return "";
}

CharSet EscapeClass(char e, bool wide) {
  CharSet s;
  switch (e) {
    case 'd':
      s.Add('0', '9');
      if (wide) s.Add(0x80, kMaxCodePoint);  // Python: any Unicode decimal digit
      return s;
    case 'D':
      return EscapeClass('d', !wide).Complement();
    case 'w':
      s.Add('0', '9');
      s.Add('A', 'Z');
      s.Add('_');
      s.Add('a', 'z');
      if (wide) s.Add(0x80, kMaxCodePoint);  // Python: Unicode letters and numbers
      return s;
    case 'W':
      return EscapeClass('w', !wide).Complement();
    case 's': {
      // Both engines: \t\n\v\f\r, space, and the Unicode spaces they share.
      for (uint32_t c : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0xA0u, 0x1680u, 0x2028u, 0x2029u,
                         0x202Fu, 0x205Fu, 0x3000u}) {
        s.Add(c);
      }
      s.Add(0x2000, 0x200A);
      if (wide) {
        s.Add(0x1C, 0x1F);  // Python's str.isspace
        s.Add(0x85);
        s.Add(0xFEFF);  // ECMAScript
      }
      return s;
    }
    case 'S':
      return EscapeClass('s', !wide).Complement();
  }
  return s;
}

}  // namespace phx::grammar
