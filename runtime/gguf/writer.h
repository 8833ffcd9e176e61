// GGUF v3 writer: metadata and tensors, tensor data produced on demand so multi-gigabyte files
// are written without holding them in memory. Used by `phalanx model synth` and by tests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "base/dtype.h"
#include "runtime/gguf/gguf.h"

namespace phx::gguf {

class Writer {
 public:
  // Fills `dst` (exactly the tensor's byte size) with the tensor's data.
  using Fill = std::function<void(uint8_t* dst, uint64_t n_bytes)>;

  explicit Writer(uint32_t alignment = kDefaultAlignment);

  void SetU32(std::string_view key, uint32_t v);
  void SetI32(std::string_view key, int32_t v);
  void SetU64(std::string_view key, uint64_t v);
  void SetF32(std::string_view key, float v);
  void SetBool(std::string_view key, bool v);
  void SetString(std::string_view key, std::string_view v);
  void SetStringArray(std::string_view key, const std::vector<std::string_view>& v);
  void SetF32Array(std::string_view key, const std::vector<float>& v);
  void SetI32Array(std::string_view key, const std::vector<int32_t>& v);
  // Copies a value read from another file (any type, nested arrays included).
  void SetValue(std::string_view key, const Value& v);

  // `dims` in GGUF order (dims[0] contiguous). Returns an error for a row length that is not a
  // multiple of the type's block size.
  absl::Status AddTensor(std::string_view name, DType type, std::vector<int64_t> dims, Fill fill);
  absl::Status AddTensor(std::string_view name, DType type, std::vector<int64_t> dims,
                         std::vector<uint8_t> bytes);

  absl::Status WriteFile(const std::string& path) const;
  std::vector<uint8_t> Serialize() const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> dims;
    uint64_t n_bytes;
    uint64_t offset;
    Fill fill;
  };
  void Key(std::string_view key, ValueType t);
  void PutValueBody(const Value& v);
  std::vector<uint8_t> Header() const;

  uint32_t alignment_;
  uint64_t n_kv_ = 0;
  std::vector<uint8_t> kv_bytes_;
  std::vector<PendingTensor> tensors_;
  uint64_t data_size_ = 0;
};

}  // namespace phx::gguf
