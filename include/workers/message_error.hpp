#pragma once

/// @file
/// @brief `message_error<E>`: why waiting for a request's result gave no result.

#include <workers/detail/config.hpp>
#include <workers/detail/format_hint.hpp>
#include <workers/error.hpp>
#include <workers/status.hpp>

#include <boost/asio/error.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <boost/system/system_error.hpp>

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <variant>

WORKERS_BEGIN_NAMESPACE

/// @brief A result: a value of type `T` or an error of type `E`
/// (`boost::system::result`, so `has_value()`, `*r`, `r.error()`).
template <class T, class E>
using result = boost::system::result<T, E>;

/// @brief The worker closed before answering: shut down (`crash_errors` empty)
/// or crashed (`crash_errors` set). Upstream's `Closed`.
struct worker_closed {
  std::optional<error_list> crash_errors;  ///< set if it crashed, none if shut down
};
/// @brief The request's handler returned the request's own error. Upstream's `Request_error`.
template <class E>
struct request_error {
  E error;  ///< the error `on_request` returned
};
/// @brief A handler threw while treating the request. Upstream's `Any`.
struct handler_exception {
  std::exception_ptr exception;  ///< what `on_request` (or the dropbox's `merge`) threw
};
/// @brief The request left a dropbox without being handled (merged away or replaced).
struct request_dropped {};
/// @brief The caller stopped waiting (per-operation cancellation); `code()` is `operation_aborted`.
struct request_cancelled {};

/// @brief Why `push_request_and_wait` / `put_request_and_wait` gave no result.
///
/// A `std::variant` of the cases above, with `code()` mapping each case to a
/// `workers::errc`. The request's own error `E` travels typed. Upstream's
/// `message_error` (`Closed`, `Request_error`, `Any`), plus `request_dropped`
/// and `request_cancelled`.
template <class E>
class message_error : public std::variant<worker_closed, request_error<E>, handler_exception,
                                          request_dropped, request_cancelled> {
 public:
  using error_type = E;  ///< the request's `error_type`
  /// @brief The `std::variant` it is.
  using base = std::variant<worker_closed, request_error<E>, handler_exception, request_dropped,
                            request_cancelled>;
  using base::base;

  /// @brief The case as an error code: `errc::closed`, `errc::request_failed`,
  /// `errc::handler_exception`, `errc::dropped`, or, for a caller that gave up,
  /// Asio's `operation_aborted` (as every cancelled operation of the library).
  error_code code() const noexcept {
    if (is_cancelled()) return boost::asio::error::operation_aborted;
    constexpr errc codes[] = {errc::closed, errc::request_failed, errc::handler_exception,
                              errc::dropped};
    return make_error_code(codes[this->index()]);
  }
  /// @brief True for `worker_closed`.
  bool is_closed() const noexcept { return std::holds_alternative<worker_closed>(*this); }
  /// @brief True for `request_error<E>`.
  bool is_request_error() const noexcept { return std::holds_alternative<request_error<E>>(*this); }
  /// @brief True for `handler_exception`.
  bool is_exception() const noexcept { return std::holds_alternative<handler_exception>(*this); }
  /// @brief True for `request_dropped`.
  bool is_dropped() const noexcept { return std::holds_alternative<request_dropped>(*this); }
  /// @brief True for `request_cancelled`.
  bool is_cancelled() const noexcept { return std::holds_alternative<request_cancelled>(*this); }
  /// @brief The request's own error; precondition: `is_request_error()`.
  const E& error() const { return std::get<request_error<E>>(*this).error; }
};

/// @brief What a push-and-wait completes with: the request's result or a message error.
template <class R>
using reply_result = result<typename R::result_type, message_error<typename R::error_type>>;

/// @brief Thrown by `reply_result::value()` on an error (found by ADL from
/// `boost::system::result`).
class message_error_exception : public boost::system::system_error {
 public:
  using boost::system::system_error::system_error;
};

/// @brief What `reply_result<R>::value()` throws on an error (found by ADL from
/// `boost::system::result`): the handler's exception for `handler_exception`,
/// else `message_error_exception` with `e.code()`.
template <class E>
[[noreturn]] void throw_exception_from_error(const message_error<E>& e,
                                             const boost::source_location&) {
  if (const auto* ex = std::get_if<handler_exception>(&e)) std::rethrow_exception(ex->exception);
  throw message_error_exception(e.code());
}

namespace detail {
template <class E>
inline constexpr bool formatted_by_format_header<message_error<E>> = true;
}  // namespace detail

WORKERS_END_NAMESPACE
