// Statements: output, if, for (loop objects, else, filters, recursion, break/continue), set,
// set blocks, macros, call blocks, filter blocks, with; scoping and the render bounds.
#include "runtime/chat/interp.h"

#include "base/strings.h"
#include "runtime/chat/objects.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {

Interp::Interp(const Dict& context, const RenderLimits& limits, std::function<std::tm()> clock)
    : context_(context), limits_(limits), clock_(std::move(clock)) {
  AddGlobals(&globals_);
}

Interp::~Interp() {
  for (const auto& o : tracked_) o->Clear();
}

Str Interp::Run(const Program& p) {
  auto root = std::make_shared<Frame>();
  return Capture(p.body, root);
}

void Interp::Step(int64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps) {
    Fail(ErrorKind::kLimit, StrCat("the template ran more than ", limits_.max_steps, " steps"));
  }
}

void Interp::LoopIteration() {
  if (++iterations_ > limits_.max_loop_iterations) {
    Fail(ErrorKind::kLimit,
         StrCat("loops ran more than ", limits_.max_loop_iterations, " iterations"));
  }
}

void Interp::EnterCall() {
  if (++call_depth_ > limits_.max_call_depth) {
    --call_depth_;
    Fail(ErrorKind::kLimit, StrCat("calls nest deeper than ", limits_.max_call_depth, " levels"));
  }
}

void Interp::CheckOutput(size_t bytes) const {
  if (bytes > limits_.max_output_bytes) {
    Fail(ErrorKind::kLimit, StrCat("the output exceeds ", limits_.max_output_bytes, " bytes"));
  }
}

void Interp::Emit(const Str& s) {
  CheckOutput(out_->size() + s.size());
  Step(static_cast<int64_t>(s.size() / 64));
  out_->Append(s);
}

Str Interp::Capture(const Body& body, const FramePtr& f) {
  Str buf;
  Str* saved = out_;
  out_ = &buf;
  try {
    Exec(body, f);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf;
}

void Interp::Exec(const Body& body, const FramePtr& f) {
  for (const StmtPtr& s : body) {
    ExecStmt(*s, f);
    if (flow != Flow::kNormal) return;
  }
}

Value Interp::Lookup(std::string_view name, const FramePtr& f) const {
  for (const Frame* fr = f.get(); fr; fr = fr->parent.get()) {
    auto it = fr->vars.find(ToAbsl(name));
    if (it != fr->vars.end()) return it->second;
  }
  if (const Value* v = context_.FindStr(name)) return *v;
  auto g = globals_.find(ToAbsl(name));
  if (g != globals_.end()) return g->second;
  return Value::Undef(StrCat("'", name, "' is undefined"));
}

void Interp::Assign(const Target& t, Value v, const FramePtr& f) {
  switch (t.kind) {
    case Target::Kind::kName:
      f->vars[t.name] = std::move(v);
      return;
    case Target::Kind::kNsAttr: {
      Value ns = Lookup(t.name, f);
      if (!ns.is_object() || !ns.obj().SetAttr(t.attr, v)) {
        Fail(ErrorKind::kRuntime, "cannot assign attribute on non-namespace object");
      }
      return;
    }
    case Target::Kind::kTuple: {
      if (!v.is_seq() && !v.is_str() && !v.is_dict() && v.kind() != Value::Kind::kIterator &&
          !v.is_undefined()) {
        Fail(ErrorKind::kType, StrCat("cannot unpack non-iterable ", TypeName(v), " object"));
      }
      std::vector<Value> items = Iterate(v);
      if (items.size() < t.items.size()) {
        Fail(ErrorKind::kValue, StrCat("not enough values to unpack (expected ", t.items.size(),
                                       ", got ", items.size(), ")"));
      }
      if (items.size() > t.items.size()) {
        Fail(ErrorKind::kValue,
             StrCat("too many values to unpack (expected ", t.items.size(), ")"));
      }
      for (size_t i = 0; i < items.size(); ++i) Assign(t.items[i], std::move(items[i]), f);
      return;
    }
  }
}

Value Interp::MakeMacro(const Stmt& s, const FramePtr& f, std::string name) {
  return Value::Obj(Track(std::make_shared<MacroObj>(s, f, std::move(name), Value())));
}

void Interp::ExecStmt(const Stmt& s, const FramePtr& f) {
  Step();
  try {
    switch (s.kind) {
      case StmtKind::kOutput:
        for (const OutputPart& p : s.parts) {
          if (p.expr) {
            Emit(ToStr(Eval(*p.expr, f)));
          } else {
            Emit(Str(p.text));
          }
        }
        return;
      case StmtKind::kIf:
        for (size_t i = 0; i < s.tests.size(); ++i) {
          if (Truthy(Eval(*s.tests[i], f))) {
            Exec(s.bodies[i], f);
            return;
          }
        }
        Exec(s.else_body, f);
        return;
      case StmtKind::kFor:
        ExecFor(s, f);
        return;
      case StmtKind::kSet:
        Assign(s.target, Eval(*s.expr, f), f);
        return;
      case StmtKind::kSetBlock: {
        auto inner = std::make_shared<Frame>();
        inner->parent = f;
        Value v = Value::String(Capture(s.body, inner));
        if (s.filter) {
          // The filter chain's innermost input is the captured block.
          std::vector<const Expr*> chain;
          for (const Expr* e = s.filter.get(); e; e = e->a.empty() ? nullptr : e->a[0].get()) {
            chain.push_back(e);
          }
          for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
            std::vector<Value> args;
            Kwargs kwargs;
            EvalArgs(**it, f, 1, &args, &kwargs);
            v = ApplyFilter((*it)->name, std::move(v), std::move(args), std::move(kwargs));
          }
        }
        Assign(s.target, std::move(v), f);
        return;
      }
      case StmtKind::kFilterBlock: {
        auto inner = std::make_shared<Frame>();
        inner->parent = f;
        Value v = Value::String(Capture(s.body, inner));
        std::vector<const Expr*> chain;
        for (const Expr* e = s.filter.get(); e; e = e->a.empty() ? nullptr : e->a[0].get()) {
          chain.push_back(e);
        }
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
          std::vector<Value> args;
          Kwargs kwargs;
          EvalArgs(**it, f, 1, &args, &kwargs);
          v = ApplyFilter((*it)->name, std::move(v), std::move(args), std::move(kwargs));
        }
        Emit(ToStr(v));
        return;
      }
      case StmtKind::kMacro:
        f->vars[s.name] = MakeMacro(s, f, s.name);
        return;
      case StmtKind::kCallBlock: {
        Value caller = Value::Obj(Track(std::make_shared<MacroObj>(s, f, "caller", Value())));
        const Expr& call = *s.expr;
        Value fn = Eval(*call.a[0], f);
        std::vector<Value> args;
        Kwargs kwargs;
        EvalArgs(call, f, 1, &args, &kwargs);
        kwargs.emplace_back("caller", caller);
        Emit(ToStr(CallValue(fn, std::move(args), std::move(kwargs))));
        return;
      }
      case StmtKind::kWith: {
        auto inner = std::make_shared<Frame>();
        inner->parent = f;
        std::vector<Value> vals;
        for (const ExprPtr& e : s.values) vals.push_back(Eval(*e, f));
        for (size_t i = 0; i < vals.size(); ++i) Assign(s.targets[i], std::move(vals[i]), inner);
        Exec(s.body, inner);
        return;
      }
      case StmtKind::kScope: {
        auto inner = std::make_shared<Frame>();
        inner->parent = f;
        Emit(Capture(s.body, inner));
        return;
      }
      case StmtKind::kBreak:
        flow = Flow::kBreak;
        return;
      case StmtKind::kContinue:
        flow = Flow::kContinue;
        return;
    }
  } catch (TemplateError& e) {
    if (e.line == 0) e.line = s.line;
    throw;
  }
}

