#pragma once

/// @file
/// @brief The worker handle and the operations on it.
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
///
/// Time stamps are `workers::clock` time points (wall clock, kernel-tick
/// resolution), durations `workers::clock::duration`.

#include <workers/buffer_kind.hpp>
#include <workers/canceler.hpp>
#include <workers/clock.hpp>
#include <workers/concepts.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/core.hpp>
#include <workers/detail/operations.hpp>
#include <workers/error.hpp>
#include <workers/message_error.hpp>
#include <workers/metrics.hpp>
#include <workers/status.hpp>

#include <boost/asio/async_result.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace workers::inline v0 {

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
  explicit worker(std::shared_ptr<detail::core<Def, Kind>> core) noexcept
      : core_(std::move(core)) {}

  std::shared_ptr<detail::core<Def, Kind>> core_;
};

/// @brief Enqueues `request` (queue workers; upstream's `Queue.push_request`).
///
/// Completion signature: `void(error_code)`: empty once enqueued,
/// `errc::closed` if the worker is closing or closed (the request is dropped;
/// with `use_awaitable`, `co_await` throws it as `system_error`). On an
/// infinite queue it never waits; on a full bounded queue it waits for room,
/// producers being admitted in FIFO order, and completes with `errc::closed`
/// if the worker closes meanwhile. The push time (`workers::clock`) is read
/// when the push is made, before it waits.
///
/// Per-operation cancellation, while it waits for room: terminal, partial and
/// total; it completes with `operation_aborted` and the request is not
/// enqueued. Otherwise it completes at once and has nothing to cancel.
/// Thread safety: any thread.
template <class Def, class Kind, class R,
          boost::asio::completion_token_for<void(error_code)> Token = default_token>
requires detail::is_queue<Kind>
auto push_request(const worker<Def, Kind>& w, R request, Token&& token = default_token()) {
  detail::check_request<R, Def>();
  if constexpr (!detail::in_request_set<R, Def>)
    return detail::rejected<void(error_code)>(token);
  else
    return boost::asio::async_initiate<Token, void(error_code)>(
        detail::initiate_push_request<Def, Kind>(detail::access::core_ptr(w)), token,
        std::move(request));
}

/// @brief Enqueues `request` at once (infinite queues; upstream's `Queue.push_request_now`).
///
/// Thread safety: any thread; takes no lock (the request is moved into a node
/// that joins the worker's lock-free intake).
/// @return true if enqueued, false if the worker is closing or closed (the
/// request is dropped; a `request_refused` event is emitted).
template <class Def, class R>
bool push_request_now(const worker<Def, queue<infinite>>& w, R request) {
  detail::check_request<R, Def>();
  if constexpr (!detail::in_request_set<R, Def>)
    return false;
  else
    return detail::access::core(w).push_now(std::move(request)) ==
           detail::core<Def, queue<infinite>>::push_outcome::queued;
}

/// @brief Enqueues `request` if there is room (bounded queues; upstream's
/// `Queue.try_push_request_now`). Never waits.
///
/// Thread safety: any thread; as for `push_request_now`, the request's move
/// must not call the worker.
/// @return true if enqueued; false if the queue is full (or producers wait for
/// room) or the worker is closing or closed.
template <class Def, class R>
bool try_push_request_now(const worker<Def, queue<bounded>>& w, R request) {
  detail::check_request<R, Def>();
  if constexpr (!detail::in_request_set<R, Def>)
    return false;
  else
    return detail::access::core(w).push_now(std::move(request)) ==
           detail::core<Def, queue<bounded>>::push_outcome::queued;
}

/// @brief Enqueues `request` and completes with its result (queue workers;
/// upstream's `push_request_and_wait`).
///
/// Completion signature: `void(reply_result<R>)`, that is
/// `result<R::result_type, message_error<R::error_type>>`: the value, or
/// `worker_closed` (the worker was closing or closed when pushed, or closed
/// before handling the request or while handling it; with the crash errors if
/// it crashed), `request_error` (the request's own error), `handler_exception`
/// (`on_request` threw; the worker crashes) or `request_cancelled` (the caller
/// gave up). The caller is answered as soon as the result is known, before
/// `on_completion` / `on_error` run. On a full bounded queue it first waits for
/// room. `redirect_error` does not apply (the result carries the error): it is
/// refused at compile time.
///
/// Per-operation cancellation:
///  - while the request is queued (or waits for room): terminal, partial and
///    total; the caller gets `request_cancelled` at once and the request is
///    never handled;
///  - while it is handled: terminal and partial (total is refused: the
///    handler's effects cannot be undone); the caller gets `request_cancelled`
///    at once; the handler runs to its end, unless the request type opts in to
///    having its handler cancelled too (see `cancels_with_caller`).
///
/// Thread safety: any thread.
template <class Def, class Kind, class R,
          boost::asio::completion_token_for<typename detail::reply_signature<R>::type> Token =
              default_token>
