#pragma once

/// @file
/// @brief `worker<Def, Kind>`: the handle to one worker, and the default
/// completion token of the operations on it (queue_operations.hpp, dropbox.hpp,
/// lifecycle_operations.hpp, state_access.hpp, introspection.hpp; all of them
/// through `<workers/worker.hpp>`).
///
/// Every operation but `state` and `state_opt` may be called from any thread,
/// while the worker runs on a strand of its executor. Asynchronous operations are Asio initiating
/// functions: the completion token comes last, constrained by its completion
/// signature, and defaults to the worker executor's default token
/// (`asio::use_awaitable`); completion goes through the handler's associated
/// executor (the worker's strand if it has none), never inline from the
/// initiating call; nothing happens until the operation is initiated (an
/// operation made with `asio::deferred` and never launched has no effect); the
/// handler's executor has outstanding work while the operation waits; memory
/// from the handler's associated allocator is freed before the handler runs.
///
/// Cancellation: a caller that stops waiting sees `asio::error::operation_aborted`
/// whichever operation it was (for push-and-wait, `message_error::code()`).
/// `total` cancellation promises no side effect, so it is refused once an
/// operation's effect has begun; each operation says which types it honours.
/// Operations that need the worker's strand throw `std::logic_error` once the
/// worker's execution context is destroyed; operations pending then are
/// abandoned, as Asio abandons pending operations (their handlers are destroyed,
/// never called: a `use_future` caller sees `broken_promise`).

#include <workers/concepts.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/initiation.hpp>
#include <workers/detail/worker_core.hpp>

#include <boost/asio/async_result.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE

/// @brief The default completion token of every operation: `asio::use_awaitable`,
/// the default token of the worker's executor.
using default_token = boost::asio::default_completion_token_t<detail::worker_executor>;

namespace detail {
template <class R, class Def>
concept in_request_set = request_of<R, typename Def::request_param>;
template <class R, class Def>
consteval void check_request() {
  static_assert(in_request_set<R, Def>,
                "workers: this request type is not in the worker's request set "
                "(Request::types); add it there or push one that is");
}
// What an operation returns once a static_assert rejected its arguments: the
// type the real operation has, so that no error follows from inside the library
// or in the caller's code.
template <class Signature, class Token>
auto rejected(Token& token) {
  return boost::asio::async_initiate<Token, Signature>([](auto&&...) {}, token);
}
template <class Token>
consteval void check_reply_token() {
  static_assert(!is_redirect_error<std::decay_t<Token>>,
                "workers: this operation completes with a result that carries its own error "
                "(reply_result / launch result), so redirect_error has no error_code to set: "
                "test the result instead (or use as_tuple)");
}
template <class Token>
consteval void check_state_token() {
  static_assert(!is_redirect_error<std::decay_t<Token>>,
                "workers: with_state completes with (std::exception_ptr, value), so "
                "redirect_error has no error_code to set: catch the exception (co_await "
                "rethrows it) or use as_tuple");
}
}  // namespace detail

/// @brief A handle to one worker, parameterized by its buffer kind tag.
///
/// Cheap to copy; stays valid (status, introspection) after the worker closed.
/// Dropping every handle does not stop a worker: it lives until shut down, like
/// an Octez worker. An empty (default-constructed) handle may only be assigned.
/// Upstream's `'kind t`. Thread safety: as a `std::shared_ptr`'s; handles to
/// one worker may be used from any threads.
template <class Def, class Kind>
class worker {
 public:
  using definition = Def;                                 ///< the group's definition
  using kind = Kind;                                      ///< the buffer kind tag
  using name_type = typename Def::name_type;              ///< `Name::type`
  using state_type = typename Def::state_type;            ///< `Types::state_type`
  using parameters_type = typename Def::parameters_type;  ///< `Types::parameters_type`
  using request_view = typename Def::request_view;        ///< `Request::view_type`
  /// @brief A `std::variant` of the group's request types.
  using any_request = typename Def::request_variant;
  using state_view = typename Def::state_view;  ///< `Types::view_type`
  /// @brief The worker's strand; its default completion token is `asio::use_awaitable`.
  using executor_type = detail::worker_executor;

  worker() = default;

  /// @brief The worker's name within its group.
  const name_type& name() const noexcept { return core_->name(); }
  /// @brief `<base joined by '-'>_<name>`, as in logs and errors.
  std::string full_name() const { return core_->full_name(); }
  /// @brief The launch parameters.
  const parameters_type& parameters() const noexcept { return core_->parameters(); }
  /// @brief The strand the worker runs on. Code posted there is serialized with
  /// the worker's handlers, but is not one of them. Throws `std::logic_error`
  /// once the worker's execution context is destroyed.
  executor_type get_executor() const { return core_->executor(); }

  /// @brief True if both handles are of the same worker (or both empty).
  friend bool operator==(const worker& a, const worker& b) noexcept = default;
  /// @brief False for an empty (default-constructed) handle.
  explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend struct detail::access;
  explicit worker(std::shared_ptr<detail::worker_core<Def, Kind>> core) noexcept
      : core_(std::move(core)) {}

  std::shared_ptr<detail::worker_core<Def, Kind>> core_;
};

WORKERS_END_NAMESPACE
