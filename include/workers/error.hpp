#pragma once

/// @file
/// @brief The library's error conditions: `workers::errc` and its error category.
///
/// One cancellation vocabulary: a caller that stops waiting sees Asio's
/// `asio::error::operation_aborted` (equal, as a condition, to
/// `std::errc::operation_canceled`), whichever operation it was.

#include <workers/detail/config.hpp>

#include <boost/system/errc.hpp>
#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/error_condition.hpp>

#include <exception>
#include <string>
#include <type_traits>

WORKERS_BEGIN_NAMESPACE

/// @brief The error code type of the library: Boost.Asio's.
using error_code = boost::system::error_code;

/// @brief Library conditions, carried by `error_code` with `workers::category()`.
///
/// An error code enum (`boost::system::is_error_code_enum`): an `errc` converts
/// to `error_code` and compares with one. As error conditions, `closed` is
/// `std::errc::broken_pipe` and `name_taken` is `std::errc::file_exists`.
enum class errc {
  closed = 1,             ///< the worker is closed (or closing) and refuses the request
  request_failed = 2,     ///< the request's handler returned the request's own error
  handler_exception = 3,  ///< a handler threw; the exception travels with the error
  dropped = 4,            ///< the request left a dropbox without being handled
  name_taken = 6,         ///< a worker of that name is already live in the table
  launch_failed = 7,      ///< `on_launch` returned its launch error
};

namespace detail {
class error_category final : public boost::system::error_category {
 public:
  // A fixed id: copies of the library in several binaries, or a single header
  // beside an installed copy, share one category.
  constexpr error_category() noexcept : boost::system::error_category(0x8f3c'6a2b'14d7'e905ULL) {}

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
      case errc::name_taken:
        return "worker name already taken";
      case errc::launch_failed:
        return "launch failed";
    }
    return "unknown workers error";
  }

  // The generic condition each code means, where there is one.
  boost::system::error_condition default_error_condition(int value) const noexcept override {
    namespace generic = boost::system::errc;
    switch (static_cast<errc>(value)) {
      case errc::closed:
        return generic::make_error_condition(generic::broken_pipe);
      case errc::name_taken:
        return generic::make_error_condition(generic::file_exists);
      default:
        return {value, *this};
    }
  }
};

inline constexpr error_category category_instance;
}  // namespace detail

/// @brief The category of `workers::errc`, named `"workers"`. One instance with a
/// fixed id, so that copies of the library in several binaries compare equal.
inline const boost::system::error_category& category() noexcept {
  return detail::category_instance;
}

/// @brief Makes an `error_code` of `workers::category()`; found by ADL.
inline error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

namespace detail {
// What an exception says of itself, for logs and crash errors.
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

WORKERS_END_NAMESPACE

// Described with `errc`: Doxygen cannot place a specialization in Boost's namespace.
/// @cond
template <>
struct boost::system::is_error_code_enum<workers::errc> : std::true_type {};
/// @endcond
