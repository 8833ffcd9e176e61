// Model families: one small file per family (families/<name>.cc) maps its GGUF metadata onto
// ModelConfig's features, after ConfigFromGguf has read what every family shares (sizes, heads,
// RoPE keys, expert counts, which optional tensors the file has). The table of families is a
// constant (families.cc).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/config.h"

namespace phx::model {

// "<arch>.<key>" metadata of one file. Optional getters return the default when the key is
// absent and an error naming the key when it has the wrong type, is an array (per-layer values)
// or is out of range.
class Hparams {
 public:
  Hparams(const gguf::File& f, std::string arch) : f_(f), arch_(std::move(arch)) {}

  const gguf::File& file() const { return f_; }
  const std::string& arch() const { return arch_; }
  std::string Key(std::string_view key) const { return arch_ + "." + std::string(key); }
  bool Has(std::string_view key) const { return f_.Has(Key(key)); }

  // Integers must lie in [lo, hi].
  absl::StatusOr<int64_t> Int(std::string_view key, int64_t lo, int64_t hi) const;
  absl::StatusOr<int64_t> IntOr(std::string_view key, int64_t dflt, int64_t lo, int64_t hi) const;
  // Floats must be finite.
  absl::StatusOr<float> Float(std::string_view key) const;
  absl::StatusOr<float> FloatOr(std::string_view key, float dflt) const;
  absl::StatusOr<std::string> StringOr(std::string_view key, std::string dflt) const;

  // UnimplementedError: "<arch>: <feature> (metadata <arch>.<key>) is not supported".
  absl::Status Unsupported(std::string_view feature, std::string_view key) const;

 private:
  const gguf::File& f_;
  std::string arch_;
};

struct Family {
  std::string_view arch;  // general.architecture
  std::string_view what;  // one line for docs and errors
  // Sets the family's features on `c` (common fields already read) and checks what only this
  // family constrains.
  absl::Status (*configure)(const Hparams& hp, ModelConfig& c);
};

// Every supported family, in a fixed order.
std::span<const Family> Families();
// nullptr when `arch` is not supported.
const Family* FindFamily(std::string_view arch);
// "llama, qwen2, ..." for error messages.
std::string FamilyNames();

}  // namespace phx::model
