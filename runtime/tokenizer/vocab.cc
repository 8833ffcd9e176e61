#include "runtime/tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <iterator>
#include <limits>

#include "base/status.h"
#include "base/strings.h"

namespace phx::tok {
namespace {

constexpr std::string_view kPrefix = "tokenizer.ggml.";

std::string Key(std::string_view name) { return StrCat(kPrefix, name); }

TokenType TypeFromInt(int64_t v) {
  return v >= 1 && v <= 6 ? static_cast<TokenType>(v) : TokenType::kUndefined;
}

template <typename List>
bool OneOf(std::string_view s, const List& list) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}
bool OneOf(std::string_view s, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// Texts by which llama.cpp recognizes tokens that the metadata does not name. DeepSeek's use
// U+FF5C (a fullwidth bar) and U+2581.
constexpr std::string_view kDsEndOfSentence =
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
constexpr std::string_view kDsFimBegin =
    "<\xEF\xBD\x9C"
    "fim\xE2\x96\x81"
    "begin\xEF\xBD\x9C>";
constexpr std::string_view kDsFimHole =
    "<\xEF\xBD\x9C"
    "fim\xE2\x96\x81"
    "hole\xEF\xBD\x9C>";
constexpr std::string_view kDsFimEnd =
    "<\xEF\xBD\x9C"
    "fim\xE2\x96\x81"
    "end\xEF\xBD\x9C>";
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",  "<|endoftext|>",     "<|end_of_text|>",
    "<EOT>",      "_<EOT>",     "[EOT]",   kDsEndOfSentence, "<end_of_utterance>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                             "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                             "<REPO>", "<reponame>"};
constexpr std::string_view kFimOtherTexts[] = {
    "<|fim_prefix|>", "<fim-prefix>",      "<fim_prefix>",    kDsFimBegin,
    "<PRE>",          "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>",
    "<|fim_suffix|>", "<fim-suffix>",      "<fim_suffix>",    kDsFimHole,
    "<SUF>",          "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>",
    "<|fim_middle|>", "<fim-middle>",      "<fim_middle>",    kDsFimEnd,
    "<MID>",          "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>"};
constexpr std::string_view kEogTexts[] = {"<|eot_id|>",
                                          "<|im_end|>",
                                          "<|end|>",
                                          "<|return|>",
                                          "<|call|>",
                                          "<|flush|>",
                                          "<|calls|>",
                                          "<end_of_turn>",
                                          "<|endoftext|>",
                                          "</s>",
                                          "<|eom_id|>",
                                          "<EOT>",
                                          "_<EOT>",
                                          "[EOT]",
                                          "[EOS]",
                                          "<|end_of_text|>",
                                          "<end_of_utterance>",
                                          "<eos>",
                                          "<turn|>",
                                          "<|tool_response>",
                                          kDsEndOfSentence,
                                          "[e~["};

}  // namespace

TokenId VocabTokenizer::Find(std::string_view text) const {
  auto it = token_to_id_.find(ToAbsl(text));
  return it == token_to_id_.end() ? kNoToken : it->second;
}

absl::Status VocabTokenizer::LoadTokens(const gguf::File& f) {
  PHX_ASSIGN_OR_RETURN(std::vector<std::string_view> tokens, f.GetStringArray(Key("tokens")));
  if (tokens.empty()) return absl::InvalidArgumentError("tokenizer.ggml.tokens is empty");
  if (tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError("tokenizer.ggml.tokens is too long");
  }
  const size_t n = tokens.size();
  scores_.assign(n, 0.0f);
  types_.assign(n, TokenType::kNormal);
  if (f.Has(Key("scores"))) {
    PHX_ASSIGN_OR_RETURN(scores_, f.GetFloatArray(Key("scores")));
    if (scores_.size() < n) {  // longer is fine: llama.cpp ignores the rest
      return absl::InvalidArgumentError(
          StrCat("tokenizer.ggml.scores has ", scores_.size(), " entries for ", n, " tokens"));
    }
    scores_.resize(n);
  }
  if (f.Has(Key("token_type"))) {
    PHX_ASSIGN_OR_RETURN(std::vector<int64_t> types, f.GetIntArray(Key("token_type")));
    if (types.size() < n) {
      return absl::InvalidArgumentError(
          StrCat("tokenizer.ggml.token_type has ", types.size(), " entries for ", n, " tokens"));
    }
    for (size_t i = 0; i < n; ++i) types_[i] = TypeFromInt(types[i]);
  }
  texts_.resize(n);
  token_to_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    texts_[i] = tokens[i].empty() ? StrCat("[EMPTY_", i, "]") : std::string(tokens[i]);
    token_to_id_[texts_[i]] = static_cast<TokenId>(i);  // a later duplicate wins
  }
  return absl::OkStatus();
}

