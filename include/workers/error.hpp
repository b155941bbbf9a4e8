#pragma once

/// @file
/// @brief The library's error conditions: `workers::errc` and its error category.

#include <boost/system/error_code.hpp>

#include <exception>
#include <string>
#include <type_traits>

namespace workers {

/// @brief The error code type of the library: Boost.Asio's.
using error_code = boost::system::error_code;

/// @brief Library conditions, carried by `error_code` with `workers::category()`.
enum class errc {
  closed = 1,         ///< the worker is closed (or closing) and refuses the request
  request_failed,     ///< the request's handler returned the request's own error
  handler_exception,  ///< a handler threw; the exception travels with the error
  dropped,            ///< the request left a dropbox without being handled
  cancelled,          ///< the caller stopped waiting (per-operation cancellation)
  name_taken,         ///< a worker of that name is already live in the table
  launch_failed,      ///< `on_launch` returned its launch error
  invalid_argument,   ///< a precondition on an argument does not hold
};

namespace detail {
class error_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "workers"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::closed:
        return "worker closed";
      case errc::request_failed:
        return "request failed";
      case errc::handler_exception:
        return "handler threw an exception";
      case errc::dropped:
        return "request dropped";
      case errc::cancelled:
        return "request cancelled by its caller";
      case errc::name_taken:
        return "worker name already taken";
      case errc::launch_failed:
        return "launch failed";
      case errc::invalid_argument:
        return "invalid argument";
    }
    return "unknown workers error";
  }
};
}  // namespace detail

/// @brief The category of `workers::errc`.
inline const boost::system::error_category& category() noexcept {
  static const detail::error_category instance;
  return instance;
}

/// @brief Makes an `error_code` of `workers::category()`; found by ADL.
inline error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

namespace detail {
/// What an exception says of itself, for logs and crash errors.
inline std::string describe(const std::exception_ptr& e) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
  }
  return "unknown exception";
}
}  // namespace detail

}  // namespace workers

template <>
struct boost::system::is_error_code_enum<workers::errc> : std::true_type {};
