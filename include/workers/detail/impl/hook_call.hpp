#pragma once

// Calling a hook (worker_impl.hpp): the one place where a plain hook and an
// awaitable one differ. A plain hook's outcome goes to `then` at once; an
// awaitable's once it completes, inside the loop's coroutine (run_loop.hpp),
// which then awaits what `then` returns (a further hook of the same request,
// never the rest of the loop). Those steps are one call (`hook_call`); a cut
// reaches the one call in flight, through its coroutine's signal, and that
// coroutine then ends: the next call runs in a new one (`loop_driver`).

#include <workers/detail/config.hpp>
#include <workers/detail/worker_impl.hpp>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Kind, class H>
template <class F, class Then>
auto worker_impl<Def, Kind, H>::invoke_hook(F hook, Then then) -> pending {
  using returned = std::invoke_result_t<F&>;
  if constexpr (is_awaitable_v<returned>) {
    return await_hook<awaited_t<returned>>(std::move(hook), std::move(then));
  } else {
    outcome<returned> o = call(hook);
    return then(std::move(o));
  }
}

template <class Def, class Kind, class H>
template <class F>
auto worker_impl<Def, Kind, H>::call(F& hook) -> outcome<std::invoke_result_t<F&>> {
  using T = std::invoke_result_t<F&>;
  hook_scope inside;
  try {
    if constexpr (std::is_void_v<T>) {
      hook();
      return {};
    } else {
      return outcome<T>(boost::system::in_place_value, hook());
    }
  } catch (const std::exception& e) {
    return outcome<T>(boost::system::in_place_error, caught(e));
  } catch (...) {
    return outcome<T>(boost::system::in_place_error, std::current_exception());
  }
}

// What a hook threw is noted with what it says, where it is caught: telling
// it later (a crash error, a failed launch) needs no rethrow, which would
// unwind the whole stack a second time (most of a crash's cost). The last
// one only, on the strand.
template <class Def, class Kind, class H>
std::exception_ptr worker_impl<Def, Kind, H>::caught(const std::exception& e) {
  std::exception_ptr ptr = std::current_exception();
  try {
    if (!caught_) caught_ = std::make_unique<caught_exception>();
    caught_->ptr = ptr;
    caught_->what = e.what();
  } catch (...) {  // out of memory: told by a rethrow, later
    caught_.reset();
  }
  return ptr;
}
template <class Def, class Kind, class H>
std::string worker_impl<Def, Kind, H>::described(const std::exception_ptr& e) {
  if (caught_ && e && caught_->ptr == e) {
    std::string what = std::move(caught_->what);
    caught_.reset();
    return what;
  }
  return describe(e);
}

template <class Def, class Kind, class H>
template <class T, class F, class Then>
boost::asio::awaitable<void> worker_impl<Def, Kind, H>::await_hook(F hook, Then then) {
  std::optional<outcome<T>> o;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await hook();
      o.emplace();
    } else {
      T value = co_await hook();
      o.emplace(boost::system::in_place_value, std::move(value));
    }
  } catch (const std::exception& e) {
    o.emplace(boost::system::in_place_error, caught(e));
  } catch (...) {
    o.emplace(boost::system::in_place_error, std::current_exception());
  }
  if (pending next = then(std::move(*o))) co_await std::move(*next);
}

// An awaited call of `request`'s hooks (null: the worker's own) begins: the
// caller of a request that opts in may cut it short from now on.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::begin_call(entry_type* request) {
  call_ = hook_call{request, cut::none, true, std::exchange(noted_next_, false)};
  arm_for_call();
}

// The call in flight ended: nothing cuts it any more.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::end_call() noexcept {
  if (call_.request && this->watches()) [[unlikely]]
    watch_end(*static_cast<const entry_type*>(call_.request));
  call_ = hook_call{};
  counted_handled_ = false;
}

// Cuts the awaited hook in flight short (terminal cancellation of what it
// awaits, through its coroutine's signal), for `by`, unless something cut it
// already.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::cut_call(cut by) noexcept {
  if (!call_ || !driver_ || call_.cut_by != cut::none) return;
  call_.cut_by = by;
  driver_->spent = true;
  driver_->signal.emit(boost::asio::cancellation_type::terminal);
}

// Which cancellation cut the hook that just returned short, if any (taken once).
template <class Def, class Kind, class H>
cut worker_impl<Def, Kind, H>::take_cut() noexcept {
  return std::exchange(call_.cut_by, cut::none);
}

}  // namespace detail
WORKERS_END_NAMESPACE
