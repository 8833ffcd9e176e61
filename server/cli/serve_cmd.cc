// `phalanx serve`: the whole server until SIGTERM/SIGINT (drain) — SIGHUP reloads.
#include <cstdio>

#include "server/app/logging.h"
#include "server/app/server_app.h"
#include "server/cli/commands.h"

namespace phx::cli {

int Serve(const server::ServeConfig& cfg) {
  server::InitLogging(cfg.log_format, cfg.log_level);
  if (cfg.check_config) {
    const absl::Status s = cfg.Check();
    if (!s.ok()) {
      std::fprintf(stderr, "config error: %s\n", std::string(s.message()).c_str());
      return 2;
    }
    std::fprintf(stderr, "config ok\n");
    return 0;
  }
  server::BlockServerSignals();
  server::ServerApp app(cfg);
  if (absl::Status s = app.Start(); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  app.Run();
  return 0;
}

}  // namespace phx::cli