void Interp::ExecFor(const Stmt& s, const FramePtr& f) {
  Value iterable = Eval(*s.expr, f);
  RunLoop(s, f, Iterate(iterable), 0);
}

void Interp::RunLoop(const Stmt& s, const FramePtr& f, std::vector<Value> items, int depth) {
  Step(static_cast<int64_t>(items.size()));
  if (s.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      LoopIteration();
      auto probe = std::make_shared<Frame>();
      probe->parent = f;
      Assign(s.target, item, probe);
      if (Truthy(Eval(*s.filter, probe))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    auto inner = std::make_shared<Frame>();
    inner->parent = f;
    Exec(s.else_body, inner);
    return;
  }
  LoopObj::Recurse recurse;
  if (s.recursive) {
    recurse = [&s, f](Interp& in, std::vector<Value> sub, int d) {
      in.EnterCall();
      Str buf;
      Str* saved = in.out_;
      in.out_ = &buf;
      try {
        in.RunLoop(s, f, std::move(sub), d);
      } catch (...) {
        in.out_ = saved;
        in.LeaveCall();
        throw;
      }
      in.out_ = saved;
      in.LeaveCall();
      return buf;
    };
  }
  auto loop = std::make_shared<LoopObj>(items, depth, recurse);
  const Value loop_value = Value::Obj(loop);
  for (size_t i = 0; i < items.size(); ++i) {
    LoopIteration();
    loop->set_index(i);
    auto frame = std::make_shared<Frame>();
    frame->parent = f;
    Assign(s.target, items[i], frame);
    frame->vars["loop"] = loop_value;
    Exec(s.body, frame);
    if (flow == Flow::kBreak) {
      flow = Flow::kNormal;
      break;
    }
    flow = Flow::kNormal;
  }
  // A loop object that escaped (stored in a namespace, captured by loop.cycle) may be part of
  // a reference cycle: clear it when the render ends.
  if (loop.use_count() > 2) Track(loop);
}

}  // namespace phx::chat
