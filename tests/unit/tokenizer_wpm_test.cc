// WordPiece ("bert" vocabularies): framing with [CLS]/[SEP], normalization, greedy longest-match
// pieces, and decoding as llama.cpp's detokenizer does it. The 46 cases of llama.cpp's own
// expectations for bert-bge run in tokenizer_test (VocabCasesTest).
#include <gtest/gtest.h>

#include "base/strings.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/wpm.h"

namespace phx::tok {
namespace {

std::string Shared(std::string_view rel) {
  return StrCat(PHX_SHARED_DIR, "/", rel);
}

class WordPieceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = gguf::File::Open(Shared("vocab/ggml-vocab-bert-bge.gguf"));
    ASSERT_TRUE(f.ok()) << f.status();
    file_ = std::move(*f);
    auto t = Tokenizer::FromGguf(*file_);
    ASSERT_TRUE(t.ok()) << t.status();
    tok_ = std::move(*t);
  }
  std::vector<std::string> Pieces(const std::vector<TokenId>& ids) {
    std::vector<std::string> out;
    for (TokenId id : ids) out.emplace_back(tok_->token_text(id));
    return out;
  }
  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(WordPieceTest, SpecialsAndFraming) {
  EXPECT_EQ(tok_->kind(), VocabKind::kWpm);
  EXPECT_EQ(tok_->bos(), 101);  // [CLS]
  EXPECT_EQ(tok_->sep(), 102);  // [SEP]
  EXPECT_EQ(tok_->unk(), 100);
  EXPECT_EQ(tok_->token_text(101), "[CLS]");
  const std::vector<TokenId> plain = tok_->Encode("Hello world", false, false);
  std::vector<TokenId> framed = {101};
  framed.insert(framed.end(), plain.begin(), plain.end());
  framed.push_back(102);
  EXPECT_EQ(tok_->Encode("Hello world", true, false), framed);
  EXPECT_EQ(tok_->Encode("", true, false), (std::vector<TokenId>{101, 102}));
  // [SEP] typed by a user is text unless special tokens are parsed.
  EXPECT_EQ(tok_->Encode("a [SEP] b", false, true)[1], 102);
  EXPECT_NE(tok_->Encode("a [SEP] b", false, false)[1], 102);
}

TEST_F(WordPieceTest, NormalizesAndSplitsWords) {
  EXPECT_EQ(WpmTokenizer::Words("  Héllo,WORLD!\tçà va\n"),
            (std::vector<std::string>{"hello", ",", "world", "!", "ca", "va"}));
  // CJK ideographs are single words; control characters and U+FFFD vanish.
  EXPECT_EQ(WpmTokenizer::Words("ab\xE4\xB8\xAD\xE6\x96\x87"
                                "c\x01\xEF\xBF\xBD"
                                "d"),
            (std::vector<std::string>{"ab", "\xE4\xB8\xAD", "\xE6\x96\x87", "cd"}));
  EXPECT_EQ(WpmTokenizer::Words("$5 a+b"), (std::vector<std::string>{"$", "5", "a", "+", "b"}));
}

TEST_F(WordPieceTest, LongestMatchPiecesAndUnknownWords) {
  // A word splits into its longest first piece and "##" continuations (the converter wrote the
  // first with U+2581 and stripped the continuations' "##").
  const std::vector<std::string> pieces = Pieces(tok_->Encode("unaffable", false, false));
  ASSERT_GE(pieces.size(), 2u);
  EXPECT_TRUE(pieces[0].starts_with("\xE2\x96\x81")) << pieces[0];
  std::string joined;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0) EXPECT_FALSE(pieces[i].starts_with("\xE2\x96\x81")) << pieces[i];
    joined += i == 0 ? pieces[i].substr(3) : pieces[i];
  }
  EXPECT_EQ(joined, "unaffable");
  // No piece covers a character of this word: the whole word is [UNK], the next one is not.
  EXPECT_EQ(tok_->Encode("a\xF0\x9F\x98\x80z the", false, false),
            (std::vector<TokenId>{100, tok_->Encode("the", false, false)[0]}));
}

TEST_F(WordPieceTest, DecodesAsLlamaCpp) {
  // Pieces turn U+2581 into spaces (no leading-space strip: WordPiece has no dummy prefix), and
  // llama.cpp's clean_spaces removes the space before . , ! ? and rejoins "' s".
  EXPECT_EQ(tok_->Decode(tok_->Encode("Hello world, it's me. Really?!", false, false)),
            " hello world, it's me. really?!");
  EXPECT_EQ(tok_->Decode(tok_->Encode("unaffable", false, false)), " unaffable");
  EXPECT_EQ(tok_->Decode(tok_->Encode("we 're here 've", false, false)), " we're here've");
  // [CLS] and [SEP] are control tokens: empty unless rendered.
  EXPECT_EQ(tok_->Decode(tok_->Encode("ok", true, false)), " ok");
  EXPECT_EQ(tok_->Decode(tok_->Encode("ok", true, false), /*render_special=*/true),
            "[CLS] ok[SEP]");
}

}  // namespace
}  // namespace phx::tok
