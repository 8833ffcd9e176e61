// Tokenizer tests: llama.cpp's own expected tokenizations for every vocabulary in
// ../shared/vocab, the stories260K prompts from the llama.cpp reference run, special tokens,
// decoding, the incremental detokenizer, bad metadata and speed.
#include "runtime/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "base/strings.h"
#include "nlohmann/json.hpp"
#include "runtime/gguf/writer.h"
#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/regex.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::tok {
namespace {

std::string Shared(std::string_view rel) {
  return std::string(PHX_SHARED_DIR) + "/" + std::string(rel);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<Tokenizer> Load(const std::string& path) {
  auto f = gguf::File::Open(path);
  EXPECT_TRUE(f.ok()) << f.status();
  if (!f.ok()) return nullptr;
  auto t = Tokenizer::FromGguf(**f);
  EXPECT_TRUE(t.ok()) << path << ": " << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

// A vocabulary by name: "llama-spm" is vocab/ggml-vocab-llama-spm.gguf, "hf/llama3" is
// vocab/hf/ggml-vocab-llama3.gguf.
std::string VocabPath(std::string_view name) {
  const size_t slash = name.rfind('/');
  const std::string dir(slash == std::string_view::npos ? "" : name.substr(0, slash + 1));
  return Shared(StrCat("vocab/", dir, "ggml-vocab-", name.substr(slash + 1), ".gguf"));
}

std::unique_ptr<Tokenizer> Vocab(std::string_view name) { return Load(VocabPath(name)); }

struct Case {
  std::string text;
  std::vector<TokenId> ids;
};

// llama.cpp's test format: inputs separated by "\n__ggml_vocab_test__\n", one line of ids each.
std::vector<Case> ReadCases(std::string_view name) {
  const std::string base = VocabPath(name);
  const std::string inp = ReadFile(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<Case> cases;
  for (size_t pos = 0; pos < inp.size();) {
    size_t end = inp.find(sep, pos);
    if (end == std::string::npos) end = inp.size();
    cases.push_back({inp.substr(pos, end - pos), {}});
    pos = end + sep.size();
  }
  std::ifstream out(base + ".out");
  std::string line;
  for (Case& c : cases) {
    if (!std::getline(out, line)) break;
    std::istringstream ls(line);
    for (TokenId id; ls >> id;) c.ids.push_back(id);
  }
  return cases;
}

// Every vocabulary with llama.cpp's expected tokenizations (a .gguf.inp file) in
// ../shared/vocab and its subfolders (vocab/hf: the real Llama 3.1 and Qwen3 vocabularies), by
// the names Vocab() takes. Found by listing the folders, so new files are covered on arrival.
std::vector<std::string> VocabsWithCases() {
  std::vector<std::string> names;
  const std::filesystem::path root = Shared("vocab");
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string n = it->path().filename().string();
    const std::string pre = "ggml-vocab-", suf = ".gguf.inp";
    if (n.size() <= pre.size() + suf.size() || !n.starts_with(pre) || !n.ends_with(suf)) continue;
    std::string dir = std::filesystem::relative(it->path().parent_path(), root).generic_string();
    dir = dir == "." ? "" : dir + "/";
    names.push_back(dir + n.substr(pre.size(), n.size() - pre.size() - suf.size()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(TokenizerVocabTest, EveryVocabularyWithCasesIsCovered) {
  const std::vector<std::string> names = VocabsWithCases();
  // The listing reaches both folders (a broken walk would silently test nothing).
  const std::set<std::string> found(names.begin(), names.end());
  for (const char* must : {"llama-spm", "phi-3", "gpt-2", "hf/llama3", "hf/qwen3"}) {
    EXPECT_TRUE(found.count(must)) << must << " not found under " << Shared("vocab");
  }
  // Each case file has its vocabulary and its expected ids beside it.
  for (const std::string& n : names) {
    EXPECT_TRUE(std::filesystem::exists(VocabPath(n))) << n;
    EXPECT_TRUE(std::filesystem::exists(VocabPath(n) + ".out")) << n;
  }
}

class VocabCasesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabCasesTest, MatchesLlamaCpp) {
  auto tok = Vocab(GetParam());
  ASSERT_NE(tok, nullptr);
  const auto cases = ReadCases(GetParam());
  ASSERT_EQ(cases.size(), 46u);
  int pass = 0;
  for (const Case& c : cases) {
    const auto ids = tok->Encode(c.text, /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(ids, c.ids) << GetParam() << " input '" << c.text << "'";
    pass += ids == c.ids;
  }
  std::cout << "[ vocab    ] " << GetParam() << ": " << pass << "/" << cases.size()
            << " cases match llama.cpp\n";
}

// decode(encode(x)) == x: llama.cpp round-trips all these inputs (valid UTF-8, no control
// token texts, byte fallback or byte-level alphabets).
TEST_P(VocabCasesTest, DecodeRoundTrips) {
  // WordPiece lowercases, drops accents and control characters and maps unknown words to [UNK]:
  // it does not round-trip (WordPieceTest checks its decoding).
  if (GetParam() == "bert-bge") GTEST_SKIP() << "WordPiece is lossy by design";
  auto tok = Vocab(GetParam());
  ASSERT_NE(tok, nullptr);
  for (const Case& c : ReadCases(GetParam())) {
    EXPECT_EQ(tok->Decode(tok->Encode(c.text, false, false)), c.text) << GetParam();
    EXPECT_EQ(tok->Decode(tok->Encode(c.text, true, false)), c.text) << GetParam();
  }
}

INSTANTIATE_TEST_SUITE_P(AllVocabs, VocabCasesTest, ::testing::ValuesIn(VocabsWithCases()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

TEST(TokenizerTest, Stories260KPromptsMatchReference) {
  auto tok = Load(Shared("models/stories260K.gguf"));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), VocabKind::kSpm);
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_FALSE(tok->add_eos());
  const auto ref = nlohmann::json::parse(ReadFile(Shared("refs/stories260K_greedy.json")));
  ASSERT_FALSE(ref["results"].empty());
  for (const auto& r : ref["results"]) {
    const std::string prompt = r["prompt"];
    const auto want = r["prompt_token_ids"].get<std::vector<TokenId>>();
    EXPECT_EQ(tok->Encode(prompt, /*add_special=*/true, /*parse_special=*/false), want) << prompt;
    // The generated text is what llama.cpp decodes for the generated ids after the prompt: the
    // dummy-prefix space goes only at the start of the whole text.
    const auto gen = r["generated_token_ids"].get<std::vector<TokenId>>();
    const std::string text = r["text"];
    std::vector<TokenId> all = want;
    all.insert(all.end(), gen.begin(), gen.end());
    EXPECT_EQ(tok->Decode(all), prompt + text) << prompt;
    if (prompt.empty()) {
      EXPECT_EQ(tok->Decode(gen), text);
    }
    IncrementalDetokenizer detok(*tok, false, /*strip_leading_space=*/prompt.empty());
    std::string streamed;
    for (TokenId id : gen) streamed += detok.Push(id);
    EXPECT_EQ(streamed + detok.Flush(), text) << prompt;
  }
}

TEST(TokenizerTest, SpmSpecialTokensAndDummyPrefix) {
  auto tok = Vocab("llama-spm");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_EQ(tok->unk(), 0);
  EXPECT_TRUE(tok->IsEog(2));
  EXPECT_FALSE(tok->IsEog(1));
  EXPECT_TRUE(tok->IsControl(1));
  EXPECT_FALSE(tok->IsControl(100));
  EXPECT_FALSE(tok->IsControl(-5));
  const auto hello = tok->Encode("Hello", false, false);  // "▁Hello": dummy prefix
  // Special tokens become ids; the text after each gets the dummy prefix again.
  std::vector<TokenId> want = {1};
  want.insert(want.end(), hello.begin(), hello.end());
  want.push_back(2);
  want.insert(want.end(), hello.begin(), hello.end());
  EXPECT_EQ(tok->Encode("<s>Hello</s>Hello", false, true), want);
  // Without parse_special the texts are plain text.
  const auto plain = tok->Encode("<s>Hello", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0);
  EXPECT_GT(plain.size(), 2u);
  EXPECT_EQ(tok->Decode(plain), "<s>Hello");
  // BOS added once; control tokens render only on request.
  EXPECT_EQ(tok->Encode("", true, false), std::vector<TokenId>{1});
  EXPECT_EQ(tok->Decode(tok->Encode("Hi there", true, false)), "Hi there");
  EXPECT_EQ(tok->Decode(std::vector<TokenId>{1, hello[0]}, /*render_special=*/true), "<s> Hello");
  EXPECT_EQ(tok->TokenToPiece(1, false), "");
  EXPECT_EQ(tok->TokenToPiece(99999, true), "");
  EXPECT_EQ(tok->TokenToPiece(13, false), "\n");  // <0x0A>
}

TEST(TokenizerTest, Phi3SpecialTokensStripFollowingSpace) {
  auto tok = Vocab("phi-3");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->eos(), 32000);
  EXPECT_TRUE(tok->IsEog(32007));  // <|end|>
  // </s> is user-defined in this file, but llama.cpp makes it an end-of-generation control
  // token, so plain text "</s>" stays text.
  EXPECT_TRUE(tok->IsEog(2));
  EXPECT_TRUE(tok->IsControl(2));
  const auto plain = tok->Encode("a</s>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0);
  const auto after = tok->Encode("Hi", false, false);
  std::vector<TokenId> want = {32001};  // <|assistant|>, rstrip: the spaces go
  want.insert(want.end(), after.begin(), after.end());
  EXPECT_EQ(tok->Encode("<|assistant|>  \n Hi", false, true), want);
}

TEST(TokenizerTest, BpeSpecialTokens) {
  auto gpt2 = Vocab("gpt-2");
  ASSERT_NE(gpt2, nullptr);
  EXPECT_FALSE(gpt2->add_bos());
  EXPECT_EQ(gpt2->eot(), 50256);
  EXPECT_TRUE(gpt2->IsEog(50256));
  const auto a = gpt2->Encode("a", false, false);
  std::vector<TokenId> want = a;
  want.push_back(50256);
  want.insert(want.end(), a.begin(), a.end());
  EXPECT_EQ(gpt2->Encode("a<|endoftext|>a", true, true), want);
  EXPECT_GT(gpt2->Encode("a<|endoftext|>a", false, false).size(), 3u);
  EXPECT_EQ(gpt2->Decode(want), "aa");
  EXPECT_EQ(gpt2->Decode(want, /*render_special=*/true), "a<|endoftext|>a");

  // Longest text first: <issue_comment> and <issue_closed> beat shorter overlapping texts.
  auto sc = Vocab("starcoder");
  ASSERT_NE(sc, nullptr);
  const auto ids = sc->Encode("<fim_prefix>x<fim_suffix>y<fim_middle>", false, true);
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 3), 1);

  // User-defined tokens match even without parse_special (runs of spaces in MPT).
  auto mpt = Vocab("mpt");
  ASSERT_NE(mpt, nullptr);
  const std::string spaces(10, ' ');
  TokenId spaces_id = kNoToken;
  for (TokenId id = 0; id < mpt->vocab_size(); ++id) {
    if (mpt->token_text(id) == spaces) spaces_id = id;
  }
  ASSERT_NE(spaces_id, kNoToken);
  ASSERT_EQ(mpt->token_type(spaces_id), TokenType::kUserDefined);
  const auto m = mpt->Encode("x" + spaces + "y", false, false);
  EXPECT_EQ(std::count(m.begin(), m.end(), spaces_id), 1);
}

TEST(TokenizerTest, IncrementalDetokenizerHoldsPartialCharacters) {
  for (const char* name : {"llama-spm", "gpt-2", "deepseek-llm"}) {
    auto tok = Vocab(name);
    ASSERT_NE(tok, nullptr);
    const std::string text = "A 🦙 ate 我想在 😶‍🌫️!";
    const auto ids = tok->Encode(text, false, false);
    IncrementalDetokenizer detok(*tok);
    std::string out;
    int held = 0;
    for (TokenId id : ids) {
      const std::string piece = detok.Push(id);
      if (piece.empty()) ++held;
      for (size_t i = 0; i < piece.size();) {
        const int len = Utf8Complete(std::string_view(piece).substr(i));
        ASSERT_GT(len, 0) << name << ": partial UTF-8 emitted";
        i += len;
      }
      out += piece;
    }
    out += detok.Flush();
    EXPECT_EQ(out, text) << name;
    EXPECT_GT(held, 0) << name << ": expected some character split across tokens";
  }
  // SPM byte tokens: the llama emoji is four <0xNN> tokens; only the last one emits.
  auto tok = Vocab("llama-spm");
  const auto ids = tok->Encode("🦙", false, false);
  ASSERT_EQ(ids.size(), 5u);  // "▁" and four bytes
  IncrementalDetokenizer detok(*tok);
  EXPECT_EQ(detok.Push(ids[0]), "");  // the dummy-prefix space is dropped
  EXPECT_EQ(detok.Push(ids[1]), "");
  EXPECT_EQ(detok.Push(ids[2]), "");
  EXPECT_EQ(detok.Push(ids[3]), "");
  EXPECT_EQ(detok.Push(ids[4]), "🦙");
  // An unfinished character turns into U+FFFD per byte at the end; a broken one at once.
  EXPECT_EQ(detok.Push(ids[1]), "");
  EXPECT_EQ(detok.Push(ids[2]), "");
  EXPECT_EQ(detok.Flush(), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(detok.Push(ids[1]), "");
  EXPECT_EQ(detok.Push(tok->Encode("a", false, false).back()), "\xEF\xBF\xBD a");
}

// Tiny vocabularies written with the project's GGUF writer.
struct Meta {
  std::string model = "gpt2";
  std::vector<std::string_view> tokens = {"a", "b", "ab", "<|endoftext|>"};
  std::vector<std::string_view> merges = {"a b"};
  std::map<std::string, std::string> strings;
  std::map<std::string, uint32_t> u32s;
  bool write_merges = true;
};

absl::StatusOr<std::unique_ptr<Tokenizer>> Build(const Meta& m, std::vector<uint8_t>* keep) {
  gguf::Writer w;
  w.SetString("general.architecture", "llama");
  if (!m.model.empty()) w.SetString("tokenizer.ggml.model", m.model);
  w.SetStringArray("tokenizer.ggml.tokens", m.tokens);
  if (m.write_merges) w.SetStringArray("tokenizer.ggml.merges", m.merges);
  for (const auto& [k, v] : m.strings) w.SetString(k, v);
  for (const auto& [k, v] : m.u32s) w.SetU32(k, v);
  *keep = w.Serialize();
  auto f = gguf::File::Parse(keep->data(), keep->size());
  if (!f.ok()) return f.status();
  return Tokenizer::FromGguf(**f);
}

TEST(TokenizerTest, BadMetadataIsAnError) {
  std::vector<uint8_t> keep;
  Meta ok;
  auto t = Build(ok, &keep);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->Encode("ab", false, false), std::vector<TokenId>{2});
  EXPECT_EQ((*t)->bos(), kNoToken);  // llama.cpp's default 11 does not exist here

  auto expect_error = [&](Meta m, absl::StatusCode code, std::string_view needle) {
    auto r = Build(m, &keep);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status();
    EXPECT_NE(ToStd(r.status().message()).find(needle), std::string_view::npos) << r.status();
  };
  Meta m = ok;
  m.model = "foo";
  expect_error(m, absl::StatusCode::kInvalidArgument, "'foo'");
  m.model = "t5";
  expect_error(m, absl::StatusCode::kUnimplemented, "'t5'");
  m.model = "";
  expect_error(m, absl::StatusCode::kInvalidArgument, "tokenizer.ggml.model");
  m = ok;
  m.strings["tokenizer.ggml.pre"] = "no-such-pre";
  expect_error(m, absl::StatusCode::kUnimplemented, "'no-such-pre'");
  m = ok;
  m.u32s["tokenizer.ggml.bos_token_id"] = 4;
  expect_error(m, absl::StatusCode::kInvalidArgument, "bos_token_id");
  m = ok;
  m.write_merges = false;
  expect_error(m, absl::StatusCode::kInvalidArgument, "merges");
  m = ok;
  m.tokens.clear();
  expect_error(m, absl::StatusCode::kInvalidArgument, "empty");

  // Arrays shorter than the vocabulary, wrong types; longer arrays are fine (as in llama.cpp).
  for (int variant = 0; variant < 5; ++variant) {
    gguf::Writer w;
    w.SetString("tokenizer.ggml.model", "llama");
    w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
    if (variant == 0) w.SetF32Array("tokenizer.ggml.scores", {0.f, 0.f});
    if (variant == 1) w.SetI32Array("tokenizer.ggml.token_type", {2, 3});
    if (variant == 4) w.SetI32Array("tokenizer.ggml.token_type", {2, 3, 3, 1});  // longer: fine
    if (variant == 2) w.SetString("tokenizer.ggml.add_bos_token", "yes");
    if (variant == 3) w.SetI32Array("tokenizer.ggml.scores", {0, 0, 0});  // numbers: accepted
    keep = w.Serialize();
    auto f = gguf::File::Parse(keep.data(), keep.size());
    ASSERT_TRUE(f.ok());
    auto r = Tokenizer::FromGguf(**f);
    EXPECT_EQ(r.ok(), variant >= 3) << variant << ": " << r.status();
  }
  // Out-of-range token types are "undefined", not a crash.
  gguf::Writer w;
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "x",
                                             "\xE2\x96\x81"
                                             "a"});
  w.SetI32Array("tokenizer.ggml.token_type", {2, 3, 99, -7});
  keep = w.Serialize();
  auto f = gguf::File::Parse(keep.data(), keep.size());
  ASSERT_TRUE(f.ok());
  auto r = Tokenizer::FromGguf(**f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->token_type(2), TokenType::kUndefined);
  EXPECT_EQ((*r)->Encode("a", false, false), std::vector<TokenId>{3});
  EXPECT_EQ((*r)->Encode("é", false, false), std::vector<TokenId>(5, 0));  // no byte tokens
}

TEST(TokenizerTest, EveryPreTokenizerCompiles) {
  for (const char* pre :
       {"default",     "llama3",     "llama-bpe", "qwen2",     "deepseek-llm", "deepseek-coder",
        "deepseek-v3", "falcon",     "mpt",       "starcoder", "refact",       "gpt-2",
        "tekken",      "gpt-4o",     "chameleon", "poro-chat", "viking",       "superbpe",
        "bailingmoe",  "seed-coder", "grok-2",    "command-r", "smollm",       "chatglm-bpe"}) {
    auto p = PreTokenizer::Create(pre);
    ASSERT_TRUE(p.ok()) << pre << ": " << p.status();
    const std::string text = "Hello World's 1234567 \xF0\x9F\xA6\x99 ,.!? 我想 \n\n  x\t\xC3";
    std::string joined;
    for (const std::string& w : p->Split(text)) joined += w;
    EXPECT_FALSE(joined.empty()) << pre;
  }
  EXPECT_FALSE(PreTokenizer::Create("kimi-k2").ok());
}

TEST(TokenizerTest, Llama3AndQwen2Splits) {
  auto split = [](std::string_view pre, std::string_view text) {
    auto p = PreTokenizer::Create(pre);
    EXPECT_TRUE(p.ok());
    std::vector<std::string> out;
    for (const std::string& w : p->Split(text)) {
      std::string bytes;
      for (uint32_t cp : DecodeUtf8Lenient(w))
        bytes.push_back(static_cast<char>(UnicodeToByte(cp)));
      out.push_back(bytes);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("llama3", "I'VE 12345 words!!\n\n  x"),
            (V{"I", "'VE", " ", "123", "45", " words", "!!\n\n", " ", " x"}));
  EXPECT_EQ(split("qwen2", "I'VE 123 ok"), (V{"I", "'VE", " ", "1", "2", "3", " ok"}));
  EXPECT_EQ(split("gpt-2", "it's  a"), (V{"it", "'s", " ", " a"}));
}

TEST(TokenizerTest, RegexFollowsEcmaScript) {
  auto re = Regex::Compile("a|ab|[^\\s]c+$", Regex::Mode::kWide);
  ASSERT_TRUE(re.ok()) << re.status();
  std::vector<uint32_t> s = {'a', 'b', 'x', 'c', 'c'};
  Regex::Match m;
  ASSERT_TRUE(re->Search(s, 0, s.size(), 0, false, false, false, &m));
  EXPECT_EQ(m.end, 1u);  // first alternative wins
  ASSERT_TRUE(re->Search(s, 0, s.size(), 1, false, false, false, &m));
  EXPECT_EQ(m.begin, 2u);
  EXPECT_EQ(m.end, 5u);
  EXPECT_FALSE(Regex::Compile("(a", Regex::Mode::kWide).ok());
  EXPECT_FALSE(Regex::Compile("[z-a]", Regex::Mode::kWide).ok());
  EXPECT_FALSE(Regex::Compile("\\p{L}é", Regex::Mode::kCollapsed).ok());
}

TEST(TokenizerTest, EncodingIsFast) {
  std::string text;
  while (text.size() < 10 * 1024) {
    text +=
        "The quick brown fox, 12345 times; jumps over the lazy dog's back! Привет 我想 "
        "🦙\n";
  }
  for (const char* name : {"deepseek-llm", "llama-spm", "gpt-2"}) {
    auto tok = Vocab(name);
    ASSERT_NE(tok, nullptr);
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok->Encode(text, true, true);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[ speed    ] " << name << " (" << tok->vocab_size() << " tokens): " << text.size()
              << " bytes -> " << ids.size() << " ids in " << ms << " ms\n";
    EXPECT_LT(ms, 500.0) << name;
    EXPECT_EQ(tok->Decode(ids), text);
  }
}

}  // namespace
}  // namespace phx::tok
