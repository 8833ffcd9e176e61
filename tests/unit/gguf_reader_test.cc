// Round trips through gguf::Writer and gguf::File: every metadata value type, nested arrays,
// v2 and v3 headers, custom alignment and tensor data placement.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf.h"
#include "runtime/gguf/writer.h"
#include "tests/unit/gguf_test_util.h"

namespace phx::gguf {
namespace {

using ::phx::testing::ParseBytes;
using ::phx::testing::Patch;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Value Scalar(ValueType t,
             std::variant<std::monostate, uint64_t, int64_t, double, bool, std::string_view> v) {
  Value out;
  out.type = t;
  out.scalar = v;
  return out;
}

Value StringArray(const std::vector<std::string_view>& s) {
  Value v;
  v.type = ValueType::kArray;
  v.elem_type = ValueType::kString;
  v.count = s.size();
  v.strings = s;
  return v;
}

// An array of scalars; `raw` must outlive the value.
Value RawArray(ValueType elem, const void* raw, uint64_t count) {
  Value v;
  v.type = ValueType::kArray;
  v.elem_type = elem;
  v.count = count;
  v.raw = static_cast<const uint8_t*>(raw);
  return v;
}

Value ArrayOf(std::vector<Value> children) {
  Value v;
  v.type = ValueType::kArray;
  v.elem_type = ValueType::kArray;
  v.count = children.size();
  v.children = std::move(children);
  return v;
}

const int16_t kI16s[] = {-32768, -1, 0, 32767};
const int32_t kI32s[] = {-7, 0, 1 << 30};
const uint8_t kU8s[] = {0, 200, 255};
const double kF64s[] = {0.1, -1e300};
const uint8_t kBools[] = {1, 0, 1};

// Metadata of every type, set through both the typed setters and SetValue.
Writer AllTypesWriter(uint32_t alignment = kDefaultAlignment) {
  Writer w(alignment);
  w.SetValue("t.u8", Scalar(ValueType::kUint8, uint64_t{250}));
  w.SetValue("t.i8", Scalar(ValueType::kInt8, int64_t{-100}));
  w.SetValue("t.u16", Scalar(ValueType::kUint16, uint64_t{65000}));
  w.SetValue("t.i16", Scalar(ValueType::kInt16, int64_t{-30000}));
  w.SetU32("t.u32", 4000000000u);
  w.SetI32("t.i32", -2000000000);
  w.SetF32("t.f32", 0.15625f);
  w.SetBool("t.bool_true", true);
  w.SetBool("t.bool_false", false);
  w.SetString("t.str", "h\xC3\xA9llo");
  w.SetString("t.empty", "");
  w.SetU64("t.u64", std::numeric_limits<uint64_t>::max());
  w.SetValue("t.i64", Scalar(ValueType::kInt64, int64_t{-(int64_t{1} << 40)}));
  w.SetValue("t.f64", Scalar(ValueType::kFloat64, 2.718281828459045));
  w.SetStringArray("a.str", {"a", "", "ccc"});
  w.SetF32Array("a.f32", {1.5f, -2.25f});
  w.SetI32Array("a.i32", {-1, 0, 2147483647});
  w.SetValue("a.i16", RawArray(ValueType::kInt16, kI16s, 4));
  w.SetValue("a.u8", RawArray(ValueType::kUint8, kU8s, 3));
  w.SetValue("a.f64", RawArray(ValueType::kFloat64, kF64s, 2));
  w.SetValue("a.bool", RawArray(ValueType::kBool, kBools, 3));
  w.SetValue("a.empty", RawArray(ValueType::kUint32, nullptr, 0));
  // [[ "x", "yy" ], [ -7, 0, 2^30 ], [ [] ], []]
  w.SetValue("a.nested", ArrayOf({StringArray({"x", "yy"}), RawArray(ValueType::kInt32, kI32s, 3),
                                  ArrayOf({ArrayOf({})}), ArrayOf({})}));
  return w;
}

void CheckAllTypes(const File& f) {
  EXPECT_EQ(*f.GetInt("t.u8"), 250);
  EXPECT_EQ(*f.GetInt("t.i8"), -100);
  EXPECT_EQ(*f.GetInt("t.u16"), 65000);
  EXPECT_EQ(*f.GetInt("t.i16"), -30000);
  EXPECT_EQ(*f.GetInt("t.u32"), 4000000000);
  EXPECT_EQ(*f.GetInt("t.i32"), -2000000000);
  EXPECT_EQ(*f.GetFloat("t.f32"), 0.15625);
  EXPECT_TRUE(*f.GetBool("t.bool_true"));
  EXPECT_FALSE(*f.GetBool("t.bool_false"));
  EXPECT_EQ(*f.GetString("t.str"), "h\xC3\xA9llo");
  EXPECT_EQ(*f.GetString("t.empty"), "");
  EXPECT_EQ(std::get<uint64_t>(f.Find("t.u64")->scalar), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.GetInt("t.u64").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*f.GetInt("t.i64"), -(int64_t{1} << 40));
  EXPECT_EQ(*f.GetFloat("t.f64"), 2.718281828459045);
  for (const auto& [key, type] :
       std::vector<std::pair<std::string, ValueType>>{{"t.u8", ValueType::kUint8},
                                                      {"t.i8", ValueType::kInt8},
                                                      {"t.u16", ValueType::kUint16},
                                                      {"t.i16", ValueType::kInt16},
                                                      {"t.u32", ValueType::kUint32},
                                                      {"t.i32", ValueType::kInt32},
                                                      {"t.f32", ValueType::kFloat32},
                                                      {"t.bool_true", ValueType::kBool},
                                                      {"t.str", ValueType::kString},
                                                      {"t.u64", ValueType::kUint64},
                                                      {"t.i64", ValueType::kInt64},
                                                      {"t.f64", ValueType::kFloat64},
                                                      {"a.nested", ValueType::kArray}}) {
    ASSERT_NE(f.Find(key), nullptr) << key;
    EXPECT_EQ(f.Find(key)->type, type) << key;
  }

  EXPECT_THAT(*f.GetStringArray("a.str"), ElementsAre("a", "", "ccc"));
  EXPECT_THAT(*f.GetFloatArray("a.f32"), ElementsAre(1.5f, -2.25f));
  EXPECT_THAT(*f.GetIntArray("a.i32"), ElementsAre(-1, 0, 2147483647));
  EXPECT_THAT(*f.GetIntArray("a.i16"), ElementsAre(-32768, -1, 0, 32767));
  EXPECT_THAT(*f.GetIntArray("a.u8"), ElementsAre(0, 200, 255));
  EXPECT_THAT(*f.GetFloatArray("a.f64"), ElementsAre(0.1f, -INFINITY));
  EXPECT_THAT(*f.GetFloatArray("a.bool"), ElementsAre(1.f, 0.f, 1.f));
  EXPECT_EQ(f.Find("a.bool")->elem_type, ValueType::kBool);
  EXPECT_TRUE(f.GetIntArray("a.empty")->empty());
  EXPECT_EQ(f.Find("a.empty")->elem_type, ValueType::kUint32);

  const Value* n = f.Find("a.nested");
  ASSERT_NE(n, nullptr);
  ASSERT_TRUE(n->is_array());
  EXPECT_EQ(n->elem_type, ValueType::kArray);
  ASSERT_EQ(n->count, 4u);
  ASSERT_EQ(n->children.size(), 4u);
  EXPECT_EQ(n->children[0].elem_type, ValueType::kString);
  EXPECT_THAT(n->children[0].strings, ElementsAre("x", "yy"));
  EXPECT_EQ(n->children[1].elem_type, ValueType::kInt32);
  ASSERT_EQ(n->children[1].count, 3u);
  int32_t i32s[3];
  std::memcpy(i32s, n->children[1].raw, sizeof(i32s));
  EXPECT_THAT(i32s, ElementsAre(-7, 0, 1 << 30));
  ASSERT_EQ(n->children[2].children.size(), 1u);
  EXPECT_EQ(n->children[2].children[0].elem_type, ValueType::kArray);
  EXPECT_EQ(n->children[2].children[0].count, 0u);
  EXPECT_EQ(n->children[3].count, 0u);
  EXPECT_EQ(n->ToString(), "[[\"x\", \"yy\"], [-7, 0, 1073741824], [[]], []]");
}

TEST(GgufRoundTrip, EveryValueTypeV3) {
  Writer w = AllTypesWriter();
  const std::vector<uint8_t> bytes = w.Serialize();
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ((*f)->alignment(), kDefaultAlignment);
  EXPECT_EQ((*f)->metadata().size(), 23u);
  EXPECT_EQ((*f)->metadata().front().first, "t.u8");  // file order
  EXPECT_EQ((*f)->metadata().back().first, "a.nested");
  CheckAllTypes(**f);
}

TEST(GgufRoundTrip, V2Header) {
  std::vector<uint8_t> bytes = AllTypesWriter().Serialize();
  Patch<uint32_t>(bytes, 4, 2);
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 2u);
  CheckAllTypes(**f);
}

TEST(GgufRoundTrip, SetValueCopiesEveryValue) {
  const std::vector<uint8_t> src = AllTypesWriter().Serialize();
  auto f = ParseBytes(src);
  ASSERT_TRUE(f.ok()) << f.status();
  Writer w;
  for (const auto& [key, v] : (*f)->metadata()) w.SetValue(key, v);
  const std::vector<uint8_t> copy = w.Serialize();
  EXPECT_EQ(copy, src);
  auto g = ParseBytes(copy);
  ASSERT_TRUE(g.ok()) << g.status();
  CheckAllTypes(**g);
}

TEST(GgufRoundTrip, TypedGetterErrors) {
  const std::vector<uint8_t> bytes = AllTypesWriter().Serialize();
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->GetInt("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT((*f)->GetInt("nope").status().message(), HasSubstr("nope is missing"));
  auto s = (*f)->GetString("t.u32");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("t.u32 has type u32, expected str"));
  EXPECT_FALSE((*f)->GetInt("t.f32").ok());
  EXPECT_FALSE((*f)->GetFloat("t.i32").ok());
  EXPECT_FALSE((*f)->GetBool("t.u8").ok());
  EXPECT_THAT((*f)->GetStringArray("a.i32").status().message(),
              HasSubstr("has type arr of i32, expected arr of str"));
  EXPECT_FALSE((*f)->GetIntArray("a.f32").ok());
  EXPECT_FALSE((*f)->GetFloatArray("a.str").ok());
  EXPECT_FALSE((*f)->GetIntArray("t.i32").ok());
}

TEST(GgufRoundTrip, U64ArrayOutOfInt64Range) {
  const uint64_t ok[] = {0, uint64_t{1} << 62};
  const uint64_t big[] = {1, uint64_t{1} << 63};
  Writer w;
  w.SetValue("ok", RawArray(ValueType::kUint64, ok, 2));
  w.SetValue("big", RawArray(ValueType::kUint64, big, 2));
  const std::vector<uint8_t> bytes = w.Serialize();
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_THAT(*(*f)->GetIntArray("ok"), ElementsAre(0, int64_t{1} << 62));
  auto b = (*f)->GetIntArray("big");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(b.status().message(), HasSubstr("big element 1 value 9223372036854775808 too large"));
}

struct TensorSpec {
  std::string name;
  DType type;
  std::vector<int64_t> dims;
  uint64_t bytes;
};

void CheckTensors(uint32_t alignment) {
  const std::vector<TensorSpec> specs = {
      {"a.f32", DType::kF32, {3}, 12},          {"b.q8_0", DType::kQ8_0, {64, 3}, 6 * 34},
      {"c.f16", DType::kF16, {5, 1, 2, 1}, 20}, {"d.q4_K", DType::kQ4_K, {256, 2}, 2 * 144},
      {"e.q6_K", DType::kQ6_K, {256}, 210},     {"f.bf16", DType::kBF16, {1}, 2},
      {"g.q4_0", DType::kQ4_0, {32, 2}, 36},
  };
  Writer w(alignment);
  w.SetString("general.architecture", "test");
  for (size_t i = 0; i < specs.size(); ++i) {
    std::vector<uint8_t> data(specs[i].bytes);
    for (size_t j = 0; j < data.size(); ++j) data[j] = static_cast<uint8_t>(i * 31 + j);
    ASSERT_TRUE(w.AddTensor(specs[i].name, specs[i].type, specs[i].dims, data).ok());
  }
  const std::vector<uint8_t> bytes = w.Serialize();
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), alignment);
  if (alignment != kDefaultAlignment) {
    EXPECT_EQ(*(*f)->GetInt("general.alignment"), alignment);
  }
  EXPECT_EQ((*f)->data_offset() % alignment, 0u);
  EXPECT_EQ((*f)->file_size(), bytes.size());
  ASSERT_EQ((*f)->tensors().size(), specs.size());
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    SCOPED_TRACE(specs[i].name);
    const TensorInfo& t = (*f)->tensors()[i];
    EXPECT_EQ(&t, (*f)->FindTensor(specs[i].name));
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.type, specs[i].type);
    EXPECT_EQ(t.dims, specs[i].dims);
    uint64_t n = 1;
    for (int64_t d : specs[i].dims) n *= d;
    EXPECT_EQ(t.n_elements, n);
    EXPECT_EQ(t.n_bytes, specs[i].bytes);
    EXPECT_EQ(t.offset, expected_offset);
    EXPECT_EQ(t.offset % alignment, 0u);
    EXPECT_EQ(t.data, bytes.data() + (*f)->data_offset() + t.offset);
    for (uint64_t j = 0; j < t.n_bytes; ++j) {
      ASSERT_EQ(t.data[j], static_cast<uint8_t>(i * 31 + j)) << "byte " << j;
    }
    expected_offset = (expected_offset + specs[i].bytes + alignment - 1) / alignment * alignment;
  }
  EXPECT_EQ((*f)->FindTensor("missing"), nullptr);
}

