#include "runtime/tokenizer/pretokenizer.h"

#include <array>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::tok {
namespace {

// The pattern lists of llama.cpp's llm_tokenizer_bpe, by pre-tokenizer family.
constexpr const char* kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kSeedCoder =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kBailingMoe =
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
constexpr const char* kPoro = " ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+";
constexpr const char* kTekken =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|"
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kGpt4o =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kJais2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|"
    "\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|"
    "\\s{1,2}(?!\\S)|\\s{1}";
constexpr const char* kMiniCpm5 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kGraniteEmbMulti =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+"
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*"
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kDeepseek3Main =
    "[!\"#$%&'()*+,\\-./"
    ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
// deepseek-llm's letters, written with escapes so that no editor can normalize the singletons
// among them (U+1F7D, U+1FBE, U+2126, U+212A, ...).
constexpr const char* kDeepseekLlmLetters =
    "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293"
    "\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C"
    "\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5"
    "\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77"
    "\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59"
    "\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC"
    "\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107"
    "\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139"
    "\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE"
    "\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E"
    "\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F"
    "\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2"
    "\U000118A0-\U000118DF\U0001E900-\U0001E943]+";
constexpr const char* kDeepseekLlmPunct =
    "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+";
constexpr const char* kCjkHangul = "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+";

struct Family {
  std::array<const char*, 20> names;    // unused entries are null
  std::array<const char*, 7> patterns;  // unused entries are null
  PreTokenizerTraits traits;
};

const Family kFamilies[] = {
    {{"default"}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}, {}},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
      "jina-v5-nano"},
     {kLlama3},
     {.ignore_merges = true, .add_bos = true}},
    {{"dbrx", "smaug-bpe"}, {kLlama3}, {}},
    {{"glm4", "chatglm-bpe"}, {kLlama3}, {.no_bos = true}},
    {{"jais-2"}, {kJais2}, {}},
    {{"deepseek-llm"},
     {"[\r\n]", kDeepseekLlmLetters, kDeepseekLlmPunct, "\\s+$", kCjkHangul, "\\p{N}+"},
     {}},
    {{"deepseek-coder"}, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjkHangul, "\\p{N}"}, {}},
    {{"deepseek-v3", "hunyuan-dense", "joyai-llm"},
     {"\\p{N}{1,3}", "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+", kDeepseek3Main},
     {}},
    {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}, {}},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"},
     {"\\p{N}", kGpt2},
     {}},
    {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
      "mellum", "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt",
      "olmo", "jais", "trillion", "granite-docling"},
     {kGpt2},
     {}},
    {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan",
      "solar-open", "grok-2"},
     {kQwen2},
     {}},
    {{"minicpm5"}, {"\\p{N}{1,3}", kMiniCpm5}, {.ignore_merges = true}},
    {{"poro-chat", "bloom", "gpt3-finnish"}, {kPoro}, {}},
    {{"viking"}, {kPoro, "\\p{N}"}, {}},
    {{"tekken"}, {kTekken}, {.ignore_merges = true, .add_bos = true}},
    {{"chameleon"},
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
      "[\\p{P}!-/:-@\\[-`{-~]", kGpt2},
     {.add_bos = true}},
    {{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, {kGpt4o}, {}},
    {{"granite-embed-multi-97m"}, {kGraniteEmbMulti}, {.ignore_merges = true}},
    {{"superbpe"}, {"\\p{N}+", "(?=(\\d{3})+(?!\\d))"}, {}},
    {{"bailingmoe", "bailingmoe2", "llada-moe"}, {kBailingMoe}, {}},
    {{"seed-coder"}, {kSeedCoder}, {}},
};

// llama.cpp runs a pattern on the collapsed text when it names one of these classes.
bool UsesCategories(std::string_view pattern) {
  for (const char* cat : {"\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}",
                          "\\p{Lt}", "\\p{Lm}", "\\p{Lo}"}) {
    if (pattern.find(cat) != std::string_view::npos) return true;
  }
  return false;
}

