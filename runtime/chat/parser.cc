// Statements and the token-stream helpers (Jinja2's parser.py subparse/parse_statement).
#include "runtime/chat/parser.h"

#include "base/strings.h"
#include "runtime/chat/parser_impl.h"

namespace phx::chat {
namespace internal {
namespace {

// Whether `body` (or expressions under it) names `name`.
bool ExprNames(const Expr* e, std::string_view name) {
  if (!e) return false;
  if (e->kind == ExprKind::kName && e->name == name) return true;
  for (const ExprPtr& c : e->a) {
    if (ExprNames(c.get(), name)) return true;
  }
  for (const auto& kv : e->kwargs) {
    if (ExprNames(kv.second.get(), name)) return true;
  }
  return ExprNames(e->dyn_args.get(), name) || ExprNames(e->dyn_kwargs.get(), name);
}

bool BodyNames(const Body& body, std::string_view name);

bool StmtNames(const Stmt& s, std::string_view name) {
  // A nested macro has its own caller/varargs/kwargs.
  if (s.kind == StmtKind::kMacro) return false;
  for (const OutputPart& p : s.parts) {
    if (ExprNames(p.expr.get(), name)) return true;
  }
  for (const ExprPtr& e : s.tests) {
    if (ExprNames(e.get(), name)) return true;
  }
  for (const Body& b : s.bodies) {
    if (BodyNames(b, name)) return true;
  }
  for (const ExprPtr& e : s.values) {
    if (ExprNames(e.get(), name)) return true;
  }
  for (const Param& p : s.params) {
    if (ExprNames(p.default_value.get(), name)) return true;
  }
  return ExprNames(s.expr.get(), name) || ExprNames(s.filter.get(), name) ||
         BodyNames(s.body, name) || BodyNames(s.else_body, name);
}

bool BodyNames(const Body& body, std::string_view name) {
  for (const StmtPtr& s : body) {
    if (StmtNames(*s, name)) return true;
  }
  return false;
}

StmtPtr MakeStmt(StmtKind k, int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = k;
  s->line = line;
  return s;
}

}  // namespace

Parser::Depth::Depth(Parser* parser) : p(parser) {
  if (++p->depth_ > p->opt_.max_depth) {
    --p->depth_;
    p->Error(StrCat("template nesting exceeds ", p->opt_.max_depth, " levels"));
  }
}

void Parser::Error(std::string msg) const { Error(std::move(msg), cur().line); }
void Parser::Error(std::string msg, int line) const { throw SyntaxError{std::move(msg), line}; }

std::string Parser::Describe(const Token& t) const {
  switch (t.type) {
    case Tok::kEof:
      return "end of template";
    case Tok::kBlockEnd:
      return "end of statement block";
    case Tok::kVarEnd:
      return "end of print statement";
    case Tok::kBlockBegin:
      return "begin of statement block";
    case Tok::kVarBegin:
      return "begin of print statement";
    case Tok::kData:
      return "template data / text";
    case Tok::kString:
      return "string";
    case Tok::kInt:
      return "integer";
    case Tok::kFloat:
      return "float";
    default:
      return StrCat("'", t.text, "'");
  }
}

bool Parser::SkipOp(std::string_view op) {
  if (!IsOp(op)) return false;
  Next();
  return true;
}

bool Parser::SkipName(std::string_view n) {
  if (!IsName(n)) return false;
  Next();
  return true;
}

void Parser::ExpectOp(std::string_view op) {
  if (!IsOp(op)) Error(StrCat("expected token '", op, "', got ", Describe(cur())));
  Next();
}

std::string Parser::ExpectName() {
  if (cur().type != Tok::kName) Error(StrCat("expected token 'name', got ", Describe(cur())));
  return Next().text;
}

void Parser::Expect(Tok t, const char* what) {
  if (cur().type != t) Error(StrCat("expected token '", what, "', got ", Describe(cur())));
  Next();
}

bool Parser::TupleEnd(const std::vector<std::string>& extra_end) const {
  if (cur().type == Tok::kVarEnd || cur().type == Tok::kBlockEnd || IsOp(")")) return true;
  for (const std::string& n : extra_end) {
    if (IsName(n)) return true;
  }
  return false;
}

Program Parser::Run() {
  Program p;
  p.body = Subparse({});
  if (cur().type != Tok::kEof) Error(StrCat("unexpected ", Describe(cur())));
  return p;
}

Body Parser::Subparse(const std::vector<std::string>& end_names) {
  Depth d(this);
  Body body;
  StmtPtr out;
  auto flush = [&] {
    if (out) body.push_back(std::move(out));
  };
  auto output = [&]() -> Stmt& {
    if (!out) out = MakeStmt(StmtKind::kOutput, cur().line);
    return *out;
  };
  if (!end_names.empty()) end_stack_.push_back(end_names);
  while (cur().type != Tok::kEof) {
    const Token& tok = cur();
    if (tok.type == Tok::kData) {
      output().parts.push_back({tok.text, nullptr});
      Next();
    } else if (tok.type == Tok::kVarBegin) {
      Next();
      Stmt& o = output();
      o.parts.push_back({"", TupleExpr(false, true)});
      Expect(Tok::kVarEnd, "end of print statement");
    } else if (tok.type == Tok::kBlockBegin) {
      flush();
      Next();
      for (const std::string& n : end_names) {
        if (IsName(n)) {
          end_stack_.pop_back();
          return body;
        }
      }
      if (StmtPtr s = Statement()) body.push_back(std::move(s));
      Expect(Tok::kBlockEnd, "end of statement block");
    } else {
      Error(StrCat("unexpected ", Describe(tok)));
    }
  }
  flush();
  if (!end_names.empty()) end_stack_.pop_back();
  return body;
}

Body Parser::Statements(const std::vector<std::string>& end_names, bool drop_needle) {
  SkipOp(":");
  Expect(Tok::kBlockEnd, "end of statement block");
  Body body = Subparse(end_names);
  if (cur().type == Tok::kEof) {
    std::string looking;
    for (const std::string& n : end_names) looking += (looking.empty() ? "'" : " or '") + n + "'";
    std::string msg = StrCat(
        "Unexpected end of template. Jinja was looking for the following tags: ", looking, ".");
    if (!tag_stack_.empty()) {
      msg += StrCat(" The innermost block that needs to be closed is '", tag_stack_.back(), "'.");
    }
    Error(msg);
  }
  if (drop_needle) Next();
  return body;
}

StmtPtr Parser::Statement() {
  if (cur().type != Tok::kName) Error("tag name expected");
  const std::string tag = cur().text;
  const int line = cur().line;
  tag_stack_.push_back(tag);
  StmtPtr s;
  if (tag == "for") {
    s = For();
  } else if (tag == "if") {
    s = If();
  } else if (tag == "set") {
    s = Set();
  } else if (tag == "macro") {
    s = Macro();
  } else if (tag == "call") {
    s = CallBlock();
  } else if (tag == "filter") {
    s = FilterBlock();
  } else if (tag == "with") {
    s = With();
  } else if (tag == "print") {
    Next();
    s = MakeStmt(StmtKind::kOutput, line);
    while (cur().type != Tok::kBlockEnd) {
      if (!s->parts.empty()) ExpectOp(",");
      s->parts.push_back({"", Expression()});
    }
  } else if (tag == "break" || tag == "continue") {
    Next();
    bool in_loop = false;
    for (auto it = tag_stack_.rbegin(); it != tag_stack_.rend() && !in_loop; ++it) {
      if (*it == "macro" || *it == "call") break;
      in_loop = *it == "for";
    }
    if (!in_loop) Error(StrCat("'", tag, "' outside of a loop"), line);
    s = MakeStmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, line);
  } else if (tag == "generation") {
    Next();
    s = MakeStmt(StmtKind::kScope, line);
    s->body = Statements({"endgeneration"}, true);
  } else if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" ||
             tag == "from") {
    Error(StrCat("'", tag, "' is not supported in chat templates (no template loader)"), line);
  } else {
    tag_stack_.pop_back();
    std::string msg = StrCat("Encountered unknown tag '", tag, "'.");
    if (!end_stack_.empty()) {
      std::string looking;
      for (const std::string& n : end_stack_.back()) {
        looking += (looking.empty() ? "'" : " or '") + n + "'";
      }
      msg += StrCat(" Jinja was looking for the following tags: ", looking, ".");
    }
    if (!tag_stack_.empty()) {
      msg += StrCat(" The innermost block that needs to be closed is '", tag_stack_.back(), "'.");
    }
    Error(msg, line);
  }
  tag_stack_.pop_back();
  return s;
}

