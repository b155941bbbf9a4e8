#pragma once

/// @file
/// @brief The worker handle and the operations on it.
///
/// Every operation is safe to call from any thread, while the worker runs on a
/// strand of its executor. Asynchronous operations are Asio initiating
/// functions: the completion token comes last and defaults to
/// `asio::use_awaitable`, completion goes through the handler's associated
/// executor (the worker's strand if it has none), never inline from the
/// initiating call.

#include <workers/buffer_kind.hpp>
#include <workers/canceler.hpp>
#include <workers/clock.hpp>
#include <workers/concepts.hpp>
#include <workers/detail/core.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/queue_buffer.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/error.hpp>
#include <workers/message_error.hpp>
#include <workers/status.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace workers {

/// @brief The default completion token: `co_await op(...)` works out of the box.
using default_token = boost::asio::use_awaitable_t<>;

template <class Def, class Kind>
class worker;

namespace detail {
template <class Def, class Kind>
class table_state;

// Completes `handler` with `args` through its associated executor, never inline.
template <class Handler, class Executor, class... Args>
void post_result(Handler&& handler, const Executor& fallback, Args&&... args) {
  auto ex = boost::asio::get_associated_executor(handler, fallback);
  boost::asio::post(
      ex, boost::asio::append(std::forward<Handler>(handler), std::forward<Args>(args)...));
}

// Enqueues `request` with its caller's completion handler as its reply, or
// answers `closed` at once if the worker is closing: push_request_and_wait and
// put_request_and_wait.
template <class Def, class Kind, class R, class Token>
auto push_and_wait(const worker<Def, Kind>& w, R request, Token&& token) {
  using core_type = core<Def, Kind>;
  return boost::asio::async_initiate<Token, void(reply_result<R>)>(
      [](auto handler, std::shared_ptr<core_type> core, R r) {
        using op_type =
            waiter_op<reply_result<R>, decltype(handler), typename core_type::strand_type>;
        auto* op = op_type::create(std::move(handler), core->strand());
        typename core_type::entry_type e{std::move(r), clock::now(), waiter_ref(op)};
        if (core->push(e, true) == core_type::push_outcome::refused)
          answer_error(e, worker_closed{core->crash_errors()}, true);
      },
      token, w.core_ptr(), std::move(request));
}

template <class R, class Def>
consteval void check_request() {
  static_assert(request_of<R, typename Def::request_param>,
                "workers: this request type is not in the worker's request set "
                "(Request::types); add it there or push one that is");
}
}  // namespace detail

/// @brief A handle to one worker, parameterized by its buffer kind tag.
///
/// Cheap to copy; stays valid (status, introspection) after the worker closed.
/// Dropping every handle does not stop a worker: it lives until shut down, like
/// an Octez worker. An empty (default-constructed) handle may only be assigned.
template <class Def, class Kind>
class worker {
 public:
  using definition = Def;
  using kind = Kind;
  using name_type = typename Def::name_type;
  using state_type = typename Def::state_type;
  using parameters_type = typename Def::parameters_type;
  using request_view = typename Def::request_view;
  using any_request = typename Def::request_variant;
  using state_view = typename Def::state_view;
  using executor_type = boost::asio::strand<boost::asio::any_io_executor>;

  worker() = default;
  explicit worker(std::shared_ptr<detail::core<Def, Kind>> core) noexcept
      : core_(std::move(core)) {}

  /// @brief The worker's name within its group.
  const name_type& name() const noexcept { return core_->name(); }
  /// @brief `<base joined by '-'>_<name>`, as in logs and errors.
  std::string full_name() const { return core_->full_name(); }
  /// @brief The launch parameters.
  const parameters_type& parameters() const noexcept { return core_->parameters(); }
  /// @brief The strand the worker runs on.
  executor_type get_executor() const { return core_->strand(); }

  friend bool operator==(const worker& a, const worker& b) noexcept = default;
  explicit operator bool() const noexcept { return core_ != nullptr; }

  detail::core<Def, Kind>& core() const noexcept { return *core_; }
  const std::shared_ptr<detail::core<Def, Kind>>& core_ptr() const noexcept { return core_; }

