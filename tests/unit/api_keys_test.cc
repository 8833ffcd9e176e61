#include "server/auth/api_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace phx::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string HashOf(std::string_view key) { return DigestHex(Sha256(key)); }

std::string Entry(const std::string& id, const std::string& sha, const std::string& extra = "") {
  return "  - id: " + id + "\n    sha256: " + sha + "\n" + extra;
}

std::shared_ptr<const ApiKeyStore> MustParse(const std::string& yaml) {
  auto s = ApiKeyStore::Parse(yaml);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : nullptr;
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(HashOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HashOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashOf("foobar"), "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2");
}

TEST(ApiKeyStore, ParsesValidFile) {
  const std::string yaml =
      "# comment\n"
      "keys:\n" +
      Entry("team-a", HashOf("key-a"),
            "    requests_per_second: 20\n    tokens_per_minute: 200000\n") +
      Entry("batch-jobs", HashOf("key-b"), "    revoked: true\n") +
      // Upper-case hex is accepted.
      Entry("ops", "C3AB8FF13720E8AD9047DD39466B3C8974E592C2FA383D4A3960714CAEF0C4F2",
            "    requests_per_second: 0.5\n    revoked: false\n");
  auto store = MustParse(yaml);
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->keys().size(), 3u);
  const ApiKey& a = store->keys()[0];
  EXPECT_EQ(a.id, "team-a");
  EXPECT_EQ(DigestHex(a.sha256), HashOf("key-a"));
  EXPECT_DOUBLE_EQ(a.limits.requests_per_second, 20);
  EXPECT_DOUBLE_EQ(a.limits.tokens_per_minute, 200000);
  EXPECT_FALSE(a.revoked);
  const ApiKey& b = store->keys()[1];
  EXPECT_EQ(b.id, "batch-jobs");
  EXPECT_TRUE(b.revoked);
  EXPECT_DOUBLE_EQ(b.limits.requests_per_second, 0);  // unset: the server default
  EXPECT_DOUBLE_EQ(b.limits.tokens_per_minute, 0);
  const ApiKey& c = store->keys()[2];
  EXPECT_EQ(DigestHex(c.sha256), HashOf("foobar"));
  EXPECT_DOUBLE_EQ(c.limits.requests_per_second, 0.5);
  EXPECT_FALSE(c.revoked);
}

TEST(ApiKeyStore, MaxPriorityDefaultsToZeroAndIsRaisedOnlyWhereConfigured) {
  auto store = MustParse("keys:\n" + Entry("user", HashOf("u")) +
                         Entry("canary", HashOf("c"), "    max_priority: 1000\n") +
                         Entry("batch", HashOf("b"), "    max_priority: -10\n"));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->keys()[0].max_priority, 0);
  EXPECT_EQ(store->keys()[1].max_priority, 1000);
  EXPECT_EQ(store->keys()[2].max_priority, -10);
  auto c = store->Authenticate("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->max_priority, 1000);
}

TEST(ApiKeyStore, EmptyListIsValidAndAdmitsNobody) {
  auto store = MustParse("keys: []\n");
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->keys().empty());
  EXPECT_EQ(store->Authenticate("anything").status().code(), absl::StatusCode::kUnauthenticated);
}

struct BadCase {
  const char* name;
  std::string yaml;
  std::vector<std::string> expect;  // substrings of the message
};

