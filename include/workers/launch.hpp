#pragma once

/// @file
/// @brief `launch`: create a worker, run `on_launch`, register it, start its loop.

#include <workers/detail/waiter.hpp>
#include <workers/detail/worker_impl.hpp>
#include <workers/handlers.hpp>
#include <workers/table.hpp>
#include <workers/worker.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace workers {

namespace detail {
template <class H, class Self, class Def, class R>
consteval bool check_on_request() {
  static_assert(has_on_request<H, Self, R>,
                "workers: the handlers have no on_request(self, const R&) for one request type R "
                "of the set; the instantiation context names R");
  static_assert(!has_on_request<H, Self, R> || on_request_handler<H, Self, R>,
                "workers: on_request(self, const R&) must return "
                "workers::result<R::result_type, R::error_type>, or an asio::awaitable of it");
  return true;
}

template <class H, class Self, class Def, class List>
struct handler_check;
template <class H, class Self, class Def, class... R>
struct handler_check<H, Self, Def, request_types<R...>> {
  static constexpr bool value = (check_on_request<H, Self, Def, R>() && ...);
};

template <class H, class Self, class Def>
consteval bool check_handlers() {
  using state_type = typename Def::state_type;
  constexpr bool has_launch =
      has_on_launch<H, Self, typename Def::name_type, typename Def::parameters_type>;
  static_assert(has_launch || std::is_default_constructible_v<state_type>,
                "workers: the handlers need on_launch(self, const name_type&, const "
                "parameters_type&) since the state type is not default-constructible");
  if constexpr (has_launch) {
    using ret = awaited_t<decltype(std::declval<H&>().on_launch(
        std::declval<Self&>(), std::declval<const typename Def::name_type&>(),
        std::declval<const typename Def::parameters_type&>()))>;
    if constexpr (is_result<ret>)
      static_assert(std::is_same_v<typename ret::value_type, state_type>,
                    "workers: on_launch must return the state type, or "
                    "workers::result<state_type, launch_error>");
    else
      static_assert(std::is_same_v<ret, state_type>,
                    "workers: on_launch must return the state type, or "
                    "workers::result<state_type, launch_error>");
  }
  return handler_check<H, Self, Def, typename Def::request_param::types>::value;
}
}  // namespace detail

/// @brief Options of `launch`.
struct launch_options {
  /// @brief When set, `on_no_request` runs after this long without a request.
  std::optional<std::chrono::steady_clock::duration> timeout;
};

/// @brief Launches a worker named `name` in table `t`, on a new strand of `ex`.
///
/// Runs `on_launch` on the worker's strand (it may push requests to itself),
/// then starts the loop. Completion signature: `void(result<worker, launch_error<LE>>)`
/// where `LE` is the error type `on_launch` returns (`no_launch_error` if it
/// cannot fail). A name live in the table gives `errc::name_taken`; a failed
/// launch leaves no entry in the table. Not cancellable.
template <class Def, class Kind, class Executor, class H, class Token = default_token>
requires boost::asio::execution::executor<Executor> && std::is_object_v<H>
auto launch(const table<Def, Kind>& t, const Executor& ex, typename Def::name_type name,
            typename Def::parameters_type parameters, H handlers, launch_options options,
            Token&& token = {}) {
  using impl_type = detail::worker_impl<Def, Kind, H>;
  static_assert(detail::check_handlers<H, worker<Def, Kind>, Def>());
  using launch_result = typename impl_type::launch_result;
  detail::worker_strand strand{boost::asio::any_io_executor(ex)};
  return boost::asio::async_initiate<Token, void(launch_result)>(
      [](auto handler, std::shared_ptr<impl_type> impl,
         std::shared_ptr<detail::table_state<Def, Kind>> state) {
        if (!state->try_insert(impl->name(), impl)) {
          detail::post_result(std::move(handler), impl->strand(), impl->name_taken());
          return;
        }
        worker<Def, Kind> self(impl);
        if constexpr (!impl_type::launch_is_async) {
          // One operation: the launch carries its caller's handler, and the
          // work that keeps the caller's context running meanwhile.
          using handler_type = decltype(handler);
          using work_type = detail::tracked_work<
              boost::asio::associated_executor_t<handler_type, typename impl_type::strand_type>>;
          work_type work(boost::asio::get_associated_executor(handler, impl->strand()));
          boost::asio::post(impl->strand(), [impl, self = std::move(self), work = std::move(work),
                                             handler = std::move(handler)]() mutable {
            auto r = impl->launch_plain(std::move(self));
            work.post(boost::asio::append(std::move(handler), std::move(r)), true);
          });
        } else {
          using op_type = detail::waiter_op<launch_result, decltype(handler),
                                            typename impl_type::strand_type, false>;
          detail::waiter_ref reply(op_type::create(std::move(handler), impl->strand()));
          boost::asio::co_spawn(
              impl->strand(),
              [](std::shared_ptr<impl_type> impl, worker<Def, Kind> self,
                 detail::waiter_ref reply) -> boost::asio::awaitable<void> {
                auto r = co_await impl->launch_async(std::move(self));
                static_cast<detail::waiter<launch_result>*>(reply.get())->answer(std::move(r));
              }(impl, std::move(self), std::move(reply)),
              boost::asio::detached);
        }
      },
      token,
      std::make_shared<impl_type>(std::move(handlers), std::move(strand), std::move(name),
                                  std::move(parameters), std::weak_ptr(t.state()), options.timeout,
                                  t.state()->config()),
      t.state());
}

/// @brief `launch` without options (no idle timeout).
template <class Def, class Kind, class Executor, class H, class Token = default_token>
requires boost::asio::execution::executor<Executor> && std::is_object_v<H> &&
    (!std::is_same_v<std::decay_t<Token>, launch_options>)auto launch(
        const table<Def, Kind>& t, const Executor& ex, typename Def::name_type name,
        typename Def::parameters_type parameters, H handlers, Token&& token = {}) {
  return launch(t, ex, std::move(name), std::move(parameters), std::move(handlers),
                launch_options{}, std::forward<Token>(token));
}

}  // namespace workers