absl::Status VocabTokenizer::LoadSpecialIds(const gguf::File& f) {
  const TokenId n = vocab_size();
  // Defaults that do not exist in a small vocabulary mean "none".
  for (TokenId* id : {&bos_, &eos_, &unk_, &sep_}) {
    if (*id >= n) *id = kNoToken;
  }
  struct Slot {
    const char* name;
    TokenId* id;
  };
  TokenId ignored = kNoToken;
  const Slot slots[] = {
      {"bos_token_id", &bos_},         {"eos_token_id", &eos_},
      {"eot_token_id", &eot_},         {"eom_token_id", &eom_},
      {"unknown_token_id", &unk_},     {"seperator_token_id", &sep_},
      {"padding_token_id", &ignored},  {"mask_token_id", &ignored},
      {"fim_pre_token_id", &ignored},  {"fim_suf_token_id", &ignored},
      {"fim_mid_token_id", &ignored},  {"fim_pad_token_id", &fim_pad_},
      {"fim_rep_token_id", &fim_rep_}, {"fim_sep_token_id", &fim_sep_},
      {"prefix_token_id", &ignored},   {"suffix_token_id", &ignored},
      {"middle_token_id", &ignored},
  };
  for (const Slot& s : slots) {
    const std::string key = Key(s.name);
    if (!f.Has(key)) continue;
    PHX_ASSIGN_OR_RETURN(int64_t v, f.GetInt(key));
    if (v < 0 || v >= n) {
      return absl::InvalidArgumentError(
          StrCat(key, " = ", v, " is outside the vocabulary of ", n, " tokens"));
    }
    *s.id = static_cast<TokenId>(v);
  }
  return absl::OkStatus();
}