TEST(ApiKeyStore, EveryMalformedInputNamesTheProblem) {
  const std::string good = HashOf("k");
  const std::string other = HashOf("k2");
  const std::vector<BadCase> cases = {
      {"syntax", "keys: [\n", {"invalid YAML"}},
      {"empty document", "", {"mapping"}},
      {"root is a list", "- a\n- b\n", {"mapping"}},
      {"no keys", "other: 1\n", {"unknown top-level field 'other'"}},
      {"keys missing", "{}\n", {"missing the 'keys' list"}},
      {"keys is a map", "keys:\n  id: a\n", {"'keys' must be a list"}},
      {"keys is null", "keys:\n", {"'keys' must be a list"}},
      {"entry is scalar", "keys:\n  - hello\n", {"keys[0]", "mapping"}},
      {"missing id", "keys:\n  - sha256: " + good + "\n", {"keys[0].id", "missing"}},
      {"missing sha256", "keys:\n  - id: a\n", {"keys[0].sha256", "missing"}},
      {"empty id", "keys:\n  - id: ''\n    sha256: " + good + "\n", {"keys[0].id"}},
      {"id with space", "keys:\n" + Entry("'a b'", good), {"keys[0].id", "printable"}},
      {"id too long", "keys:\n" + Entry(std::string(129, 'x'), good), {"keys[0].id"}},
      {"id is a list", "keys:\n" + Entry("[a, b]", good), {"keys[0].id"}},
      {"sha256 too short", "keys:\n" + Entry("a", good.substr(1)), {"keys[0].sha256", "64"}},
      {"sha256 too long", "keys:\n" + Entry("a", good + "0"), {"keys[0].sha256", "64"}},
      {"sha256 not hex", "keys:\n" + Entry("a", "g" + good.substr(1)), {"keys[0].sha256"}},
      {"sha256 is a map", "keys:\n" + Entry("a", "{x: 1}"), {"keys[0].sha256"}},
      {"rps negative",
       "keys:\n" + Entry("a", good, "    requests_per_second: -1\n"),
       {"keys[0].requests_per_second", ">= 0"}},
      {"rps not a number",
       "keys:\n" + Entry("a", good, "    requests_per_second: fast\n"),
       {"keys[0].requests_per_second"}},
      {"rps infinite",
       "keys:\n" + Entry("a", good, "    requests_per_second: .inf\n"),
       {"keys[0].requests_per_second", "finite"}},
      {"rps nan",
       "keys:\n" + Entry("a", good, "    requests_per_second: .nan\n"),
       {"keys[0].requests_per_second"}},
      {"rps list",
       "keys:\n" + Entry("a", good, "    requests_per_second: [1]\n"),
       {"keys[0].requests_per_second"}},
      {"tpm negative",
       "keys:\n" + Entry("a", good, "    tokens_per_minute: -5\n"),
       {"keys[0].tokens_per_minute"}},
      {"tpm text",
       "keys:\n" + Entry("a", good, "    tokens_per_minute: lots\n"),
       {"keys[0].tokens_per_minute"}},
      {"max_priority too high",
       "keys:\n" + Entry("a", good, "    max_priority: 1001\n"),
       {"keys[0].max_priority", "[-1000, 1000]"}},
      {"max_priority too low",
       "keys:\n" + Entry("a", good, "    max_priority: -1001\n"),
       {"keys[0].max_priority"}},
      {"max_priority fractional",
       "keys:\n" + Entry("a", good, "    max_priority: 1.5\n"),
       {"keys[0].max_priority", "integer"}},
      {"max_priority text",
       "keys:\n" + Entry("a", good, "    max_priority: high\n"),
       {"keys[0].max_priority"}},
      {"max_priority huge",
       "keys:\n" + Entry("a", good, "    max_priority: 99999999999999999999\n"),
       {"keys[0].max_priority"}},
      {"revoked not bool",
       "keys:\n" + Entry("a", good, "    revoked: maybe\n"),
       {"keys[0].revoked", "true or false"}},
      {"unknown field",
       "keys:\n" + Entry("a", good, "    request_per_second: 3\n"),
       {"keys[0].request_per_second", "unknown field"}},
      {"field twice", "keys:\n" + Entry("a", good, "    id: b\n"), {"keys[0].id", "given twice"}},
      {"second entry bad",
       "keys:\n" + Entry("a", good) + Entry("b", "xyz"),
       {"keys[1].sha256", "line 5"}},
      {"duplicate id", "keys:\n" + Entry("a", good) + Entry("a", other), {"keys[1].id", "keys[0]"}},
      {"duplicate hash (other case)",
       "keys:\n" + Entry("a", good) +
           Entry(
               "b", "'" +
                        [&] {
                          std::string up = good;
                          for (char& c : up) c = static_cast<char>(std::toupper(c));
                          return up;
                        }() +
                        "'"),
       {"keys[1].sha256", "duplicate", "keys[0]"}},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto s = ApiKeyStore::Parse(c.yaml);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("<inline>"));
    for (const std::string& sub : c.expect) {
      EXPECT_THAT(std::string(s.status().message()), HasSubstr(sub));
    }
  }
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    path_ =
        (std::filesystem::temp_directory_path() / ("phx_api_keys_" + std::to_string(::getpid()) +
                                                   "_" + std::to_string(counter_++) + ".yaml"))
            .string();
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

TEST(ApiKeyStore, LoadReadsFileAndErrorsNameIt) {
  TempFile good("keys:\n" + Entry("team-a", HashOf("secret")));
  auto store = ApiKeyStore::Load(good.path());
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_EQ((*store)->keys().size(), 1u);
  auto k = (*store)->Authenticate("secret");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ((*k)->id, "team-a");

  TempFile bad("keys:\n" + Entry("team-a", "nothex"));
  auto err = ApiKeyStore::Load(bad.path());
  ASSERT_FALSE(err.ok());
  EXPECT_THAT(std::string(err.status().message()), HasSubstr(bad.path()));
  EXPECT_THAT(std::string(err.status().message()), HasSubstr("keys[0].sha256"));

  auto missing = ApiKeyStore::Load("/nonexistent/phx/keys.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/phx/keys.yaml"));
}

