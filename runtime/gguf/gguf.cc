#include "runtime/gguf/gguf.h"

#include <cstring>
#include <limits>

#include "base/strings.h"
#include "base/status.h"

namespace phx::gguf {
namespace {

constexpr int kMaxArrayDepth = 8;
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;

absl::Status Corrupt(std::string_view what) {
  return absl::DataLossError(StrCat("corrupt GGUF: ", what));
}

// A bounds-checked little-endian cursor over the file image.
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  absl::Status Read(T* out, std::string_view what) {
    if (remaining() < sizeof(T)) {
      return Corrupt(StrCat("truncated file while reading ", what, " at offset ", pos_));
    }
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  absl::Status ReadString(std::string_view* out, std::string_view what) {
    uint64_t len = 0;
    PHX_RETURN_IF_ERROR(Read(&len, what));
    if (len > remaining() || len > kMaxStringBytes) {
      return Corrupt(StrCat(what, ": string length ", len, " at offset ", pos_ - 8,
                            " runs past the end of the file"));
    }
    *out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return absl::OkStatus();
  }

  absl::Status Skip(uint64_t n, std::string_view what) {
    if (n > remaining()) {
      return Corrupt(
          StrCat(what, ": ", n, " bytes at offset ", pos_, " run past the end of the file"));
    }
    pos_ += n;
    return absl::OkStatus();
  }
  const uint8_t* here() const { return data_ + pos_; }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

bool ValidValueType(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

absl::Status ReadValue(Cursor& c, ValueType type, Value* v, std::string_view key, int depth);

absl::Status ReadScalar(Cursor& c, ValueType type, Value* v, std::string_view key) {
  v->type = type;
  switch (type) {
    case ValueType::kUint8: {
      uint8_t x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = uint64_t{x};
      return absl::OkStatus();
    }
    case ValueType::kInt8: {
      int8_t x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = int64_t{x};
      return absl::OkStatus();
    }
    case ValueType::kUint16: {
      uint16_t x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = uint64_t{x};
      return absl::OkStatus();
    }
    case ValueType::kInt16: {
      int16_t x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = int64_t{x};
      return absl::OkStatus();
    }
    case ValueType::kUint32: {
      uint32_t x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = uint64_t{x};
      return absl::OkStatus();
    }
    case ValueType::kInt32: {
      int32_t x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = int64_t{x};
      return absl::OkStatus();
    }
    case ValueType::kUint64: {
      uint64_t x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = x;
      return absl::OkStatus();
    }
    case ValueType::kInt64: {
      int64_t x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = x;
      return absl::OkStatus();
    }
    case ValueType::kFloat32: {
      float x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = double{x};
      return absl::OkStatus();
    }
    case ValueType::kFloat64: {
      double x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      v->scalar = x;
      return absl::OkStatus();
    }
    case ValueType::kBool: {
      uint8_t x = 0;
      PHX_RETURN_IF_ERROR(c.Read(&x, key));
      if (x > 1) return Corrupt(StrCat("key ", key, ": bool value ", int{x}, " is not 0 or 1"));
      v->scalar = x != 0;
      return absl::OkStatus();
    }
    case ValueType::kString: {
      std::string_view s;
      PHX_RETURN_IF_ERROR(c.ReadString(&s, StrCat("key ", key)));
      v->scalar = s;
      return absl::OkStatus();
    }
    case ValueType::kArray:
      break;
  }
  return Corrupt(StrCat("key ", key, ": not a scalar type"));
}

absl::Status ReadArray(Cursor& c, Value* v, std::string_view key, int depth) {
  if (depth >= kMaxArrayDepth) {
    return Corrupt(StrCat("key ", key, ": arrays nested deeper than ", kMaxArrayDepth));
  }
  v->type = ValueType::kArray;
  uint32_t et = 0;
  PHX_RETURN_IF_ERROR(c.Read(&et, StrCat("array type of key ", key)));
  if (!ValidValueType(et)) {
    return Corrupt(StrCat("key ", key, ": unknown array element type ", et));
  }
  v->elem_type = static_cast<ValueType>(et);
  PHX_RETURN_IF_ERROR(c.Read(&v->count, StrCat("array length of key ", key)));
  const size_t es = ScalarSize(v->elem_type);
  if (es > 0) {
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(v->count, es, &bytes) || bytes > c.remaining()) {
      return Corrupt(StrCat("key ", key, ": array of ", v->count, " ", ValueTypeName(v->elem_type),
                            " runs past the end of the file"));
    }
    v->raw = c.here();
    if (v->elem_type == ValueType::kBool) {
      for (uint64_t i = 0; i < v->count; ++i) {
        if (v->raw[i] > 1) return Corrupt(StrCat("key ", key, ": bool element is not 0 or 1"));
      }
    }
    return c.Skip(bytes, key);
  }
  // Strings take at least 8 bytes each and arrays at least 12: bound the count before reserving.
  const uint64_t min_elem = v->elem_type == ValueType::kString ? 8 : 12;
  if (v->count > c.remaining() / min_elem) {
    return Corrupt(StrCat("key ", key, ": array of ", v->count, " ", ValueTypeName(v->elem_type),
                          " runs past the end of the file"));
  }
  if (v->elem_type == ValueType::kString) {
    v->strings.reserve(v->count);
    for (uint64_t i = 0; i < v->count; ++i) {
      std::string_view s;
      PHX_RETURN_IF_ERROR(c.ReadString(&s, StrCat("key ", key, "[", i, "]")));
      v->strings.push_back(s);
    }
    return absl::OkStatus();
  }
  v->children.resize(v->count);
  for (uint64_t i = 0; i < v->count; ++i) {
    PHX_RETURN_IF_ERROR(ReadArray(c, &v->children[i], key, depth + 1));
  }
  return absl::OkStatus();
}

absl::Status ReadValue(Cursor& c, ValueType type, Value* v, std::string_view key, int depth) {
  if (type == ValueType::kArray) return ReadArray(c, v, key, depth);
  return ReadScalar(c, type, v, key);
}

template <typename T>
T LoadLE(const uint8_t* p) {
  T x;
  std::memcpy(&x, p, sizeof(T));
  return x;
}

// Element i of a scalar array, widened.
double ArrayElemAsDouble(const Value& v, uint64_t i) {
  const uint8_t* p = v.raw + i * ScalarSize(v.elem_type);
  switch (v.elem_type) {
    case ValueType::kUint8:
      return LoadLE<uint8_t>(p);
    case ValueType::kInt8:
      return LoadLE<int8_t>(p);
    case ValueType::kUint16:
      return LoadLE<uint16_t>(p);
    case ValueType::kInt16:
      return LoadLE<int16_t>(p);
    case ValueType::kUint32:
      return LoadLE<uint32_t>(p);
    case ValueType::kInt32:
      return LoadLE<int32_t>(p);
    case ValueType::kUint64:
      return static_cast<double>(LoadLE<uint64_t>(p));
    case ValueType::kInt64:
      return static_cast<double>(LoadLE<int64_t>(p));
    case ValueType::kFloat32:
      return LoadLE<float>(p);
    case ValueType::kFloat64:
      return LoadLE<double>(p);
    case ValueType::kBool:
      return p[0];
    default:
      return 0;
  }
}

bool IsIntegerType(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kUint16:
    case ValueType::kInt16:
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kUint64:
    case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string_view ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
      return "u8";
    case ValueType::kInt8:
      return "i8";
    case ValueType::kUint16:
      return "u16";
    case ValueType::kInt16:
      return "i16";
    case ValueType::kUint32:
      return "u32";
    case ValueType::kInt32:
      return "i32";
    case ValueType::kFloat32:
      return "f32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "str";
    case ValueType::kArray:
      return "arr";
    case ValueType::kUint64:
      return "u64";
    case ValueType::kInt64:
      return "i64";
    case ValueType::kFloat64:
      return "f64";
  }
  return "?";
}

size_t ScalarSize(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
      return 8;
    case ValueType::kString:
    case ValueType::kArray:
      return 0;
  }
  return 0;
}

std::string Value::ToString(size_t max_elems) const {
  if (!is_array()) {
    return std::visit(
        [](const auto& x) -> std::string {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::monostate>)
            return "";
          else if constexpr (std::is_same_v<T, bool>)
            return x ? "true" : "false";
          else if constexpr (std::is_same_v<T, std::string_view>)
            return StrCat("\"", x, "\"");
          else
            return StrCat(x);
        },
        scalar);
  }
  std::vector<std::string> parts;
  const uint64_t shown = std::min<uint64_t>(count, max_elems);
  for (uint64_t i = 0; i < shown; ++i) {
    if (elem_type == ValueType::kString)
      parts.push_back(StrCat("\"", strings[i], "\""));
    else if (elem_type == ValueType::kArray)
      parts.push_back(children[i].ToString(max_elems));
    else
      parts.push_back(StrCat(ArrayElemAsDouble(*this, i)));
  }
  if (count > shown) parts.push_back(StrCat("... (", count, " total)"));
  return StrCat("[", StrJoin(parts, ", "), "]");
}

