#pragma once

// One waiting caller (push-and-wait, a push waiting for room, shutdown,
// wait_for_completion, with_state, launch): answered exactly once, by the
// worker, by the caller's cancellation, or abandoned with the execution
// context — whichever claims it first.
//
// Owners, each through a `waiter_ptr` (boost::intrusive_ptr): the worker side
// (a queued entry, a waiting list) and the cancellation handler installed in
// the caller's slot. The answer does not own it: the claim moves the caller's
// handler and the work tracked for it out into the completion, so nothing
// that came from the handler's allocator outlives the completion's upcall,
// and a waiter left behind by the worker or by the caller's slot is an empty
// shell that refers to no execution context.

#include <workers/detail/post_room.hpp>
#include <workers/error.hpp>
#include <workers/message_error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace workers::inline v0::detail {

namespace asio = boost::asio;

class waiter_base;
void intrusive_ptr_add_ref(waiter_base* w) noexcept;
void intrusive_ptr_release(waiter_base* w) noexcept;
using waiter_ptr = boost::intrusive_ptr<waiter_base>;

// Which cancellation types an operation honours before its work began (queued,
// waiting for room, waiting for the strand) and once it began (being handled):
// a `total` cancellation promises no side effect, so it is refused once a
// request's handler runs.
struct cancellation_policy {
  asio::cancellation_type_t waiting = asio::cancellation_type::none;
  asio::cancellation_type_t started = asio::cancellation_type::none;
};
inline constexpr auto any_cancellation = asio::cancellation_type::terminal |
                                         asio::cancellation_type::partial |
                                         asio::cancellation_type::total;
inline constexpr auto effects_kept =
    asio::cancellation_type::terminal | asio::cancellation_type::partial;

// What a caller's cancellation also does, when the request opted in to it:
// cancel the handler working on it. Armed by the worker while it handles the
// request; whichever of the cancellation and the worker takes it first from
// the waiter runs (`fire`) or discards (`drop`) it, exactly once.
class cancel_hook {
 public:
  virtual void fire() noexcept = 0;
  virtual void drop() noexcept = 0;

 protected:
  ~cancel_hook() = default;
};

class waiter_base {
 public:
  enum class stage : std::uint8_t { waiting, started, answered, cancelled, abandoned };

  waiter_base(const waiter_base&) = delete;
  waiter_base& operator=(const waiter_base&) = delete;

  bool gave_up() const noexcept {
    return stage_.load(std::memory_order_acquire) == stage::cancelled;
  }

  // Worker side: the work for this caller begins; false if the caller gave up already.
  bool start() noexcept {
    auto expected = stage::waiting;
    return stage_.compare_exchange_strong(expected, stage::started, std::memory_order_acq_rel) ||
           expected == stage::started;
  }

  // Worker side, while the context dies: the caller is never answered; its
  // handler and tracked work are destroyed now, as Asio destroys the handlers
  // of the operations its context abandons.
  void abandon() noexcept {
    if (claim(stage::abandoned)) drop_handler();
  }

  // Worker side: arms `h` for the caller's cancellation; fires it at once if
  // the caller has cancelled already.
  void arm(cancel_hook* h) noexcept {
    hook_.store(h, std::memory_order_release);
    if (gave_up()) fire_hook();
  }
  // Worker side: the request is done; a hook not fired is discarded.
  void disarm() noexcept {
    if (auto* h = hook_.exchange(nullptr, std::memory_order_acq_rel)) h->drop();
  }

  // A chain of waiters (worker side, under its lock): the callers of one
  // dropbox request, or those waiting for a worker's completion.
  const waiter_ptr& next() const noexcept { return next_; }
  waiter_ptr take_next() noexcept { return std::move(next_); }
  void append(waiter_ptr tail) noexcept {
    waiter_base* w = this;
    while (w->next_) w = w->next_.get();
    w->next_ = std::move(tail);
  }

  // Room for the post that starts this caller's work (see post_room), if any.
  virtual post_room* room() noexcept { return nullptr; }