requires detail::is_queue<Kind>
auto push_request_and_wait(const worker<Def, Kind>& w, R request, Token&& token = default_token()) {
  detail::check_request<R, Def>();
  detail::check_reply_token<Token>();
  if constexpr (!detail::in_request_set<R, Def>)
    return detail::rejected<void(reply_result<R>)>(token);
  else
    return boost::asio::async_initiate<Token, void(reply_result<R>)>(
        detail::initiate_push_and_wait<Def, Kind>(detail::access::core_ptr(w)), token,
        std::move(request));
}

/// @brief Starts closing the worker and returns at once (upstream's `trigger_shutdown`).
///
/// From now on pushes are refused; the handler in flight is cancelled (unless
/// this is called from it); queued callers are answered `closed`. Does nothing
/// if the close has begun already (the first cause stays the close's).
/// Thread safety: any thread.
template <class Def, class Kind>
void trigger_shutdown(const worker<Def, Kind>& w) {
  detail::access::core(w).request_close(close_cause::shutdown);
}

/// @brief Completes once the worker has closed, without triggering it.
///
/// Completion signature: `void(error_code)`, empty once closed (at once, but
/// posted, if it has closed already), after the canceler's hooks ran.
/// Per-operation cancellation: terminal, partial and total; completes with
/// `operation_aborted`, nothing else happens. Thread safety: any thread.
template <class Def, class Kind,
          boost::asio::completion_token_for<void(error_code)> Token = default_token>
auto wait_for_completion(const worker<Def, Kind>& w, Token&& token = default_token()) {
  return boost::asio::async_initiate<Token, void(error_code)>(
      detail::initiate_wait_for_completion<Def, Kind>(detail::access::core_ptr(w)), token);
}

/// @brief Starts closing the worker and completes once it has closed
/// (upstream's `shutdown`).
///
/// Called from one of the worker's own handlers (or hooks), it cannot wait for
/// a close that needs that handler to return first: it starts the close,
/// completes at once, and does not cancel its caller; the worker closes once
/// the handler returns. Code that is not one of the worker's handlers (a
/// callback run on the worker's strand, another worker's handler) waits as
/// anyone does.
///
/// Completion signature: `void(error_code)`, empty once closed (after
/// `on_close` and the canceler's hooks ran), or at once from inside a handler.
/// Unlike upstream's, it may be called from the worker's own handlers.
/// Per-operation cancellation: terminal and partial (total is refused: the
/// close, once begun, cannot be undone); completes with `operation_aborted`,
/// the worker goes on closing. Thread safety: any thread.
template <class Def, class Kind,
          boost::asio::completion_token_for<void(error_code)> Token = default_token>
auto shutdown(const worker<Def, Kind>& w, Token&& token = default_token()) {
  return boost::asio::async_initiate<Token, void(error_code)>(
      detail::initiate_shutdown<Def, Kind>(detail::access::core_ptr(w)), token);
}

/// @brief True once the worker's close has begun, whatever its cause (a
/// shutdown, `on_error`, a crash, the end of a callback's source), and after it
/// closed: pushes are refused from then on. Thread safety: any thread.
template <class Def, class Kind>
bool is_shutting_down(const worker<Def, Kind>& w) noexcept {
  return detail::access::core(w).is_shutting_down();
}

/// @brief The worker's state (upstream's `state`).
///
/// Only on the worker's strand (its handlers, `with_state`'s function, code
/// posted to `get_executor()`): the state is not synchronized. Throws
/// `std::logic_error` naming the worker before the launch completed, after
/// the worker closed, or off the strand.
template <class Def, class Kind>
typename Def::state_type& state(const worker<Def, Kind>& w) {
  return detail::access::core(w).state_checked();
}

/// @brief The worker's state, or null before the launch completed and after close.
/// Same thread rule as `state`: off the strand it throws `std::logic_error`
/// naming the worker.
template <class Def, class Kind>
typename Def::state_type* state_opt(const worker<Def, Kind>& w) {
  return detail::access::core(w).state_opt();
}

/// @brief Runs `f(state)` on the worker's strand if the state exists (upstream's `with_state`).
///
/// The state exists from the launch's completion until the close has ended
/// (after `on_close`); before and after, `f` does not run.
///
/// Completion signature: `void(std::exception_ptr, bool)` when `f` returns
/// void (whether `f` ran), `void(std::exception_ptr, std::optional<T>)` when it
/// returns `T` (its value, if it ran): what `f` threw, if anything, comes
/// first, as with `co_spawn` (`co_await` rethrows it). The worker is not
/// affected by what `f` throws.
///
/// Per-operation cancellation, before `f` runs: terminal, partial and total;
/// `f` never runs and the exception is a `system_error` of `operation_aborted`.
/// Once `f` runs, cancellation is not honoured (the caller gets its outcome).
/// Thread safety: any thread; `f` runs on the strand, serialized with the
/// handlers: never at the same time as one, but possibly while an awaitable
/// handler is suspended at a `co_await`.
template <class Def, class Kind, class F,
          boost::asio::completion_token_for<
              void(std::exception_ptr,
                   detail::with_state_value<std::invoke_result_t<F&, typename Def::state_type&>>)>
              Token = default_token>
