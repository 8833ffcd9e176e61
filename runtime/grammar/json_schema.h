// JSON Schema -> grammar. Every keyword is either enforced exactly or, in strict mode, a compile
// error that names the JSON pointer and the keyword (docs/structured-output.md has the table).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/grammar/engine.h"
#include "runtime/grammar/grammar.h"
#include "runtime/grammar/json_value.h"

namespace phx::grammar {

absl::StatusOr<std::shared_ptr<const Grammar>> CompileSchemaGrammar(const JsonValue& schema,
                                                                    const JsonSchemaOptions& opt);

}  // namespace phx::grammar
