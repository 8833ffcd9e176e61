// Writes a small seed corpus for gguf_fuzz into a directory: tiny synthesized models of every
// family (llama, qwen2, qwen3, gemma2, gemma3, phi3, mixtral, qwen3moe, bert: their metadata keys
// and tensors; every synthesizable dtype) over a 16-token vocabulary (a WordPiece one for bert),
// a file with every metadata type and tensor type, and a GGUF v2 variant. Usage: make_gguf_seeds
// OUT_DIR
#include <cstdio>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "runtime/gguf/gguf.h"
#include "runtime/gguf/writer.h"
#include "runtime/model/synth.h"

namespace {

using phx::DType;
using phx::gguf::Value;
using phx::gguf::ValueType;
using phx::gguf::Writer;

bool Check(const absl::Status& s, const std::string& what) {
  if (!s.ok())
    std::fprintf(stderr, "make_gguf_seeds: %s: %s\n", what.c_str(),
                 std::string(s.message()).c_str());
  return s.ok();
}

bool WriteVocab(const std::string& path) {
  Writer w;
  w.SetString("general.architecture", "llama");
  w.SetString("tokenizer.ggml.model", "llama");
  std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
  for (char c = 'a'; toks.size() < 16; ++c) toks.push_back(std::string("\xE2\x96\x81") + c);
  std::vector<std::string_view> views(toks.begin(), toks.end());
  w.SetStringArray("tokenizer.ggml.tokens", views);
  std::vector<float> scores(toks.size());
  std::vector<int32_t> types(toks.size(), 1);
  for (size_t i = 0; i < toks.size(); ++i) scores[i] = -static_cast<float>(i);
  types[0] = 2;
  types[1] = types[2] = 3;
  w.SetF32Array("tokenizer.ggml.scores", scores);
  w.SetI32Array("tokenizer.ggml.token_type", types);
  w.SetU32("tokenizer.ggml.bos_token_id", 1);
  w.SetU32("tokenizer.ggml.eos_token_id", 2);
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  return Check(w.WriteFile(path), path);
}

// A 16-token WordPiece vocabulary (tokenizer.ggml.model "bert", its special-token keys).
bool WriteBertVocab(const std::string& path) {
  Writer w;
  w.SetString("general.architecture", "bert");
  w.SetString("tokenizer.ggml.model", "bert");
  std::vector<std::string> toks = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (char c = 'a'; toks.size() < 12; ++c) toks.push_back(std::string("\xE2\x96\x81") + c);
  for (char c = 'a'; toks.size() < 16; ++c) toks.push_back(std::string(1, c));  // "##a"
  std::vector<std::string_view> views(toks.begin(), toks.end());
  w.SetStringArray("tokenizer.ggml.tokens", views);
  std::vector<int32_t> types(toks.size(), 1);
  types[0] = types[2] = types[3] = types[4] = 3;
  types[1] = 2;
  w.SetI32Array("tokenizer.ggml.token_type", types);
  w.SetU32("tokenizer.ggml.token_type_count", 2);
  w.SetU32("tokenizer.ggml.unknown_token_id", 1);
  w.SetU32("tokenizer.ggml.cls_token_id", 2);
  w.SetU32("tokenizer.ggml.bos_token_id", 2);
  w.SetU32("tokenizer.ggml.seperator_token_id", 3);
  w.SetU32("tokenizer.ggml.padding_token_id", 0);
  w.SetU32("tokenizer.ggml.mask_token_id", 4);
  return Check(w.WriteFile(path), path);
}

// Every metadata value type (nested arrays included) and one tensor of every supported type.
bool WriteAllTypes(const std::string& path, const std::string& v2_path) {
  Writer w(64);
  const uint8_t u8s[] = {1, 2, 3};
  const double f64s[] = {0.5, -2};
  Value v;
  v.type = ValueType::kUint8;
  v.scalar = uint64_t{7};
  w.SetValue("u8", v);
  v.type = ValueType::kInt16;
  v.scalar = int64_t{-3};
  w.SetValue("i16", v);
  v.type = ValueType::kFloat64;
  v.scalar = 1.25;
  w.SetValue("f64", v);
  w.SetU32("u32", 1);
  w.SetI32("i32", -1);
  w.SetU64("u64", 1);
  w.SetF32("f32", 0.5f);
  w.SetBool("bool", true);
  w.SetString("str", "s");
  w.SetStringArray("strs", {"a", "b"});
  w.SetF32Array("f32s", {1.f});
  w.SetI32Array("i32s", {1, -1});
  Value raw;
  raw.type = ValueType::kArray;
  raw.elem_type = ValueType::kUint8;
  raw.count = 3;
  raw.raw = u8s;
  w.SetValue("u8s", raw);
  raw.elem_type = ValueType::kFloat64;
  raw.count = 2;
  raw.raw = reinterpret_cast<const uint8_t*>(f64s);
  w.SetValue("f64s", raw);
  Value strs;
  strs.type = ValueType::kArray;
  strs.elem_type = ValueType::kString;
  strs.count = 1;
  strs.strings = {"x"};
  Value nested;
  nested.type = ValueType::kArray;
  nested.elem_type = ValueType::kArray;
  nested.count = 2;
  nested.children = {strs, raw};
  w.SetValue("nested", nested);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1,
                  DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K,
                  DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS, DType::kMXFP4}) {
    const int64_t n =
        phx::GetDTypeInfo(t)->block_elems == 1 ? 8 : phx::GetDTypeInfo(t)->block_elems;
    std::vector<uint8_t> bytes(*phx::RowBytes(t, n));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 + 11);
    if (!Check(w.AddTensor(std::string("t.") + std::string(phx::DTypeName(t)), t, {n, 1}, bytes),
               "tensor")) {
      return false;
    }
  }
  if (!Check(w.WriteFile(path), path)) return false;
  std::vector<uint8_t> b = w.Serialize();
  b[4] = 2;  // version field
  FILE* f = std::fopen(v2_path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(b.data(), 1, b.size(), f) == b.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_gguf_seeds OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::string vocab = dir + "/vocab16.gguf";
  if (!WriteVocab(vocab)) return 1;
  const std::string bert_vocab = dir + "/vocab16_bert.gguf";
  if (!WriteBertVocab(bert_vocab)) return 1;
  if (!WriteAllTypes(dir + "/alltypes.gguf", dir + "/alltypes_v2.gguf")) return 1;
  struct Seed {
    const char* name;
    const char* arch;
    DType dtype;
    bool tied;
    // Family options: the metadata keys of issue 24's families (experts, windows, soft-caps,
    // RoPE scaling of each kind) so the fuzzer mutates them.
    void (*family)(phx::model::SynthOptions&) = nullptr;
    const char* mix = "";    // a llama.cpp file type (--mix) instead of dtype
    bool wordpiece = false;  // the WordPiece vocabulary (bert)
  };
  using O = phx::model::SynthOptions;
  // The 32-wide models keep every tensor in one block (the K-quant seeds fall back as llama.cpp
  // does: Q4_K -> Q5_0, ...); the 256-wide ones hold real super-blocks of each type in the
  // matrices whose rows are 256 long (one 32-wide head and a 32-wide FFN keep them small).
  for (const Seed& s :
       {Seed{"llama_f32", "llama", DType::kF32, false},
        Seed{"llama_f16", "llama", DType::kF16, false},
        Seed{"llama_bf16_tied", "llama", DType::kBF16, true},
        Seed{"llama_q8_0", "llama", DType::kQ8_0, false},
        Seed{"llama_q4_0", "llama", DType::kQ4_0, true},
        Seed{"qwen2_f16", "qwen2", DType::kF16, false},
        Seed{"llama_llama3_rope", "llama", DType::kF32, false,
             [](O& o) { o.rope_scaling = "llama3", o.rope_orig_ctx = 16; }},
        Seed{"llama_yarn", "llama", DType::kF16, false,
             [](O& o) { o.rope_scaling = "yarn", o.rope_orig_ctx = 16; }},
        Seed{"qwen3_f16", "qwen3", DType::kF16, true},
        Seed{"gemma2_f16", "gemma2", DType::kF16, true,
             [](O& o) { o.sliding_window = 8, o.attn_softcap = 5, o.final_softcap = 10; }},
        Seed{"gemma3_f16", "gemma3", DType::kF16, true,
             [](O& o) {
               o.sliding_window = 8, o.swa_pattern = 2, o.final_softcap = 10;
               o.rope_scaling = "linear";
             }},
        Seed{"phi3_longrope", "phi3", DType::kF16, false,
             [](O& o) { o.rope_scaling = "longrope", o.rope_orig_ctx = 16, o.n_rot = 12; }},
        Seed{"mixtral_f16", "mixtral", DType::kF16, false,
             [](O& o) { o.n_expert = 4, o.n_expert_used = 2; }},
        Seed{"qwen3moe_q8_0", "qwen3moe", DType::kQ8_0, false,
             [](O& o) { o.n_expert = 4, o.n_expert_used = 2, o.n_ff_expert = 32; }},
        Seed{"llama_q4_1", "llama", DType::kQ4_1, false},
        Seed{"llama_q5_0", "llama", DType::kQ5_0, false},
        Seed{"llama_q5_1", "llama", DType::kQ5_1, true},
        Seed{"llama_iq4_nl", "llama", DType::kIQ4_NL, false},
        Seed{"llama_mxfp4", "llama", DType::kMXFP4, false},
        Seed{"llama256_q2_K", "llama", DType::kQ2_K, false},
        Seed{"llama256_q3_K", "llama", DType::kQ3_K, false},
        Seed{"llama256_q5_K", "llama", DType::kQ5_K, true},
        Seed{"llama256_q6_K", "llama", DType::kQ6_K, false},
        Seed{"llama256_iq4_xs", "llama", DType::kIQ4_XS, false},
        Seed{"llama256_Q4_K_M", "llama", DType::kF16, false, nullptr, "Q4_K_M"},
        // bert: attention.causal, attention.layer_norm_epsilon, position and token-type
        // embeddings, post-LN norms with biases.
        Seed{"bert_f16", "bert", DType::kF16, false, [](O& o) { o.n_head_kv = o.n_head; }, "",
             true},
        Seed{"bert_f32", "bert", DType::kF32, false, [](O& o) { o.n_head_kv = o.n_head; }, "",
             true}}) {
    const bool wide = std::string(s.name).find("256") != std::string::npos;
    phx::model::SynthOptions o;
    o.arch = s.arch;
    o.vocab_from = s.wordpiece ? bert_vocab : vocab;
    o.mix = s.mix;
    o.n_layer = 1;
    o.n_embd = wide ? 256 : 32;
    o.n_ff = 32;
    o.n_head = wide ? 1 : 2;
    o.n_head_kv = 1;
    o.head_dim = wide ? 32 : 0;
    o.context_length = 64;
    o.dtype = s.dtype;
    o.tied_output = s.tied;
    if (s.family) s.family(o);
    const std::string out = dir + "/" + s.name + ".gguf";
    if (!Check(phx::model::SynthesizeModel(o, out), out)) return 1;
  }
  std::printf("%s\n", dir.c_str());
  return 0;
}
