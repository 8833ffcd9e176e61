// Checks Phalanx's quantization code against llama.cpp's own libraries (the prebuilt CPU build
// of node-llama-cpp that scripts/peer-setup installs), loaded with dlopen:
//
//   quant_peer_check blocks LIBDIR
//       For every type Phalanx quantizes: QuantizeRow's bytes equal ggml_quantize_chunk's on rows
//       of many shapes of data (what llama-quantize writes without an imatrix), and
//       DequantizeRow's floats equal ggml's to_float bit for bit on random blocks, extreme
//       scales included.
//   quant_peer_check quantize LIBDIR IN.gguf OUT.gguf FTYPE [pure|imatrix]
//       Runs llama.cpp's llama_model_quantize (llama-quantize) on IN with file type FTYPE
//       (with "pure": every tensor in the file type's default type, llama-quantize --pure; with
//       "imatrix": an all-ones importance matrix, which Q2_K_S insists on).
//   quant_peer_check tensors LIBDIR FILE.gguf
//       Each tensor's name and type as llama.cpp's own GGUF reader (gguf_init_from_file) and
//       ggml_type_name see them, one "name type" line each.
//   quant_peer_check compare A.gguf B.gguf [types]
//       Every tensor of A is in B with the same type, shape and bytes (only type and shape with
//       "types"), and vice versa, and general.file_type agrees.
//
// Exit status 0 on success, 1 on any mismatch (the first ones are printed), 2 on usage errors.
#include <dlfcn.h>
#include <glob.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "runtime/gguf/gguf.h"

