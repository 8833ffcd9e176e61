// API keys: a YAML file of SHA-256 hashes with per-key limits (docs/configuration.md). Keys are
// never stored in clear; a presented key is hashed and compared in constant time against every
// entry, so timing reveals neither which key nor how much of it matched.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace phx::server {

struct KeyLimits {
  double requests_per_second = 0;  // 0: the server default
  double tokens_per_minute = 0;    // 0: the server default
};

// The priority range requests may ask for; a key may use at most its max_priority.
inline constexpr int32_t kMinPriority = -1000, kMaxPriority = 1000;

struct ApiKey {
  std::string id;                    // shown in logs and metrics; never the key
  std::array<uint8_t, 32> sha256{};  // of the key string
  KeyLimits limits;
  // The highest priority this key's requests may ask for (higher is refused, not clamped):
  // 0 unless the keys file raises it, so no key can jump ahead of others by default.
  int32_t max_priority = 0;
  bool revoked = false;
};

class ApiKeyStore {
 public:
  // Parses the YAML file; errors name the file, the entry index and the field.
  static absl::StatusOr<std::shared_ptr<const ApiKeyStore>> Load(const std::string& path);
  static absl::StatusOr<std::shared_ptr<const ApiKeyStore>> Parse(std::string_view yaml);

  // The key whose hash matches `key`, unless revoked. UNAUTHENTICATED otherwise (the message
  // never echoes the key). Takes the same time whatever matches.
  absl::StatusOr<const ApiKey*> Authenticate(std::string_view key) const;
  const std::vector<ApiKey>& keys() const { return keys_; }

 private:
  std::vector<ApiKey> keys_;
};

// "Bearer <key>" (case-insensitive scheme, surrounding spaces ignored) → "<key>".
std::optional<std::string_view> ParseBearer(std::string_view authorization);

// SHA-256 of `data` (OpenSSL).
std::array<uint8_t, 32> Sha256(std::string_view data);
// A digest as the key file writes it: 64 lowercase hex digits.
std::string DigestHex(const std::array<uint8_t, 32>& digest);

}  // namespace phx::server
