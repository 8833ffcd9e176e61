// The TLS rule of every Phalanx listener that terminates TLS itself: TLS 1.2 at least, and for
// TLS 1.2 only forward-secret AEAD suites (Mozilla's "intermediate" list); TLS 1.3 suites are
// OpenSSL's defaults (all AEAD).
#pragma once

namespace phx::server::net {

inline constexpr char kTls12CipherList[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

}  // namespace phx::server::net
