// libFuzzer target for the GGUF reader: parse any bytes, then touch every metadata value and
// tensor (dequantizing each tensor's first row, checking every block's scales as a model load
// does), derive a ModelConfig, and check that a
// re-serialization through gguf::Writer parses back to the same metadata and tensors.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "runtime/gguf/gguf.h"
#include "runtime/gguf/writer.h"
#include "runtime/model/config.h"

namespace {

using phx::gguf::File;
using phx::gguf::Value;
using phx::gguf::ValueType;

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

volatile uint64_t g_sink;

void Touch(const uint8_t* p, size_t n) {
  uint64_t h = 0;
  for (size_t i = 0; i < n; ++i) h = h * 31 + p[i];
  g_sink = g_sink + h;
}

void TouchValue(const Value& v, const uint8_t* lo, const uint8_t* hi) {
  if (!v.is_array()) {
    if (const auto* s = std::get_if<std::string_view>(&v.scalar)) {
      FUZZ_CHECK(s->empty() || (reinterpret_cast<const uint8_t*>(s->data()) >= lo &&
                                reinterpret_cast<const uint8_t*>(s->data()) + s->size() <= hi));
      Touch(reinterpret_cast<const uint8_t*>(s->data()), s->size());
    }
    return;
  }
  if (v.elem_type == ValueType::kString) {
    FUZZ_CHECK(v.strings.size() == v.count);
    for (auto s : v.strings) Touch(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  } else if (v.elem_type == ValueType::kArray) {
    FUZZ_CHECK(v.children.size() == v.count);
    for (const auto& c : v.children) TouchValue(c, lo, hi);
  } else {
    const size_t n = v.count * phx::gguf::ScalarSize(v.elem_type);
    FUZZ_CHECK(n == 0 || (v.raw >= lo && v.raw + n <= hi));
    Touch(v.raw, n);
  }
}

void TouchGetters(const File& f, const std::string& key) {
  // Every getter must either succeed or return a status, whatever the value's type.
  (void)f.GetString(key);
  (void)f.GetInt(key);
  (void)f.GetFloat(key);
  (void)f.GetBool(key);
  (void)f.GetStringArray(key);
  (void)f.GetFloatArray(key);
  (void)f.GetIntArray(key);
}

// Writes `f` again with gguf::Writer and checks the copy reads back the same.
void CheckRoundTrip(const File& f) {
  uint64_t total = 0;
  for (const auto& t : f.tensors()) total += t.n_bytes;
  // Overlapping tensors can claim a lot of bytes, and a huge alignment a huge padding.
  if (total > (uint64_t{16} << 20) || f.alignment() > (1u << 16)) return;
  phx::gguf::Writer w(f.alignment());
  for (const auto& [key, v] : f.metadata()) {
    if (key != "general.alignment") w.SetValue(key, v);
  }
  for (const auto& t : f.tensors()) {
    FUZZ_CHECK(
        w.AddTensor(t.name, t.type, t.dims, std::vector<uint8_t>(t.data, t.data + t.n_bytes)).ok());
  }
  const std::vector<uint8_t> bytes = w.Serialize();
  auto g = File::Parse(bytes.data(), bytes.size());
  FUZZ_CHECK(g.ok());
  size_t n_meta = 0;
  for (const auto& [key, v] : f.metadata()) {
    if (key == "general.alignment") continue;
    ++n_meta;
    const Value* c = (*g)->Find(key);
    FUZZ_CHECK(c != nullptr);
    FUZZ_CHECK(c->type == v.type && c->ToString(1 << 20) == v.ToString(1 << 20));
  }
  FUZZ_CHECK((*g)->metadata().size() == n_meta + ((*g)->Has("general.alignment") ? 1 : 0));
  FUZZ_CHECK((*g)->tensors().size() == f.tensors().size());
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const auto& a = f.tensors()[i];
    const auto& b = (*g)->tensors()[i];
    FUZZ_CHECK(a.name == b.name && a.type == b.type && a.dims == b.dims && a.n_bytes == b.n_bytes &&
               a.n_elements == b.n_elements);
    FUZZ_CHECK(a.n_bytes == 0 || std::memcmp(a.data, b.data, a.n_bytes) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = File::Parse(data, size);
  if (!parsed.ok()) return 0;
  const File& f = **parsed;
  const uint8_t* lo = data;
  const uint8_t* hi = data + size;
  FUZZ_CHECK(f.version() == 2 || f.version() == 3);
  FUZZ_CHECK(f.alignment() != 0 && (f.alignment() & (f.alignment() - 1)) == 0);
  for (const auto& [key, v] : f.metadata()) {
    FUZZ_CHECK(f.Find(key) == &v);
    TouchValue(v, lo, hi);
    g_sink = g_sink + v.ToString(64).size();
    TouchGetters(f, key);
  }
  std::vector<float> row;
  for (const auto& t : f.tensors()) {
    FUZZ_CHECK(f.FindTensor(t.name) == &t);
    FUZZ_CHECK(!t.dims.empty() && t.dims.size() <= 4);
    FUZZ_CHECK(t.n_bytes == 0 || (t.data >= lo && t.data + t.n_bytes <= hi));
    FUZZ_CHECK((t.data - lo - f.data_offset()) % f.alignment() == 0);
    const auto info = phx::GetDTypeInfo(t.type);
    FUZZ_CHECK(info.has_value());
    if (t.n_elements == 0) continue;
    // The first row: dims[0] elements, a whole number of blocks inside the tensor's bytes.
    const int64_t n = t.dims[0];
    const auto row_bytes = phx::RowBytes(t.type, static_cast<uint64_t>(n));
    FUZZ_CHECK(row_bytes.has_value() && *row_bytes <= t.n_bytes);
    row.resize(static_cast<size_t>(n));
    const bool ok = phx::DequantizeRow(t.type, t.data, row.data(), n);
    FUZZ_CHECK(ok);
    // The scale check a model load runs over every block of the tensor (bad scales: an error).
    const int64_t blocks = static_cast<int64_t>(t.n_bytes) / info->block_bytes;
    const int64_t bad = phx::FirstInvalidBlock(t.type, t.data, blocks);
    FUZZ_CHECK(bad >= -1 && bad < blocks);
    Touch(reinterpret_cast<const uint8_t*>(row.data()), row.size() * sizeof(float));
  }
  auto cfg = phx::model::ConfigFromGguf(f);
  if (cfg.ok()) {
    FUZZ_CHECK(cfg->n_head > 0 && cfg->n_head_kv > 0 && cfg->n_head % cfg->n_head_kv == 0);
    FUZZ_CHECK(cfg->head_dim > 0 && cfg->vocab_size >= 0);
    FUZZ_CHECK(static_cast<int64_t>(cfg->layers.size()) == cfg->n_layer);
    // Rotary models rotate an even number of dims up to the head; bert (absolute positions)
    // rotates none.
    if (cfg->rope_type == phx::model::RopeType::kNone) {
      FUZZ_CHECK(cfg->n_rot == 0);
    } else {
      FUZZ_CHECK(cfg->n_rot > 0 && cfg->n_rot <= cfg->head_dim && cfg->n_rot % 2 == 0);
    }
    FUZZ_CHECK(!cfg->moe() || (cfg->n_expert_used >= 1 && cfg->n_expert_used <= cfg->n_expert &&
                               cfg->n_ff_expert > 0));
    FUZZ_CHECK(cfg->moe() || cfg->n_ff > 0);
    FUZZ_CHECK(cfg->attn_scale > 0 && cfg->rope_scale_factor > 0);
    g_sink = g_sink + cfg->Summary().size() + cfg->FeatureList().size();
  }
  CheckRoundTrip(f);
  return 0;
}
