#include "kernels/error.h"

#include <cstdarg>
#include <cstdio>

namespace phx::kernels {
namespace {

thread_local char g_message[512] = "";

void Record(const char* fmt, va_list args) {
  std::vsnprintf(g_message, sizeof(g_message), fmt, args);
}

}  // namespace

const char* LastErrorMessage() { return g_message; }
void ClearErrorMessage() { g_message[0] = '\0'; }

cudaError_t InvalidArgument(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  Record(fmt, args);
  va_end(args);
  return cudaErrorInvalidValue;
}

cudaError_t NotSupported(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  Record(fmt, args);
  va_end(args);
  return cudaErrorNotSupported;
}

}  // namespace phx::kernels
