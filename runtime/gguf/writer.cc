#include "runtime/gguf/writer.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "base/strings.h"

namespace phx::gguf {
namespace {

template <typename T>
void Put(std::vector<uint8_t>& out, T v) {
  const size_t n = out.size();
  out.resize(n + sizeof(T));
  std::memcpy(out.data() + n, &v, sizeof(T));
}
void PutStr(std::vector<uint8_t>& out, std::string_view s) {
  Put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}
uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

Writer::Writer(uint32_t alignment) : alignment_(alignment) {
  if (alignment_ != kDefaultAlignment) SetU32("general.alignment", alignment_);
}

void Writer::Key(std::string_view key, ValueType t) {
  ++n_kv_;
  PutStr(kv_bytes_, key);
  Put<uint32_t>(kv_bytes_, static_cast<uint32_t>(t));
}

void Writer::SetU32(std::string_view key, uint32_t v) {
  Key(key, ValueType::kUint32);
  Put(kv_bytes_, v);
}
void Writer::SetI32(std::string_view key, int32_t v) {
  Key(key, ValueType::kInt32);
  Put(kv_bytes_, v);
}
void Writer::SetU64(std::string_view key, uint64_t v) {
  Key(key, ValueType::kUint64);
  Put(kv_bytes_, v);
}
void Writer::SetF32(std::string_view key, float v) {
  Key(key, ValueType::kFloat32);
  Put(kv_bytes_, v);
}
void Writer::SetBool(std::string_view key, bool v) {
  Key(key, ValueType::kBool);
  Put<uint8_t>(kv_bytes_, v ? 1 : 0);
}
void Writer::SetString(std::string_view key, std::string_view v) {
  Key(key, ValueType::kString);
  PutStr(kv_bytes_, v);
}
void Writer::SetStringArray(std::string_view key, const std::vector<std::string_view>& v) {
  Key(key, ValueType::kArray);
  Put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::kString));
  Put<uint64_t>(kv_bytes_, v.size());
  for (auto s : v) PutStr(kv_bytes_, s);
}
void Writer::SetF32Array(std::string_view key, const std::vector<float>& v) {
  Key(key, ValueType::kArray);
  Put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::kFloat32));
  Put<uint64_t>(kv_bytes_, v.size());
  for (float x : v) Put(kv_bytes_, x);
}
void Writer::SetI32Array(std::string_view key, const std::vector<int32_t>& v) {
  Key(key, ValueType::kArray);
  Put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::kInt32));
  Put<uint64_t>(kv_bytes_, v.size());
  for (int32_t x : v) Put(kv_bytes_, x);
}

void Writer::PutValueBody(const Value& v) {
  if (v.is_array()) {
    Put<uint32_t>(kv_bytes_, static_cast<uint32_t>(v.elem_type));
    Put<uint64_t>(kv_bytes_, v.count);
    if (v.elem_type == ValueType::kString) {
      for (auto s : v.strings) PutStr(kv_bytes_, s);
    } else if (v.elem_type == ValueType::kArray) {
      for (const auto& c : v.children) PutValueBody(c);
    } else {
      kv_bytes_.insert(kv_bytes_.end(), v.raw, v.raw + v.count * ScalarSize(v.elem_type));
    }
    return;
  }
  switch (v.type) {
    case ValueType::kUint8:
      Put<uint8_t>(kv_bytes_, std::get<uint64_t>(v.scalar));
      break;
    case ValueType::kInt8:
      Put<int8_t>(kv_bytes_, std::get<int64_t>(v.scalar));
      break;
    case ValueType::kUint16:
      Put<uint16_t>(kv_bytes_, std::get<uint64_t>(v.scalar));
      break;
    case ValueType::kInt16:
      Put<int16_t>(kv_bytes_, std::get<int64_t>(v.scalar));
      break;
    case ValueType::kUint32:
      Put<uint32_t>(kv_bytes_, std::get<uint64_t>(v.scalar));
      break;
    case ValueType::kInt32:
      Put<int32_t>(kv_bytes_, std::get<int64_t>(v.scalar));
      break;
    case ValueType::kUint64:
      Put<uint64_t>(kv_bytes_, std::get<uint64_t>(v.scalar));
      break;
    case ValueType::kInt64:
      Put<int64_t>(kv_bytes_, std::get<int64_t>(v.scalar));
      break;
    case ValueType::kFloat32:
      Put<float>(kv_bytes_, std::get<double>(v.scalar));
      break;
    case ValueType::kFloat64:
      Put<double>(kv_bytes_, std::get<double>(v.scalar));
      break;
    case ValueType::kBool:
      Put<uint8_t>(kv_bytes_, std::get<bool>(v.scalar) ? 1 : 0);
      break;
    case ValueType::kString:
      PutStr(kv_bytes_, std::get<std::string_view>(v.scalar));
      break;
    case ValueType::kArray:
      break;
  }
}

