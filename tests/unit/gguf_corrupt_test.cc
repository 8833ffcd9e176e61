// Corrupt, truncated and hostile GGUF images: each must give a precise error, fast, and never
// crash or read out of bounds (the sanitizer build checks the last part).
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf.h"
#include "runtime/gguf/writer.h"
#include "tests/unit/gguf_test_util.h"

namespace phx::gguf {
namespace {

using ::phx::testing::Bytes;
using ::phx::testing::Patch;
using ::testing::HasSubstr;
using VT = ValueType;

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

// A file with one metadata entry whose value `body` writes.
std::vector<uint8_t> OneKv(VT type, const std::function<void(Bytes&)>& body) {
  Bytes b;
  b.Header(0, 1).Key("k", type);
  body(b);
  return b.Take();
}

// A file with one tensor info and `data_bytes` of zeroed data after the aligned header.
std::vector<uint8_t> OneTensor(const std::vector<uint64_t>& dims, uint32_t type,
                               uint64_t offset = 0, uint64_t data_bytes = 64) {
  Bytes b;
  b.Header(1, 0).TensorInfo("w", dims, type, offset).PadTo(32).Zeros(data_bytes);
  return b.Take();
}

// A file with general.alignment = `value` (of type `type`) and one f32 tensor.
std::vector<uint8_t> WithAlignment(VT type, uint64_t value, uint64_t offset = 0) {
  Bytes b;
  b.Header(1, 1).Key("general.alignment", type);
  if (type == VT::kUint64) {
    b.U64(value);
  } else {
    b.U32(static_cast<uint32_t>(value));
  }
  b.TensorInfo("w", {8}, 0, offset).PadTo(64).Zeros(128);
  return b.Take();
}

std::vector<uint8_t> DepthBomb(int depth) {
  Bytes b;
  b.Header(0, 1).Key("bomb", VT::kArray);
  for (int i = 0; i < depth; ++i) b.U32(static_cast<uint32_t>(VT::kArray)).U64(1);
  b.U32(static_cast<uint32_t>(VT::kUint8)).U64(0);
  return b.Take();
}

struct CorruptCase {
  std::string name;
  std::function<std::vector<uint8_t>()> build;
  absl::StatusCode code;
  std::string message;  // expected substring
};

const auto kLoss = absl::StatusCode::kDataLoss;
const auto kInvalid = absl::StatusCode::kInvalidArgument;
const auto kUnimpl = absl::StatusCode::kUnimplemented;

std::vector<CorruptCase> Cases();

// For each quantized type: a row that is not a whole number of blocks, and data one byte short
// of the last block.
std::vector<CorruptCase> QuantCases() {
  std::vector<CorruptCase> v;
  for (DType t : {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K,
                  DType::kQ5_K, DType::kIQ4_NL, DType::kIQ4_XS, DType::kMXFP4}) {
    const auto info = *GetDTypeInfo(t);
    const auto id = static_cast<uint32_t>(t);
    const uint64_t be = static_cast<uint64_t>(info.block_elems);
    const uint64_t bb = static_cast<uint64_t>(info.block_bytes);
    const std::string n(info.name);
    v.push_back({n + "_partial_block",
                 [=] {
                   return OneTensor({be + be / 2, 2}, id);
                 },
                 kLoss,
                 StrCat("tensor w: row length ", be + be / 2, " is not a multiple of the ", n,
                        " block size ", be)});
    v.push_back({n + "_truncated_block",
                 [=] {
                   return OneTensor({be, 3}, id, 0, 3 * bb - 1);
                 },
                 kLoss, StrCat("tensor w: data (", 3 * bb, " bytes at offset 0) runs past")});
  }
  return v;
}

std::vector<CorruptCase> AllCases() {
  std::vector<CorruptCase> v = Cases();
  for (auto& c : QuantCases()) v.push_back(std::move(c));
  return v;
}

std::vector<CorruptCase> Cases() {
  return {
      {"empty", [] { return std::vector<uint8_t>(); }, kLoss,
       "truncated file while reading magic at offset 0"},
      {"bad_magic",
       [] {
         auto b = OneTensor({8}, 0);
         b[3] = 'X';
         return b;
       },
       kInvalid, "not a GGUF file: bad magic 0x58554747"},
      {"version_1", [] { return Bytes().Header(0, 0, 1).Take(); }, kInvalid,
       "unsupported GGUF version 1 (supported: 2, 3)"},
      {"version_0", [] { return Bytes().Header(0, 0, 0).Take(); }, kInvalid,
       "unsupported GGUF version 0"},
      {"version_4", [] { return Bytes().Header(0, 0, 4).Take(); }, kInvalid,
       "unsupported GGUF version 4"},
      {"big_endian", [] { return Bytes().U32(kMagic).U32(0x03000000).U64(0).U64(0).Take(); },
       kInvalid, "big-endian GGUF files are not supported"},
      {"truncated_counts", [] { return Bytes().U32(kMagic).U32(3).U64(0).U32(0).Take(); }, kLoss,
       "truncated file while reading metadata count at offset 16"},
      {"kv_count_huge", [] { return Bytes().Header(0, uint64_t{1} << 62).Zeros(64).Take(); }, kLoss,
       "metadata count 4611686018427387904 is larger than the file allows"},
      {"kv_count_past_eof", [] { return Bytes().Header(0, 2).Key("k", VT::kUint8).U8(1).Take(); },
       kLoss, "metadata count 2 is larger than the file allows"},
      {"tensor_count_huge", [] { return Bytes().Header(kU64Max, 0).Zeros(64).Take(); }, kLoss,
       "tensor count 18446744073709551615 is larger than the file allows"},
      {"key_length_past_eof", [] { return Bytes().Header(0, 1).U64(1000).Zeros(20).Take(); }, kLoss,
       "metadata key #0: string length 1000 at offset 24 runs past the end of the file"},
      {"key_length_huge", [] { return Bytes().Header(0, 1).U64(kU64Max).Zeros(20).Take(); }, kLoss,
       "string length 18446744073709551615"},
      {"unknown_value_type", [] { return OneKv(static_cast<VT>(13), [](Bytes& b) { b.U32(0); }); },
       kLoss, "key k: unknown value type 13"},
      {"value_truncated", [] { return OneKv(VT::kUint32, [](Bytes& b) { b.U8(1); }); }, kLoss,
       "truncated file while reading k at offset 37"},
      {"string_value_past_eof",
       [] { return OneKv(VT::kString, [](Bytes& b) { b.U64(5).U8('a'); }); }, kLoss,
       "key k: string length 5 at offset 37 runs past the end of the file"},
      {"bool_2", [] { return OneKv(VT::kBool, [](Bytes& b) { b.U8(2); }); }, kLoss,
       "key k: bool value 2 is not 0 or 1"},
      {"bool_array_element_3",
       [] {
         return OneKv(VT::kArray, [](Bytes& b) {
           b.U32(static_cast<uint32_t>(VT::kBool)).U64(3).U8(1).U8(0).U8(3);
         });
       },
       kLoss, "key k: bool element is not 0 or 1"},
      {"unknown_array_element_type",
       [] { return OneKv(VT::kArray, [](Bytes& b) { b.U32(99).U64(0); }); }, kLoss,
       "key k: unknown array element type 99"},
      {"array_count_past_eof",
       [] {
         return OneKv(VT::kArray, [](Bytes& b) {
           b.U32(static_cast<uint32_t>(VT::kUint32)).U64(3).U32(1).U32(2);
         });
       },
       kLoss, "key k: array of 3 u32 runs past the end of the file"},
      {"array_bytes_overflow",
       [] {
         return OneKv(VT::kArray, [](Bytes& b) {
           b.U32(static_cast<uint32_t>(VT::kFloat64)).U64(uint64_t{1} << 61).Zeros(64);
         });
       },
       kLoss, "key k: array of 2305843009213693952 f64 runs past the end of the file"},
      {"string_array_count_huge",
       [] {
         return OneKv(VT::kArray, [](Bytes& b) {
           b.U32(static_cast<uint32_t>(VT::kString)).U64(kU64Max).Zeros(64);
         });
       },
       kLoss, "key k: array of 18446744073709551615 str runs past the end of the file"},
      {"string_array_element_past_eof",
       [] {
         return OneKv(VT::kArray, [](Bytes& b) {
           b.U32(static_cast<uint32_t>(VT::kString)).U64(2).Str("a").U64(100).Zeros(4);
         });
       },
       kLoss, "key k[1]: string length 100"},
      {"nested_array_count_huge",
       [] {
         return OneKv(VT::kArray, [](Bytes& b) {
           b.U32(static_cast<uint32_t>(VT::kArray)).U64(uint64_t{1} << 60).Zeros(64);
         });
       },
       kLoss, "key k: array of 1152921504606846976 arr runs past the end of the file"},
      {"nested_array_depth_bomb", [] { return DepthBomb(100000); }, kLoss,
       "key bomb: arrays nested deeper than 8"},
      {"duplicate_key",
       [] {
         return Bytes()
             .Header(0, 2)
             .Key("dup", VT::kUint8)
             .U8(1)
             .Key("dup", VT::kString)
             .Str("x")
             .Take();
       },
       kLoss, "duplicate metadata key dup"},
      {"alignment_0", [] { return WithAlignment(VT::kUint32, 0); }, kLoss,
       "general.alignment 0 is not a power of two"},
      {"alignment_3", [] { return WithAlignment(VT::kUint32, 3); }, kLoss,
       "general.alignment 3 is not a power of two"},
      {"alignment_u64", [] { return WithAlignment(VT::kUint64, 32); }, kLoss,
       "general.alignment has type u64, expected u32"},
      {"misaligned_offset_custom_alignment", [] { return WithAlignment(VT::kUint32, 64, 32); },
       kLoss, "tensor w: data offset 32 is not a multiple of the alignment 64"},
      {"misaligned_offset", [] { return OneTensor({8}, 0, 4); }, kLoss,
       "tensor w: data offset 4 is not a multiple of the alignment 32"},
      {"n_dims_0", [] { return OneTensor({}, 0); }, kLoss, "tensor w: 0 dimensions (1..4 allowed)"},
      {"n_dims_5",
       [] {
         return OneTensor({1, 1, 1, 1, 1}, 0);
       },
       kLoss, "tensor w: 5 dimensions (1..4 allowed)"},
      {"dims_product_overflow",
       [] {
         return OneTensor({uint64_t{1} << 32, uint64_t{1} << 31, 4}, 0);
       },
       kLoss, "tensor w: dimensions overflow the element count"},
      {"dim_above_int64", [] { return OneTensor({uint64_t{1} << 63}, 0); }, kLoss,
       "tensor w: dimensions overflow the element count"},
      {"byte_size_overflow",
       [] {
         return OneTensor({uint64_t{1} << 31, uint64_t{1} << 31}, 0);
       },
       kLoss, "tensor w: byte size overflows"},
      {"type_iq2_xxs", [] { return OneTensor({256}, 16); }, kUnimpl,
       "unsupported tensor type iq2_xxs in tensor w"},
      {"type_tq1_0", [] { return OneTensor({256}, 34); }, kUnimpl,
       "unsupported tensor type tq1_0 in tensor w"},
      {"type_i32", [] { return OneTensor({8}, 26); }, kUnimpl,
       "unsupported tensor type i32 in tensor w"},
      {"type_retired_4", [] { return OneTensor({8}, 4); }, kUnimpl,
       "unsupported tensor type 4 in tensor w"},
      {"type_never_defined", [] { return OneTensor({8}, 77777); }, kUnimpl,
       "unsupported tensor type 77777 in tensor w"},
      {"type_internal_i32", [] { return OneTensor({8}, 1000); }, kUnimpl,
       "unsupported tensor type 1000 in tensor w"},
      {"row_not_block_multiple",
       [] {
         return OneTensor({16, 2}, 8);
       },
       kLoss, "tensor w: row length 16 is not a multiple of the q8_0 block size 32"},
      {"duplicate_tensor_name",
       [] {
         return Bytes()
             .Header(2, 0)
             .TensorInfo("w", {8}, 0, 0)
             .TensorInfo("w", {8}, 0, 32)
             .PadTo(32)
             .Zeros(64)
             .Take();
       },
       kLoss, "duplicate tensor name w"},
      {"tensor_name_past_eof", [] { return Bytes().Header(1, 0).U64(5000).Zeros(40).Take(); },
       kLoss, "tensor name #0: string length 5000 at offset 24 runs past the end of the file"},
      {"tensor_dims_truncated",
       [] { return Bytes().Header(1, 0).Str("long_tensor_name").U32(2).U64(8).Zeros(4).Take(); },
       kLoss, "truncated file while reading dimensions of tensor long_tensor_name"},
      {"tensor_data_past_eof", [] { return OneTensor({8}, 0, 0, 16); }, kLoss,
       "tensor w: data (32 bytes at offset 0) runs past the end of the file"},
      {"tensor_offset_past_eof", [] { return OneTensor({8}, 0, 64, 64); }, kLoss,
       "tensor w: data (32 bytes at offset 64) runs past the end of the file"},
      {"tensor_offset_overflow", [] { return OneTensor({8}, 0, kU64Max - 31, 64); }, kLoss,
       "runs past the end of the file"},
      {"data_section_past_eof",
       [] { return Bytes().Header(1, 0).TensorInfo("w", {0}, 0, 0).Take(); }, kLoss,
       "data section at offset 64 starts past the end of the file (57 bytes)"},
  };
}

class GgufCorruptTest : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(GgufCorruptTest, FailsWithPreciseError) {
  const CorruptCase& c = GetParam();
  const std::vector<uint8_t> bytes = c.build();
  // An exactly sized heap copy, so the sanitizers see any read past the end.
  std::unique_ptr<uint8_t[]> exact(new uint8_t[bytes.size() + 1]);
  if (!bytes.empty()) std::memcpy(exact.get(), bytes.data(), bytes.size());
  const auto start = std::chrono::steady_clock::now();
  auto f = File::Parse(bytes.empty() ? nullptr : exact.get(), bytes.size());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(f.ok()) << "parsed a corrupt file";
  EXPECT_EQ(f.status().code(), c.code) << f.status();
  EXPECT_THAT(f.status().message(), HasSubstr(c.message));
  if (c.code == kLoss) {
    EXPECT_EQ(std::string(f.status().message()).rfind("corrupt GGUF: ", 0), 0u);
  }
  EXPECT_LT(seconds, 1.0) << "corrupt input must fail fast";
}

INSTANTIATE_TEST_SUITE_P(Table, GgufCorruptTest, ::testing::ValuesIn(AllCases()),
                         [](const auto& info) { return info.param.name; });

// A small valid file using every value type, nested arrays and two tensors, the last one
// ending exactly at the end of the file: every strict prefix is then invalid.
std::vector<uint8_t> SmallValidFile() {
  Writer w;
  w.SetString("general.architecture", "llama");
  w.SetU32("u32", 7);
  w.SetI32("i32", -7);
  w.SetU64("u64", 1);
  w.SetF32("f32", 1.f);
  w.SetBool("bool", true);
  w.SetStringArray("strs", {"a", "bc"});
  w.SetI32Array("ints", {1, 2});
  Value inner;
  inner.type = ValueType::kArray;
  inner.elem_type = ValueType::kString;
  inner.count = 1;
  inner.strings = {"z"};
  Value outer;
  outer.type = ValueType::kArray;
  outer.elem_type = ValueType::kArray;
  outer.count = 2;
  outer.children = {inner, inner};
  w.SetValue("nested", outer);
  EXPECT_TRUE(w.AddTensor("q", DType::kQ8_0, {32}, std::vector<uint8_t>(34, 1)).ok());
  EXPECT_TRUE(w.AddTensor("f", DType::kF32, {8}, std::vector<uint8_t>(32, 2)).ok());
  return w.Serialize();
}

TEST(GgufCorrupt, EveryStrictPrefixFails) {
  const std::vector<uint8_t> full = SmallValidFile();
  auto ok = phx::testing::ParseBytes(full);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ((*ok)->tensors().back().data + 32, full.data() + full.size());
  for (size_t len = 0; len < full.size(); ++len) {
    std::unique_ptr<uint8_t[]> prefix(new uint8_t[len + 1]);
    std::memcpy(prefix.get(), full.data(), len);
    auto f = File::Parse(prefix.get(), len);
    ASSERT_FALSE(f.ok()) << "prefix of " << len << " bytes parsed";
    EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss) << len << ": " << f.status();
  }
}

TEST(GgufCorrupt, SingleByteMutationsNeverCrash) {
  const std::vector<uint8_t> full = SmallValidFile();
  auto ok = phx::testing::ParseBytes(full);
  ASSERT_TRUE(ok.ok()) << ok.status();
  const size_t header_end = (*ok)->data_offset();
  int failures = 0;
  for (size_t i = 0; i < header_end; ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0x01}, uint8_t{0x7F}, uint8_t{0xFF}}) {
      std::vector<uint8_t> m = full;
      if (m[i] == v) continue;
      m[i] = v;
      auto f = phx::testing::ParseBytes(m);
      if (!f.ok()) {
        ++failures;
        continue;
      }
      // Whatever parsed must stay inside the image.
      for (const auto& t : (*f)->tensors()) {
        ASSERT_GE(t.data, m.data());
        ASSERT_LE(t.data + t.n_bytes, m.data() + m.size());
      }
    }
  }
  EXPECT_GT(failures, 0);
}

TEST(GgufCorrupt, DepthLimitAllowsEightLevels) {
  // Top-level array plus 7 nested levels is the deepest accepted.
  auto ok = phx::testing::ParseBytes(DepthBomb(7));
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto bad = phx::testing::ParseBytes(DepthBomb(8));
  EXPECT_THAT(bad.status().message(), HasSubstr("nested deeper than 8"));
}

}  // namespace
}  // namespace phx::gguf
