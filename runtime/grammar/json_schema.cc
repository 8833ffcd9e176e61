#include "runtime/grammar/json_schema.h"

#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/schema_emit.h"
#include "runtime/grammar/schema_ir.h"

namespace phx::grammar {

absl::StatusOr<std::shared_ptr<const Grammar>> CompileSchemaGrammar(const JsonValue& schema,
                                                                    const JsonSchemaOptions& opt) {
  if (opt.max_whitespace < 0 || opt.max_whitespace > 256) {
    return absl::InvalidArgumentError("max_whitespace must be in [0, 256]");
  }
  SchemaDoc doc(schema, opt);
  GrammarBuilder b;
  Emitter e(doc, b);
  auto value = e.Value({doc.root()});
  if (!value.ok()) return value.status();
  std::vector<std::vector<Sym>> alts = {{*value}};
  if (opt.allow_outer_whitespace) {
    auto ws = e.TrailingWs();
    if (!ws.ok()) return ws.status();
    alts.push_back({*value, *ws});
  }
  Sym root = b.Rule("root", alts);
  auto g = b.Build(root);
  if (!g.ok() && g.status().message() == "the grammar matches nothing") {
    return absl::InvalidArgumentError("schema #: no JSON value satisfies the schema");
  }
  return g;
}

}  // namespace phx::grammar
