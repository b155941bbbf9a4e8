#pragma once

// One waiting caller (push-and-wait, a push waiting for room, shutdown,
// wait_for_completion, with_state, launch) and the protocol that answers it
// exactly once: the worker, the caller's cancellation and the death of the
// execution context each claim the waiter with one atomic step on its stage,
// and only the one that claims it acts.
//
//   waiting ──► queued ──► started ──► answered
//      │           │          │
//      └───────────┴──────────┴──► cancelled | answered | abandoned
//
//   waiting   made, not in a mailbox yet, or waiting for room in a bounded queue
//   queued    holds a place in a counted mailbox (a bounded queue, or one that
//             counts its length): a cancellation here gives the place back
//   started   its work began (the request is handled, the push admitted, the
//             with_state function runs): a `total` cancellation is refused
//   answered, cancelled, abandoned: claimed, for good
//
// Owners, each through a `waiter_ptr` (boost::intrusive_ptr): the worker side
// (a queued entry, a waiting list) and the cancellation handler installed in
// the caller's slot. The operation behind a waiter is in waiter_op.hpp; where
// its completion runs, in completion_executor.hpp.

#include <workers/detail/config.hpp>
#include <workers/detail/post_room.hpp>

#include <boost/asio/cancellation_type.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <atomic>
#include <cstdint>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

namespace asio = boost::asio;

class waiter_base;
void intrusive_ptr_add_ref(waiter_base* w) noexcept;
void intrusive_ptr_release(waiter_base* w) noexcept;
using waiter_ptr = boost::intrusive_ptr<waiter_base>;

// Which cancellation types an operation honours before its work began (waiting,
// queued) and once it began (started): a `total` cancellation promises no side
// effect, so it is refused once a request's handler runs.
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
  enum class stage : std::uint8_t { waiting, queued, started, answered, cancelled, abandoned };

  waiter_base(const waiter_base&) = delete;
  waiter_base& operator=(const waiter_base&) = delete;

  bool gave_up() const noexcept {
    return stage_.load(std::memory_order_acquire) == stage::cancelled;
  }

  // Producer side, in a counted mailbox: the waiter now holds a place; false
  // if the caller gave up already (the request is then not queued).
  bool enqueue() noexcept {
    auto expected = stage::waiting;
    return stage_.compare_exchange_strong(expected, stage::queued, std::memory_order_acq_rel);
  }

  // Worker side: the work for this caller begins; false if the caller gave up
  // (or the waiter was claimed otherwise). A waiter started already stays so.
  bool start() noexcept {
    auto s = stage_.load(std::memory_order_acquire);
    while (s == stage::waiting || s == stage::queued)
      if (stage_.compare_exchange_weak(s, stage::started, std::memory_order_acq_rel)) return true;
    return s == stage::started;
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

  // A chain of waiters (worker side): the callers of one dropbox request, or
  // those waiting for a worker's completion.
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

  // Takes the right to answer: from waiting, queued or started.
  bool claim(stage to) noexcept {
    auto s = stage_.load(std::memory_order_acquire);
    while (s == stage::waiting || s == stage::queued || s == stage::started)
      if (stage_.compare_exchange_weak(s, to, std::memory_order_acq_rel)) return true;
    return false;
  }
  // Takes the right to answer for a cancellation of type `type`, if the
  // policy honours it at the current stage: true, with the stage it took it
  // from in `from`.
  bool claim_for_cancel(asio::cancellation_type_t type, stage& from) noexcept {
    auto s = stage_.load(std::memory_order_acquire);
    for (;;) {
      const auto allowed = s == stage::waiting || s == stage::queued ? policy_.waiting
                           : s == stage::started                     ? policy_.started
                                                 : asio::cancellation_type::none;
      if ((type & allowed) == asio::cancellation_type::none) return false;
      if (stage_.compare_exchange_weak(s, stage::cancelled, std::memory_order_acq_rel)) {
        from = s;
        return true;
      }
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

// A waiter that completes with one value of type T; a std::tuple is spread
// over the handler's arguments.
template <class T>
class waiter : public waiter_base {
 public:
  // Answers unless already answered, cancelled or abandoned; false then.
  // Posted, never inline, unless `dispatch` (reply_mode::dispatch: only the
  // worker answering a handled request asks for it, from its strand, never an
  // initiating function).
  bool answer(T&& value, bool dispatch = false) {
    if (!claim_answer()) return false;
    complete(std::move(value), dispatch);
    return true;
  }
  // The same in two steps, so that something may happen between the claim
  // and the completion (the books count an outcome before the caller runs).
  bool claim_answer() noexcept { return claim(stage::answered); }
  void complete_answer(T&& value, bool dispatch = false) { complete(std::move(value), dispatch); }

 protected:
  using waiter_base::waiter_base;
  virtual void complete(T&& value, bool dispatch) = 0;
};

template <class T>
waiter<T>* typed(const waiter_ptr& w) noexcept {
  return static_cast<waiter<T>*>(w.get());
}

}  // namespace detail
WORKERS_END_NAMESPACE
