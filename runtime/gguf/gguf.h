// GGUF (v2 and v3) reader over a read-only memory mapping. Every offset and size read from the
// file is checked before use: a truncated, corrupt or hostile file yields an absl::Status naming
// the problem, never a crash or an out-of-bounds read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "base/mapped_file.h"

namespace phx::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view ValueTypeName(ValueType t);
// Size in bytes of a fixed-size scalar type; 0 for string and array.
size_t ScalarSize(ValueType t);

// A metadata value. Scalars are widened (integers to int64/uint64, floats to double). Arrays of
// scalars keep a view of their raw little-endian bytes in the mapping; arrays of strings keep
// string views into the mapping; arrays of arrays keep their children.
struct Value {
  ValueType type = ValueType::kUint8;
  std::variant<std::monostate, uint64_t, int64_t, double, bool, std::string_view> scalar;

  // Arrays only.
  ValueType elem_type = ValueType::kUint8;
  uint64_t count = 0;
  const uint8_t* raw = nullptr;           // elem_type scalar: count * ScalarSize(elem_type) bytes
  std::vector<std::string_view> strings;  // elem_type == kString
  std::vector<Value> children;            // elem_type == kArray

  bool is_array() const { return type == ValueType::kArray; }
  // Human-readable rendering (arrays abbreviated after `max_elems`).
  std::string ToString(size_t max_elems = 8) const;
};

struct TensorInfo {
  std::string name;
  DType type = DType::kF32;
  std::vector<int64_t> dims;  // GGUF order: dims[0] is the contiguous (row) dimension
  uint64_t offset = 0;        // relative to the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping
};

class File {
 public:
  // Opens and validates `path`.
  static absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path);
  // Parses an in-memory image (used by the fuzzer and tests). The bytes must outlive the File.
  static absl::StatusOr<std::unique_ptr<File>> Parse(const uint8_t* data, size_t size);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }
  const std::string& path() const { return path_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // Typed getters. Integer getters accept any integer type whose value fits; float getters
  // accept float32/float64. Errors name the key and the type found.
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  absl::StatusOr<double> GetFloat(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  absl::StatusOr<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  absl::StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;
  absl::StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;

  // Keeps the mapping alive for tensor data pointers.
  const MappedFile* mapping() const { return mapping_.get(); }

 private:
  File() = default;
  absl::Status ParseImpl();

  std::unique_ptr<MappedFile> mapping_;
  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> kv_;
  absl::flat_hash_map<std::string, size_t> kv_index_;
  std::vector<TensorInfo> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
};

}  // namespace phx::gguf
