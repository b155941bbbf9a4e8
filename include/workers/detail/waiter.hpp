#pragma once

// The state of one waiting caller (push-and-wait, shutdown, wait_for_completion):
// answered exactly once, either by the worker or by the caller's own cancellation.

#include <workers/error.hpp>
#include <workers/message_error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/recycling_allocator.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>

namespace workers::detail {

namespace asio = boost::asio;

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

// References: one for whoever queued the waiter (the worker), one for the caller's
// cancellation slot while it is installed, one for a completion in flight. The
// answer is claimed once by a compare-exchange, so the worker and a cancellation
// racing on two threads cannot both answer.
//
// Waiters of the same request (a dropbox request that others' merged into)
// form a chain: each owns a reference to the next. Only the worker side
// touches the chain, and a waiter is destroyed only once the worker side has
// let go of it, so the chain needs no synchronization.
class waiter_base {
 public:
  bool cancelled() const noexcept { return state_.load(std::memory_order_acquire) == cancelled_; }

  // Worker side: arms `h` for the caller's cancellation; fires it at once if
  // the caller has cancelled already.
  void arm(cancel_hook* h) noexcept {
    hook_.store(h, std::memory_order_release);
    if (cancelled()) fire_hook();
  }
  // Worker side: the request is done; a hook not fired is discarded.
  void disarm() noexcept {
    if (auto* h = hook_.exchange(nullptr, std::memory_order_acq_rel)) h->drop();
  }
  void fire_hook() noexcept {
    if (auto* h = hook_.exchange(nullptr, std::memory_order_acq_rel)) h->fire();
  }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      waiter_base* next = next_;
      destroy();
      if (next) next->release();
    }
  }

  // ---- the chain: worker side only ----
  waiter_base* next() const noexcept { return next_; }
  // Detaches the rest of the chain; the caller owns the reference it returns.
  waiter_base* take_next() noexcept { return std::exchange(next_, nullptr); }
  // Appends a chain (owned reference) at the end of this one.
  void append(waiter_base* tail) noexcept {
    waiter_base* w = this;
    while (w->next_) w = w->next_;
    w->next_ = tail;
  }

 protected:
  static constexpr std::uint8_t waiting_ = 0, answered_ = 1, cancelled_ = 2;
  waiter_base() = default;
  ~waiter_base() = default;
  bool claim(std::uint8_t how) noexcept {
    auto expected = waiting_;
    return state_.compare_exchange_strong(expected, how, std::memory_order_acq_rel);
  }
  virtual void destroy() noexcept = 0;

 private:
  std::atomic<int> refs_{1};
  std::atomic<std::uint8_t> state_{waiting_};
  std::atomic<cancel_hook*> hook_{nullptr};
  waiter_base* next_ = nullptr;
};

// Owning reference to a waiter, held by the worker side. Dropping it without an
// answer abandons the caller, as Asio does with operations whose context dies.
class waiter_ref {
 public:
  waiter_ref() = default;
  explicit waiter_ref(waiter_base* w) noexcept : w_(w) {}
  waiter_ref(waiter_ref&& o) noexcept : w_(std::exchange(o.w_, nullptr)) {}
  waiter_ref& operator=(waiter_ref&& o) noexcept {
    if (this != &o) {
      reset();
      w_ = std::exchange(o.w_, nullptr);
    }
    return *this;
  }
  ~waiter_ref() { reset(); }
  void reset() noexcept {
    if (auto* w = std::exchange(w_, nullptr)) w->release();
  }
  waiter_base* get() const noexcept { return w_; }
  waiter_base* release_ownership() noexcept { return std::exchange(w_, nullptr); }
  explicit operator bool() const noexcept { return w_ != nullptr; }
  // The next waiter of the chain, detached and owned.
  waiter_ref take_next() noexcept { return waiter_ref(w_->take_next()); }
  // Whether every waiter of the chain gave up.
  bool all_cancelled() const noexcept {
    for (auto* w = w_; w; w = w->next())
      if (!w->cancelled()) return false;
    return true;
  }

 private:
  waiter_base* w_ = nullptr;
};

template <class T>
inline constexpr bool is_tuple = false;
template <class... T>
inline constexpr bool is_tuple<std::tuple<T...>> = true;

// What a cancelled waiter completes with.
template <class T>
struct cancelled_value;
template <>
struct cancelled_value<error_code> {
  static error_code get() { return asio::error::operation_aborted; }
};
template <>
struct cancelled_value<std::tuple<error_code, bool>> {
  static std::tuple<error_code, bool> get() { return {asio::error::operation_aborted, false}; }
};
template <class T, class E>
struct cancelled_value<result<T, message_error<E>>> {
  static result<T, message_error<E>> get() {
    return {boost::system::in_place_error, message_error<E>(request_cancelled{})};
  }
};

// A waiter that completes with one value of type T; a std::tuple is spread
// over the handler's arguments.
template <class T>
class waiter : public waiter_base {
 public:
  // Answers unless already answered or cancelled. `immediate` is set when called
  // from the initiating function, which must never complete inline.
  void answer(T&& value, bool immediate = false) {
    if (claim(answered_)) complete(std::move(value), immediate);
  }

 protected:
  virtual void complete(T&& value, bool immediate) = 0;
};