TEST(ApiKeyStore, AuthenticateFindsEachKeyWhereverItIs) {
  std::string yaml = "keys:\n";
  for (int i = 0; i < 10; ++i) {
    yaml += Entry("k" + std::to_string(i), HashOf("secret-" + std::to_string(i)));
  }
  auto store = MustParse(yaml);
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 10; ++i) {
    auto k = store->Authenticate("secret-" + std::to_string(i));
    ASSERT_TRUE(k.ok()) << i;
    EXPECT_EQ((*k)->id, "k" + std::to_string(i));
    EXPECT_EQ(*k, &store->keys()[i]);  // points into the store
  }
}

TEST(ApiKeyStore, NearMissHashesDoNotMatch) {
  // Entries whose digests differ from the key's only in the first or the last byte come first:
  // a comparison that stopped early or compared a prefix would pick one of them.
  const std::string real = HashOf("the-key");
  std::string first = real, last = real;
  first[0] = first[0] == '0' ? '1' : '0';
  last[63] = last[63] == '0' ? '1' : '0';
  auto store = MustParse("keys:\n" + Entry("first-byte", first) + Entry("last-byte", last) +
                         Entry("real", real));
  ASSERT_NE(store, nullptr);
  auto k = store->Authenticate("the-key");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ((*k)->id, "real");

  auto near_only = MustParse("keys:\n" + Entry("first-byte", first) + Entry("last-byte", last));
  ASSERT_NE(near_only, nullptr);
  EXPECT_EQ(near_only->Authenticate("the-key").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(ApiKeyStore, RevokedIsRejectedLikeUnknown) {
  auto store = MustParse("keys:\n" + Entry("live", HashOf("live-key")) +
                         Entry("gone", HashOf("old-key"), "    revoked: true\n") +
                         Entry("after", HashOf("after-key")));
  ASSERT_NE(store, nullptr);
  auto revoked = store->Authenticate("old-key");
  auto unknown = store->Authenticate("no-such-key");
  ASSERT_FALSE(revoked.ok());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(revoked.status().message(), unknown.status().message());
  // The message never echoes the key, nor names the revoked entry.
  EXPECT_THAT(std::string(revoked.status().message()), Not(HasSubstr("old-key")));
  EXPECT_THAT(std::string(revoked.status().message()), Not(HasSubstr("gone")));
  EXPECT_THAT(std::string(unknown.status().message()), Not(HasSubstr("no-such-key")));
  // Neighbours of the revoked entry still work.
  EXPECT_TRUE(store->Authenticate("live-key").ok());
  ASSERT_TRUE(store->Authenticate("after-key").ok());
  EXPECT_EQ((*store->Authenticate("after-key"))->id, "after");
}

TEST(ApiKeyStore, OnlyTheExactKeyMatches) {
  auto store = MustParse("keys:\n" + Entry("a", HashOf("Secret-Key")));
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Authenticate("Secret-Key").ok());
  for (const char* wrong :
       {"secret-key", "Secret-Key ", " Secret-Key", "Secret-Ke", "", "Secret-Key\n"}) {
    EXPECT_EQ(store->Authenticate(wrong).status().code(), absl::StatusCode::kUnauthenticated)
        << "'" << wrong << "'";
  }
  // A key given as its hash is not the key.
  EXPECT_FALSE(store->Authenticate(HashOf("Secret-Key")).ok());
}

TEST(ParseBearer, SchemeIsCaseInsensitiveAndSpacesAreIgnored) {
  const std::vector<std::pair<std::string, std::string>> ok = {
      {"Bearer abc", "abc"},           {"bearer abc", "abc"},       {"BEARER abc", "abc"},
      {"bEaReR abc", "abc"},           {"  Bearer   abc  ", "abc"}, {"Bearer\tabc", "abc"},
      {"Bearer a.b-c_d=", "a.b-c_d="},
  };
  for (const auto& [in, want] : ok) {
    auto key = ParseBearer(in);
    ASSERT_TRUE(key.has_value()) << "'" << in << "'";
    EXPECT_EQ(*key, want) << "'" << in << "'";
  }
  for (const char* bad : {"", "Bearer", "Bearer ", "Bearer    ", "Bearerabc", "Basic abc",
                          "Token abc", "abc", "Bear abc", "Bearer: abc"}) {
    EXPECT_FALSE(ParseBearer(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(ParseBearer, EndToEndWithStore) {
  auto store = MustParse("keys:\n" + Entry("svc", HashOf("tok123")));
  ASSERT_NE(store, nullptr);
  auto key = ParseBearer("bearer tok123");
  ASSERT_TRUE(key.has_value());
  auto k = store->Authenticate(*key);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ((*k)->id, "svc");
  // The scheme is not part of the key.
  EXPECT_FALSE(store->Authenticate("Bearer tok123").ok());
}

}  // namespace
}  // namespace phx::server
