// Bounds on client-supplied strings that reach a log line or a metric label (docs/security.md,
// "Bounded client strings"). The Gate cuts each one when a request arrives, before
// authentication, and the audit log cuts every field again when it formats a record, so no
// client can make a record longer than these limits allow whatever path it took.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace phx::server {

// request_id (also its validation limit), key ids (also the keys file's limit).
inline constexpr size_t kMaxLoggedIdBytes = 128;
// Peer address as the transport reports it, plus " user=..." for the HTTP API.
inline constexpr size_t kMaxLoggedPeerBytes = 256;
// The OpenAI `user` field inside the peer string.
inline constexpr size_t kMaxLoggedUserBytes = 64;
// Feedback comments (also their validation limit).
inline constexpr size_t kMaxLoggedCommentBytes = 4096;
// rpc names, status codes, reasons and rejection messages, model names.
inline constexpr size_t kMaxLoggedNameBytes = 256;
// Prompt and output text, with --audit-include-text (redacted otherwise), at least this much.
inline constexpr size_t kMinLoggedTextBytes = size_t{1} << 20;

// The longest marker ClipForLog appends.
inline constexpr size_t kClipMarkerBytes = 32;

// `s` when it fits in `max` bytes; otherwise its first bytes up to `max`, cut at a UTF-8
// character boundary, followed by "...[N bytes]" (N: the original length). The result is at
// most max + kClipMarkerBytes bytes.
std::string ClipForLog(std::string_view s, size_t max);
// The same bound, kept by a string ClipForLog already cut: `s` unchanged when it is at most
// max + kClipMarkerBytes bytes, else ClipForLog(s, max). The audit log applies this to every
// field, so what the Gate cut on arrival passes unchanged.
std::string BoundForLog(std::string_view s, size_t max);

}  // namespace phx::server
