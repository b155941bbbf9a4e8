#pragma once

/// @file
/// @brief `launch`: create a worker, run `on_launch`, register it, start its loop
/// (upstream's `launch`).

#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/handler_concepts.hpp>
#include <workers/detail/initiation.hpp>
#include <workers/detail/table_state.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/detail/worker_impl.hpp>
#include <workers/detail/worker_strand.hpp>
#include <workers/handlers.hpp>
#include <workers/launch_options.hpp>
#include <workers/table.hpp>
#include <workers/worker.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE

namespace detail {

// Checks one request type's handlers. A class named for the check, so that the
// compiler's context line right by the message names the request type first:
// "In instantiation of 'struct workers::detail::on_request_of<pong, ...>'".
template <class R, class H, class Self>
struct on_request_of {
  static_assert(has_on_request<H, Self, R> || on_request_by_mutable_ref<H, Self, R>,
                "workers: the handlers have no on_request(self, const R&), (self, R) or "
                "(self, R&&) for the request type R named in on_request_of<R, ...>");
  static_assert(!on_request_by_mutable_ref<H, Self, R>,
                "workers: on_request takes the request type R named in on_request_of<R, ...> "
                "as R&, a reference to the queued request that introspection reads: take "
                "const R&, or R or R&& to move from it");
  static_assert(!has_on_request<H, Self, R> || on_request_handler<H, Self, R>,
                "workers: on_request for the request type R named in on_request_of<R, ...> must "
                "return workers::result<R::result_type, R::error_type>, or an asio::awaitable of "
                "it");
  static_assert(!on_completion_callable<H, Self, R> || has_on_completion<H, Self, R>,
                "workers: on_completion(self, const R&, const R::result_type&, const "
                "request_status&) must return void, or an asio::awaitable<void>");
  static_assert(!on_error_callable<H, Self, R> || has_on_error<H, Self, R>,
                "workers: on_error(self, const request_status&, const R&, const R::error_type&) "
                "must return workers::error_action, or an asio::awaitable of it");
  static constexpr bool value = true;
};

template <class H, class Self, class List>
struct on_requests_of;
template <class H, class Self, class... R>
struct on_requests_of<H, Self, request_types<R...>> {
  static constexpr bool value = (on_request_of<R, H, Self>::value && ...);
};

// One static_assert per requirement of `handlers_for`, each with its sentence.
template <class H, class Self, class Def>
constexpr void check_handlers() {
  static_assert(std::is_object_v<H>, "workers: the handlers must be an object (passed by value)");
  using state_type = typename Def::state_type;
  constexpr bool has_launch =
      has_on_launch<H, Self, typename Def::name_type, typename Def::parameters_type>;
  static_assert(has_launch || std::is_default_constructible_v<state_type>,
                "workers: the handlers need on_launch(self, const name_type&, const "
                "parameters_type&) since the state type is not default-constructible");
  if constexpr (has_launch)
    static_assert(returns_state<on_launch_t<H, Self>, state_type>(),
                  "workers: on_launch must return the state type, or "
                  "workers::result<state_type, launch_error>");
  static_assert(!on_close_callable<H, Self> || has_on_close<H, Self>,
                "workers: on_close(self, const close_reason&) or on_close(self) must return "
                "void, or an asio::awaitable<void>");
  (void)on_requests_of<H, Self, typename Def::request_param::types>::value;
}

// What `launch` completes with for handlers H.
template <class Def, class Kind, class H>
using launch_result_t = typename worker_impl<Def, Kind, H>::launch_result;

// An executor, or an execution context (whose executor is then used).
template <class T>
concept executor_or_context =
    asio::execution::executor<std::decay_t<T>> || std::is_convertible_v < std::remove_reference_t<T>
&, asio::execution_context& > ;

// A completion token for `launch` without options (so that options are never taken for one).
template <class T, class Signature>
concept launch_token =
    !std::is_same_v<std::decay_t<T>, launch_options> && asio::completion_token_for<T, Signature>;

template <class T>
asio::any_io_executor executor_of(T&& where) {
  if constexpr (asio::execution::executor<std::decay_t<T>>)
    return asio::any_io_executor(where);
  else
    return where.get_executor();
}

template <class Def, class Kind, class H>
class initiate_launch {
  using impl_type = worker_impl<Def, Kind, H>;
  using launch_result = typename impl_type::launch_result;

 public:
  using executor_type = asio::any_io_executor;

  initiate_launch(std::shared_ptr<table_state<Def, Kind>> table, asio::any_io_executor ex)
      : table_(std::move(table)), ex_(std::move(ex)) {}
  executor_type get_executor() const noexcept { return ex_; }

