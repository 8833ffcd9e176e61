// TLS and mutual TLS on the gRPC port with a CA, server and client certificates made at test
// time by the real `openssl` command.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/integration/grpc_test_server.h"

namespace phx {
namespace {

const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";
namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// CA, a server certificate for localhost/127.0.0.1, a client certificate, and a second CA
// nobody trusts.
class Pki {
 public:
  Pki() : dir_(fs::temp_directory_path() / ("phx_tls_" + std::to_string(::getpid()))) {
    fs::create_directories(dir_);
    const std::string d = dir_.string();
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script =
        "set -e; cd " + d + "; " + "openssl req -x509 " + ec +
        " -keyout ca.key -out ca.pem -days 1 -subj /CN=phx-test-ca; " + "openssl req -x509 " + ec +
        " -keyout other.key -out other.pem -days 1 -subj /CN=other; " + "openssl req " + ec +
        " -keyout server.key -out server.csr -subj /CN=localhost; " +
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > "
        "s.ext; " +
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
        "-days 1 -extfile s.ext; " +
        "openssl req " + ec + " -keyout client.key -out client.csr -subj /CN=client; " +
        "printf 'extendedKeyUsage=clientAuth\\n' > c.ext; " +
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem "
        "-days 1 -extfile c.ext; " +
        "openssl req " + ec + " -keyout rogue.key -out rogue.csr -subj /CN=rogue; " +
        "openssl x509 -req -in rogue.csr -CA other.pem -CAkey other.key -CAcreateserial "
        "-out rogue.pem -days 1 -extfile c.ext; chmod 600 *.key";
    std::ofstream(dir_ / "make.sh") << script << "\n";
    ok_ = std::system(("bash " + d + "/make.sh >/dev/null 2>&1").c_str()) == 0;
  }
  ~Pki() { fs::remove_all(dir_); }
  bool ok() const { return ok_; }
  std::string path(const std::string& f) const { return (dir_ / f).string(); }
  std::string pem(const std::string& f) const { return Read(dir_ / f); }

