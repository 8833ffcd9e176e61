// Error reporting of the kernel launchers. A launcher returns a cudaError_t; when it rejects its
// arguments (cudaErrorInvalidValue) it also records a message naming the bad value, which the
// caller reads on the same thread with LastErrorMessage() (ops/cuda turns both into a Status).
// Host code only; no exceptions, no absl.
#pragma once

#include <cuda_runtime_api.h>

namespace phx::kernels {

// The message of the last argument error recorded on this thread ("" when none since the last
// ClearErrorMessage()).
const char* LastErrorMessage();
void ClearErrorMessage();

// Records a printf-style message and returns cudaErrorInvalidValue.
cudaError_t InvalidArgument(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Records "what: not supported on this device" style messages for a missing hardware feature
// and returns cudaErrorNotSupported.
cudaError_t NotSupported(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace phx::kernels