 private:
  std::shared_ptr<detail::core<Def, Kind>> core_;
};

/// @brief Enqueues `request` (queue workers).
///
/// Completion signature: `void(error_code, bool)`: true if enqueued, false if
/// the worker is closing or closed. On an infinite queue it never waits; on a
/// full bounded queue it waits for room, producers being admitted in FIFO
/// order, and completes with false if the worker closes meanwhile.
/// Per-operation cancellation (any type) of a push waiting for room: it
/// completes with `operation_aborted` and its request is not enqueued.
template <class Def, class Kind, class R, class Token = default_token>
requires detail::is_queue<Kind>
auto push_request(const worker<Def, Kind>& w, R request, Token&& token = {}) {
  detail::check_request<R, Def>();
  using core_type = detail::core<Def, Kind>;
  return boost::asio::async_initiate<Token, void(error_code, bool)>(
      [](auto handler, std::shared_ptr<core_type> core, R r) {
        using outcome = typename core_type::push_outcome;
        typename core_type::entry_type e{std::move(r), clock::now(), {}};
        const auto first = core->push(e, false);
        if (first != outcome::full) {
          detail::post_result(std::move(handler), core->strand(), error_code{},
                              first == outcome::queued);
          return;
        }
        using op_type = detail::waiter_op<std::tuple<error_code, bool>, decltype(handler),
                                          typename core_type::strand_type>;
        detail::waiter_ref op(op_type::create(std::move(handler), core->strand()));
        auto* waiter = static_cast<detail::push_waiter*>(op.get());
        switch (core->push(e, true, &op)) {
          case outcome::queued:
            waiter->answer({error_code{}, true}, true);
            break;
          case outcome::refused:
            waiter->answer({error_code{}, false}, true);
            break;
          default:
            break;  // parked: the worker admits it, or the close answers it
        }
      },
      token, w.core_ptr(), std::move(request));
}

/// @brief Enqueues `request` at once (infinite queues); does nothing if the worker is closed.
/// @return true if enqueued.
template <class Def, class R>
bool push_request_now(const worker<Def, queue<infinite>>& w, R request) {
  detail::check_request<R, Def>();
  return w.core().push_now(std::move(request)) ==
         detail::core<Def, queue<infinite>>::push_outcome::queued;
}

/// @brief Enqueues `request` if there is room (bounded queues).
/// @return false if the queue is full (or producers wait for room) or the worker is closed.
template <class Def, class R>
bool try_push_request_now(const worker<Def, queue<bounded>>& w, R request) {
  detail::check_request<R, Def>();
  return w.core().push_now(std::move(request)) ==
         detail::core<Def, queue<bounded>>::push_outcome::queued;
}

/// @brief Enqueues `request` and completes with its result.
///
/// Completion signature: `void(reply_result<R>)`, that is
/// `result<R::result_type, message_error<R::error_type>>`: the value, or
/// `worker_closed` (with the crash errors if it crashed), `request_error` (the
/// request's own error), `handler_exception` (the handler threw) or
/// `request_cancelled`. On a full bounded queue it first waits for room.
///
/// Per-operation cancellation (any type): the caller is answered at once with
/// `request_cancelled`; a request still queued (or waiting for room) is then
/// dropped unhandled, one being handled runs to its end, unless its type opts
/// in to having its handler cancelled too (see `cancels_with_caller`).
template <class Def, class Kind, class R, class Token = default_token>
requires detail::is_queue<Kind>
auto push_request_and_wait(const worker<Def, Kind>& w, R request, Token&& token = {}) {
  detail::check_request<R, Def>();
  return detail::push_and_wait(w, std::move(request), std::forward<Token>(token));
}

/// @brief Starts closing the worker and returns at once.
template <class Def, class Kind>
void trigger_shutdown(const worker<Def, Kind>& w) {
  w.core().begin_close();
}

/// @brief Completes once the worker has closed, without triggering it.
///
/// Completion signature: `void(error_code)`, empty on success.
/// Per-operation cancellation (any type): completes with `operation_aborted`.
template <class Def, class Kind, class Token = default_token>
auto wait_for_completion(const worker<Def, Kind>& w, Token&& token = {}) {
  return w.core().wait_for_completion(std::forward<Token>(token));
}

