#include "server/audit/log_strings.h"

#include "base/strings.h"

namespace phx::server {

std::string ClipForLog(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t cut = max;
  // Back up over continuation bytes (10xxxxxx) so a multi-byte character is not split; at most
  // three of them belong to one character.
  for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80; ++i) {
    --cut;
  }
  return StrCat(s.substr(0, cut), "...[", s.size(), " bytes]");
}

std::string BoundForLog(std::string_view s, size_t max) {
  if (s.size() <= max + kClipMarkerBytes) return std::string(s);
  return ClipForLog(s, max);
}

}  // namespace phx::server
