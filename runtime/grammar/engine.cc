#include "runtime/grammar/engine.h"

#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/gbnf.h"
#include "runtime/grammar/json_schema.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::grammar {

GrammarEngine::GrammarEngine(std::shared_ptr<const TokenVocab> vocab, EngineOptions opt)
    : vocab_(std::move(vocab)), opt_(opt) {}

std::unique_ptr<GrammarEngine> GrammarEngine::FromTokenizer(const tok::Tokenizer& t,
                                                            EngineOptions opt) {
  return std::make_unique<GrammarEngine>(TokenVocab::FromTokenizer(t), opt);
}

void GrammarEngine::ClearCaches() {
  std::lock_guard<std::mutex> lock(mu_);
  lru_.clear();
  index_.clear();
}

absl::StatusOr<GrammarEngine::Compiled> GrammarEngine::Cached(
    const std::string& key, const std::function<absl::StatusOr<Compiled>()>& build) {
  if (cache_enabled_) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  auto g = build();
  if (!g.ok() || !cache_enabled_) return g;
  std::lock_guard<std::mutex> lock(mu_);
  if (index_.find(key) == index_.end()) {
    lru_.emplace_front(key, *g);
    index_[key] = lru_.begin();
    while (lru_.size() > opt_.cache_entries) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  return g;
}

absl::StatusOr<GrammarEngine::Compiled> GrammarEngine::CompileJsonSchema(
    std::string_view schema_json, const JsonSchemaOptions& opt) {
  const std::string key = StrCat("schema:", opt.strict, ":", opt.max_whitespace, ":",
                                 opt.allow_outer_whitespace, ":", schema_json);
  return Cached(key, [&]() -> absl::StatusOr<Compiled> {
    auto doc = ParseJson(schema_json);
    if (!doc.ok()) return doc.status();
    auto g = CompileSchemaGrammar(*doc, opt);
    if (!g.ok()) return g.status();
    return std::make_shared<const CompiledGrammar>(*g, vocab_);
  });
}

absl::StatusOr<GrammarEngine::Compiled> GrammarEngine::CompileJsonSchema(
    const JsonValue& schema, const JsonSchemaOptions& opt) {
  const std::string key = StrCat("schema:", opt.strict, ":", opt.max_whitespace, ":",
                                 opt.allow_outer_whitespace, ":", CompactDump(schema));
  return Cached(key, [&]() -> absl::StatusOr<Compiled> {
    auto g = CompileSchemaGrammar(schema, opt);
    if (!g.ok()) return g.status();
    return std::make_shared<const CompiledGrammar>(*g, vocab_);
  });
}

absl::StatusOr<GrammarEngine::Compiled> GrammarEngine::CompileJsonObject(
    const JsonSchemaOptions& opt) {
  JsonValue schema = JsonValue::Object({{"type", JsonValue::String("object")}});
  return CompileJsonSchema(schema, opt);
}

absl::StatusOr<GrammarEngine::Compiled> GrammarEngine::CompileRegex(std::string_view pattern) {
  return Cached(StrCat("regex:", pattern), [&]() -> absl::StatusOr<Compiled> {
    Rx rx;
    auto root = ParsePattern(pattern, &rx, PatternOptions{.search = false});
    if (!root.ok()) return root.status();
    auto dfa = CpDfa::FromPattern(rx, *root, /*search=*/false);
    if (!dfa.ok()) return dfa.status();
    GrammarBuilder b;
    TerminalSpec spec;
    spec.Utf8(std::make_shared<const CpDfa>(*std::move(dfa)));
    auto t = b.Term(spec);
    if (!t.ok()) return t.status();
    Sym root_rule = b.Rule("root", {{*t}});
    auto g = b.Build(root_rule);
    if (!g.ok()) return g.status();
    return std::make_shared<const CompiledGrammar>(*g, vocab_);
  });
}

absl::StatusOr<GrammarEngine::Compiled> GrammarEngine::CompileGbnf(std::string_view text) {
  return Cached(StrCat("gbnf:", text), [&]() -> absl::StatusOr<Compiled> {
    auto g = CompileGbnfGrammar(text);
    if (!g.ok()) return g.status();
    return std::make_shared<const CompiledGrammar>(*g, vocab_);
  });
}

}  // namespace phx::grammar