/// @brief Starts closing the worker and completes once it has closed.
///
/// Called from one of the worker's own handlers, it cannot wait for a close
/// that needs that handler to return first: it triggers the shutdown and
/// completes at once; the worker closes when the handler returns.
/// Completion signature and cancellation: as `wait_for_completion`.
template <class Def, class Kind, class Token = default_token>
auto shutdown(const worker<Def, Kind>& w, Token&& token = {}) {
  w.core().begin_close();
  return boost::asio::async_initiate<Token, void(error_code)>(
      [](auto handler, std::shared_ptr<detail::core<Def, Kind>> core, bool from_inside) {
        if (from_inside)
          detail::post_result(std::move(handler), core->strand(), error_code{});
        else
          core->wait_closed(std::move(handler));
      },
      token, w.core_ptr(), w.core().on_strand());
}

/// @brief True once a shutdown was triggered (or the worker crashed).
template <class Def, class Kind>
bool is_shutting_down(const worker<Def, Kind>& w) noexcept {
  return w.core().is_shutting_down();
}

/// @brief The worker's state.
///
/// Only on the worker's strand (its handlers, `with_state`): the state is not
/// synchronized. Throws `std::logic_error` before the launch completed, after
/// the worker closed, or off the strand.
template <class Def, class Kind>
typename Def::state_type& state(const worker<Def, Kind>& w) {
  return w.core().state_checked();
}

/// @brief The worker's state, or null before the launch completed and after close.
/// Same thread rule as `state`: off the strand it throws `std::logic_error`.
template <class Def, class Kind>
typename Def::state_type* state_opt(const worker<Def, Kind>& w) {
  auto& c = w.core();
  const auto p = c.current_phase();
  if (p == detail::phase::launching || p == detail::phase::closed) return nullptr;
  return &c.state_checked();
}

/// @brief Runs `f(state)` on the worker's strand if the state exists.
///
/// Completion signature: `void(bool)` (whether `f` ran) when `f` returns void,
/// `void(std::optional<T>)` when it returns `T`.
template <class Def, class Kind, class F, class Token = default_token>
auto with_state(const worker<Def, Kind>& w, F f, Token&& token = {}) {
  using T = std::invoke_result_t<F&, typename Def::state_type&>;
  using out = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;
  return boost::asio::async_initiate<Token, void(out)>(
      [](auto handler, std::shared_ptr<detail::core<Def, Kind>> core, F fn) {
        auto strand = core->strand();
        boost::asio::post(strand, [handler = std::move(handler), core = std::move(core),
                                   fn = std::move(fn)]() mutable {
          out result{};
          if (auto* s = core->state_ptr()) {
            if constexpr (std::is_void_v<T>) {
              fn(*s);
              result = true;
            } else {
              result.emplace(fn(*s));
            }
          }
          detail::post_result(std::move(handler), core->strand(), std::move(result));
        });
      },
      token, w.core_ptr(), std::move(f));
}

/// @brief The worker's status, with timestamps.
template <class Def, class Kind>
worker_status status(const worker<Def, Kind>& w) {
  return w.core().status();
}

/// @brief The request being treated: pushed time, treated time, view.
template <class Def, class Kind>
auto current_request(const worker<Def, Kind>& w) {
  return w.core().current_request();
}

/// @brief The queued requests' push times and views, oldest first.
template <class Def, class Kind>
auto pending_requests(const worker<Def, Kind>& w) {
  return w.core().pending_requests();
}

/// @brief How many requests are queued.
template <class Def, class Kind>
std::size_t pending_requests_length(const worker<Def, Kind>& w) {
  return w.core().pending_requests_length();
}

/// @brief Workers in the table, status and queue length.
template <class Def, class Kind>
worker_information information(const worker<Def, Kind>& w) {
  return {w.core().table_size(), w.core().status(), w.core().pending_requests_length()};
}

/// @brief Hooks run when the worker closes; see `workers::canceler`.
template <class Def, class Kind>
workers::canceler canceler(const worker<Def, Kind>& w) {
  return w.core().get_canceler();
}

}  // namespace workers