void VocabTokenizer::FindEndOfGeneration() {
  const TokenId n = vocab_size();
  auto make_control = [&](TokenId id) {
    if (types_[id] != TokenType::kControl) types_[id] = TokenType::kControl;
  };
  // By text, lowest id first (llama.cpp walks a hash map, so its pick among duplicates is
  // arbitrary).
  for (TokenId id = 0; id < n; ++id) {
    const std::string_view t = texts_[id];
    if (eot_ == kNoToken && OneOf(t, kEotTexts)) {
      eot_ = id;
      make_control(id);
    }
    if (eom_ == kNoToken && t == "<|eom_id|>") {
      eom_ = id;
      make_control(id);
    }
    if (fim_pad_ == kNoToken && OneOf(t, kFimPadTexts)) {
      fim_pad_ = id;
      make_control(id);
    }
    if (fim_rep_ == kNoToken && OneOf(t, kFimRepTexts)) {
      fim_rep_ = id;
      make_control(id);
    }
    if (fim_sep_ == kNoToken && t == "<|file_sep|>") {
      fim_sep_ = id;
      make_control(id);
    }
    if (OneOf(t, kFimOtherTexts)) make_control(id);
  }
  std::vector<TokenId> eog;
  for (TokenId id : {fim_pad_, fim_rep_, fim_sep_}) {
    if (id != kNoToken) eog.push_back(id);
  }
  for (TokenId id = 0; id < n; ++id) {
    const std::string_view t = texts_[id];
    if (OneOf(t, kEogTexts)) {
      eog.push_back(id);
      make_control(id);
    }
    // gpt-oss: always rendered.
    if (OneOf(t, {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"})) {
      types_[id] = TokenType::kUserDefined;
    }
  }
  for (TokenId id : {eos_, eot_, eom_}) {
    if (id != kNoToken) eog.push_back(id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  auto eog_with_text = [&](std::string_view text) {
    for (TokenId id : eog) {
      if (texts_[id] == text) return id;
    }
    return kNoToken;
  };
  auto drop = [&](TokenId id, TokenType type) {
    eog.erase(std::remove(eog.begin(), eog.end(), id), eog.end());
    types_[id] = type;
  };
  // o200k_harmony and solar-open: <|end|> does not end generation there.
  const bool has_call =
      eog_with_text("<|call|>") != kNoToken || eog_with_text("<|calls|>") != kNoToken;
  const TokenId end_id = eog_with_text("<|end|>");
  if (end_id != kNoToken && has_call &&
      (eog_with_text("<|return|>") != kNoToken || eog_with_text("<|flush|>") != kNoToken)) {
    drop(end_id, TokenType::kUserDefined);
  }
  // Gemma 4 and PaddleOCR: </s> is not an end of generation there.
  if (const TokenId s_id = eog_with_text("</s>");
      s_id != kNoToken && eog_with_text("<|tool_response>") != kNoToken) {
    drop(s_id, TokenType::kNormal);
  }
  eog_ids_ = std::move(eog);
}

void VocabTokenizer::BuildSpecialTokens(const gguf::File& f) {
  std::vector<TokenId> ids;
  for (TokenId id = 0; id < vocab_size(); ++id) {
    const TokenType t = types_[id];
    if (t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown) {
      ids.push_back(id);
    }
  }
  std::stable_sort(ids.begin(), ids.end(),
                   [&](TokenId a, TokenId b) { return texts_[a].size() > texts_[b].size(); });
  std::string name;
  if (auto n = f.GetString("general.name"); n.ok()) name = *n;
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool phi3 = name.find("phi-3") != std::string::npos || name.find("phi3") != name.npos;
  std::vector<SpecialTokens::Entry> entries;
  for (TokenId id : ids) {
    const TokenType t = types_[id];
    uint8_t attrs = phi3 ? kAttrRstrip : 0;
    if (phi3 && OneOf(texts_[id], {"<unk>", "<s>", "<|endoftext|>"})) attrs = 0;
    entries.push_back(
        {id, texts_[id], t == TokenType::kControl || t == TokenType::kUnknown, attrs});
  }
  specials_ = SpecialTokens(std::move(entries));
}

absl::Status VocabTokenizer::Load(const gguf::File& f, VocabKind kind,
                                  const VocabDefaults& defaults) {
  kind_ = kind;
  bos_ = defaults.bos;
  eos_ = defaults.eos;
  unk_ = defaults.unk;
  sep_ = defaults.sep;
  add_bos_ = defaults.add_bos;
  add_eos_ = defaults.add_eos;
  add_sep_ = defaults.add_sep;
  clean_spaces_ = defaults.clean_spaces;
  add_space_prefix_ = defaults.add_space_prefix;
  if (f.Has(Key("add_space_prefix"))) {
    PHX_ASSIGN_OR_RETURN(add_space_prefix_, f.GetBool(Key("add_space_prefix")));
  }
  PHX_RETURN_IF_ERROR(LoadTokens(f));
  PHX_RETURN_IF_ERROR(LoadSpecialIds(f));
  if (f.Has(Key("add_bos_token"))) {
    PHX_ASSIGN_OR_RETURN(add_bos_, f.GetBool(Key("add_bos_token")));
  }
  if (f.Has(Key("add_eos_token"))) {
    PHX_ASSIGN_OR_RETURN(add_eos_, f.GetBool(Key("add_eos_token")));
  }
  if (f.Has(Key("add_sep_token"))) {
    PHX_ASSIGN_OR_RETURN(add_sep_, f.GetBool(Key("add_sep_token")));
  }
  FindEndOfGeneration();
  BuildSpecialTokens(f);
  pieces_.resize(texts_.size());
  for (TokenId id = 0; id < vocab_size(); ++id) {
    switch (types_[id]) {
      case TokenType::kControl:
      case TokenType::kUnknown:
      case TokenType::kUserDefined:
        pieces_[id] = texts_[id];
        break;
      case TokenType::kNormal:
      case TokenType::kByte:
        pieces_[id] = NormalPiece(id);
        break;
      default:
        break;
    }
  }
  return absl::OkStatus();
}

std::vector<TokenId> VocabTokenizer::Encode(std::string_view text, bool add_special,
                                            bool parse_special) const {
  return EncodeFragments(specials_.Partition(text, parse_special), add_special);
}

std::vector<TokenId> VocabTokenizer::EncodeWithPlainSpans(
    std::string_view text, bool add_special, std::span<const TextSpan> plain_spans) const {
  return EncodeFragments(specials_.Partition(text, /*parse_special=*/true, plain_spans),
                         add_special);
}

std::vector<TokenId> VocabTokenizer::EncodeFragments(const std::vector<Fragment>& frags,
                                                     bool add_special) const {
  std::vector<TokenId> out;
  if (add_special && add_bos_ && bos_ != kNoToken) out.push_back(bos_);
  bool after_special = true;
  for (const Fragment& frag : frags) {
    if (frag.token != kNoToken) {
      out.push_back(frag.token);
      after_special = true;
    } else {
      EncodeFragment(frag.text, after_special, &out);
      after_special = false;
    }
  }
  if (add_special && add_eos_ && eos_ != kNoToken) out.push_back(eos_);
  if (add_special && add_sep_ && sep_ != kNoToken) out.push_back(sep_);
  return out;
}

std::string VocabTokenizer::TokenToPiece(TokenId id, bool render_special) const {
  if (id < 0 || id >= vocab_size()) return "";
  const TokenType t = types_[id];
  if (!render_special && (t == TokenType::kControl || t == TokenType::kUnknown)) return "";
  return pieces_[id];
}

}  // namespace phx::tok
