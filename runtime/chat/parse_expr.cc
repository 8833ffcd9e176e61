// Expressions, with Jinja2's grammar and precedence (parser.py parse_expression and below).
#include "base/strings.h"
#include "runtime/chat/interp.h"
#include "runtime/chat/parser_impl.h"

namespace phx::chat::internal {

ExprPtr MakeExpr(ExprKind k, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->line = line;
  return e;
}

ExprPtr Parser::Expression(bool with_condexpr) { return with_condexpr ? CondExpr() : Or(); }

ExprPtr Parser::CondExpr() {
  Depth d(this);
  ExprPtr expr1 = Or();
  while (SkipName("if")) {
    const int line = cur().line;
    ExprPtr expr2 = Or();
    ExprPtr expr3;
    if (SkipName("else")) expr3 = CondExpr();
    auto c = MakeExpr(ExprKind::kCond, line);
    c->a.push_back(std::move(expr2));
    c->a.push_back(std::move(expr1));
    c->a.push_back(std::move(expr3));
    expr1 = std::move(c);
  }
  return expr1;
}

ExprPtr Parser::Or() {
  ExprPtr left = And();
  while (SkipName("or")) {
    auto n = MakeExpr(ExprKind::kOr, cur().line);
    n->a.push_back(std::move(left));
    n->a.push_back(And());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::And() {
  ExprPtr left = Not();
  while (SkipName("and")) {
    auto n = MakeExpr(ExprKind::kAnd, cur().line);
    n->a.push_back(std::move(left));
    n->a.push_back(Not());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::Not() {
  if (IsName("not")) {
    Depth d(this);
    const int line = Next().line;
    auto n = MakeExpr(ExprKind::kNot, line);
    n->a.push_back(Not());
    return n;
  }
  return Compare();
}

ExprPtr Parser::Compare() {
  const int line = cur().line;
  ExprPtr expr = Math1();
  ExprPtr cmp;
  while (true) {
    CmpOp op;
    if (IsOp("==")) {
      op = CmpOp::kEq;
    } else if (IsOp("!=")) {
      op = CmpOp::kNe;
    } else if (IsOp("<")) {
      op = CmpOp::kLt;
    } else if (IsOp("<=")) {
      op = CmpOp::kLe;
    } else if (IsOp(">")) {
      op = CmpOp::kGt;
    } else if (IsOp(">=")) {
      op = CmpOp::kGe;
    } else if (IsName("in")) {
      op = CmpOp::kIn;
    } else if (IsName("not") && look().type == Tok::kName && look().text == "in") {
      Next();
      op = CmpOp::kNotIn;
    } else {
      break;
    }
    Next();
    if (!cmp) {
      cmp = MakeExpr(ExprKind::kCompare, line);
      cmp->a.push_back(std::move(expr));
    }
    cmp->cmp.push_back(op);
    cmp->a.push_back(Math1());
  }
  return cmp ? std::move(cmp) : std::move(expr);
}

ExprPtr Parser::Math1() {
  ExprPtr left = Concat();
  while (IsOp("+") || IsOp("-")) {
    auto n = MakeExpr(ExprKind::kBinary, cur().line);
    n->op = Next().text == "+" ? BinOp::kAdd : BinOp::kSub;
    n->a.push_back(std::move(left));
    n->a.push_back(Concat());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::Concat() {
  ExprPtr first = Math2();
  if (!IsOp("~")) return first;
  auto n = MakeExpr(ExprKind::kConcat, cur().line);
  n->a.push_back(std::move(first));
  while (SkipOp("~")) n->a.push_back(Math2());
  return n;
}

ExprPtr Parser::Math2() {
  ExprPtr left = Pow();
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    auto n = MakeExpr(ExprKind::kBinary, cur().line);
    n->op = IsOp("*")    ? BinOp::kMul
            : IsOp("/")  ? BinOp::kDiv
            : IsOp("//") ? BinOp::kFloorDiv
                         : BinOp::kMod;
    Next();
    n->a.push_back(std::move(left));
    n->a.push_back(Pow());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::Pow() {
  ExprPtr left = Unary();
  while (SkipOp("**")) {
    auto n = MakeExpr(ExprKind::kBinary, cur().line);
    n->op = BinOp::kPow;
    n->a.push_back(std::move(left));
    n->a.push_back(Unary());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::Unary(bool with_filter) {
  Depth d(this);
  const int line = cur().line;
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    const bool neg = Next().text == "-";
    node = MakeExpr(neg ? ExprKind::kNeg : ExprKind::kPos, line);
    node->a.push_back(Unary(false));
  } else {
    node = Primary();
  }
  node = Postfix(std::move(node));
  if (with_filter) node = FilterExpr(std::move(node));
  return node;
}

ExprPtr Parser::Primary() {
  Depth d(this);
  const Token& tok = cur();
  const int line = tok.line;
  if (tok.type == Tok::kName) {
    ExprPtr n;
    const std::string& v = tok.text;
    if (v == "true" || v == "false" || v == "True" || v == "False") {
      n = MakeExpr(ExprKind::kConst, line);
      n->value = Value::Bool(v == "true" || v == "True");
    } else if (v == "none" || v == "None") {
      n = MakeExpr(ExprKind::kConst, line);
      n->value = Value::None();
    } else {
      n = MakeExpr(ExprKind::kName, line);
      n->name = v;
    }
    Next();
    return n;
  }
  if (tok.type == Tok::kString) {
    std::string s;
    while (cur().type == Tok::kString) s += Next().text;
    auto n = MakeExpr(ExprKind::kConst, line);
    n->value = Value::Text(s);
    return n;
  }
  if (tok.type == Tok::kInt || tok.type == Tok::kFloat) {
    auto n = MakeExpr(ExprKind::kConst, line);
    n->value = tok.type == Tok::kInt ? Value::Int(tok.ival) : Value::Float(tok.fval);
    Next();
    return n;
  }
  if (IsOp("(")) {
    Next();
    ExprPtr n = TupleExpr(false, true, {}, true);
    ExpectOp(")");
    return n;
  }
  if (IsOp("[")) return List();
  if (IsOp("{")) return DictLit();
  Error(StrCat("unexpected ", Describe(tok)), line);
}

ExprPtr Parser::TupleExpr(bool simplified, bool with_condexpr,
                          const std::vector<std::string>& extra_end, bool explicit_parens) {
  const int line = cur().line;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) ExpectOp(",");
    if (TupleEnd(extra_end)) break;
    args.push_back(simplified ? Primary() : Expression(with_condexpr));
    if (IsOp(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) Error(StrCat("Expected an expression, got ", Describe(cur())));
  }
  auto n = MakeExpr(ExprKind::kTuple, line);
  n->a = std::move(args);
  return n;
}

ExprPtr Parser::List() {
  const int line = Next().line;
  auto n = MakeExpr(ExprKind::kList, line);
  while (!IsOp("]")) {
    if (!n->a.empty()) ExpectOp(",");
    if (IsOp("]")) break;
    n->a.push_back(Expression());
  }
  ExpectOp("]");
  return n;
}

ExprPtr Parser::DictLit() {
  const int line = Next().line;
  auto n = MakeExpr(ExprKind::kDict, line);
  while (!IsOp("}")) {
    if (!n->a.empty()) ExpectOp(",");
    if (IsOp("}")) break;
    n->a.push_back(Expression());
    ExpectOp(":");
    n->a.push_back(Expression());
  }
  ExpectOp("}");
  return n;
}

ExprPtr Parser::Postfix(ExprPtr node) {
  while (true) {
    if (IsOp(".") || IsOp("[")) {
      node = Subscript(std::move(node));
    } else if (IsOp("(")) {
      auto call = MakeExpr(ExprKind::kCall, cur().line);
      call->a.push_back(std::move(node));
      CallArgs(call.get());
      node = std::move(call);
    } else {
      return node;
    }
  }
}

ExprPtr Parser::FilterExpr(ExprPtr node) {
  while (true) {
    if (IsOp("|")) {
      node = Filter(std::move(node), false);
    } else if (IsName("is")) {
      node = Test(std::move(node));
    } else if (IsOp("(")) {
      auto call = MakeExpr(ExprKind::kCall, cur().line);
      call->a.push_back(std::move(node));
      CallArgs(call.get());
      node = std::move(call);
    } else {
      return node;
    }
  }
}

ExprPtr Parser::Subscript(ExprPtr node) {
  Depth d(this);
  const Token tok = Next();
  if (tok.text == ".") {
    const Token attr = Next();
    if (attr.type == Tok::kName) {
      auto n = MakeExpr(ExprKind::kGetattr, tok.line);
      n->name = attr.text;
      n->a.push_back(std::move(node));
      return n;
    }
    if (attr.type != Tok::kInt) Error("expected name or number", attr.line);
    auto n = MakeExpr(ExprKind::kGetitem, tok.line);
    auto k = MakeExpr(ExprKind::kConst, attr.line);
    k->value = Value::Int(attr.ival);
    n->a.push_back(std::move(node));
    n->a.push_back(std::move(k));
    return n;
  }
  std::vector<ExprPtr> args;
  while (!IsOp("]")) {
    if (!args.empty()) ExpectOp(",");
    args.push_back(Subscribed());
  }
  ExpectOp("]");
  auto n = MakeExpr(ExprKind::kGetitem, tok.line);
  n->a.push_back(std::move(node));
  if (args.size() == 1) {
    n->a.push_back(std::move(args[0]));
  } else {
    auto t = MakeExpr(ExprKind::kTuple, tok.line);
    t->a = std::move(args);
    n->a.push_back(std::move(t));
  }
  return n;
}

ExprPtr Parser::Subscribed() {
  const int line = cur().line;
  std::vector<ExprPtr> parts;
  if (IsOp(":")) {
    Next();
    parts.push_back(nullptr);
  } else {
    ExprPtr node = Expression();
    if (!IsOp(":")) return node;
    Next();
    parts.push_back(std::move(node));
  }
  if (IsOp(":")) {
    parts.push_back(nullptr);
  } else if (!IsOp("]") && !IsOp(",")) {
    parts.push_back(Expression());
  } else {
    parts.push_back(nullptr);
  }
  if (IsOp(":")) {
    Next();
    parts.push_back(!IsOp("]") && !IsOp(",") ? Expression() : nullptr);
  } else {
    parts.push_back(nullptr);
  }
  auto n = MakeExpr(ExprKind::kSlice, line);
  n->a = std::move(parts);
  return n;
}

// Appends positional arguments to call->a and keywords to call->kwargs.
void Parser::CallArgs(Expr* call) {
  const int line = cur().line;
  ExpectOp("(");
  bool require_comma = false;
  auto ensure = [&](bool ok) {
    if (!ok) Error("invalid syntax for function call expression", line);
  };
  while (!IsOp(")")) {
    if (require_comma) {
      ExpectOp(",");
      if (IsOp(")")) break;
    }
    if (IsOp("*")) {
      ensure(!call->dyn_args && !call->dyn_kwargs);
      Next();
      call->dyn_args = Expression();
    } else if (IsOp("**")) {
      ensure(!call->dyn_kwargs);
      Next();
      call->dyn_kwargs = Expression();
    } else if (cur().type == Tok::kName && look().type == Tok::kOp && look().text == "=") {
      ensure(!call->dyn_kwargs);
      std::string key = Next().text;
      Next();
      call->kwargs.emplace_back(std::move(key), Expression());
    } else {
      ensure(!call->dyn_args && !call->dyn_kwargs && call->kwargs.empty());
      call->a.push_back(Expression());
    }
    require_comma = true;
  }
  ExpectOp(")");
}

ExprPtr Parser::Filter(ExprPtr node, bool start_inline) {
  while (IsOp("|") || start_inline) {
    if (!start_inline) Next();
    const int line = cur().line;
    std::string name = ExpectName();
    while (IsOp(".")) {
      Next();
      name += '.';
      name += ExpectName();
    }
    if (!KnownFilter(name)) Error(StrCat("No filter named '", name, "'."), line);
    auto f = MakeExpr(ExprKind::kFilter, line);
    f->name = name;
    f->a.push_back(std::move(node));
    if (IsOp("(")) CallArgs(f.get());
    node = std::move(f);
    start_inline = false;
  }
  return node;
}

ExprPtr Parser::Test(ExprPtr node) {
  const int line = Next().line;
  const bool negated = SkipName("not");
  std::string name = ExpectName();
  while (IsOp(".")) {
    Next();
    name += '.';
    name += ExpectName();
  }
  if (!KnownTest(name)) Error(StrCat("No test named '", name, "'."), line);
  auto t = MakeExpr(ExprKind::kTest, line);
  t->name = name;
  t->a.push_back(std::move(node));
  if (IsOp("(")) {
    CallArgs(t.get());
  } else if ((cur().type == Tok::kName || cur().type == Tok::kString || cur().type == Tok::kInt ||
              cur().type == Tok::kFloat || IsOp("(") || IsOp("[") || IsOp("{")) &&
             !IsName("else") && !IsName("or") && !IsName("and")) {
    if (IsName("is")) Error("You cannot chain multiple tests with is");
    t->a.push_back(Postfix(Primary()));
  }
  if (!negated) return t;
  auto n = MakeExpr(ExprKind::kNot, line);
  n->a.push_back(std::move(t));
  return n;
}

}  // namespace phx::chat::internal

namespace phx::chat::internal {

bool KnownFilter(std::string_view name) { return KnownFilterName(name); }
bool KnownTest(std::string_view name) { return KnownTestName(name); }

}  // namespace phx::chat::internal