uint32_t Collapse(uint32_t cp, uint16_t bits) {
  if (cp < 128) return cp;
  if (bits & kCpWhitespace) return kCollapsedSpace;
  switch (bits & kCpCategoryMask) {
    case kCpNumber:
      return kCollapsedNumber;
    case kCpLetter:
      return kCollapsedLetter;
    case kCpPunctuation:
      return kCollapsedPunctuation;
    case kCpMark:
      return kCollapsedMark;
    case kCpSymbol:
      return kCollapsedSymbol;
    default:
      return kCollapsedOther;
  }
}

}  // namespace

absl::StatusOr<PreTokenizer> PreTokenizer::Create(std::string_view pre) {
  if (pre.empty()) pre = "default";
  for (const Family& fam : kFamilies) {
    bool match = false;
    for (const char* name : fam.names) match = match || (name != nullptr && pre == name);
    if (!match) continue;
    PreTokenizer p;
    p.traits_ = fam.traits;
    for (const char* pattern : fam.patterns) {
      if (pattern == nullptr) break;
      const std::string_view pat = pattern;
      if (pat == kGpt2) {
        p.steps_.push_back({Step::Kind::kGpt2, std::nullopt});
      } else if (pat == kLlama3) {
        p.steps_.push_back({Step::Kind::kLlama3, std::nullopt});
      } else if (pat == kQwen2) {
        p.steps_.push_back({Step::Kind::kQwen2, std::nullopt});
      } else {
        const auto mode = UsesCategories(pat) ? Regex::Mode::kCollapsed : Regex::Mode::kWide;
        PHX_ASSIGN_OR_RETURN(Regex re, Regex::Compile(pat, mode));
        p.steps_.push_back({Step::Kind::kRegex, std::move(re)});
      }
    }
    return p;
  }
  return absl::UnimplementedError(StrCat("unsupported BPE pre-tokenizer '", pre, "'"));
}

std::vector<std::string> PreTokenizer::Split(std::string_view text) const {
  const std::vector<uint32_t> cpts = DecodeUtf8Lenient(text);
  std::vector<uint16_t> bits(cpts.size());
  for (size_t i = 0; i < cpts.size(); ++i) bits[i] = CpClass(cpts[i]);
  std::vector<uint32_t> collapsed, wide;  // built on first use
  std::vector<size_t> offsets;
  if (!cpts.empty()) offsets.push_back(cpts.size());
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::Kind::kGpt2:
        offsets = SplitGpt2(cpts, bits, offsets);
        break;
      case Step::Kind::kLlama3:
        offsets = SplitLlama3(cpts, bits, offsets);
        break;
      case Step::Kind::kQwen2:
        offsets = SplitQwen2(cpts, bits, offsets);
        break;
      case Step::Kind::kRegex: {
        std::vector<uint32_t>& sym = step.re->mode() == Regex::Mode::kCollapsed ? collapsed : wide;
        if (sym.empty() && !cpts.empty()) {
          sym.resize(cpts.size());
          for (size_t i = 0; i < cpts.size(); ++i) {
            if (step.re->mode() == Regex::Mode::kCollapsed) {
              sym[i] = Collapse(cpts[i], bits[i]);
            } else {
              sym[i] = cpts[i] > 0x7F && (bits[i] & kCpWhitespace) ? kCollapsedSpace : cpts[i];
            }
          }
        }
        offsets = step.re->Split(sym, offsets);
        break;
      }
    }
  }
  std::vector<std::string> words;
  words.reserve(offsets.size());
  size_t start = 0;
  std::string utf8;
  for (const size_t len : offsets) {
    utf8.clear();
    for (size_t i = start; i < start + len; ++i) AppendUtf8(cpts[i], &utf8);
    start += len;
    std::string word;
    word.reserve(utf8.size() * 2);
    for (const char ch : utf8) AppendUtf8(ByteToUnicode(static_cast<uint8_t>(ch)), &word);
    words.push_back(std::move(word));
  }
  return words;
}

}  // namespace phx::tok
