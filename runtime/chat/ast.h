// The syntax tree of a parsed template (Jinja2's nodes, reduced to what the evaluator needs).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/chat/pyops.h"
#include "runtime/chat/value.h"

namespace phx::chat {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  kConst,    // value
  kName,     // name
  kGetattr,  // a[0].name
  kGetitem,  // a[0][a[1]]
  kSlice,    // a[0]:a[1]:a[2] (null children for omitted parts)
  kCall,     // a[0](a[1:], kwargs)
  kFilter,   // a[0]|name(a[1:], kwargs); a[0] null in filter blocks and set blocks
  kTest,     // a[0] is name(a[1:], kwargs)
  kNot,      // not a[0]
  kNeg,      // -a[0]
  kPos,      // +a[0]
  kBinary,   // a[0] op a[1]
  kAnd,      // a[0] and a[1]
  kOr,       // a[0] or a[1]
  kCompare,  // a[0] cmp[0] a[1] cmp[1] a[2] ...
  kConcat,   // a[0] ~ a[1] ~ ...
  kCond,     // a[1] if a[0] else a[2] (a[2] may be null)
  kList,     // [a...]
  kTuple,    // (a...)
  kDict,     // {a[0]: a[1], a[2]: a[3], ...}
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value value;             // kConst
  std::string name;        // kName, kGetattr, kFilter, kTest
  std::vector<ExprPtr> a;  // operands / arguments
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args, dyn_kwargs;  // *args, **kwargs in calls
  BinOp op = BinOp::kAdd;        // kBinary
  std::vector<CmpOp> cmp;        // kCompare
};

// Assignment targets: a name, a namespace attribute, or a tuple of targets.
struct Target {
  enum class Kind { kName, kNsAttr, kTuple } kind = Kind::kName;
  std::string name;  // kName; kNsAttr: the namespace variable
  std::string attr;  // kNsAttr
  std::vector<Target> items;
};

struct Param {
  std::string name;
  ExprPtr default_value;  // may be null
};

enum class StmtKind {
  kOutput,     // text / exprs
  kIf,         // tests[i] -> bodies[i], else_body
  kFor,        // target in iter [if filter] [recursive]: body else else_body
  kSet,        // target = expr
  kSetBlock,   // target = body output [|filter]
  kMacro,      // name(params): body
  kCallBlock,  // call_expr with caller(params): body
  kFilterBlock,
  kWith,  // targets = values: body
  kBreak,
  kContinue,
  kScope,  // {% generation %}: renders its body
};

struct OutputPart {
  std::string text;  // template data when expr is null
  ExprPtr expr;
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::vector<OutputPart> parts;  // kOutput
  std::vector<ExprPtr> tests;     // kIf
  std::vector<Body> bodies;       // kIf
  Body body, else_body;
  Target target;                // kFor, kSet, kSetBlock
  std::vector<Target> targets;  // kWith
  ExprPtr expr;                 // kFor iter, kSet value, kCallBlock call, filter of blocks
  ExprPtr filter;               // kFor if-filter
  std::vector<ExprPtr> values;  // kWith
  bool recursive = false;
  std::string name;           // kMacro
  std::vector<Param> params;  // kMacro, kCallBlock
  // Macros: whether the body refers to caller / varargs / kwargs (Jinja2 decides this when
  // compiling; it changes which calls are accepted).
  bool uses_caller = false, uses_varargs = false, uses_kwargs = false;
};

struct Program {
  Body body;
};

}  // namespace phx::chat
