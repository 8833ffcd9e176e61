// TLS material from PEM files: the server certificate chain and key, and optionally a client
// CA bundle, which turns on mutual TLS (client certificates required and verified). Also the
// one TLS policy every listener uses (docs/security.md, "TLS"): TLS 1.2 or newer, and for
// TLS 1.2 only ECDHE key exchange with AEAD ciphers (forward secrecy, no CBC, no RSA key
// exchange, no SHA-1 MACs).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace phx::server {

// OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are all AEAD and stay OpenSSL's default).
// It is also gRPC's own default list; the server sets it explicitly (GRPC_SSL_CIPHER_SUITES)
// so a different library default cannot weaken it.
inline constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// TLS 1.3 suites (OpenSSL's names), all allowed.
inline constexpr char kTls13Suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// Applies the policy to an OpenSSL server context (the HTTP listeners' contexts): minimum
// version TLS 1.2, kTls12Ciphers, kTls13Suites, server cipher preference, no renegotiation,
// no compression. INTERNAL when OpenSSL refuses a setting.
absl::Status ApplyTlsPolicy(SSL_CTX* ctx);

// A private key file must not be readable or writable by others, nor by its group unless it
// is owned by root (Kubernetes mounts Secret files root-owned with group read for the pod's
// fsGroup, e.g. mode 0440). FAILED_PRECONDITION naming the flag, the file and its mode
// otherwise (the rule PostgreSQL applies to its key file).
absl::Status CheckKeyFileMode(std::string_view flag, const std::string& path);

struct TlsMaterial {
  std::string cert_path, key_path, client_ca_path;
  std::string cert_pem, key_pem, client_ca_pem;
  bool mutual() const { return !client_ca_pem.empty(); }
};

// Reads and checks the files: each parses as PEM, the key matches the certificate, and the
// key file's mode passes CheckKeyFileMode.
absl::StatusOr<TlsMaterial> LoadTls(const std::string& cert, const std::string& key,
                                    const std::string& client_ca);
// gRPC server credentials for the material under the policy: gRPC's TLS stack refuses
// versions below 1.2 by itself; the cipher list comes from GRPC_SSL_CIPHER_SUITES, which this
// sets to kTls12Ciphers unless the environment already sets it (gRPC reads it once per
// process, at the first TLS handshake setup: call this before any).
std::shared_ptr<grpc::ServerCredentials> GrpcCredentials(const TlsMaterial& t);

}  // namespace phx::server