  friend void intrusive_ptr_add_ref(waiter_base* w) noexcept {
    w->refs_.fetch_add(1, std::memory_order_relaxed);
  }
  // Iterative, so that a long chain does not recurse.
  friend void intrusive_ptr_release(waiter_base* w) noexcept {
    while (w && w->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      waiter_base* next = w->next_.detach();
      w->destroy();
      w = next;
    }
  }

 protected:
  explicit waiter_base(cancellation_policy policy) noexcept : policy_(policy) {}
  ~waiter_base() = default;

  // Takes the right to answer: from waiting or started.
  bool claim(stage to) noexcept {
    auto s = stage_.load(std::memory_order_acquire);
    while (s == stage::waiting || s == stage::started)
      if (stage_.compare_exchange_weak(s, to, std::memory_order_acq_rel)) return true;
    return false;
  }
  // Takes the right to answer for a cancellation of type `type`, if the
  // policy honours it at the current stage.
  bool claim_for_cancel(asio::cancellation_type_t type) noexcept {
    auto s = stage_.load(std::memory_order_acquire);
    for (;;) {
      const auto allowed = s == stage::waiting   ? policy_.waiting
                           : s == stage::started ? policy_.started
                                                 : asio::cancellation_type::none;
      if ((type & allowed) == asio::cancellation_type::none) return false;
      if (stage_.compare_exchange_weak(s, stage::cancelled, std::memory_order_acq_rel)) return true;
    }
  }
  void fire_hook() noexcept {
    if (auto* h = hook_.exchange(nullptr, std::memory_order_acq_rel)) h->fire();
  }

  virtual void drop_handler() noexcept = 0;
  virtual void destroy() noexcept = 0;

 private:
  std::atomic<unsigned> refs_{0};
  std::atomic<stage> stage_{stage::waiting};
  cancellation_policy policy_;
  std::atomic<cancel_hook*> hook_{nullptr};
  waiter_ptr next_;
};

// What a cancelled waiter completes with: Asio's `operation_aborted`, in the
// shape of each completion.
template <class T>
struct cancelled_value;
template <>
struct cancelled_value<error_code> {
  static error_code get() { return asio::error::operation_aborted; }
};
template <class T, class E>
struct cancelled_value<result<T, message_error<E>>> {
  static result<T, message_error<E>> get() {
    return {boost::system::in_place_error, message_error<E>(request_cancelled{})};
  }
};
template <class T>
struct cancelled_value<std::tuple<std::exception_ptr, T>> {
  static std::tuple<std::exception_ptr, T> get() {
    return {std::make_exception_ptr(boost::system::system_error(asio::error::operation_aborted)),
            T{}};
  }
};

// A waiter that completes with one value of type T; a std::tuple is spread
// over the handler's arguments.
template <class T>
class waiter : public waiter_base {
 public:
  // Answers unless already answered, cancelled or abandoned. Posted, never
  // inline, unless `dispatch` (reply_mode::dispatch: only the worker answering
  // a handled request asks for it, from its strand, never an initiating function).
  void answer(T&& value, bool dispatch = false) {
    if (claim(stage::answered)) complete(std::move(value), dispatch);
  }

 protected:
  using waiter_base::waiter_base;
  virtual void complete(T&& value, bool dispatch) = 0;
};

template <class T>
waiter<T>* typed(const waiter_ptr& w) noexcept {
  return static_cast<waiter<T>*>(w.get());
}