absl::StatusOr<std::unique_ptr<File>> File::Open(const std::string& path) {
  PHX_ASSIGN_OR_RETURN(auto mapping, MappedFile::Open(path));
  std::unique_ptr<File> f(new File());
  f->base_ = mapping->data();
  f->size_ = mapping->size();
  f->path_ = path;
  f->mapping_ = std::move(mapping);
  absl::Status s = f->ParseImpl();
  if (!s.ok()) return absl::Status(s.code(), StrCat(path, ": ", s.message()));
  return f;
}

absl::StatusOr<std::unique_ptr<File>> File::Parse(const uint8_t* data, size_t size) {
  std::unique_ptr<File> f(new File());
  f->base_ = data;
  f->size_ = size;
  f->path_ = "<memory>";
  PHX_RETURN_IF_ERROR(f->ParseImpl());
  return f;
}

absl::Status File::ParseImpl() {
  Cursor c(base_, size_);
  uint32_t magic = 0;
  PHX_RETURN_IF_ERROR(c.Read(&magic, "magic"));
  if (magic != kMagic) {
    return absl::InvalidArgumentError(fmt::format("not a GGUF file: bad magic 0x{:08x}", magic));
  }
  PHX_RETURN_IF_ERROR(c.Read(&version_, "version"));
  if (version_ != 2 && version_ != 3) {
    if ((version_ & 0xFFFF) == 0 && version_ != 0) {
      return absl::InvalidArgumentError("big-endian GGUF files are not supported");
    }
    return absl::InvalidArgumentError(
        StrCat("unsupported GGUF version ", version_, " (supported: 2, 3)"));
  }
  uint64_t n_tensors = 0, n_kv = 0;
  PHX_RETURN_IF_ERROR(c.Read(&n_tensors, "tensor count"));
  PHX_RETURN_IF_ERROR(c.Read(&n_kv, "metadata count"));
  // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least
  // 8 + 4 + 8 + 4 + 8 bytes. Bound the counts before reserving anything.
  if (n_kv > c.remaining() / 13) {
    return Corrupt(StrCat("metadata count ", n_kv, " is larger than the file allows"));
  }
  kv_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string_view key;
    PHX_RETURN_IF_ERROR(c.ReadString(&key, StrCat("metadata key #", i)));
    uint32_t t = 0;
    PHX_RETURN_IF_ERROR(c.Read(&t, StrCat("type of key ", key)));
    if (!ValidValueType(t)) return Corrupt(StrCat("key ", key, ": unknown value type ", t));
    Value v;
    PHX_RETURN_IF_ERROR(ReadValue(c, static_cast<ValueType>(t), &v, key, 0));
    std::string k(key);
    if (!kv_index_.emplace(k, kv_.size()).second) {
      return Corrupt(StrCat("duplicate metadata key ", key));
    }
    kv_.emplace_back(std::move(k), std::move(v));
  }

  if (const Value* a = Find("general.alignment")) {
    if (a->type != ValueType::kUint32) {
      return Corrupt(
          StrCat("general.alignment has type ", ValueTypeName(a->type), ", expected u32"));
    }
    const uint64_t al = std::get<uint64_t>(a->scalar);
    if (al == 0 || (al & (al - 1)) != 0) {
      return Corrupt(StrCat("general.alignment ", al, " is not a power of two"));
    }
    alignment_ = static_cast<uint32_t>(al);
  }

  if (n_tensors > c.remaining() / 32) {
    return Corrupt(StrCat("tensor count ", n_tensors, " is larger than the file allows"));
  }
  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo ti;
    std::string_view name;
    PHX_RETURN_IF_ERROR(c.ReadString(&name, StrCat("tensor name #", i)));
    ti.name = std::string(name);
    uint32_t n_dims = 0;
    PHX_RETURN_IF_ERROR(c.Read(&n_dims, StrCat("dimension count of tensor ", name)));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return Corrupt(
          StrCat("tensor ", name, ": ", n_dims, " dimensions (1..", kMaxDims, " allowed)"));
    }
    uint64_t n_elem = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      PHX_RETURN_IF_ERROR(c.Read(&dim, StrCat("dimensions of tensor ", name)));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          __builtin_mul_overflow(n_elem, dim, &n_elem) ||
          n_elem > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Corrupt(StrCat("tensor ", name, ": dimensions overflow the element count"));
      }
      ti.dims.push_back(static_cast<int64_t>(dim));
    }
    ti.n_elements = n_elem;
    uint32_t type = 0;
    PHX_RETURN_IF_ERROR(c.Read(&type, StrCat("type of tensor ", name)));
    PHX_RETURN_IF_ERROR(c.Read(&ti.offset, StrCat("offset of tensor ", name)));
    const auto info = GetDTypeInfo(static_cast<DType>(type));
    if (!info || static_cast<DType>(type) == DType::kI32) {
      const auto tname = GgmlTypeName(type);
      return absl::UnimplementedError(StrCat("unsupported tensor type ",
                                             tname ? std::string(*tname) : StrCat(type),
                                             " in tensor ", name));
    }
    ti.type = info->type;
    if (ti.dims[0] % info->block_elems != 0) {
      return Corrupt(StrCat("tensor ", name, ": row length ", ti.dims[0],
                            " is not a multiple of the ", info->name, " block size ",
                            info->block_elems));
    }
    const auto bytes = RowBytes(ti.type, ti.n_elements);
    if (!bytes) return Corrupt(StrCat("tensor ", name, ": byte size overflows"));
    ti.n_bytes = *bytes;
    if (ti.offset % alignment_ != 0) {
      return Corrupt(StrCat("tensor ", name, ": data offset ", ti.offset,
                            " is not a multiple of the alignment ", alignment_));
    }
    if (!tensor_index_.emplace(ti.name, tensors_.size()).second) {
      return Corrupt(StrCat("duplicate tensor name ", name));
    }
    tensors_.push_back(std::move(ti));
  }

  // The data section starts at the next multiple of the alignment.
  uint64_t pos = c.pos();
  uint64_t pad = (alignment_ - pos % alignment_) % alignment_;
  if (__builtin_add_overflow(pos, pad, &data_offset_)) return Corrupt("data offset overflows");
  if (n_tensors > 0 && data_offset_ > size_) {
    return Corrupt(StrCat("data section at offset ", data_offset_,
                          " starts past the end of the file (", size_, " bytes)"));
  }
  for (auto& ti : tensors_) {
    uint64_t start = 0, end = 0;
    if (__builtin_add_overflow(data_offset_, ti.offset, &start) ||
        __builtin_add_overflow(start, ti.n_bytes, &end) || end > size_) {
      return Corrupt(StrCat("tensor ", ti.name, ": data (", ti.n_bytes, " bytes at offset ",
                            ti.offset, ") runs past the end of the file"));
    }
    ti.data = base_ + start;
  }
  return absl::OkStatus();
}