// Outstanding work on a completion handler's executor, and where its
// completion goes. An any_io_executor that wraps an io_context's executor is
// tracked through the typed executor: tracking the type-erased one allocates.
template <class Executor>
class tracked_work {
 public:
  explicit tracked_work(const Executor& ex)
      : ex_(asio::prefer(ex, asio::execution::outstanding_work.tracked)) {}
  template <class F>
  void post(F&& f, bool from_outside) const {
    if (from_outside)
      asio::post(ex_, std::forward<F>(f));
    else
      asio::defer(ex_, std::forward<F>(f));
  }

 private:
  std::decay_t<decltype(asio::prefer(std::declval<Executor>(),
                                     asio::execution::outstanding_work.tracked))>
      ex_;
};

template <>
class tracked_work<asio::any_io_executor> {
 public:
  explicit tracked_work(const asio::any_io_executor& ex) : ex_(track(ex)) {}
  template <class F>
  void post(F&& f, bool from_outside) const {
    std::visit(
        [&](const auto& ex) {
          if (from_outside)
            asio::post(ex, std::forward<F>(f));
          else
            asio::defer(ex, std::forward<F>(f));
        },
        ex_);
  }

 private:
  using io_work = std::decay_t<decltype(asio::prefer(
      std::declval<asio::io_context::executor_type>(), asio::execution::outstanding_work.tracked))>;
  using variant_type = std::variant<io_work, asio::any_io_executor>;
  static variant_type track(const asio::any_io_executor& ex) {
    if (const auto* io = ex.target<asio::io_context::executor_type>())
      return asio::prefer(*io, asio::execution::outstanding_work.tracked);
    return asio::prefer(ex, asio::execution::outstanding_work.tracked);
  }
  variant_type ex_;
};

// The operation behind a waiter: owns the caller's completion handler, tracks
// work on its executor, and hooks its cancellation slot.
template <class T, class Handler, class DefaultExecutor, bool Cancellable = true>
class waiter_op final : public waiter<T> {
  using allocator_type = typename std::allocator_traits<asio::associated_allocator_t<
      Handler, asio::recycling_allocator<void>>>::template rebind_alloc<waiter_op>;
  using executor_type = asio::associated_executor_t<Handler, DefaultExecutor>;
  using work_type = tracked_work<executor_type>;

 public:
  // Allocates the operation with the handler's allocator (recycled by default, so
  // steady-state waits do not reach the heap) and hooks its cancellation slot.
  static waiter_op* create(Handler&& handler, const DefaultExecutor& ex) {
    allocator_type alloc(
        asio::get_associated_allocator(handler, asio::recycling_allocator<void>()));
    auto* mem = std::allocator_traits<allocator_type>::allocate(alloc, 1);
    auto* op = ::new (static_cast<void*>(mem)) waiter_op(std::move(handler), ex, alloc);
    if constexpr (Cancellable) {
      auto slot = asio::get_associated_cancellation_slot(op->handler_);
      if (slot.is_connected()) {
        op->add_ref();  // the slot's reference, dropped when the slot destroys its handler
        op->slot_installed_ = true;
        slot.template emplace<cancel_handler>(op);
      }
    }
    return op;
  }

 private:
  struct cancel_handler {
    waiter_op* op;
    explicit cancel_handler(waiter_op* o) noexcept : op(o) {}
    cancel_handler(const cancel_handler&) = delete;
    cancel_handler& operator=(const cancel_handler&) = delete;
    ~cancel_handler() { op->release(); }
    void operator()(asio::cancellation_type_t type) const {
      if (type == asio::cancellation_type::none) return;
      if (op->claim(waiter_base::cancelled_)) {
        op->complete(cancelled_value<T>::get(), true);
        op->fire_hook();
      }
    }
  };
  struct completion {
    waiter_op* op;
    explicit completion(waiter_op* o) noexcept : op(o) {}
    completion(completion&& o) noexcept : op(std::exchange(o.op, nullptr)) {}
    completion& operator=(completion&&) = delete;
    ~completion() {
      if (op) op->release();
    }
    void operator()() { std::exchange(op, nullptr)->invoke(); }
  };

  waiter_op(Handler&& h, const DefaultExecutor& ex, const allocator_type& alloc)
      : handler_(std::move(h)), work_(asio::get_associated_executor(handler_, ex)), alloc_(alloc) {}

  // Never dispatched inline: the worker answers from inside its strand, and a
  // caller resumed there would run as part of the worker (blocking it, and
  // passing the strand checks of state() and shutdown()). From the worker's
  // own thread `defer` queues to that thread's private queue, cheaper than post.
  void complete(T&& value, bool immediate) override {
    value_.emplace(std::move(value));
    this->add_ref();
    work_.post(completion(this), immediate);
  }

  // Runs on the handler's executor: the only place the slot is cleared, so it
  // never races with the caller emitting a cancellation.
  void invoke() {
    if (std::exchange(slot_installed_, false))
      asio::get_associated_cancellation_slot(handler_).clear();
    Handler handler(std::move(handler_));
    T value(std::move(*value_));
    auto work = std::move(work_);
    this->release();
    if constexpr (is_tuple<T>)
      std::apply(std::move(handler), std::move(value));
    else
      std::move(handler)(std::move(value));
  }

  void destroy() noexcept override {
    allocator_type alloc(alloc_);
    this->~waiter_op();
    std::allocator_traits<allocator_type>::deallocate(alloc, this, 1);
  }

  Handler handler_;
  work_type work_;
  allocator_type alloc_;
  std::optional<T> value_;
  bool slot_installed_ = false;
};

}  // namespace workers::detail