namespace {

using phx::DType;

struct TypeTraits {  // ggml.h's struct ggml_type_traits
  const char* type_name;
  int64_t blck_size;
  int64_t blck_size_interleave;
  size_t type_size;
  bool is_quantized;
  void (*to_float)(const void* x, float* y, int64_t k);
  void (*from_float_ref)(const float* x, void* y, int64_t k);
};

struct Ggml {
  void* handle = nullptr;
  size_t (*quantize_chunk)(int type, const float* src, void* dst, int64_t start, int64_t nrows,
                           int64_t n_per_row, const float* imatrix) = nullptr;
  const TypeTraits* (*get_type_traits)(int type) = nullptr;
  const char* (*type_name)(int type) = nullptr;
};

void* OpenLib(const std::string& dir, const std::string& pattern) {
  glob_t g;
  const std::string pat = dir + "/" + pattern;
  if (glob(pat.c_str(), 0, nullptr, &g) != 0 || g.gl_pathc == 0) {
    std::fprintf(stderr, "quant_peer_check: no %s\n", pat.c_str());
    return nullptr;
  }
  void* h = dlopen(g.gl_pathv[0], RTLD_NOW | RTLD_GLOBAL);
  if (h == nullptr) std::fprintf(stderr, "quant_peer_check: dlopen: %s\n", dlerror());
  globfree(&g);
  return h;
}

template <typename F>
bool Sym(void* h, const char* name, F* f) {
  *f = reinterpret_cast<F>(dlsym(h, name));
  if (*f == nullptr) std::fprintf(stderr, "quant_peer_check: no symbol %s\n", name);
  return *f != nullptr;
}

bool LoadGgml(const std::string& dir, Ggml* g) {
  g->handle = OpenLib(dir, "libggml-base.so");
  return g->handle != nullptr && Sym(g->handle, "ggml_quantize_chunk", &g->quantize_chunk) &&
         Sym(g->handle, "ggml_get_type_traits", &g->get_type_traits) &&
         Sym(g->handle, "ggml_type_name", &g->type_name);
}

const DType kTypes[] = {DType::kQ4_0,   DType::kQ4_1,   DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                        DType::kQ2_K,   DType::kQ3_K,   DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                        DType::kIQ4_NL, DType::kIQ4_XS, DType::kMXFP4};

// Rows of K values in many shapes: the quantizers' branches (all-zero and constant blocks,
// single outliers, one sign only, exact halves, tiny and huge magnitudes).
std::vector<std::pair<std::string, std::vector<float>>> TestRows(std::mt19937_64& rng, int64_t K) {
  std::vector<std::pair<std::string, std::vector<float>>> rows;
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::normal_distribution<float> nrm(0.f, 1.f);
  auto make = [&](const std::string& name, auto gen) {
    std::vector<float> r(static_cast<size_t>(K));
    for (int64_t i = 0; i < K; ++i) r[i] = gen(i);
    rows.emplace_back(name, std::move(r));
  };
  for (int rep = 0; rep < 6; ++rep) {
    make("uniform", [&](int64_t) { return u(rng); });
    make("normal", [&](int64_t) { return nrm(rng) * 0.05f; });
  }
  make("outliers", [&](int64_t i) { return i % 97 == 5 ? 40.f * u(rng) : nrm(rng); });
  make("zeros", [&](int64_t) { return 0.f; });
  make("zero blocks", [&](int64_t i) { return (i / 32) % 3 == 1 ? 0.f : u(rng); });
  make("constant", [&](int64_t) { return 0.375f; });
  make("negative constant", [&](int64_t) { return -2.5f; });
  make("positive", [&](int64_t) { return std::fabs(u(rng)) + 0.1f; });
  make("negative", [&](int64_t) { return -std::fabs(nrm(rng)); });
  make("one spike", [&](int64_t i) { return i % 256 == 17 ? 3.f : 0.f; });
  make("halves", [&](int64_t) { return std::round(u(rng) * 16.f) * 0.5f; });
  make("tiny", [&](int64_t) { return u(rng) * 1e-20f; });
  make("huge", [&](int64_t) { return u(rng) * 3e4f; });
  make("sparse", [&](int64_t i) { return i % 7 == 0 ? nrm(rng) : 0.f; });
  make("ramp", [&](int64_t i) { return static_cast<float>(i % 32) - 15.5f; });
  // Scale exactly 1 for Q8_0 (amax 127) and every other value a .5 tie: round-half-away.
  make("ties", [&](int64_t i) {
    return i % 32 == 0 ? 127.f : static_cast<float>(static_cast<int>(rng() % 250) - 125) + 0.5f;
  });
  return rows;
}

int CheckBlocks(const Ggml& g) {
  std::mt19937_64 rng(20251127);
  int failures = 0;
  const int64_t K = 768;  // 3 super-blocks, 24 blocks of 32
  for (DType t : kTypes) {
    const int gt = static_cast<int>(t);
    const std::string name(phx::DTypeName(t));
    if (name != g.type_name(gt)) {
      std::printf("FAIL %s: llama.cpp names type %d '%s'\n", name.c_str(), gt, g.type_name(gt));
      ++failures;
      continue;
    }
    const size_t rb = *phx::RowBytes(t, K);
    int rows_ok = 0, rows = 0;
    for (const auto& [kind, x] : TestRows(rng, K)) {
      ++rows;
      std::vector<uint8_t> ours(rb, 0xAA), theirs(rb, 0x55);
      phx::QuantizeRow(t, x.data(), ours.data(), K);
      const size_t n = g.quantize_chunk(gt, x.data(), theirs.data(), 0, 1, K, nullptr);
      if (n != rb || ours != theirs) {
        size_t at = 0;
        while (at < rb && ours[at] == theirs[at]) ++at;
        if (failures < 40) {
          std::printf(
              "FAIL quantize %s, %s row: byte %zu of %zu differs (ours %02x, llama.cpp %02x)\n",
              name.c_str(), kind.c_str(), at, rb, at < rb ? ours[at] : 0, at < rb ? theirs[at] : 0);
        }
        ++failures;
      } else {
        ++rows_ok;
      }
    }
    // Dequantization: random bytes with finite scales (kept where they fall: random f16 bits
    // cover subnormal, huge and negative scales), plus all-zero and all-0xFF blocks where valid.
    const TypeTraits* tr = g.get_type_traits(gt);
    const int64_t be = phx::GetDTypeInfo(t)->block_elems, bb = phx::GetDTypeInfo(t)->block_bytes;
    const int64_t nblocks = 4096;
    std::vector<uint8_t> blocks(static_cast<size_t>(nblocks * bb));
    for (auto& b : blocks) b = static_cast<uint8_t>(rng());
    std::memset(blocks.data(), 0, bb);
    std::memset(blocks.data() + bb, 0xFF, bb);
    for (int64_t i = 0; i < nblocks; ++i) {  // make every scale finite (f16 exponent != 31)
      while (phx::FirstInvalidBlock(t, blocks.data() + i * bb, 1) == 0) {
        for (int64_t j = 0; j < bb; ++j) blocks[i * bb + j] &= static_cast<uint8_t>(rng() | 0x10);
      }
    }
    std::vector<float> a(static_cast<size_t>(nblocks * be)), b(a.size());
    phx::DequantizeRow(t, blocks.data(), a.data(), nblocks * be);
    tr->to_float(blocks.data(), b.data(), nblocks * be);
    int64_t bad = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::memcmp(&a[i], &b[i], 4) != 0 && !(std::isnan(a[i]) && std::isnan(b[i]))) {
        if (bad == 0) {
          std::printf("FAIL dequantize %s: element %zu (block %zu): ours %.9g, llama.cpp %.9g\n",
                      name.c_str(), i, i / be, a[i], b[i]);
        }
        ++bad;
      }
    }
    failures += bad > 0;
    std::printf("%-7s quantize: %d/%d rows byte-identical; dequantize: %" PRId64 " blocks, %" PRId64
                " values differ\n",
                name.c_str(), rows_ok, rows, nblocks, bad);
  }
  return failures == 0 ? 0 : 1;
}

