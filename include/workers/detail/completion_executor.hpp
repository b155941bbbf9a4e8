#pragma once

// Where a waiter's completion runs, and the work that keeps that executor busy
// while the caller waits: the handler's associated executor, or the worker's
// strand when it has none. Posted by default; dispatched for the answers of a
// worker launched with reply_mode::dispatch, then contained (an exception from
// the caller's handler leaves through the caller's executor, not the worker)
// and bounded (past `max_dispatch_depth` nested dispatches on a thread, the
// answer is posted: a chain of workers answering each other inline must not
// dive down the stack).

#include <workers/detail/config.hpp>
#include <workers/detail/io_executor.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

WORKERS_BEGIN_NAMESPACE
namespace detail {

namespace asio = boost::asio;

// Dispatched answers nested on this thread's stack, and how many may nest
// before the next is posted (as a caller of Asio or .NET bounds its inline
// continuations): each level holds a worker's frames and its caller's.
inline thread_local unsigned dispatch_depth = 0;
inline constexpr unsigned max_dispatch_depth = 16;

// A completion dispatched to `ex`: if it runs inline, inside the worker, an
// exception from the caller's handler must not unwind the worker; it is
// rethrown from a function posted to `ex`, and so leaves that executor's run()
// as one from a posted handler would.
template <class Executor, class F>
struct contained {
  Executor ex;
  F f;
  void operator()() {
    ++dispatch_depth;
    try {
      f();
    } catch (...) {
      asio::post(ex, [e = std::current_exception()] { std::rethrow_exception(e); });
    }
    --dispatch_depth;
  }
};

using tracked_io_executor = std::decay_t<decltype(asio::prefer(
    std::declval<asio::io_context::executor_type>(), asio::execution::outstanding_work.tracked))>;

// Where a completion goes, given the executor that holds its work. An
// io_context's executor goes untracked: Asio copies the executor several times
// inside post and dispatch, and each copy of a tracked one is an atomic
// increment and decrement of the scheduler's count. The tracked one, alive
// until post or dispatch returns, covers an inline run, and the scheduler
// counts a queued completion as outstanding work itself
// (scheduler::post_immediate_completion).
template <class Executor>
decltype(auto) completion_target(const Executor& ex) {
  if constexpr (std::is_same_v<Executor, tracked_io_executor>)
    return asio::prefer(ex, asio::execution::outstanding_work.untracked);
  else
    return (ex);
}

template <class Executor, class F>
void dispatch_contained(const Executor& ex, F&& f) {
  if (dispatch_depth >= max_dispatch_depth)
    asio::post(ex, std::forward<F>(f));
  else
    asio::dispatch(ex, contained<Executor, std::decay_t<F>>{ex, std::forward<F>(f)});
}

// Outstanding work on a completion handler's executor, and where its
// completion goes. An any_io_executor that wraps an io_context's executor is
// tracked through the typed executor: tracking the type-erased one allocates.
template <class Executor>
class tracked_work {
 public:
  explicit tracked_work(const Executor& ex)
      : ex_(asio::prefer(ex, asio::execution::outstanding_work.tracked)) {}
  template <class F>
  void post(F&& f) const {
    asio::post(completion_target(ex_), std::forward<F>(f));
  }
  template <class F>
  void dispatch(F&& f) const {
    dispatch_contained(completion_target(ex_), std::forward<F>(f));
  }

 private:
  std::decay_t<decltype(asio::prefer(std::declval<Executor>(),
                                     asio::execution::outstanding_work.tracked))>
      ex_;
};

// An executor, or one kept boxed.
template <class Executor>
const Executor& unboxed(const Executor& ex) noexcept {
  return ex;
}
template <class Executor>
const Executor& unboxed(const std::unique_ptr<Executor>& ex) noexcept {
  return *ex;
}

// Work on one of several executors (some boxed), chosen at run time.
template <class... Executors>
class tracked_work<std::variant<Executors...>> {
 public:
  explicit tracked_work(std::variant<Executors...> ex) : ex_(std::move(ex)) {}
  template <class F>
  void post(F&& f) const {
    std::visit(
        [&](const auto& ex) { asio::post(completion_target(unboxed(ex)), std::forward<F>(f)); },
        ex_);
  }
  template <class F>
  void dispatch(F&& f) const {
    std::visit(
        [&](const auto& ex) {
          dispatch_contained(completion_target(unboxed(ex)), std::forward<F>(f));
        },
        ex_);
  }

 private:
  std::variant<Executors...> ex_;
};

// Tracking an any_io_executor that wraps an io_context's executor goes
// through the typed one (io_executor.hpp), which does not allocate.
using io_or_any_executor = std::variant<tracked_io_executor, asio::any_io_executor>;
inline io_or_any_executor tracked_io_or_any(const asio::any_io_executor& ex) {
  if (const auto* io = typed_io_executor(ex))
    return asio::prefer(*io, asio::execution::outstanding_work.tracked);
  return asio::prefer(ex, asio::execution::outstanding_work.tracked);
}

template <>
class tracked_work<asio::any_io_executor> : public tracked_work<io_or_any_executor> {
 public:
  explicit tracked_work(const asio::any_io_executor& ex)
      : tracked_work<io_or_any_executor>(tracked_io_or_any(ex)) {}
};

// The handler's associated executor, or the I/O executor `io_ex()` if it has
// none; `io_ex` is called only then (the worker's strand, made on demand,
// copies a reference count).
template <class Handler, class IoExecutorFn>
auto associated_executor_or(const Handler& h, const IoExecutorFn& io_ex) {
  using io_executor = std::invoke_result_t<const IoExecutorFn&>;
  using type = asio::associated_executor_t<Handler, io_executor>;
  if constexpr (std::is_same_v<type, io_executor>) {
    return asio::get_associated_executor(h, io_ex());
  } else {  // the handler's own, whatever the fallback
    static_assert(std::is_same_v<asio::associated_executor_t<Handler>, type>);
    return asio::get_associated_executor(h);
  }
}

// Whether `Handler` has an associated executor of its own.
struct no_associated_executor {};
template <class Handler>
inline constexpr bool has_own_executor =
    !std::is_same_v<asio::associated_executor_t<Handler, no_associated_executor>,
                    no_associated_executor>;

// Where a waiter's completion goes, with the work that keeps its executor
// busy: the handler's associated executor, or the I/O executor `io_ex()` if it
// has none. A worker's `io_ex` also gives its strand typed
// (`io_ex.tracked_strand()`), which such a handler then completes on.
template <class Handler, class IoExecutorFn>
struct completion_work {
  using type =
      tracked_work<asio::associated_executor_t<Handler, std::invoke_result_t<const IoExecutorFn&>>>;
  static type make(const Handler& h, const IoExecutorFn& io_ex) {
    return type(associated_executor_or(h, io_ex));
  }
};
template <class Handler, class IoExecutorFn>
requires(!has_own_executor<Handler> && requires(const IoExecutorFn& io_ex) {
  io_ex.tracked_strand();
}) struct completion_work<Handler, IoExecutorFn> {
  using type = tracked_work<decltype(std::declval<const IoExecutorFn&>().tracked_strand())>;
  static type make(const Handler&, const IoExecutorFn& io_ex) {
    return type(io_ex.tracked_strand());
  }
};

}  // namespace detail
WORKERS_END_NAMESPACE