 private:
  fs::path dir_;
  bool ok_ = false;
};

grpc::StatusCode Call(const std::string& target, std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto stub = phalanx::v1::Generation::NewStub(grpc::CreateCustomChannel(target, creds, args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  phalanx::v1::GenerateRequest req;
  req.set_text("Once upon a time");
  req.set_max_tokens(4);
  req.mutable_sampling()->set_temperature(0);
  phalanx::v1::GenerateResponse resp;
  return stub->Generate(&ctx, req, &resp).error_code();
}

TEST(Tls, ServerTlsAndPlaintextFailsCleanly) {
  Pki pki;
  ASSERT_TRUE(pki.ok()) << "openssl failed";
  auto cfg = testing::TestConfig(kStories);
  cfg.tls_cert = pki.path("server.pem");
  cfg.tls_key = pki.path("server.key");
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = pki.pem("ca.pem");
  EXPECT_EQ(Call(server->target(), grpc::SslCredentials(o)), grpc::StatusCode::OK);
  EXPECT_EQ(Call(server->target(), grpc::InsecureChannelCredentials()),
            grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions wrong;
  wrong.pem_root_certs = pki.pem("other.pem");  // does not trust the server
  EXPECT_EQ(Call(server->target(), grpc::SslCredentials(wrong)), grpc::StatusCode::UNAVAILABLE);
  // The server kept serving through the failed handshakes.
  EXPECT_EQ(Call(server->target(), grpc::SslCredentials(o)), grpc::StatusCode::OK);
}

TEST(Tls, MutualTlsRequiresATrustedClientCertificate) {
  Pki pki;
  ASSERT_TRUE(pki.ok()) << "openssl failed";
  auto cfg = testing::TestConfig(kStories);
  cfg.tls_cert = pki.path("server.pem");
  cfg.tls_key = pki.path("server.key");
  cfg.tls_client_ca = pki.path("ca.pem");
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  grpc::SslCredentialsOptions with_cert;
  with_cert.pem_root_certs = pki.pem("ca.pem");
  with_cert.pem_cert_chain = pki.pem("client.pem");
  with_cert.pem_private_key = pki.pem("client.key");
  EXPECT_EQ(Call(server->target(), grpc::SslCredentials(with_cert)), grpc::StatusCode::OK);
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = pki.pem("ca.pem");
  EXPECT_EQ(Call(server->target(), grpc::SslCredentials(no_cert)), grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions rogue = with_cert;
  rogue.pem_cert_chain = pki.pem("rogue.pem");
  rogue.pem_private_key = pki.pem("rogue.key");
  EXPECT_EQ(Call(server->target(), grpc::SslCredentials(rogue)), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(server->target(), grpc::SslCredentials(with_cert)), grpc::StatusCode::OK);
}

TEST(Tls, BadMaterialIsAClearError) {
  Pki pki;
  ASSERT_TRUE(pki.ok());
  auto cfg = testing::TestConfig(kStories);
  cfg.tls_cert = pki.path("server.pem");
  cfg.tls_key = pki.path("client.key");  // does not match
  EXPECT_NE(std::string(cfg.Check().message()).find("does not match"), std::string::npos);
  cfg.tls_key = pki.path("missing.key");
  EXPECT_NE(std::string(cfg.Check().message()).find("--tls-key"), std::string::npos);
}

// `openssl s_client` against 127.0.0.1:port with extra arguments; true when the handshake
// completed (its output names the negotiated cipher).
bool Handshake(int port, const std::string& args, std::string* out = nullptr) {
  const std::string cmd = "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                          " -servername localhost -alpn h2 " + args + " </dev/null 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return false;
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) text.append(buf, n);
  const int rc = ::pclose(p);
  if (out != nullptr) *out = text;
  return rc == 0 && text.find("Cipher is (NONE)") == std::string::npos &&
         text.find(", Cipher is ") != std::string::npos;
}

// The gRPC listener's TLS policy, measured from outside with OpenSSL's client: TLS 1.0 and 1.1
// refused (the client at security level 0, so the refusal is the server's), TLS 1.2 only with
// ECDHE and AEAD ciphers, TLS 1.3 accepted.
TEST(Tls, OnlyTls12AndNewerWithModernCiphers) {
  Pki pki;
  ASSERT_TRUE(pki.ok());
  auto cfg = testing::TestConfig(kStories);
  cfg.tls_cert = pki.path("server.pem");
  cfg.tls_key = pki.path("server.key");
  auto server = testing::TestServer::Start(cfg);
  ASSERT_NE(server, nullptr);
  const int port = server->app->grpc_port();
  std::string out;
  EXPECT_FALSE(Handshake(port, "-tls1_1 -cipher DEFAULT@SECLEVEL=0", &out)) << out;
  EXPECT_FALSE(Handshake(port, "-tls1 -cipher DEFAULT@SECLEVEL=0", &out)) << out;
  EXPECT_TRUE(Handshake(port, "-tls1_2", &out)) << out;
  EXPECT_NE(out.find("ECDHE-ECDSA-AES"), std::string::npos) << out;
  EXPECT_TRUE(Handshake(port, "-tls1_3", &out)) << out;
  // kTls12Ciphers is what the server uses (CHACHA20 is in it, not in gRPC's own default list).
  EXPECT_TRUE(Handshake(port, "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305", &out)) << out;
  // CBC and SHA-1 suites are refused even though both sides could do them.
  for (const char* weak :
       {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"}) {
    EXPECT_FALSE(Handshake(port, std::string("-tls1_2 -cipher ") + weak + "@SECLEVEL=0", &out))
        << weak << "\n"
        << out;
  }
  // The server still serves.
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = pki.pem("ca.pem");
  EXPECT_EQ(Call(server->target(), grpc::SslCredentials(o)), grpc::StatusCode::OK);
}

// A private key readable by others is refused with its file and mode named; group access only
// when the file is owned by root (Kubernetes Secret volumes with an fsGroup: root, 0440).
TEST(Tls, KeyFilesOthersCanReadAreRefused) {
  Pki pki;
  ASSERT_TRUE(pki.ok());
  auto cfg = testing::TestConfig(kStories);
  cfg.tls_cert = pki.path("server.pem");
  cfg.tls_key = pki.path("server.key");
  const fs::path key = pki.path("server.key");
  EXPECT_TRUE(cfg.Check().ok()) << cfg.Check();  // 0600
  fs::permissions(key, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  const absl::Status world = cfg.Check();
  EXPECT_EQ(world.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(world.message()).find(key.string() + " has mode 0444"), std::string::npos)
      << world;
  EXPECT_NE(std::string(world.message()).find("--tls-key"), std::string::npos) << world;
  // ServerApp::Start refuses it the same way.
  EXPECT_EQ(testing::TestServer::Start(cfg), nullptr);
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  if (::geteuid() == 0) {
    EXPECT_TRUE(cfg.Check().ok()) << cfg.Check();  // root-owned, group read: allowed
    ASSERT_EQ(::chown(key.c_str(), 65534, 65534), 0);
  }
  const absl::Status group = cfg.Check();  // group-readable and not root's
  EXPECT_EQ(group.code(), absl::StatusCode::kFailedPrecondition) << group;
  EXPECT_NE(std::string(group.message()).find("mode 0640"), std::string::npos) << group;
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_write);
  if (::geteuid() == 0) ASSERT_EQ(::chown(key.c_str(), 0, 0), 0);
  EXPECT_EQ(cfg.Check().code(), absl::StatusCode::kFailedPrecondition);  // group-writable
}

}  // namespace
}  // namespace phx
