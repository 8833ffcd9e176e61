// Filters over sequences and mappings (Jinja2's filters.py). map/select/reject/unique/items
// return generators, as in Jinja2: iterable once, no len(), not JSON-serializable.
#include <algorithm>

#include "base/strings.h"
#include "runtime/chat/filters.h"
#include "runtime/chat/pyops.h"

namespace phx::chat::filters {
namespace {

Value Gen(std::vector<Value> items) { return Value::Iterator(std::move(items), "generator"); }

std::vector<Value> SortedBy(std::vector<Value> items, const std::vector<Value>& keys,
                            bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? PyOrder(keys[b], keys[a]) < 0 : PyOrder(keys[a], keys[b]) < 0;
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(std::move(items[i]));
  return out;
}

// Key of make_multi_attrgetter ("age,name"): a list of lookups; one attribute: that value.
Value SortKey(const Value& item, const Value& attribute, bool case_sensitive) {
  auto post = [&](Value v) { return case_sensitive ? v : IgnoreCase(v); };
  if (!Given(attribute) || attribute.is_none()) return post(item);
  if (attribute.is_str()) {
    std::vector<Value> parts;
    const std::string& a = attribute.str().text();
    size_t start = 0;
    while (true) {
      const size_t comma = a.find(',', start);
      parts.push_back(post(GetPath(item, Value::Text(a.substr(start, comma - start)))));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return Value::List(std::move(parts));
  }
  return Value::List({post(GetPath(item, attribute))});
}

std::vector<Value> SelectOrReject(Interp& in, const Value& input, std::vector<Value>& args,
                                  Kwargs& kwargs, bool select, bool attr) {
  std::vector<Value> out;
  if (!Truthy(input) && !input.is_object() && input.kind() != Value::Kind::kIterator) return out;
  Value attribute;
  size_t off = 0;
  if (attr) {
    if (args.empty()) Fail(ErrorKind::kRuntime, "Missing parameter for attribute name");
    attribute = args[0];
    off = 1;
  }
  const bool has_test = args.size() > off;
  std::string test;
  if (has_test) {
    if (!args[off].is_str()) Fail(ErrorKind::kType, "test name must be a string");
    test = args[off].str().text();
    if (!KnownTestName(test)) Fail(ErrorKind::kRuntime, StrCat("No test named '", test, "'."));
  }
  std::vector<Value> targs(args.begin() + static_cast<ptrdiff_t>(std::min(args.size(), off + 1)),
                           args.end());
  for (Value& item : Items(in, input)) {
    in.Step();
    const Value v = attr ? GetPath(item, attribute) : item;
    const bool ok = has_test ? in.ApplyTest(test, v, targs, kwargs) : Truthy(v);
    if (ok == select) out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

bool SequenceFilter(Interp& in, std::string_view name, Value& input, std::vector<Value>& args,
                    Kwargs& kwargs, Value* out) {
  auto bind = [&](std::initializer_list<std::string_view> names, size_t req = 0) {
    return BindArgs(name, std::move(args), std::move(kwargs), names, req);
  };
  if (name == "length" || name == "count") {
    bind({});
    *out = Value::Int(Len(input));
  } else if (name == "list") {
    bind({});
    *out = Value::List(Items(in, input));
  } else if (name == "first") {
    bind({});
    std::vector<Value> items = Items(in, input);
    *out = items.empty() ? Value::Undef("No first item, sequence was empty.") : items.front();
  } else if (name == "last") {
    bind({});
    if (input.kind() == Value::Kind::kIterator) {
      Fail(ErrorKind::kType, "'generator' object is not reversible");
    }
    std::vector<Value> items = Items(in, input);
    *out = items.empty() ? Value::Undef("No last item, sequence was empty.") : items.back();
  } else if (name == "join") {
    auto a = bind({"d", "attribute"});
    const Str sep = Given(a[0]) ? ToStr(a[0]) : Str();
    Str s;
    bool first = true;
    for (const Value& item : Items(in, input)) {
      if (!first) s.Append(sep);
      first = false;
      s.Append(ToStr(Given(a[1]) && !a[1].is_none() ? GetPath(item, a[1]) : item));
      CheckSize(s.size());
      in.Step();
    }
    s.set_markup(false);
    *out = Value::String(std::move(s));
  } else if (name == "map") {
    std::vector<Value> res;
    const bool by_attr = args.empty() && std::any_of(kwargs.begin(), kwargs.end(), [](auto& kv) {
                           return kv.first == "attribute";
                         });
    if (Truthy(input) || input.kind() == Value::Kind::kIterator) {
      if (by_attr) {
        Value attribute, dflt;
        for (auto& [k, v] : kwargs) {
          if (k == "attribute") {
            attribute = v;
          } else if (k == "default") {
            dflt = v;
          } else {
            Fail(ErrorKind::kRuntime, StrCat("Unexpected keyword argument '", k, "'"));
          }
        }
        for (const Value& item : Items(in, input)) res.push_back(GetPath(item, attribute, dflt));
      } else {
        if (args.empty()) Fail(ErrorKind::kRuntime, "map requires a filter argument");
        if (!args[0].is_str()) Fail(ErrorKind::kType, "filter name must be a string");
        const std::string f = args[0].str().text();
        if (!KnownFilterName(f)) Fail(ErrorKind::kRuntime, StrCat("No filter named '", f, "'."));
        std::vector<Value> fargs(args.begin() + 1, args.end());
        for (const Value& item : Items(in, input)) {
          res.push_back(in.ApplyFilter(f, item, fargs, kwargs));
        }
      }
    }
    *out = Gen(std::move(res));
  } else if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    *out = Gen(SelectOrReject(in, input, args, kwargs, name[0] == 's', name.size() > 6));
  } else if (name == "unique") {
    auto a = bind({"case_sensitive", "attribute"});
    const bool cs = Given(a[0]) && Truthy(a[0]);
    std::vector<Value> seen, res;
    for (Value& item : Items(in, input)) {
      Value key = Given(a[1]) && !a[1].is_none() ? GetPath(item, a[1]) : item;
      if (!cs) key = IgnoreCase(key);
      CheckHashable(key);
      in.Step(static_cast<int64_t>(seen.size()));
      if (std::none_of(seen.begin(), seen.end(),
                       [&](const Value& s) { return PyEquals(s, key); })) {
        seen.push_back(key);
        res.push_back(std::move(item));
      }
    }
    *out = Gen(std::move(res));
  } else if (name == "sort") {
    auto a = bind({"reverse", "case_sensitive", "attribute"});
    std::vector<Value> items = Items(in, input), keys;
    for (const Value& item : items)
      keys.push_back(SortKey(item, a[2], Given(a[1]) && Truthy(a[1])));
    in.Step(static_cast<int64_t>(items.size()) * 8);
    *out = Value::List(SortedBy(std::move(items), keys, Given(a[0]) && Truthy(a[0])));
  } else if (name == "dictsort") {
    auto a = bind({"case_sensitive", "by", "reverse"});
    if (!input.is_dict()) CheckDefined(input);
    if (!input.is_dict()) Fail(ErrorKind::kType, "dictsort needs a mapping");
    size_t pos = 0;
    if (Given(a[1]) && !(a[1].is_str() && a[1].str().text() == "key")) {
      if (!(a[1].is_str() && a[1].str().text() == "value")) {
        Fail(ErrorKind::kRuntime, "You can only sort by either \"key\" or \"value\"");
      }
      pos = 1;
    }
    std::vector<Value> items, keys;
    for (const auto& [k, v] : input.dict().items()) {
      items.push_back(Value::Tuple({k, v}));
      const Value& key = pos ? v : k;
      keys.push_back(Given(a[0]) && Truthy(a[0]) ? key : IgnoreCase(key));
    }
    *out = Value::List(SortedBy(std::move(items), keys, Given(a[2]) && Truthy(a[2])));
  } else if (name == "items") {
    bind({});
    std::vector<Value> res;
    if (!input.is_undefined()) {
      if (!input.is_dict()) Fail(ErrorKind::kType, "Can only get item pairs from a mapping.");
      for (const auto& [k, v] : input.dict().items()) res.push_back(Value::Tuple({k, v}));
    }
    *out = Gen(std::move(res));
  } else if (name == "min" || name == "max") {
    auto a = bind({"case_sensitive", "attribute"});
    std::vector<Value> items = Items(in, input);
    if (items.empty()) {
      *out = Value::Undef("No aggregated item, sequence was empty.");
      return true;
    }
    size_t best = 0;
    Value best_key;
    for (size_t i = 0; i < items.size(); ++i) {
      Value key = Given(a[1]) && !a[1].is_none() ? GetPath(items[i], a[1]) : items[i];
      if (!(Given(a[0]) && Truthy(a[0]))) key = IgnoreCase(key);
      if (i == 0 || (name == "min" ? PyOrder(key, best_key) < 0 : PyOrder(key, best_key) > 0)) {
        best = i;
        best_key = key;
      }
    }
    *out = items[best];
  } else if (name == "sum") {
    auto a = bind({"attribute", "start"});
    Value acc = Given(a[1]) ? a[1] : Value::Int(0);
    if (acc.is_str()) Fail(ErrorKind::kType, "sum() can't sum strings [use ''.join(seq) instead]");
    for (const Value& item : Items(in, input)) {
      acc = BinaryOp(BinOp::kAdd, acc, Given(a[0]) && !a[0].is_none() ? GetPath(item, a[0]) : item);
    }
    *out = acc;
  } else if (name == "reverse") {
    bind({});
    if (input.is_str()) {
      Str s;
      std::vector<Value> chars = StrChars(input.str());
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) s.Append(it->str());
      *out = Value::String(std::move(s));
    } else if (input.kind() == Value::Kind::kIterator) {
      std::vector<Value> items = input.TakeIterator();
      std::reverse(items.begin(), items.end());
      *out = Value::List(std::move(items));
    } else {
      std::vector<Value> items = Items(in, input);
      std::reverse(items.begin(), items.end());
      *out = Value::Iterator(std::move(items),
                             input.is_dict() ? "dict_reversekeyiterator" : "list_reverseiterator");
    }
  } else if (name == "batch" || name == "slice") {
    auto a = bind({name == "batch" ? "linecount" : "slices", "fill_with"}, 1);
    const int64_t n = IntOf(a[0], name);
    if (n <= 0) Fail(ErrorKind::kValue, StrCat(name, " size must be positive"));
    const bool fill = Given(a[1]) && !a[1].is_none();
    std::vector<Value> items = Items(in, input), res;
    if (name == "batch") {
      for (size_t i = 0; i < items.size(); i += static_cast<size_t>(n)) {
        std::vector<Value> row(
            items.begin() + static_cast<ptrdiff_t>(i),
            items.begin() + static_cast<ptrdiff_t>(std::min(items.size(), i + n)));
        while (fill && static_cast<int64_t>(row.size()) < n) row.push_back(a[1]);
        res.push_back(Value::List(std::move(row)));
      }
    } else {
      const int64_t len = static_cast<int64_t>(items.size());
      const int64_t per = len / n, extra = len % n;
      int64_t offset = 0;
      for (int64_t k = 0; k < n; ++k) {
        in.Step();
        const int64_t start = offset + k * per;
        if (k < extra) ++offset;
        const int64_t end = offset + (k + 1) * per;
        std::vector<Value> row(items.begin() + start, items.begin() + end);
        if (fill && k >= extra) row.push_back(a[1]);
        res.push_back(Value::List(std::move(row)));
      }
    }
    *out = Gen(std::move(res));
  } else if (name == "groupby") {
    auto a = bind({"attribute", "default", "case_sensitive"}, 1);
    const bool cs = Given(a[2]) && Truthy(a[2]);
    std::vector<Value> items = Items(in, input), keys;
    for (const Value& item : items) {
      Value k = GetPath(item, a[0], a[1]);
      keys.push_back(cs ? k : IgnoreCase(k));
    }
    std::vector<Value> sorted_keys = keys;
    std::vector<size_t> order(items.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return PyOrder(keys[x], keys[y]) < 0; });
    std::vector<Value> res;
    for (size_t i = 0; i < order.size();) {
      size_t j = i;
      std::vector<Value> group;
      while (j < order.size() && PyEquals(keys[order[j]], keys[order[i]])) {
        group.push_back(items[order[j++]]);
      }
      Value grouper = cs ? keys[order[i]] : GetPath(group[0], a[0], a[1]);
      res.push_back(Value::Tuple({grouper, Value::List(std::move(group))}));
      i = j;
    }
    *out = Value::List(std::move(res));
  } else {
    return false;
  }
  return true;
}

}  // namespace phx::chat::filters
