#include "server/app/tls.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/strings.h"
#include "grpcpp/security/server_credentials.h"
#include "openssl/pem.h"
#include "openssl/ssl.h"
#include "openssl/x509.h"

namespace phx::server {
namespace {

absl::StatusOr<std::string> ReadFile(std::string_view flag, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(StrCat("--", flag, ": cannot read ", path));
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

}  // namespace

absl::Status ApplyTlsPolicy(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1) {
    return absl::InternalError("TLS: OpenSSL refused the version or cipher policy");
  }
  SSL_CTX_set_options(
      ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  return absl::OkStatus();
}

absl::Status CheckKeyFileMode(std::string_view flag, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(StrCat("--", flag, ": cannot read ", path));
  }
  const unsigned mode = st.st_mode & 07777;
  const bool others = (mode & 007) != 0;
  const bool group = (mode & 070) != 0;
  const bool group_ok = st.st_uid == 0 && (mode & 030) == 0;  // root-owned, group read only
  if (others || (group && !group_ok)) {
    return absl::FailedPreconditionError(fmt::format(
        "--{}: {} has mode {:04o}; a private key must not be accessible to others, nor to its "
        "group unless owned by root (chmod 600 {})",
        flag, path, mode, path));
  }
  return absl::OkStatus();
}

absl::StatusOr<TlsMaterial> LoadTls(const std::string& cert, const std::string& key,
                                    const std::string& client_ca) {
  TlsMaterial t{cert, key, client_ca, "", "", ""};
  auto c = ReadFile("tls-cert", cert);
  if (!c.ok()) return c.status();
  auto k = ReadFile("tls-key", key);
  if (!k.ok()) return k.status();
  if (absl::Status m = CheckKeyFileMode("tls-key", key); !m.ok()) return m;
  t.cert_pem = *c;
  t.key_pem = *k;
  std::unique_ptr<BIO, BioDeleter> cb(
      BIO_new_mem_buf(t.cert_pem.data(), static_cast<int>(t.cert_pem.size())));
  std::unique_ptr<X509, X509Deleter> x(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!x)
    return absl::InvalidArgumentError(StrCat("--tls-cert: ", cert, " is not a PEM certificate"));
  std::unique_ptr<BIO, BioDeleter> kb(
      BIO_new_mem_buf(t.key_pem.data(), static_cast<int>(t.key_pem.size())));
  std::unique_ptr<EVP_PKEY, KeyDeleter> pk(
      PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!pk)
    return absl::InvalidArgumentError(StrCat("--tls-key: ", key, " is not a PEM private key"));
  if (X509_check_private_key(x.get(), pk.get()) != 1) {
    return absl::InvalidArgumentError("--tls-key does not match the certificate of --tls-cert");
  }
  if (!client_ca.empty()) {
    auto ca = ReadFile("tls-client-ca", client_ca);
    if (!ca.ok()) return ca.status();
    std::unique_ptr<BIO, BioDeleter> ab(BIO_new_mem_buf(ca->data(), static_cast<int>(ca->size())));
    std::unique_ptr<X509, X509Deleter> cax(PEM_read_bio_X509(ab.get(), nullptr, nullptr, nullptr));
    if (!cax) {
      return absl::InvalidArgumentError(
          StrCat("--tls-client-ca: ", client_ca, " is not a PEM certificate bundle"));
    }
    t.client_ca_pem = *ca;
  }
  return t;
}

std::shared_ptr<grpc::ServerCredentials> GrpcCredentials(const TlsMaterial& t) {
  ::setenv("GRPC_SSL_CIPHER_SUITES", kTls12Ciphers, /*overwrite=*/0);
  grpc::SslServerCredentialsOptions o(
      t.mutual() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                 : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  o.pem_root_certs = t.client_ca_pem;
  o.pem_key_cert_pairs.push_back({t.key_pem, t.cert_pem});
  return grpc::SslServerCredentials(o);
}

}  // namespace phx::server