TEST(GgufRoundTrip, TensorsDefaultAlignment) { CheckTensors(kDefaultAlignment); }
TEST(GgufRoundTrip, TensorsAlignment64) { CheckTensors(64); }
TEST(GgufRoundTrip, TensorsAlignment8) { CheckTensors(8); }
TEST(GgufRoundTrip, TensorsAlignment4096) { CheckTensors(4096); }

TEST(GgufRoundTrip, WriteFileMatchesSerializeAndOpens) {
  phx::testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  Writer w = AllTypesWriter(64);
  std::vector<float> vals = {1.f, -2.f, 3.5f};
  std::vector<uint8_t> data(12);
  std::memcpy(data.data(), vals.data(), 12);
  ASSERT_TRUE(w.AddTensor("x", DType::kF32, {3}, data).ok());
  ASSERT_TRUE(w.AddTensor("y", DType::kF32, {1, 1}, [](uint8_t* dst, uint64_t n) {
                 ASSERT_EQ(n, 4u);
                 const float v = 42.f;
                 std::memcpy(dst, &v, 4);
               }).ok());
  const std::string path = dir.File("rt.gguf");
  ASSERT_TRUE(w.WriteFile(path).ok());
  EXPECT_EQ(phx::testing::ReadAll(path), w.Serialize());
  auto f = File::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->path(), path);
  EXPECT_EQ((*f)->alignment(), 64u);
  CheckAllTypes(**f);
  const TensorInfo* y = (*f)->FindTensor("y");
  ASSERT_NE(y, nullptr);
  float got;
  std::memcpy(&got, y->data, 4);
  EXPECT_EQ(got, 42.f);
  EXPECT_EQ(y->data, (*f)->mapping()->data() + (*f)->data_offset() + y->offset);
}

