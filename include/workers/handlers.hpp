#pragma once

/// @file
/// @brief The handlers of a worker (upstream's `HANDLERS` module type): the
/// `handlers_for` concept and what handlers return.
///
/// Handlers are one object given to `launch`, whose member functions the worker
/// calls on its strand. Each may be a plain function or return an
/// `asio::awaitable` of the same result; plain ones cost no coroutine frame.
/// `self` is the worker handle (`worker<Def, Kind>&`); a generic `auto& self` works.
///
/// The members, each checked by `launch` (see `handlers_for`):
///  - `on_launch(self, const name_type&, const parameters_type&)`, required
///    unless `state_type` is default-constructible: returns the `state_type`, or
///    `result<state_type, LE>` (the launch then fails with `LE`);
///  - `on_request(self, const R&)`, required for every request type `R`:
///    returns `result<R::result_type, R::error_type>`;
///  - `on_completion(self, const R&, const R::result_type&, const request_status&)`,
///    optional: returns `void`; runs after the caller was answered;
///  - `on_error(self, const request_status&, const R&, const R::error_type&)`,
///    optional (default: proceed): returns `error_action`; runs after the
///    caller was answered;
///  - `on_no_request(self)`, optional: returns `void`; runs after
///    `launch_options::timeout` without a request;
///  - `on_close(self, const close_reason&)` or `on_close(self)`, optional:
///    returns `void`; runs once when the worker closes (not after a failed launch).

#include <workers/close_reason.hpp>
#include <workers/concepts.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/format_hint.hpp>
#include <workers/detail/handler_concepts.hpp>
#include <workers/error.hpp>
#include <workers/status.hpp>

#include <boost/assert/source_location.hpp>
#include <boost/system/system_error.hpp>

#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE

/// @brief What `on_error` decides after a failed request (upstream's
/// `on_error` result: `Ok ()` or `Error errs`, plus a normal shutdown).
class error_action {
 public:
  /// @brief The decision.
  enum class kind {
    proceed,   ///< take the next request
    shutdown,  ///< close normally
    crash,     ///< close as crashed, with `errors()`
  };

  /// @brief Take the next request (upstream's `Ok ()`).
  static error_action proceed() { return error_action(kind::proceed, {}); }
  /// @brief Close normally (`close_cause::on_error_shutdown`).
  static error_action shutdown() { return error_action(kind::shutdown, {}); }
  /// @brief Close as crashed with these errors (upstream's `Error errs`).
  static error_action crash(error_list errors) {
    return error_action(kind::crash, std::move(errors));
  }

  /// @brief The decision.
  kind what() const noexcept { return what_; }
  /// @brief The crash errors of a `crash`; empty otherwise.
  const error_list& errors() const noexcept { return errors_; }

 private:
  error_action(kind k, error_list e) : what_(k), errors_(std::move(e)) {}
  kind what_;
  error_list errors_;
};

/// @brief The launch error of handlers whose `on_launch` cannot fail.
struct no_launch_error {};

/// @brief Why a launch failed: `on_launch` returned its error (`errc::launch_failed`,
/// `error` set), it threw (`errc::handler_exception`, `exception` set), the name
/// was live in the table (`errc::name_taken`), or the worker was shut down while
/// an awaitable `on_launch` was in flight (`errc::closed`). `message` names the worker.
template <class LaunchError>
struct launch_error {
  error_code code;      ///< `errc::launch_failed`, `handler_exception`, `name_taken` or `closed`
  std::string message;  ///< what happened, naming the worker (its full name)
  std::optional<LaunchError> error;  ///< what `on_launch` returned, for `errc::launch_failed`
  std::exception_ptr exception;      ///< what `on_launch` threw, for `errc::handler_exception`
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
template <class H, class Worker, class R>
concept on_completion_callable = requires(H& h, Worker& w, const R& r,
                                          const typename R::result_type& v,
                                          const request_status& s) {
  h.on_completion(w, r, v, s);
};
template <class H, class Worker, class R>
concept on_error_callable = requires(H& h, Worker& w, const request_status& s, const R& r,
                                     const typename R::error_type& e) {
  h.on_error(w, s, r, e);
};
// R is handled, and its optional hooks, if any, have the right shape.
template <class H, class Worker, class R>
concept request_handled = on_request_handler<H, Worker, R> &&
    (!on_completion_callable<H, Worker, R> ||
     has_on_completion<H, Worker, R>)&&(!on_error_callable<H, Worker, R> ||
                                        has_on_error<H, Worker, R>);

template <class H, class Worker, class List>
inline constexpr bool handles_all = false;
template <class H, class Worker, class... R>
inline constexpr bool handles_all<H, Worker, request_types<R...>> =
    (request_handled<H, Worker, R> && ...);

template <class H, class Worker>
using on_launch_t = awaited_t<decltype(std::declval<H&>().on_launch(
    std::declval<Worker&>(), std::declval<const typename Worker::name_type&>(),
    std::declval<const typename Worker::parameters_type&>()))>;

// What on_launch may return: the state, or a result of it.
template <class Ret, class State>
constexpr bool returns_state() {
  if constexpr (is_result<Ret>)
    return std::is_same_v<typename Ret::value_type, State>;
  else
    return std::is_same_v<Ret, State>;
}

template <class H, class Worker>
concept has_on_launch_of =
    has_on_launch<H, Worker, typename Worker::name_type, typename Worker::parameters_type>;

// on_launch, if any, returns the state; without it the state is default-constructible.
template <class H, class Worker>
concept launchable = (has_on_launch_of<H, Worker> &&
                      returns_state<on_launch_t<H, Worker>, typename Worker::state_type>()) ||
                     (!has_on_launch_of<H, Worker> &&
                      std::is_default_constructible_v<typename Worker::state_type>);

template <class H, class Self>
concept on_close_with_reason_callable = requires(H& h, Self& self, const close_reason& why) {
  h.on_close(self, why);
};
template <class H, class Self>
concept on_close_callable = on_close_with_reason_callable<H, Self> || requires(H& h, Self& self) {
  h.on_close(self);
};
}  // namespace detail

/// @brief `H` is a handlers object for workers of type `Worker`:
///  1. an object type;
///  2. `on_request(self, const R&)` for every request type `R` of the set, returning
///     `result<R::result_type, R::error_type>` or an `asio::awaitable` of it;
///  3. `on_launch(self, name, parameters)`, unless the state is default-constructible,
///     returning the state or a `result` of it (or an `asio::awaitable` of either);
///  4. the optional members, when present, have the shapes in the table above.
///
/// `launch` checks the same requirements one by one, with a sentence for each
/// (see tests/compile_fail/), and builds no worker for handlers that fail them,
/// so that the sentence is the only error. A minimal conforming object:
/// @code
/// struct handlers {
///   workers::result<int, std::string> on_request(my_worker&, const ping&) { return 1; }
/// };
/// @endcode
template <class H, class Worker>
concept handlers_for = std::is_object_v<H> &&
    detail::handles_all<H, Worker, typename Worker::definition::request_param::types> &&
    detail::launchable<H, Worker> &&
    (!detail::on_close_callable<H, Worker> || detail::has_on_close<H, Worker>);

namespace detail {
template <class E>
inline constexpr bool formatted_by_format_header<launch_error<E>> = true;
}  // namespace detail

WORKERS_END_NAMESPACE
