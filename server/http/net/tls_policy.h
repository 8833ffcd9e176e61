// The TLS rule of the HTTP listeners: TLS 1.2 at least, and for TLS 1.2 only ECDHE key exchange
// with AEAD ciphers (forward secrecy; no CBC, no RSA key exchange); TLS 1.3 suites are
// OpenSSL's defaults (all AEAD). The same list as gRPC's default, which the gRPC listener uses.
#pragma once

namespace phx::server::net {

inline constexpr char kTls12CipherList[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace phx::server::net