const Value* File::Find(std::string_view key) const {
  auto it = kv_index_.find(ToAbsl(key));
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* File::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(ToAbsl(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
absl::Status Missing(std::string_view key) {
  return absl::NotFoundError(StrCat("metadata key ", key, " is missing"));
}
absl::Status WrongType(std::string_view key, const Value& v, std::string_view want) {
  return absl::InvalidArgumentError(
      StrCat("metadata key ", key, " has type ", ValueTypeName(v.type),
             v.is_array() ? StrCat(" of ", ValueTypeName(v.elem_type)) : "", ", expected ", want));
}
}  // namespace

absl::StatusOr<std::string> File::GetString(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (v->type != ValueType::kString) return WrongType(key, *v, "str");
  return std::string(std::get<std::string_view>(v->scalar));
}

absl::StatusOr<int64_t> File::GetInt(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (!IsIntegerType(v->type)) return WrongType(key, *v, "an integer");
  if (auto* u = std::get_if<uint64_t>(&v->scalar)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::OutOfRangeError(StrCat("metadata key ", key, " value ", *u, " too large"));
    }
    return static_cast<int64_t>(*u);
  }
  return std::get<int64_t>(v->scalar);
}

absl::StatusOr<double> File::GetFloat(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (v->type != ValueType::kFloat32 && v->type != ValueType::kFloat64) {
    return WrongType(key, *v, "a float");
  }
  return std::get<double>(v->scalar);
}

absl::StatusOr<bool> File::GetBool(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (v->type != ValueType::kBool) return WrongType(key, *v, "bool");
  return std::get<bool>(v->scalar);
}

absl::StatusOr<std::vector<std::string_view>> File::GetStringArray(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (!v->is_array() || v->elem_type != ValueType::kString) return WrongType(key, *v, "arr of str");
  return v->strings;
}

absl::StatusOr<std::vector<float>> File::GetFloatArray(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (!v->is_array() || ScalarSize(v->elem_type) == 0) return WrongType(key, *v, "arr of numbers");
  std::vector<float> out(v->count);
  for (uint64_t i = 0; i < v->count; ++i) out[i] = static_cast<float>(ArrayElemAsDouble(*v, i));
  return out;
}

absl::StatusOr<std::vector<int64_t>> File::GetIntArray(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (!v->is_array() || !IsIntegerType(v->elem_type)) return WrongType(key, *v, "arr of integers");
  std::vector<int64_t> out(v->count);
  const size_t es = ScalarSize(v->elem_type);
  for (uint64_t i = 0; i < v->count; ++i) {
    const uint8_t* p = v->raw + i * es;
    switch (v->elem_type) {
      case ValueType::kUint8:
        out[i] = LoadLE<uint8_t>(p);
        break;
      case ValueType::kInt8:
        out[i] = LoadLE<int8_t>(p);
        break;
      case ValueType::kUint16:
        out[i] = LoadLE<uint16_t>(p);
        break;
      case ValueType::kInt16:
        out[i] = LoadLE<int16_t>(p);
        break;
      case ValueType::kUint32:
        out[i] = LoadLE<uint32_t>(p);
        break;
      case ValueType::kInt32:
        out[i] = LoadLE<int32_t>(p);
        break;
      case ValueType::kUint64: {
        const uint64_t u = LoadLE<uint64_t>(p);
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return absl::OutOfRangeError(
              StrCat("metadata key ", key, " element ", i, " value ", u, " too large"));
        }
        out[i] = static_cast<int64_t>(u);
        break;
      }
      default:
        out[i] = LoadLE<int64_t>(p);
        break;
    }
  }
  return out;
}

}  // namespace phx::gguf