TEST(GgufRoundTrip, EmptyFileHasNoTensorsAndParses) {
  Writer w;
  const std::vector<uint8_t> bytes = w.Serialize();
  EXPECT_EQ(bytes.size(), 32u);  // 24-byte header padded to the alignment
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE((*f)->metadata().empty());
  EXPECT_TRUE((*f)->tensors().empty());
}

TEST(GgufWriter, RejectsBadTensors) {
  Writer w;
  EXPECT_EQ(w.AddTensor("a", DType::kQ8_0, {16}, std::vector<uint8_t>(17)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("b", DType::kF32, {}, std::vector<uint8_t>()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("c", DType::kF32, {1, 1, 1, 1, 1}, std::vector<uint8_t>(4)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("d", DType::kF32, {-1}, std::vector<uint8_t>()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("e", DType::kF32, {int64_t{1} << 62, 8}, Writer::Fill()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("f", DType::kI32, {4}, std::vector<uint8_t>(16)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("g", DType::kF32, {4}, std::vector<uint8_t>(15)).code(),
            absl::StatusCode::kInvalidArgument);
  auto f = ParseBytes(w.Serialize());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE((*f)->tensors().empty());
}

TEST(GgufFile, OpenErrorsNameThePath) {
  auto f = File::Open("/nonexistent/dir/x.gguf");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(f.status().message(), HasSubstr("/nonexistent/dir/x.gguf"));
  phx::testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string bad = dir.File("bad.gguf");
  FILE* out = std::fopen(bad.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  std::fputs("GGUF", out);
  std::fclose(out);
  auto g = File::Open(bad);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(g.status().message(), HasSubstr(bad + ": corrupt GGUF: truncated"));
  const std::string empty = dir.File("empty.gguf");
  std::fclose(std::fopen(empty.c_str(), "wb"));
  EXPECT_FALSE(File::Open(empty).ok());
}

}  // namespace
}  // namespace phx::gguf