int Quantize(const std::string& dir, const std::string& in, const std::string& out, int ftype,
             const std::string& mode) {
  void* base = OpenLib(dir, "libggml-base.so");
  void* ggml = OpenLib(dir, "libggml.v*.so");
  void* llama = OpenLib(dir, "libllama.v*.so");
  if (base == nullptr || ggml == nullptr || llama == nullptr) return 2;
  void (*load_all_from_path)(const char*) = nullptr;
  void (*backend_init)() = nullptr;
  uint32_t (*quantize)(const char*, const char*, const void*) = nullptr;
  if (!Sym(ggml, "ggml_backend_load_all_from_path", &load_all_from_path) ||
      !Sym(llama, "llama_backend_init", &backend_init) ||
      !Sym(llama, "llama_model_quantize", &quantize)) {
    return 2;
  }
  // llama.h's llama_model_quantize_params up to `pure`; the rest is taken from
  // llama_model_quantize_default_params (returned by value into a roomy buffer). The defaults
  // are checked to make sure the fields sit where this expects them.
  struct Params {
    int32_t nthread;
    int32_t ftype;
    int32_t output_tensor_type;
    int32_t token_embedding_type;
    bool allow_requantize;
    bool quantize_output_tensor;
    bool only_copy;
    bool pure;
    bool keep_split;
    bool dry_run;
    const void* imatrix;  // const llama_model_imatrix_data*
    uint8_t rest[512];
  };
  struct ImatrixEntry {  // llama_model_imatrix_data
    const char* name;
    const float* data;
    size_t size;
  };
  Params (*defaults)() = nullptr;
  if (!Sym(llama, "llama_model_quantize_default_params", &defaults)) return 2;
  load_all_from_path(dir.c_str());
  backend_init();
  Params p = defaults();
  if (p.output_tensor_type != 43 || p.token_embedding_type != 43 || !p.quantize_output_tensor ||
      p.pure || p.only_copy || p.keep_split || p.dry_run || p.imatrix != nullptr) {
    std::fprintf(stderr, "quant_peer_check: llama_model_quantize_params has another layout\n");
    return 2;
  }
  p.nthread = 1;
  p.ftype = ftype;
  p.pure = mode == "pure";
  std::vector<ImatrixEntry> entries;
  std::vector<std::string> names;
  std::vector<float> ones;
  if (mode == "imatrix") {
    auto f = phx::gguf::File::Open(in);
    if (!f.ok()) return 2;
    for (const auto& t : (*f)->tensors()) {
      if (t.dims.size() < 2) continue;
      names.push_back(t.name);
      ones.resize(std::max<size_t>(ones.size(), static_cast<size_t>(t.dims[0])), 1.f);
    }
    for (const std::string& n : names) {
      const auto* t = (*f)->FindTensor(n);
      entries.push_back({n.c_str(), ones.data(), static_cast<size_t>(t->dims[0])});
    }
    entries.push_back({nullptr, nullptr, 0});
    p.imatrix = entries.data();
  }
  if (quantize(in.c_str(), out.c_str(), &p) != 0) {
    std::fprintf(stderr, "quant_peer_check: llama_model_quantize failed\n");
    return 1;
  }
  return 0;
}