auto with_state(const worker<Def, Kind>& w, F f, Token&& token = default_token()) {
  using value = detail::with_state_value<std::invoke_result_t<F&, typename Def::state_type&>>;
  return boost::asio::async_initiate<Token, void(std::exception_ptr, value)>(
      detail::initiate_with_state<Def, Kind>(detail::access::core_ptr(w)), token, std::move(f));
}

/// @brief The worker's status, with timestamps (`workers::clock`; upstream's
/// `status`). Thread safety: any thread.
template <class Def, class Kind>
worker_status status(const worker<Def, Kind>& w) {
  return detail::access::core(w).status();
}

/// @brief The request being treated: pushed time, treated time (`workers::clock`),
/// view; none when the worker handles none (upstream's `current_request`).
/// Thread safety: any thread; `Request::view` runs under the worker's intake
/// lock, so it must not call the worker.
template <class Def, class Kind>
std::optional<active_request<typename Def::request_view>> current_request(
    const worker<Def, Kind>& w) {
  return detail::access::core(w).current_request();
}

/// @brief The queued requests' push times (`workers::clock`) and views, oldest
/// first (upstream's `pending_requests`): a queue's requests, a dropbox's 0 or
/// 1, and for a callback worker only a request read while `on_no_request` ran.
/// Thread safety: any thread; `Request::view` runs under the worker's intake
/// lock, so it must not call the worker.
template <class Def, class Kind>
std::vector<pending_request<typename Def::request_view>> pending_requests(
    const worker<Def, Kind>& w) {
  return detail::access::core(w).pending_requests();
}

/// @brief How many requests are queued, as `pending_requests` counts them
/// (upstream's `pending_requests_length`). Thread safety: any thread.
template <class Def, class Kind>
std::size_t pending_requests_length(const worker<Def, Kind>& w) {
  return detail::access::core(w).pending_requests_length();
}

/// @brief Workers in the table, status and queue length (upstream's `information`).
/// Thread safety: any thread (each part is read on its own).
template <class Def, class Kind>
worker_information information(const worker<Def, Kind>& w) {
  const auto& c = detail::access::core(w);
  return {c.table_size(), c.status(), c.pending_requests_length()};
}

/// @brief Status, pending requests (oldest first) and the current request
/// (none when idle), taken together under the worker's lock: a request cannot
/// vanish between them, as it may between `status`, `pending_requests` and
/// `current_request` (upstream's `full_status`, whose event backlog a
/// `backlog_sink` keeps). Times are `workers::clock` ones. Thread safety: any
/// thread; `Request::view` runs under that lock, so it must not call the worker.
template <class Def, class Kind>
worker_full_status<typename Def::request_view> full_status(const worker<Def, Kind>& w) {
  return detail::access::core(w).full_status_snapshot();
}

/// @brief The worker's metrics now, or none if its table was created without
/// `table_options::metrics`. Thread safety: any thread (counters are read
/// one by one, each exact; the set is not one atomic snapshot).
template <class Def, class Kind>
std::optional<worker_metrics> metrics(const worker<Def, Kind>& w) {
  return detail::access::core(w).metrics_snapshot();
}

/// @brief The state's view (`Types::view(state, parameters)`), taken on the
/// worker's strand, serialized with its handlers, so it never races them:
/// `with_state` with the view as function. Costs nothing to a worker nobody asks.
///
/// Completion signature: `void(std::exception_ptr, std::optional<Types::view_type>)`:
/// none before the launch completed or after the close; what the view threw first.
/// Per-operation cancellation: as `with_state` (terminal, partial and total
/// before the view is taken; the view is then not taken). Thread safety: any thread.
template <class Def, class Kind,
          boost::asio::completion_token_for<void(std::exception_ptr,
                                                 std::optional<typename Def::state_view>)>
              Token = default_token>
auto state_view(const worker<Def, Kind>& w, Token&& token = default_token()) {
  return with_state(
      w,
      [w](const typename Def::state_type& s) ->
      typename Def::state_view { return Def::view_state(s, w.parameters()); },
      std::forward<Token>(token));
}

/// @brief Hooks run when the worker closes; see `workers::canceler` (upstream's
/// `canceler`, an `Lwt_canceler.t`). Thread safety: any thread.
template <class Def, class Kind>
workers::canceler canceler(const worker<Def, Kind>& w) {
  return detail::access::core(w).get_canceler();
}

}  // namespace workers::inline v0