StmtPtr Parser::For() {
  auto s = MakeStmt(StmtKind::kFor, Next().line);
  s->target = AssignTarget(true, false, {"in"}, false);
  if (!SkipName("in")) Error(StrCat("expected token 'in', got ", Describe(cur())));
  s->expr = TupleExpr(false, false, {"recursive"});
  if (SkipName("if")) s->filter = Expression();
  s->recursive = SkipName("recursive");
  s->body = Statements({"endfor", "else"}, false);
  if (Next().text != "endfor") s->else_body = Statements({"endfor"}, true);
  return s;
}

StmtPtr Parser::If() {
  auto s = MakeStmt(StmtKind::kIf, Next().line);
  while (true) {
    s->tests.push_back(TupleExpr(false, false));
    s->bodies.push_back(Statements({"elif", "else", "endif"}, false));
    const Token tok = Next();
    if (tok.text == "elif") continue;
    if (tok.text == "else") s->else_body = Statements({"endif"}, true);
    break;
  }
  return s;
}

StmtPtr Parser::Set() {
  const int line = Next().line;
  Target target = AssignTarget(true, false, {}, true);
  if (SkipOp("=")) {
    auto s = MakeStmt(StmtKind::kSet, line);
    s->target = std::move(target);
    s->expr = TupleExpr();
    return s;
  }
  auto s = MakeStmt(StmtKind::kSetBlock, line);
  s->target = std::move(target);
  if (IsOp("|")) s->filter = Filter(nullptr, false);
  s->body = Statements({"endset"}, true);
  return s;
}

