// Internal: the parser class shared by parser.cc (statements) and parse_expr.cc (expressions).
#pragma once

#include <string>
#include <vector>

#include "runtime/chat/ast.h"
#include "runtime/chat/lexer.h"
#include "runtime/chat/parser.h"

namespace phx::chat::internal {

struct SyntaxError {
  std::string message;
  int line;
};

class Parser {
 public:
  Parser(std::vector<Token> toks, const ParseOptions& opt) : t_(std::move(toks)), opt_(opt) {}
  Program Run();

  // --- statements (parser.cc)
  Body Subparse(const std::vector<std::string>& end_names);
  StmtPtr Statement();
  Body Statements(const std::vector<std::string>& end_names, bool drop_needle);

  // --- expressions (parse_expr.cc)
  ExprPtr Expression(bool with_condexpr = true);
  ExprPtr TupleExpr(bool simplified = false, bool with_condexpr = true,
                    const std::vector<std::string>& extra_end = {}, bool explicit_parens = false);
  ExprPtr Primary();
  ExprPtr Postfix(ExprPtr node);
  ExprPtr FilterExpr(ExprPtr node);
  ExprPtr Filter(ExprPtr node, bool start_inline);
  Target AssignTarget(bool with_tuple, bool name_only, const std::vector<std::string>& extra_end,
                      bool with_namespace);

  // --- token stream
  const Token& cur() const { return t_[pos_]; }
  const Token& look() const { return t_[pos_ + 1 < t_.size() ? pos_ + 1 : pos_]; }
  Token Next() { return pos_ + 1 < t_.size() ? t_[pos_++] : t_[pos_]; }
  bool IsOp(std::string_view op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool IsName(std::string_view n) const { return cur().type == Tok::kName && cur().text == n; }
  bool SkipOp(std::string_view op);
  bool SkipName(std::string_view n);
  void ExpectOp(std::string_view op);
  std::string ExpectName();
  void Expect(Tok t, const char* what);
  [[noreturn]] void Error(std::string msg) const;
  [[noreturn]] void Error(std::string msg, int line) const;
  bool TupleEnd(const std::vector<std::string>& extra_end) const;
  std::string Describe(const Token& t) const;

  // Nesting guard.
  struct Depth {
    explicit Depth(Parser* p);
    ~Depth() { --p->depth_; }
    Parser* p;
  };

 private:
  ExprPtr CondExpr();
  ExprPtr Or();
  ExprPtr And();
  ExprPtr Not();
  ExprPtr Compare();
  ExprPtr Math1();
  ExprPtr Concat();
  ExprPtr Math2();
  ExprPtr Pow();
  ExprPtr Unary(bool with_filter = true);
  ExprPtr List();
  ExprPtr DictLit();
  ExprPtr Subscript(ExprPtr node);
  ExprPtr Subscribed();
  void CallArgs(Expr* call);
  ExprPtr Test(ExprPtr node);

  StmtPtr For();
  StmtPtr If();
  StmtPtr Set();
  StmtPtr Macro();
  StmtPtr CallBlock();
  StmtPtr FilterBlock();
  StmtPtr With();
  void Signature(Stmt* s);

  std::vector<Token> t_;
  size_t pos_ = 0;
  const ParseOptions& opt_;
  int depth_ = 0;
  std::vector<std::vector<std::string>> end_stack_;
  std::vector<std::string> tag_stack_;
};

ExprPtr MakeExpr(ExprKind k, int line);
bool KnownFilter(std::string_view name);
bool KnownTest(std::string_view name);

}  // namespace phx::chat::internal
