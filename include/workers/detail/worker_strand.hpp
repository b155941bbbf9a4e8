#pragma once

// A worker's strand. It is always a new strand of the *inner* executor: given
// a strand (another worker's, or the executor a hook sees), the worker takes
// what that strand runs on, so it runs in parallel with its parent and never
// passes for it. On an io_context (the common case) it is kept typed: the
// worker posts to itself without the type-erased executor's conversions, and
// it takes 24 bytes instead of 72; the strand<any_io_executor> that handles
// show is made from it on demand (the same strand). On any other executor the
// type-erased strand is kept, boxed.

#include <workers/detail/config.hpp>
#include <workers/detail/hook_executor.hpp>
#include <workers/detail/io_executor.hpp>
#include <workers/detail/op_allocator.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

WORKERS_BEGIN_NAMESPACE
namespace detail {

namespace asio = boost::asio;

class worker_strand {
 public:
  using io_strand_type = asio::strand<asio::io_context::executor_type>;
  using any_strand_type = asio::strand<asio::any_io_executor>;
  // Outstanding work on the strand's context: none, or tracked by an executor.
  using io_work = std::decay_t<decltype(asio::prefer(
      std::declval<asio::io_context::executor_type>(), asio::execution::outstanding_work.tracked))>;
  using work = std::variant<std::monostate, io_work, std::unique_ptr<asio::any_io_executor>>;

  // A new strand of what `ex` runs on.
  explicit worker_strand(const asio::any_io_executor& ex) {
    const asio::any_io_executor inner = innermost(ex);
    if (const auto* io = typed_io_executor(inner))
      s_.emplace<io_strand_type>(*io);
    else
      s_.emplace<boxed>(std::make_unique<any_strand_type>(asio::make_strand(inner)));
  }

  // False once reset (the execution context is gone).
  bool valid() const noexcept { return s_.index() != 0; }
  void reset() noexcept { s_.emplace<std::monostate>(); }

  // Precondition: valid().
  any_strand_type get() const {
    if (const auto* io = std::get_if<io_strand_type>(&s_)) return any_strand_type(*io);
    return *std::get<boxed>(s_);
  }

  // The executor of the worker's coroutines: the strand, marking the thread as
  // inside a hook. Precondition: valid().
  asio::any_io_executor hook_executor() const {
    if (const auto* io = std::get_if<io_strand_type>(&s_))
      return detail::hook_executor<io_strand_type>(*io);
    return detail::hook_executor<any_strand_type>(*std::get<boxed>(s_));
  }

  bool running_in_this_thread() const noexcept {
    if (const auto* io = std::get_if<io_strand_type>(&s_)) return io->running_in_this_thread();
    if (const auto* any = std::get_if<boxed>(&s_)) return (*any)->running_in_this_thread();
    return false;
  }

  // Precondition: valid(). The operation (and the strand's invoker, if the
  // strand was idle) comes from the per-thread op cache: no allocation. On an
  // io_context the strand's own post(f, allocator) enqueues `f` directly;
  // asio::post would copy the strand (its shared state's reference count)
  // three times more and wrap `f` in a work-tracking dispatcher it does not need.
  // Another allocator `a` (a post_room's) serves both the same way.
  template <class F, class Allocator = op_allocator<void>>
  void post(F&& f, const Allocator& a = {}) const {
    if (const auto* io = std::get_if<io_strand_type>(&s_)) {
#if !defined(BOOST_ASIO_NO_TS_EXECUTORS)
      io->post(std::forward<F>(f), a);
#else
      asio::post(*io, asio::bind_allocator(a, std::forward<F>(f)));
#endif
    } else {
      asio::post(*std::get<boxed>(s_), asio::bind_allocator(a, std::forward<F>(f)));
    }
  }

  // Precondition: valid().
  asio::execution_context& context() const {
    if (const auto* io = std::get_if<io_strand_type>(&s_))
      return asio::query(io->get_inner_executor(), asio::execution::context);
    return asio::query(std::get<boxed>(s_)->get_inner_executor(), asio::execution::context);
  }

  // The strand with outstanding work on its context: where a completion
  // handler with no executor of its own completes (see waiter_op). Typed on an
  // io_context: neither the tracking nor the post goes through the type-erased
  // executor (which allocates to answer the strand's queries).
  using tracked_io_strand = std::decay_t<decltype(asio::prefer(
      std::declval<io_strand_type>(), asio::execution::outstanding_work.tracked))>;
  using tracked_any_strand = std::decay_t<decltype(asio::prefer(
      std::declval<any_strand_type>(), asio::execution::outstanding_work.tracked))>;
  // The type-erased one is boxed, as the strand is: a waiter holds 32 bytes, not 56.
  using tracked_strand = std::variant<tracked_io_strand, std::unique_ptr<tracked_any_strand>>;
  // Precondition: valid().
  tracked_strand track_strand() const {
    if (const auto* io = std::get_if<io_strand_type>(&s_))
      return asio::prefer(*io, asio::execution::outstanding_work.tracked);
    return std::make_unique<tracked_any_strand>(
        asio::prefer(*std::get<boxed>(s_), asio::execution::outstanding_work.tracked));
  }

  // Precondition: valid(). Tracking an any_io_executor allocates; a typed one does not.
  work track() const {
    if (const auto* io = std::get_if<io_strand_type>(&s_))
      return asio::prefer(io->get_inner_executor(), asio::execution::outstanding_work.tracked);
    return std::make_unique<asio::any_io_executor>(asio::prefer(
        std::get<boxed>(s_)->get_inner_executor(), asio::execution::outstanding_work.tracked));
  }

 private:
  using boxed = std::unique_ptr<any_strand_type>;
  using handle_strand = asio::use_awaitable_t<>::executor_with_default<any_strand_type>;

  // What `ex` runs on, through strands and the executors the library made.
  static asio::any_io_executor innermost(asio::any_io_executor ex) {
    for (;;) {
      if (const auto* s = ex.target<io_strand_type>())
        return s->get_inner_executor();
      else if (const auto* h = ex.target<detail::hook_executor<io_strand_type>>())
        return h->get_inner_executor().get_inner_executor();
      else if (const auto* a = ex.target<any_strand_type>())
        ex = a->get_inner_executor();
      else if (const auto* w = ex.target<handle_strand>())
        ex = w->get_inner_executor();
      else if (const auto* b = ex.target<detail::hook_executor<any_strand_type>>())
        ex = b->get_inner_executor().get_inner_executor();
      else
        return ex;
    }
  }

  std::variant<std::monostate, io_strand_type, boxed> s_;
};

}  // namespace detail
WORKERS_END_NAMESPACE
