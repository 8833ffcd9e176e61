// Fuzzes the API-key file parser and the Authorization header parser. The first byte picks how
// the rest is used: raw YAML, YAML under "keys:", or extra entries/fields after a valid entry
// (so the fuzzer reaches the per-field checks without rediscovering the layout). Checks: no
// crash or escaping exception; errors are INVALID_ARGUMENT; an accepted store has valid, unique
// ids and unique hashes, max_priority in range, and every accepted key authenticates as itself
// unless revoked; ParseBearer returns a non-empty, trimmed part of its input after a
// case-insensitive "bearer".
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "server/auth/api_keys.h"

namespace {

using phx::server::ApiKeyStore;
using phx::server::DigestHex;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "apikeys_fuzz: %s\n", what);
    std::abort();
  }
}

void FuzzBearer(std::string_view header) {
  const std::optional<std::string_view> key = phx::server::ParseBearer(header);
  if (!key) return;
  Check(!key->empty(), "empty bearer key");
  Check(key->data() >= header.data() && key->data() + key->size() <= header.data() + header.size(),
        "key is not part of the header");
  Check(key->front() != ' ' && key->front() != '\t' && key->back() != ' ' && key->back() != '\t',
        "key not trimmed");
  const size_t start = header.find_first_not_of(" \t");
  Check(start != std::string_view::npos && header.size() - start > 6, "no scheme");
  for (size_t i = 0; i < 6; ++i) {
    Check(std::tolower(static_cast<unsigned char>(header[start + i])) == "bearer"[i],
          "scheme is not bearer");
  }
}

void FuzzStore(const std::string& yaml, std::string_view probe) {
  auto store = ApiKeyStore::Parse(yaml);
  if (!store.ok()) {
    Check(store.status().code() == absl::StatusCode::kInvalidArgument, "unexpected error code");
    return;
  }
  std::set<std::string> ids, hashes;
  for (const phx::server::ApiKey& k : (*store)->keys()) {
    Check(!k.id.empty() && k.id.size() <= 128, "bad id length");
    for (char c : k.id) Check(c > 0x20 && c < 0x7f, "bad id character");
    Check(ids.insert(k.id).second, "duplicate id accepted");
    Check(hashes.insert(DigestHex(k.sha256)).second, "duplicate hash accepted");
    Check(k.limits.requests_per_second >= 0 && k.limits.tokens_per_minute >= 0,
          "negative limit accepted");
    Check(
        k.max_priority >= phx::server::kMinPriority && k.max_priority <= phx::server::kMaxPriority,
        "max_priority out of range");
  }
  // The probe key: either it matches the entry with its hash, or it is rejected.
  auto got = (*store)->Authenticate(probe);
  const std::string want = DigestHex(phx::server::Sha256(probe));
  if (got.ok()) {
    Check(DigestHex((*got)->sha256) == want && !(*got)->revoked, "wrong entry authenticated");
  } else {
    Check(got.status().code() == absl::StatusCode::kUnauthenticated, "bad auth error");
    for (const phx::server::ApiKey& k : (*store)->keys()) {
      Check(DigestHex(k.sha256) != want || k.revoked, "live key rejected");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  FuzzBearer(rest);
  std::string yaml;
  switch (data[0] % 3) {
    case 0:
      yaml = rest;
      break;
    case 1:
      yaml = "keys:\n" + rest;
      break;
    default:
      // A valid entry for the key "k", then the fuzzer's text (more fields or entries).
      yaml =
          "keys:\n  - id: base\n    sha256: " + DigestHex(phx::server::Sha256("k")) + "\n" + rest;
      break;
  }
  FuzzStore(yaml, data[0] & 0x80 ? std::string_view("k") : std::string_view(rest));
  return 0;
}
