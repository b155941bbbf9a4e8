#pragma once

/// @file
/// @brief A worker's state: `state` and `state_opt` (on its strand), and
/// `with_state` and `state_view` (from anywhere, run on its strand). The
/// common rules of asynchronous operations are in `<workers/worker_handle.hpp>`.

#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/state_initiation.hpp>
#include <workers/worker_handle.hpp>

#include <boost/asio/async_result.hpp>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE

/// @brief The worker's state (upstream's `state`).
///
/// Only on the worker's strand (its handlers, `with_state`'s function, code
/// posted to `get_executor()`): the state is not synchronized. Throws
/// `std::logic_error` naming the worker before the launch completed, after
/// the worker closed, while it restarts (between an incarnation's `on_close`
/// and the next one's `on_launch`, supervision.hpp), or off the strand.
template <class Def, class Kind>
typename Def::state_type& state(const worker<Def, Kind>& w) {
  return detail::access::core(w).state_checked();
}

/// @brief The worker's state, or null before the launch completed, while it
/// restarts and after the close.
/// Same thread rule as `state`: off the strand it throws `std::logic_error`
/// naming the worker.
template <class Def, class Kind>
typename Def::state_type* state_opt(const worker<Def, Kind>& w) {
  return detail::access::core(w).state_opt();
}

/// @brief Runs `f(state)` on the worker's strand if the state exists (upstream's `with_state`).
///
/// The state exists from the launch's completion until the close has ended
/// (after `on_close`), except while a restart waits for its next `on_launch`
/// (supervision.hpp); before, after and then, `f` does not run.
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
/// `redirect_error` does not apply (there is no error_code to set): it is
/// refused at compile time.
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
  detail::check_state_token<Token>();
  if constexpr (detail::is_redirect_error<std::decay_t<Token>>)
    return detail::rejected<void(std::exception_ptr, value)>(token);
  else
    return boost::asio::async_initiate<Token, void(std::exception_ptr, value)>(
        detail::initiate_with_state<Def, Kind>(detail::access::core_ptr(w)), token, std::move(f));
}

/// @brief The state's view (`Types::view(state, parameters)`), taken on the
/// worker's strand, serialized with its handlers, so it never races them:
/// `with_state` with the view as function. Costs nothing to a worker nobody asks.
///
/// Completion signature: `void(std::exception_ptr, std::optional<Types::view_type>)`:
/// none before the launch completed, after the close, or while a restart waits
/// for its next `on_launch` (supervision.hpp); what the view threw first.
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

WORKERS_END_NAMESPACE