  // The worker exists from here on: it joins its context's service (which
  // abandons it if the context dies) and its table, then on_launch runs on
  // its strand.
  template <class Handler>
  void operator()(Handler&& handler, typename Def::name_type name,
                  typename Def::parameters_type parameters, H handlers,
                  launch_options options) const {
    auto impl = std::make_shared<impl_type>(std::move(handlers), worker_strand(ex_),
                                            std::move(name), std::move(parameters),
                                            std::weak_ptr(table_), options, table_->config());
    waiter_ptr reply =
        make_waiter_with_room<launch_result>(std::forward<Handler>(handler), impl->io_executor());
    impl->register_with_service();
    if (!table_->try_insert(impl->name(), impl)) {
      typed<launch_result>(reply)->answer(impl->name_taken());
      return;
    }
    try {
      room_allocator<void, waiter_ptr> room(reply);
      impl->post(
          waiter_job(std::move(reply), [impl](waiter_ptr& r) { impl->start_launch(std::move(r)); }),
          room);
    } catch (...) {
      table_->erase(impl->name(), impl.get());
      throw;
    }
  }

 private:
  std::shared_ptr<table_state<Def, Kind>> table_;
  asio::any_io_executor ex_;
};

}  // namespace detail

/// @brief Launches a worker named `name` in table `t`, on a new strand of `where`
/// (an executor, or an execution context such as an `io_context`; upstream's `launch`).
///
/// The strand is one of the *inner* executor: given a strand (another
/// worker's `get_executor()`, or the executor a handler's coroutine sees), the
/// worker runs on what that strand runs on, in parallel with its parent.
/// `on_launch` runs on the worker's strand (it may push requests to itself),
/// then the loop starts. A name live in the table is refused
/// (`errc::name_taken`, the message names the worker); a failed launch leaves
/// no entry in the table and runs no `on_close`.
///
/// Completion signature: `void(result<worker, launch_error<LE>>)` where `LE` is
/// the error type `on_launch` returns (`no_launch_error` if it cannot fail).
/// The launch fails with `errc::name_taken` (the name is live in the table),
/// `errc::launch_failed` (`on_launch` returned an error, in `error`),
/// `errc::handler_exception` (`on_launch` threw, in `exception`) or
/// `errc::closed` (a shutdown while an awaitable `on_launch` was in flight
/// cancelled it); a shutdown during a plain `on_launch` lets the launch
/// complete, and the worker then closes. `redirect_error` does not apply (the
/// result carries the error): it is refused at compile time. Creating the
/// worker throws `std::invalid_argument` when `options.alarms` has `low > high`.
///
/// Per-operation cancellation: none (the launch is not cancellable; shut the
/// worker down instead, through `find_opt(t, name)`). Thread safety: any thread.
template <class Def, class Kind, detail::executor_or_context Where, class N, class P, class H,
          boost::asio::completion_token_for<void(detail::launch_result_t<Def, Kind, H>)> Token =
              default_token>
auto launch(const table<Def, Kind>& t, Where&& where, N&& name, P&& parameters, H handlers,
            launch_options options, Token&& token = default_token()) {
  static_assert(std::is_constructible_v<typename Def::name_type, N&&>,
                "workers: launch's name must convert to the group's Name::type");
  static_assert(std::is_constructible_v<typename Def::parameters_type, P&&>,
                "workers: launch's parameters must convert to the group's "
                "Types::parameters_type");
  detail::check_handlers<H, worker<Def, Kind>, Def>();
  detail::check_reply_token<Token>();
  using signature = void(detail::launch_result_t<Def, Kind, H>);
  // Once a check above failed, the worker's machinery is not instantiated, so
  // that no error follows from inside it.
  if constexpr (!std::is_constructible_v<typename Def::name_type, N&&> ||
                !std::is_constructible_v<typename Def::parameters_type, P&&> ||
                !handlers_for<H, worker<Def, Kind>>)
    return detail::rejected<signature>(token);
  else
    return boost::asio::async_initiate<Token, signature>(
        detail::initiate_launch<Def, Kind, H>(detail::access::table_state(t),
                                              detail::executor_of(std::forward<Where>(where))),
        token, typename Def::name_type(std::forward<N>(name)),
        typename Def::parameters_type(std::forward<P>(parameters)), std::move(handlers), options);
}

/// @brief `launch` without options (no idle timeout, no queue alarms): the same
/// completion signature, errors, cancellation (none) and thread safety (any thread).
template <class Def, class Kind, detail::executor_or_context Where, class N, class P, class H,
          detail::launch_token<void(detail::launch_result_t<Def, Kind, H>)> Token = default_token>
auto launch(const table<Def, Kind>& t, Where&& where, N&& name, P&& parameters, H handlers,
            Token&& token = default_token()) {
  return launch(t, std::forward<Where>(where), std::forward<N>(name), std::forward<P>(parameters),
                std::move(handlers), launch_options{}, std::forward<Token>(token));
}

WORKERS_END_NAMESPACE