void Parser::Signature(Stmt* s) {
  ExpectOp("(");
  bool defaults = false;
  while (!IsOp(")")) {
    if (!s->params.empty()) ExpectOp(",");
    Param p;
    p.name = ExpectName();
    if (SkipOp("=")) {
      p.default_value = Expression();
      defaults = true;
    } else if (defaults) {
      Error("non-default argument follows default argument");
    }
    s->params.push_back(std::move(p));
  }
  ExpectOp(")");
}

StmtPtr Parser::Macro() {
  auto s = MakeStmt(StmtKind::kMacro, Next().line);
  s->name = ExpectName();
  Signature(s.get());
  s->body = Statements({"endmacro"}, true);
  s->uses_caller = BodyNames(s->body, "caller");
  s->uses_varargs = BodyNames(s->body, "varargs");
  s->uses_kwargs = BodyNames(s->body, "kwargs");
  return s;
}

StmtPtr Parser::CallBlock() {
  auto s = MakeStmt(StmtKind::kCallBlock, Next().line);
  if (IsOp("(")) Signature(s.get());
  s->expr = Expression();
  if (s->expr->kind != ExprKind::kCall) Error("expected call", s->line);
  s->body = Statements({"endcall"}, true);
  s->uses_caller = BodyNames(s->body, "caller");
  s->uses_varargs = BodyNames(s->body, "varargs");
  s->uses_kwargs = BodyNames(s->body, "kwargs");
  return s;
}

StmtPtr Parser::FilterBlock() {
  auto s = MakeStmt(StmtKind::kFilterBlock, Next().line);
  s->filter = Filter(nullptr, true);
  s->body = Statements({"endfilter"}, true);
  return s;
}

StmtPtr Parser::With() {
  auto s = MakeStmt(StmtKind::kWith, Next().line);
  while (cur().type != Tok::kBlockEnd) {
    if (!s->targets.empty()) ExpectOp(",");
    s->targets.push_back(AssignTarget(true, false, {}, false));
    ExpectOp("=");
    s->values.push_back(Expression());
  }
  s->body = Statements({"endwith"}, true);
  return s;
}

Target Parser::AssignTarget(bool with_tuple, bool name_only,
                            const std::vector<std::string>& extra_end, bool with_namespace) {
  Target t;
  if (with_namespace && look().type == Tok::kOp && look().text == ".") {
    t.kind = Target::Kind::kNsAttr;
    t.name = ExpectName();
    Next();
    t.attr = ExpectName();
    return t;
  }
  if (name_only) {
    t.name = ExpectName();
    return t;
  }
  // A tuple of names (Jinja2 parses any primary and then refuses what cannot be assigned).
  const int line = cur().line;
  auto one = [&]() {
    ExprPtr e = Primary();
    if (e->kind != ExprKind::kName) {
      Error(e->kind == ExprKind::kConst ? "can't assign to 'const'" : "can't assign to this", line);
    }
    Target n;
    n.name = e->name;
    return n;
  };
  if (!with_tuple) return one();
  bool is_tuple = false;
  std::vector<Target> items;
  while (true) {
    if (!items.empty()) ExpectOp(",");
    if (TupleEnd(extra_end)) break;
    if (IsOp("(")) {
      Next();
      items.push_back(AssignTarget(true, false, {}, false));
      ExpectOp(")");
    } else {
      items.push_back(one());
    }
    if (IsOp(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (items.empty()) Error(StrCat("Expected an expression, got ", Describe(cur())));
    return std::move(items[0]);
  }
  t.kind = Target::Kind::kTuple;
  t.items = std::move(items);
  return t;
}

}  // namespace internal

absl::StatusOr<Program> Parse(std::string_view source, const ParseOptions& opt) {
  auto toks = Lex(source);
  if (!toks.ok()) return toks.status();
  try {
    internal::Parser p(std::move(*toks), opt);
    return p.Run();
  } catch (const internal::SyntaxError& e) {
    return absl::InvalidArgumentError(
        StrCat("TemplateSyntaxError: ", e.message, " (line ", e.line, ")"));
  }
}

}  // namespace phx::chat