// A completion dispatched to `ex`: if it runs inline, inside the worker, an
// exception from the caller's handler must not unwind the worker; it is
// rethrown from a function posted to `ex`, and so leaves that executor's run()
// as one from a posted handler would.
template <class Executor, class F>
struct contained {
  Executor ex;
  F f;
  void operator()() {
    try {
      f();
    } catch (...) {
      asio::post(ex, [e = std::current_exception()] { std::rethrow_exception(e); });
    }
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

template <>
class tracked_work<asio::any_io_executor>
    : public tracked_work<std::variant<tracked_io_executor, asio::any_io_executor>> {
 public:
  explicit tracked_work(const asio::any_io_executor& ex) : variant_work(track(ex)) {}

 private:
  using variant_type = std::variant<tracked_io_executor, asio::any_io_executor>;
  using variant_work = tracked_work<variant_type>;
  static variant_type track(const asio::any_io_executor& ex) {
    if (const auto* io = ex.target<asio::io_context::executor_type>())
      return asio::prefer(*io, asio::execution::outstanding_work.tracked);
    return asio::prefer(ex, asio::execution::outstanding_work.tracked);
  }
};

template <class T>
inline constexpr bool is_tuple = false;
template <class... T>
inline constexpr bool is_tuple<std::tuple<T...>> = true;

// Whether waiters completing with T can be cancelled.
template <class T>
concept cancellable_value = requires {
  cancelled_value<T>::get();
};

// The completion of a waiter, posted to the handler's executor: the handler
// and its value. When the handler has an allocator of its own they are kept in
// storage from that allocator, freed before the upcall, as Asio's operations
// do (an executor, type-erased, may not pass the allocator on); otherwise they
// ride in the posted function, which Asio allocates from its recycling cache.
template <class Handler, class T>
class waiter_completion {
  using allocator_type = asio::associated_allocator_t<Handler, asio::recycling_allocator<void>>;
  static constexpr bool own_allocator =
      !std::is_same_v<allocator_type, asio::recycling_allocator<void>>;

  struct contents {
    Handler handler;
    T value;
  };
  using storage_allocator =
      typename std::allocator_traits<allocator_type>::template rebind_alloc<contents>;
  struct release {
    storage_allocator alloc;
    void operator()(contents* c) const {
      storage_allocator a(alloc);
      std::allocator_traits<storage_allocator>::destroy(a, c);
      std::allocator_traits<storage_allocator>::deallocate(a, c, 1);
    }
  };
  using held = std::conditional_t<own_allocator, std::unique_ptr<contents, release>, contents>;

 public:
  waiter_completion(Handler&& h, T&& value, bool clear_slot)
      : held_(hold(std::move(h), std::move(value))), clear_slot_(clear_slot) {}

  // Runs on the handler's executor: the only place the slot is cleared, so it
  // never races with the caller emitting a cancellation.
  void operator()() {
    auto& c = get();
    Handler handler(std::move(c.handler));
    T value(std::move(c.value));
    if constexpr (own_allocator) held_.reset();
    if (clear_slot_) asio::get_associated_cancellation_slot(handler).clear();
    if constexpr (is_tuple<T>)
      std::apply(std::move(handler), std::move(value));
    else
      std::move(handler)(std::move(value));
  }

 private:
  static held hold(Handler&& h, T&& value) {
    if constexpr (own_allocator) {
      storage_allocator alloc(asio::get_associated_allocator(h));
      contents* c = std::allocator_traits<storage_allocator>::allocate(alloc, 1);
      try {
        std::allocator_traits<storage_allocator>::construct(
            alloc, c, contents{std::move(h), std::move(value)});
      } catch (...) {
        std::allocator_traits<storage_allocator>::deallocate(alloc, c, 1);
        throw;
      }
      return held(c, release{alloc});
    } else {
      return contents{std::move(h), std::move(value)};
    }
  }
  contents& get() {
    if constexpr (own_allocator)
      return *held_;
    else
      return held_;
  }

  held held_;
  bool clear_slot_;
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

// The operation behind a waiter: holds the caller's completion handler until
// the waiter is claimed, with the work that keeps the handler's executor busy
// meanwhile, and hooks the handler's cancellation slot. Its own storage is the
// library's (a waiter may outlive the answer, held by the worker or by the
// caller's slot), from Asio's recycling allocator; a launch's reply, which
// also holds the room for its post (post_room.hpp), from the heap.
template <class T, class Handler, class IoExecutorFn, bool WithRoom = false>
class waiter_op final : public waiter<T> {
  using work_type = typename completion_work<Handler, IoExecutorFn>::type;
  using allocator_type =
      std::conditional_t<WithRoom, std::allocator<waiter_op>, asio::recycling_allocator<waiter_op>>;

 public:
  // Allocates the operation and hooks the handler's cancellation slot when
  // the policy honours some cancellation. Exception-safe: if anything throws,
  // nothing is left behind and the exception propagates to the initiating
  // function.
  static waiter_ptr create(Handler&& handler, const IoExecutorFn& io_ex,
                           cancellation_policy policy) {
    allocator_type alloc;
    waiter_op* mem = alloc.allocate(1);
    waiter_ptr op;
    try {
      op.reset(::new (static_cast<void*>(mem)) waiter_op(std::move(handler), io_ex, policy));
    } catch (...) {
      alloc.deallocate(mem, 1);
      throw;
    }
    if constexpr (cancellable_value<T>) {
      auto* self = static_cast<waiter_op*>(op.get());
      const auto honoured = policy.waiting | policy.started;
      if (honoured != asio::cancellation_type::none) {
        auto slot = asio::get_associated_cancellation_slot(*self->handler_);
        if (slot.is_connected()) {
          slot.template emplace<cancel_handler>(op);
          self->slot_installed_ = true;
        }
      }
    }
    return op;
  }

 private:
  struct cancel_handler {
    waiter_ptr op;
    explicit cancel_handler(waiter_ptr o) noexcept : op(std::move(o)) {}
    void operator()(asio::cancellation_type_t type) const {
      static_cast<waiter_op*>(op.get())->cancel(type);
    }
  };

  waiter_op(Handler&& h, const IoExecutorFn& io_ex, cancellation_policy policy)
      : waiter<T>(policy),
        handler_(std::move(h)),
        work_(completion_work<Handler, IoExecutorFn>::make(*handler_, io_ex)) {}

  void cancel(asio::cancellation_type_t type) {
    if constexpr (cancellable_value<T>) {
      if (!this->claim_for_cancel(type)) return;
      complete(cancelled_value<T>::get(), false);
      this->fire_hook();
    }
  }

  // Posted by default: the worker answers from inside its strand, and a
  // caller resumed there would run as part of the worker. Posted, not
  // deferred: a deferred answer would wait in the worker thread's private
  // queue until the worker's turn ends (its on_completion, its next requests),
  // while another thread may take a posted one at once. Dispatched when the
  // worker was launched with reply_mode::dispatch and answers a handled request.
  void complete(T&& value, bool dispatch) override {
    Handler handler(std::move(*handler_));
    handler_.reset();
    const work_type work(std::move(*work_));
    work_.reset();
    waiter_completion<Handler, T> c(std::move(handler), std::move(value), slot_installed_);
    if (dispatch)
      work.dispatch(std::move(c));
    else
      work.post(std::move(c));
  }

  void drop_handler() noexcept override {
    handler_.reset();
    work_.reset();
  }

  void destroy() noexcept override {
    allocator_type alloc;
    this->~waiter_op();
    alloc.deallocate(this, 1);
  }

  post_room* room() noexcept override {
    if constexpr (WithRoom)
      return &room_;
    else
      return nullptr;
  }

  struct no_room {};

  std::optional<Handler> handler_;
  std::optional<work_type> work_;
  bool slot_installed_ = false;
  [[no_unique_address]] std::conditional_t<WithRoom, post_room, no_room> room_;
};

// Makes the waiter of `handler`, completing with T through its associated
// executor (`io_ex()` if it has none).
template <class T, class Handler, class IoExecutorFn>
waiter_ptr make_waiter(Handler&& handler, const IoExecutorFn& io_ex,
                       cancellation_policy policy = {}) {
  return waiter_op<T, std::decay_t<Handler>, IoExecutorFn>::create(std::forward<Handler>(handler),
                                                                   io_ex, policy);
}

// A waiter with room for the post that starts its work: post it with
// `room_allocator<void, waiter_ptr>(w)`.
template <class T, class Handler, class IoExecutorFn>
waiter_ptr make_waiter_with_room(Handler&& handler, const IoExecutorFn& io_ex) {
  return waiter_op<T, std::decay_t<Handler>, IoExecutorFn, true>::create(
      std::forward<Handler>(handler), io_ex, {});
}

}  // namespace workers::inline v0::detail