int Tensors(const std::string& dir, const std::string& path) {
  Ggml g;
  if (!LoadGgml(dir, &g)) return 2;
  struct InitParams {  // gguf_init_params
    bool no_alloc;
    void* ctx;
  };
  void* (*init)(const char*, InitParams) = nullptr;
  int64_t (*n_tensors)(const void*) = nullptr;
  const char* (*tensor_name)(const void*, int64_t) = nullptr;
  int (*tensor_type)(const void*, int64_t) = nullptr;
  void (*free_ctx)(void*) = nullptr;
  if (!Sym(g.handle, "gguf_init_from_file", &init) ||
      !Sym(g.handle, "gguf_get_n_tensors", &n_tensors) ||
      !Sym(g.handle, "gguf_get_tensor_name", &tensor_name) ||
      !Sym(g.handle, "gguf_get_tensor_type", &tensor_type) ||
      !Sym(g.handle, "gguf_free", &free_ctx)) {
    return 2;
  }
  void* ctx = init(path.c_str(), InitParams{true, nullptr});
  if (ctx == nullptr) {
    std::fprintf(stderr, "quant_peer_check: llama.cpp cannot read %s\n", path.c_str());
    return 1;
  }
  for (int64_t i = 0; i < n_tensors(ctx); ++i) {
    std::printf("%s %s\n", tensor_name(ctx, i), g.type_name(tensor_type(ctx, i)));
  }
  free_ctx(ctx);
  return 0;
}

int Compare(const std::string& a_path, const std::string& b_path, bool types_only) {
  auto a = phx::gguf::File::Open(a_path);
  auto b = phx::gguf::File::Open(b_path);
  if (!a.ok() || !b.ok()) {
    std::fprintf(stderr, "quant_peer_check: %s\n",
                 std::string((a.ok() ? b.status() : a.status()).message()).c_str());
    return 2;
  }
  int failures = 0;
  for (const auto& t : (*a)->tensors()) {
    const phx::gguf::TensorInfo* u = (*b)->FindTensor(t.name);
    if (u == nullptr) {
      std::printf("FAIL %s: missing from %s\n", t.name.c_str(), b_path.c_str());
      ++failures;
      continue;
    }
    if (u->type != t.type || u->dims != t.dims) {
      std::printf("FAIL %s: %s %s vs %s %s\n", t.name.c_str(),
                  std::string(phx::DTypeName(t.type)).c_str(), a_path.c_str(),
                  std::string(phx::DTypeName(u->type)).c_str(), b_path.c_str());
      ++failures;
      continue;
    }
    if (!types_only && (t.n_bytes != u->n_bytes || std::memcmp(t.data, u->data, t.n_bytes) != 0)) {
      size_t at = 0;
      while (at < t.n_bytes && t.data[at] == u->data[at]) ++at;
      std::printf("FAIL %s (%s): data differ from byte %zu of %" PRIu64 "\n", t.name.c_str(),
                  std::string(phx::DTypeName(t.type)).c_str(), at, t.n_bytes);
      ++failures;
    }
  }
  const auto fa = (*a)->GetInt("general.file_type"), fb = (*b)->GetInt("general.file_type");
  if (!fa.ok() || !fb.ok() || *fa != *fb) {
    std::printf("FAIL general.file_type: %s vs %s\n", fa.ok() ? std::to_string(*fa).c_str() : "-",
                fb.ok() ? std::to_string(*fb).c_str() : "-");
    ++failures;
  }
  if ((*a)->tensors().size() != (*b)->tensors().size()) {
    std::printf("FAIL tensor count: %zu vs %zu\n", (*a)->tensors().size(), (*b)->tensors().size());
    ++failures;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "blocks" && argc == 3) {
    Ggml g;
    if (!LoadGgml(argv[2], &g)) return 2;
    return CheckBlocks(g);
  }
  if (cmd == "quantize" && (argc == 6 || argc == 7)) {
    const std::string mode = argc == 7 ? argv[6] : "";
    if (mode.empty() || mode == "pure" || mode == "imatrix") {
      return Quantize(argv[2], argv[3], argv[4], std::atoi(argv[5]), mode);
    }
  }
  if (cmd == "tensors" && argc == 4) return Tensors(argv[2], argv[3]);
  if (cmd == "compare" && (argc == 4 || (argc == 5 && std::string(argv[4]) == "types"))) {
    return Compare(argv[2], argv[3], argc == 5);
  }
  std::fprintf(stderr,
               "usage: quant_peer_check blocks LIBDIR | quantize LIBDIR IN OUT FTYPE [pure|imatrix]"
               " | tensors LIBDIR FILE | compare A B [types]\n");
  return 2;
}
