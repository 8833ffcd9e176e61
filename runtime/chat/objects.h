// The objects templates meet: namespace(), loop, macros (and caller), functions, bound methods.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/chat/interp.h"

namespace phx::chat {

// jinja2.utils.Namespace: attributes set at creation or with {% set ns.attr = value %}.
class NamespaceObj final : public Object {
 public:
  std::string TypeName() const override { return "jinja2.utils.Namespace"; }
  std::optional<Value> GetAttr(std::string_view name) override;
  bool SetAttr(std::string_view name, Value v) override;
  std::string Repr(int depth) const override;
  void Clear() override { attrs_ = Dict(); }

 private:
  Dict attrs_;
  mutable bool in_repr_ = false;  // a namespace that holds itself prints as {...}
};

// A builtin function (range, namespace, raise_exception, ...).
class FunctionObj final : public Object {
 public:
  using Fn = std::function<Value(Interp&, std::vector<Value>, Kwargs)>;
  FunctionObj(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string TypeName() const override { return "function"; }
  bool callable() const override { return true; }
  Value Call(Interp& in, std::vector<Value> args, Kwargs kwargs) override {
    return fn_(in, std::move(args), std::move(kwargs));
  }
  std::string Repr(int) const override { return "<function " + name_ + ">"; }

 private:
  std::string name_;
  Fn fn_;
};

// A method of a str, list or dict bound to its receiver.
class BoundMethodObj final : public Object {
 public:
  BoundMethodObj(Value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}
  std::string TypeName() const override { return "builtin_function_or_method"; }
  bool callable() const override { return true; }
  Value Call(Interp& in, std::vector<Value> args, Kwargs kwargs) override;
  std::string Repr(int) const override;

 private:
  Value self_;
  std::string name_;
};

// A macro, or the caller of a {% call %} block: runs its body in a new frame whose parent is
// the frame it was defined in (late binding, as Python closures).
class MacroObj final : public Object {
 public:
  MacroObj(const Stmt& def, FramePtr closure, std::string name, Value caller)
      : def_(def),
        closure_(std::move(closure)),
        name_(std::move(name)),
        caller_(std::move(caller)) {}
  std::string TypeName() const override { return "jinja2.runtime.Macro"; }
  std::optional<Value> GetAttr(std::string_view name) override;
  bool callable() const override { return true; }
  Value Call(Interp& in, std::vector<Value> args, Kwargs kwargs) override;
  std::string Repr(int) const override { return "<Macro '" + name_ + "'>"; }
  void Clear() override {
    closure_.reset();
    caller_ = Value();
  }

 private:
  const Stmt& def_;
  FramePtr closure_;
  std::string name_;
  Value caller_;  // for {% call %}: the caller passed implicitly
};

// jinja2.runtime.LoopContext.
class LoopObj final : public Object, public std::enable_shared_from_this<LoopObj> {
 public:
  using Recurse = std::function<Str(Interp&, std::vector<Value>, int depth)>;
  LoopObj(std::vector<Value> items, int depth, Recurse recurse)
      : items_(std::move(items)), depth_(depth), recurse_(std::move(recurse)) {}
  void set_index(size_t i) { index_ = i; }
  std::string TypeName() const override { return "jinja2.runtime.LoopContext"; }
  std::optional<Value> GetAttr(std::string_view name) override;
  bool callable() const override { return true; }
  Value Call(Interp& in, std::vector<Value> args, Kwargs kwargs) override;
  std::string Repr(int) const override;
  void Clear() override {
    items_.clear();
    recurse_ = nullptr;
    last_changed_ = Value();
  }

 private:
  std::vector<Value> items_;
  size_t index_ = 0;
  int depth_;
  Recurse recurse_;
  bool changed_seen_ = false;
  Value last_changed_;
};

}  // namespace phx::chat
