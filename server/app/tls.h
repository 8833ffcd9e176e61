// TLS material from PEM files: the server certificate chain and key, and optionally a client
// CA bundle, which turns on mutual TLS (client certificates required and verified).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"

namespace phx::server {

struct TlsMaterial {
  std::string cert_path, key_path, client_ca_path;
  std::string cert_pem, key_pem, client_ca_pem;
  bool mutual() const { return !client_ca_pem.empty(); }
};

// Reads and checks the files: each parses as PEM, and the key matches the certificate.
absl::StatusOr<TlsMaterial> LoadTls(const std::string& cert, const std::string& key,
                                    const std::string& client_ca);
std::shared_ptr<grpc::ServerCredentials> GrpcCredentials(const TlsMaterial& t);

}  // namespace phx::server
