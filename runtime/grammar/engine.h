// Constrained decoding: the entry point. One GrammarEngine per vocabulary (its byte tries are
// built once, in the constructor); it compiles grammars from a JSON schema, `json_object`
// (any JSON object), a regular expression or a GBNF grammar, caches them by a hash of their
// text and options, and hands out per-sequence matchers:
//
//   auto engine = GrammarEngine::FromTokenizer(tokenizer);
//   auto g = engine->CompileJsonSchema(schema_text, {});   // error: JSON pointer + keyword
//   Matcher m(*g);
//   std::vector<uint64_t> mask(engine->vocab().mask_words());
//   m.ComputeMask(mask.data());   // EOS/EOT bits are set only where the grammar accepts
//   m.Commit(token);
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/grammar/json_value.h"
#include "runtime/grammar/matcher.h"
#include "runtime/grammar/vocab.h"

namespace phx::tok {
class Tokenizer;
}

namespace phx::grammar {

struct JsonSchemaOptions {
  // Refuse (compile error naming the JSON pointer and keyword) every keyword that cannot be
  // enforced exactly. false: approximate those keywords as docs/structured-output.md lists.
  bool strict = true;
  // Most blanks (space, tab, newline, carriage return) in a row between JSON tokens.
  int max_whitespace = 64;
  // Allow blanks before the top-level value and after it.
  bool allow_outer_whitespace = true;
};

struct EngineOptions {
  size_t cache_entries = 256;  // compiled grammars kept (LRU)
};

class GrammarEngine {
 public:
  GrammarEngine(std::shared_ptr<const TokenVocab> vocab, EngineOptions opt = {});
  static std::unique_ptr<GrammarEngine> FromTokenizer(const tok::Tokenizer& t,
                                                      EngineOptions opt = {});

  using Compiled = std::shared_ptr<const CompiledGrammar>;
  absl::StatusOr<Compiled> CompileJsonSchema(std::string_view schema_json,
                                             const JsonSchemaOptions& opt = {});
  absl::StatusOr<Compiled> CompileJsonSchema(const JsonValue& schema,
                                             const JsonSchemaOptions& opt = {});
  // Any JSON object (OpenAI's response_format {"type": "json_object"}).
  absl::StatusOr<Compiled> CompileJsonObject(const JsonSchemaOptions& opt = {});
  // The whole output matches the regular expression (ECMAScript syntax, implicitly anchored).
  absl::StatusOr<Compiled> CompileRegex(std::string_view pattern);
  // A GBNF grammar (llama.cpp's format; the start rule is `root`).
  absl::StatusOr<Compiled> CompileGbnf(std::string_view text);

  const std::shared_ptr<const TokenVocab>& vocab() const { return vocab_; }
  // Drops every cached grammar and terminal.
  void ClearCaches();
  // Turns the compiled-grammar cache on or off (benchmarks measure cold compiles).
  void set_cache_enabled(bool on) { cache_enabled_ = on; }

 private:
  absl::StatusOr<Compiled> Cached(const std::string& key,
                                  const std::function<absl::StatusOr<Compiled>()>& build);

  std::shared_ptr<const TokenVocab> vocab_;
  EngineOptions opt_;
  bool cache_enabled_ = true;
  std::mutex mu_;
  std::list<std::pair<std::string, Compiled>> lru_;
  absl::flat_hash_map<std::string, std::list<std::pair<std::string, Compiled>>::iterator> index_;
};

}  // namespace phx::grammar
