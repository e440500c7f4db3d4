#pragma once
// cbnn::Error is the exception type of the project (what callers catch); two subclasses say
// more where a caller acts on it: UnsupportedByLibraryError below, and DivergenceError
// (train/guard.h). CBNN_CHECK is for user-facing checks
// (shapes, dtypes, values): its message names what was seen and carries no file:line.
// CUDA/cuBLAS/cuDNN failures (tensor/cuda_check.h) add the expression and file:line.

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>

namespace cbnn {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A library (cuDNN) refused a configuration as unsupported (its NOT_SUPPORTED or BAD_PARAM
// statuses) before doing any work: a caller that has an implementation of its own may catch this
// and use it instead (layers/cudnn_fallback.h). Every other failure stays a plain Error.
class UnsupportedByLibraryError : public Error {
  public:
    using Error::Error;
};

// `text` (a line or name read from a user's file, possibly binary) quoted for an error message:
// "..." with printable ASCII as it is, '\\' and '"' escaped by a backslash and every other byte
// as \xNN; cut after its first `max_bytes` bytes, then ..." (N bytes) says how long it was.
std::string quote_for_message(const std::string& text, size_t max_bytes = 60);

namespace detail {

template <class... Args>
std::string concat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}

[[noreturn]] void throw_error(const std::string& message);

}  // namespace detail
}  // namespace cbnn

#define CBNN_CHECK(cond, ...)                                                          \
    do {                                                                               \
        if (!(cond)) ::cbnn::detail::throw_error(::cbnn::detail::concat(__VA_ARGS__)); \
    } while (0)

#define CBNN_FAIL(...) ::cbnn::detail::throw_error(::cbnn::detail::concat(__VA_ARGS__))
