#pragma once

/// @file
/// @brief The handlers concept (upstream's `HANDLERS` module type) and what handlers return.
///
/// Handlers are one object given to `launch`, whose member functions the worker
/// calls on its strand. Each may be a plain function or return an
/// `asio::awaitable` of the same result; plain ones cost no coroutine frame.
///
///  | member                                        | required | returns |
///  |-----------------------------------------------|----------|---------|
///  | `on_launch(self, const name_type&, const parameters_type&)` | unless `state_type` is
///  default-constructible | `state_type` or `result<state_type, LE>` | | `on_request(self, const
///  R&)`, for every `R`   | yes      | `result<R::result_type, R::error_type>` | |
///  `on_no_request(self)`                         | no       | `void` | | `on_completion(self,
///  const R&, const R::result_type&, const request_status&)` | no | `void` | | `on_error(self,
///  const request_status&, const R&, const R::error_type&)` | no (default: proceed) |
///  `error_action` | | `on_close(self)`                              | no       | `void` |
///
/// `self` is the worker handle (`worker<Def, Kind>&`); a generic `auto& self` works.

#include <workers/error.hpp>
#include <workers/message_error.hpp>
#include <workers/status.hpp>

#include <boost/asio/awaitable.hpp>

#include <fmt/format.h>

#include <concepts>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace workers {

/// @brief What `on_error` decides after a failed request.
class error_action {
 public:
  enum class kind { proceed, shutdown, crash };

  /// @brief Take the next request (upstream's `Ok ()`).
  static error_action proceed() { return error_action(kind::proceed, {}); }
  /// @brief Close normally.
  static error_action shutdown() { return error_action(kind::shutdown, {}); }
  /// @brief Close as crashed with these errors (upstream's `Error errs`).
  static error_action crash(error_list errors) {
    return error_action(kind::crash, std::move(errors));
  }

  kind what() const noexcept { return what_; }
  const error_list& errors() const noexcept { return errors_; }

 private:
  error_action(kind k, error_list e) : what_(k), errors_(std::move(e)) {}
  kind what_;
  error_list errors_;
};

/// @brief The launch error of handlers whose `on_launch` cannot fail.
struct no_launch_error {};

/// @brief Why a launch failed: `on_launch` returned its error (`errc::launch_failed`,
/// `error` set), it threw (`errc::handler_exception`, `exception` set), or the name
/// was live in the table (`errc::name_taken`). `message` names the worker.
template <class LaunchError>
struct launch_error {
  error_code code;
  std::string message;
  std::optional<LaunchError> error;
  std::exception_ptr exception;
};

/// @brief What `result<worker, launch_error<E>>::value()` throws on a failed
/// launch: the exception `on_launch` threw, else a `boost::system::system_error`
/// with the code and the message naming the worker.
template <class E>
[[noreturn]] void throw_exception_from_error(const launch_error<E>& e,
                                             const boost::source_location&) {
  if (e.exception) std::rethrow_exception(e.exception);
  throw boost::system::system_error(e.code, e.message);
}

namespace detail {
template <class T>
struct awaited {
  using type = T;
  static constexpr bool is_awaitable = false;
};
template <class T, class Executor>
struct awaited<boost::asio::awaitable<T, Executor>> {
  using type = T;
  static constexpr bool is_awaitable = true;
};
template <class T>
using awaited_t = typename awaited<std::remove_cvref_t<T>>::type;
template <class T>
inline constexpr bool is_awaitable_v = awaited<std::remove_cvref_t<T>>::is_awaitable;

template <class T>
inline constexpr bool is_result = false;
template <class T, class E>
inline constexpr bool is_result<boost::system::result<T, E>> = true;
}  // namespace detail

/// @brief `T`, or an `asio::awaitable<T>`: what a handler returning `T` may return.
template <class X, class T>
concept returns = std::same_as<detail::awaited_t<X>, T>;

/// @name Handler concepts: one per member, checked at `launch`.
/// @{
template <class H, class Self, class R>
concept has_on_request = requires(H& h, Self& self, const R& r) {
  h.on_request(self, r);
};

namespace detail {
template <class H, class Self, class R>
using on_request_t =
    decltype(std::declval<H&>().on_request(std::declval<Self&>(), std::declval<const R&>()));
}  // namespace detail

template <class H, class Self, class R>
concept on_request_handler =
    has_on_request<H, Self, R> && returns<detail::on_request_t<H, Self, R>,
                                          result<typename R::result_type, typename R::error_type>>;

template <class H, class Self, class Name, class Parameters>
concept has_on_launch = requires(H& h, Self& self, const Name& n, const Parameters& p) {
  h.on_launch(self, n, p);
};

template <class H, class Self, class R>
concept has_on_completion = requires(H& h, Self& self, const R& r, const typename R::result_type& v,
                                     const request_status& s) {
  { h.on_completion(self, r, v, s) } -> returns<void>;
};

template <class H, class Self, class R>
concept has_on_error = requires(H& h, Self& self, const request_status& s, const R& r,
                                const typename R::error_type& e) {
  { h.on_error(self, s, r, e) } -> returns<error_action>;
};

template <class H, class Self>
concept has_on_close = requires(H& h, Self& self) {
  { h.on_close(self) } -> returns<void>;
};

template <class H, class Self>
concept has_on_no_request = requires(H& h, Self& self) {
  { h.on_no_request(self) } -> returns<void>;
};
/// @}

}  // namespace workers

template <class LE>
struct fmt::formatter<workers::launch_error<LE>> : workers::detail::simple_formatter {
  auto format(const workers::launch_error<LE>& e, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{}", e.message);
  }
};
