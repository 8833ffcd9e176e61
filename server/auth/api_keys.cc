#include "server/auth/api_keys.h"

#include <cmath>
#include <cstddef>
#include <exception>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "base/status.h"
#include "base/strings.h"
#include "openssl/crypto.h"
#include "openssl/evp.h"
#include "yaml-cpp/yaml.h"

namespace phx::server {
namespace {

constexpr size_t kMaxIdBytes = 128;

// Error context: "api keys file F: keys[I].FIELD (line L): what".
class ErrorSink {
 public:
  explicit ErrorSink(std::string_view source) : source_(source) {}
  absl::Status File(std::string_view what) const {
    return absl::InvalidArgumentError(StrCat("api keys file ", source_, ": ", what));
  }
  absl::Status Entry(size_t index, std::string_view field, const YAML::Node& at,
                     std::string_view what) const {
    std::string where = StrCat("keys[", index, "]");
    if (!field.empty()) where = StrCat(where, ".", field);
    const YAML::Mark m = at.Mark();
    if (m.line >= 0) where = StrCat(where, " (line ", m.line + 1, ")");
    return File(StrCat(where, ": ", what));
  }

 private:
  std::string_view source_;
};

// A name from the file as shown in an error: at most 64 bytes.
std::string Shown(const std::string& name) {
  return name.size() <= 64 ? name : name.substr(0, 64) + "...";
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseHexDigest(const std::string& s, std::array<uint8_t, 32>* out) {
  if (s.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    const int hi = HexValue(s[2 * i]), lo = HexValue(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

// Ids appear in logs and metric labels: printable ASCII without spaces, bounded length.
bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// A non-negative finite number.
bool ParseLimit(const YAML::Node& n, double* out) {
  if (!n.IsScalar()) return false;
  double v = 0;
  if (!YAML::convert<double>::decode(n, v)) return false;
  if (!std::isfinite(v) || v < 0) return false;
  *out = v;
  return true;
}

absl::StatusOr<ApiKey> ParseEntry(const YAML::Node& e, size_t index, const ErrorSink& err) {
  if (!e.IsMap()) return err.Entry(index, "", e, "must be a mapping with id and sha256");
  ApiKey key;
  std::set<std::string> seen;
  for (const auto& kv : e) {
    if (!kv.first.IsScalar()) return err.Entry(index, "", kv.first, "field names must be scalars");
    const std::string field = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (!seen.insert(field).second) return err.Entry(index, Shown(field), kv.first, "given twice");
    if (field == "id") {
      if (!v.IsScalar() || !ValidId(v.Scalar())) {
        return err.Entry(
            index, field, v,
            StrCat("must be 1 to ", kMaxIdBytes, " printable ASCII characters without spaces"));
      }
      key.id = v.Scalar();
    } else if (field == "sha256") {
      if (!v.IsScalar() || !ParseHexDigest(v.Scalar(), &key.sha256)) {
        return err.Entry(index, field, v, "must be 64 hexadecimal characters (a SHA-256 digest)");
      }
    } else if (field == "requests_per_second") {
      if (!ParseLimit(v, &key.limits.requests_per_second)) {
        return err.Entry(index, field, v, "must be a finite number >= 0");
      }
    } else if (field == "tokens_per_minute") {
      if (!ParseLimit(v, &key.limits.tokens_per_minute)) {
        return err.Entry(index, field, v, "must be a finite number >= 0");
      }
    } else if (field == "max_priority") {
      int64_t p = 0;
      if (!v.IsScalar() || !YAML::convert<int64_t>::decode(v, p) || p < kMinPriority ||
          p > kMaxPriority) {
        return err.Entry(index, field, v,
                         StrCat("must be an integer in [", kMinPriority, ", ", kMaxPriority, "]"));
      }
      key.max_priority = static_cast<int32_t>(p);
    } else if (field == "revoked") {
      bool b = false;
      if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
        return err.Entry(index, field, v, "must be true or false");
      }
      key.revoked = b;
    } else {
      return err.Entry(index, Shown(field), kv.first,
                       "unknown field (expected id, sha256, requests_per_second, "
                       "tokens_per_minute, max_priority, revoked)");
    }
  }
  if (!seen.count("id")) return err.Entry(index, "id", e, "missing");
  if (!seen.count("sha256")) return err.Entry(index, "sha256", e, "missing");
  return key;
}

absl::StatusOr<std::vector<ApiKey>> ParseKeys(std::string_view yaml, std::string_view source) {
  const ErrorSink err(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return err.File(StrCat("invalid YAML: ", e.what()));
  }
  if (!root.IsMap()) return err.File("must be a mapping with a 'keys' list");
  YAML::Node list;
  bool have_keys = false;
  for (const auto& kv : root) {
    const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
    if (name != "keys") {
      return err.File(StrCat("unknown top-level field '", Shown(name), "' (expected 'keys')"));
    }
    if (have_keys) return err.File("'keys' given twice");
    have_keys = true;
    list = kv.second;
  }
  if (!have_keys) return err.File("missing the 'keys' list");
  if (!list.IsSequence()) return err.File("'keys' must be a list");

  std::vector<ApiKey> keys;
  keys.reserve(list.size());
  std::map<std::string, size_t> ids;
  std::map<std::array<uint8_t, 32>, size_t> hashes;
  size_t i = 0;
  for (auto it = list.begin(); it != list.end(); ++it, ++i) {
    const YAML::Node e = *it;
    PHX_ASSIGN_OR_RETURN(ApiKey key, ParseEntry(e, i, err));
    if (auto [prev, fresh] = ids.emplace(key.id, i); !fresh) {
      return err.Entry(i, "id", e,
                       StrCat("duplicate id '", key.id, "' (also keys[", prev->second, "])"));
    }
    if (auto [prev, fresh] = hashes.emplace(key.sha256, i); !fresh) {
      return err.Entry(i, "sha256", e, StrCat("duplicate sha256 (also keys[", prev->second, "])"));
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

// No exception escapes: yaml-cpp's (bad syntax, conversions) become INVALID_ARGUMENT, anything
// else (std::bad_alloc) INTERNAL.
absl::StatusOr<std::vector<ApiKey>> ParseKeysNoThrow(std::string_view yaml,
                                                     std::string_view source) {
  try {
    return ParseKeys(yaml, source);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat("api keys file ", source, ": invalid YAML: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(StrCat("api keys file ", source, ": ", e.what()));
  }
}

// False when OpenSSL fails (out of memory); *out is then unspecified.
bool Sha256Into(std::string_view data, std::array<uint8_t, 32>* out) {
  unsigned int len = 0;
  return EVP_Digest(data.data(), data.size(), out->data(), &len, EVP_sha256(), nullptr) == 1 &&
         len == out->size();
}

}  // namespace

std::string DigestHex(const std::array<uint8_t, 32>& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (uint8_t b : digest) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

std::array<uint8_t, 32> Sha256(std::string_view data) {
  std::array<uint8_t, 32> out{};
  Sha256Into(data, &out);
  return out;
}

absl::StatusOr<std::shared_ptr<const ApiKeyStore>> ApiKeyStore::Parse(std::string_view yaml) {
  PHX_ASSIGN_OR_RETURN(std::vector<ApiKey> keys, ParseKeysNoThrow(yaml, "<inline>"));
  auto store = std::make_shared<ApiKeyStore>();
  store->keys_ = std::move(keys);
  return store;
}

absl::StatusOr<std::shared_ptr<const ApiKeyStore>> ApiKeyStore::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("api keys file ", path, ": cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(StrCat("api keys file ", path, ": read error"));
  PHX_ASSIGN_OR_RETURN(std::vector<ApiKey> keys, ParseKeysNoThrow(text.str(), path));
  auto store = std::make_shared<ApiKeyStore>();
  store->keys_ = std::move(keys);
  return store;
}

absl::StatusOr<const ApiKey*> ApiKeyStore::Authenticate(std::string_view key) const {
  std::array<uint8_t, 32> digest{};
  if (!Sha256Into(key, &digest)) return absl::UnauthenticatedError("invalid API key");
  // Every entry is compared (no early exit) and the match is selected with masks, so the time
  // does not depend on which entry matches or on how many bytes of a digest agree. Hashes are
  // unique, so at most one entry matches.
  size_t found = 0;  // all ones once an entry matched
  size_t index = 0;
  for (size_t i = 0; i < keys_.size(); ++i) {
    const int diff = CRYPTO_memcmp(digest.data(), keys_[i].sha256.data(), digest.size());
    const size_t mask = static_cast<size_t>(0) - static_cast<size_t>(diff == 0);
    index = (index & ~mask) | (i & mask);
    found |= mask;
  }
  if (found == 0 || keys_[index].revoked) {
    return absl::UnauthenticatedError("invalid API key");
  }
  return &keys_[index];
}

std::optional<std::string_view> ParseBearer(std::string_view authorization) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!authorization.empty() && is_space(authorization.front())) authorization.remove_prefix(1);
  while (!authorization.empty() && is_space(authorization.back())) authorization.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return std::nullopt;
  }
  authorization.remove_prefix(kScheme.size());
  if (!is_space(authorization.front())) return std::nullopt;  // "Bearerxyz"
  while (!authorization.empty() && is_space(authorization.front())) authorization.remove_prefix(1);
  if (authorization.empty()) return std::nullopt;
  return authorization;
}

}  // namespace phx::server