void Writer::SetValue(std::string_view key, const Value& v) {
  Key(key, v.type);
  PutValueBody(v);
}

absl::Status Writer::AddTensor(std::string_view name, DType type, std::vector<int64_t> dims,
                               Fill fill) {
  if (dims.empty() || dims.size() > kMaxDims) {
    return absl::InvalidArgumentError(StrCat("tensor ", name, ": bad dimension count"));
  }
  uint64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) {
      return absl::InvalidArgumentError(
          StrCat("tensor ", name, ": bad dimensions [", StrJoin(dims, ", "), "]"));
    }
  }
  const auto info = GetDTypeInfo(type);
  if (!info || type == DType::kI32 || dims[0] % info->block_elems != 0) {
    return absl::InvalidArgumentError(
        StrCat("tensor ", name, ": row length ", dims[0], " does not fit type ", DTypeName(type)));
  }
  const auto bytes = RowBytes(type, n);
  if (!bytes || *bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(StrCat("tensor ", name, ": byte size overflows"));
  }
  tensors_.push_back(
      {std::string(name), type, std::move(dims), *bytes, data_size_, std::move(fill)});
  data_size_ = AlignUp(data_size_ + *bytes, alignment_);
  return absl::OkStatus();
}

absl::Status Writer::AddTensor(std::string_view name, DType type, std::vector<int64_t> dims,
                               std::vector<uint8_t> bytes) {
  uint64_t n = 1;
  bool valid = true;  // otherwise the overload below reports the dimensions
  for (int64_t d : dims) valid = valid && d >= 0 && !__builtin_mul_overflow(n, d, &n);
  const auto want = valid ? RowBytes(type, n) : std::nullopt;
  if (want && *want != bytes.size()) {
    return absl::InvalidArgumentError(
        StrCat("tensor ", name, ": ", bytes.size(), " bytes given, ", *want, " expected"));
  }
  auto shared = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  return AddTensor(name, type, std::move(dims), [shared](uint8_t* dst, uint64_t n) {
    const uint64_t len = std::min<uint64_t>(n, shared->size());
    if (len > 0) std::memcpy(dst, shared->data(), len);  // data() may be null when empty
  });
}

std::vector<uint8_t> Writer::Header() const {
  std::vector<uint8_t> h;
  Put<uint32_t>(h, kMagic);
  Put<uint32_t>(h, 3);
  Put<uint64_t>(h, tensors_.size());
  Put<uint64_t>(h, n_kv_);
  h.insert(h.end(), kv_bytes_.begin(), kv_bytes_.end());
  for (const auto& t : tensors_) {
    PutStr(h, t.name);
    Put<uint32_t>(h, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) Put<uint64_t>(h, static_cast<uint64_t>(d));
    Put<uint32_t>(h, static_cast<uint32_t>(t.type));
    Put<uint64_t>(h, t.offset);
  }
  h.resize(AlignUp(h.size(), alignment_), 0);
  return h;
}

std::vector<uint8_t> Writer::Serialize() const {
  std::vector<uint8_t> out = Header();
  const size_t base = out.size();
  out.resize(base + data_size_, 0);
  for (const auto& t : tensors_) t.fill(out.data() + base + t.offset, t.n_bytes);
  return out;
}

absl::Status Writer::WriteFile(const std::string& path) const {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return absl::PermissionDeniedError(StrCat("cannot create ", path));
  const std::vector<uint8_t> header = Header();
  bool ok = std::fwrite(header.data(), 1, header.size(), f.get()) == header.size();
  std::vector<uint8_t> buf;
  uint64_t written = 0;
  for (const auto& t : tensors_) {
    if (!ok) break;
    buf.assign(t.n_bytes, 0);
    t.fill(buf.data(), t.n_bytes);
    ok = std::fwrite(buf.data(), 1, buf.size(), f.get()) == buf.size();
    written = t.offset + t.n_bytes;
    const uint64_t pad = AlignUp(written, alignment_) - written;
    const std::vector<uint8_t> zeros(pad, 0);
    if (ok && pad > 0) ok = std::fwrite(zeros.data(), 1, pad, f.get()) == pad;
  }
  if (std::fflush(f.get()) != 0) ok = false;
  if (!ok) return absl::DataLossError(StrCat("write to ", path, " failed (disk full?)"));
  return absl::OkStatus();
}

}  // namespace phx::gguf
