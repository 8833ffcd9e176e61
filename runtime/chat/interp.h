// The evaluator: runs a parsed template against variables with Jinja2's runtime semantics
// (scoping of for/macro/set, loop objects, macros with caller, namespaces, Undefined, the
// immutable sandbox) and the engine's bounds. Internal to the chat module; Template is the API.
// Errors unwind inside the module as TemplateError exceptions (value.h); Template::Render turns
// them into an absl::Status, so none crosses the module's interface.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "runtime/chat/ast.h"
#include "runtime/chat/value.h"

namespace phx::chat {

// Bounds on one render: exceeding one is an error (LimitError), never a crash.
struct RenderLimits {
  size_t max_output_bytes = size_t{8} << 20;  // the prompt, and any one captured block
  int64_t max_loop_iterations = 200'000;      // all loops together
  int max_call_depth = 64;                    // macros, caller(), recursive loops
  int64_t max_steps = 20'000'000;             // expression evaluations and items copied
};

// A lexical scope: for-loop iterations, macro calls, with/set/filter blocks get their own.
struct Frame {
  std::shared_ptr<Frame> parent;
  absl::flat_hash_map<std::string, Value> vars;
};
using FramePtr = std::shared_ptr<Frame>;

class Interp {
 public:
  Interp(const Dict& context, const RenderLimits& limits, std::function<std::tm()> clock);

  // Runs the template; returns its output.
  Str Run(const Program& p);

  Value Eval(const Expr& e, const FramePtr& f);
  void Exec(const Body& body, const FramePtr& f);
  // Runs `body` in `f`, capturing its output.
  Str Capture(const Body& body, const FramePtr& f);

  Value Lookup(std::string_view name, const FramePtr& f) const;
  Value CallValue(const Value& fn, std::vector<Value> args, Kwargs kwargs);
  Value ApplyFilter(std::string_view name, Value input, std::vector<Value> args, Kwargs kwargs);
  bool ApplyTest(std::string_view name, const Value& input, std::vector<Value> args, Kwargs kwargs);

  // Accounting against the limits.
  void Step(int64_t n = 1);
  void LoopIteration();
  void EnterCall();
  void LeaveCall() { --call_depth_; }
  void Emit(const Str& s);
  void CheckOutput(size_t bytes) const;

  const RenderLimits& limits() const { return limits_; }
  std::tm Now() const { return clock_(); }

  // Objects that can take part in reference cycles (namespaces, macros, loops): cleared when
  // the render ends.
  template <typename T>
  std::shared_ptr<T> Track(std::shared_ptr<T> o) {
    tracked_.push_back(o);
    return o;
  }
  ~Interp();

  // Loop control (break/continue) unwinding.
  enum class Flow { kNormal, kBreak, kContinue };
  Flow flow = Flow::kNormal;

 private:
  void ExecStmt(const Stmt& s, const FramePtr& f);
  void ExecFor(const Stmt& s, const FramePtr& f);
  void RunLoop(const Stmt& s, const FramePtr& f, std::vector<Value> items, int depth);
  void Assign(const Target& t, Value v, const FramePtr& f);
  Value EvalCall(const Expr& e, const FramePtr& f);
  void EvalArgs(const Expr& e, const FramePtr& f, size_t first, std::vector<Value>* args,
                Kwargs* kwargs);
  Value MakeMacro(const Stmt& s, const FramePtr& f, std::string name);

  const Dict& context_;
  absl::flat_hash_map<std::string, Value> globals_;
  RenderLimits limits_;
  std::function<std::tm()> clock_;
  Str* out_ = nullptr;
  int64_t steps_ = 0, iterations_ = 0;
  int call_depth_ = 0;
  std::vector<std::shared_ptr<Object>> tracked_;
};

// --- builtins (filters.cc, tests.cc, globals.cc, methods.cc, access.cc)

// Binds Python-style arguments to parameter names (TypeError on extras or duplicates); unset
// parameters are Undefined values in the result.
std::vector<Value> BindArgs(std::string_view fn, std::vector<Value> args, Kwargs kwargs,
                            std::initializer_list<std::string_view> names, size_t required = 0);
inline bool Given(const Value& v) { return !v.is_undefined(); }

bool KnownFilterName(std::string_view name);
bool KnownTestName(std::string_view name);
Value Filter(Interp& in, std::string_view name, Value input, std::vector<Value> args,
             Kwargs kwargs);
bool Test(Interp& in, std::string_view name, const Value& input, std::vector<Value> args,
          Kwargs kwargs);
void AddGlobals(absl::flat_hash_map<std::string, Value>* globals);

// Sandboxed attribute and item access (Jinja2's SandboxedEnvironment.getattr / getitem).
Value GetAttr(const Value& obj, std::string_view name);
Value GetItem(const Value& obj, const Value& key);
Value SliceValue(const Value& obj, const Value& start, const Value& stop, const Value& step);

// Python methods of str, list and dict (bound method objects call these).
bool HasMethod(const Value& self, std::string_view name);
bool IsUnsafeMethod(const Value& self, std::string_view name);
Value CallMethod(Interp& in, const Value& self, std::string_view name, std::vector<Value> args,
                 Kwargs kwargs);
// str methods used by filters too.
Str StripChars(const Str& s, const Value& chars, bool left, bool right);
Str CaseMapped(const Str& s, CaseMap map);
std::vector<Value> SplitLines(const Str& s, bool keepends);

}  // namespace phx::chat
