// spdlog setup for the server: human-readable text or one JSON object per line.
#pragma once

#include <string>

namespace phx::server {

// format: "text" | "json"; level: "debug" | "info" | "warn" | "error".
void InitLogging(const std::string& format, const std::string& level);

}  // namespace phx::server
