#pragma once

// The operation behind a waiter: holds the caller's completion handler until
// the waiter is claimed, with the work that keeps the handler's executor busy
// meanwhile, and hooks the handler's cancellation slot. The claim moves the
// handler and the work out into the completion (completion_storage.hpp), so
// nothing that came from the handler's allocator outlives the completion's
// upcall, and a waiter left behind by the worker or by the caller's slot is an
// empty shell that refers to no execution context. Its own storage is the
// library's (a waiter may outlive the answer, held by the worker or by the
// caller's slot), from Asio's recycling allocator; a launch's reply, which
// also holds the room for its post (post_room.hpp), from the heap.

#include <workers/detail/completion_executor.hpp>
#include <workers/detail/completion_storage.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/post_room.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/error.hpp>
#include <workers/message_error.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/smart_ptr/allocate_unique.hpp>
#include <boost/system/system_error.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

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
template <>
struct cancelled_value<std::tuple<error_code, shutdown_report>> {
  static std::tuple<error_code, shutdown_report> get() {
    return {asio::error::operation_aborted, shutdown_report{}};
  }
};
template <class T>
struct cancelled_value<std::tuple<std::exception_ptr, T>> {
  static std::tuple<std::exception_ptr, T> get() {
    return {std::make_exception_ptr(boost::system::system_error(asio::error::operation_aborted)),
            T{}};
  }
};

// Whether waiters completing with T can be cancelled.
template <class T>
concept cancellable_value = requires {
  cancelled_value<T>::get();
};

// Where a caller that gives up while its request holds a place in a counted
// mailbox gives the place back (the worker), if it still exists.
class place_keeper {
 public:
  // Any thread: one queued request left without being taken.
  virtual void release_place() noexcept = 0;

 protected:
  ~place_keeper() = default;
};
using place_keeper_ref = std::weak_ptr<place_keeper>;

template <class T, class Handler, class IoExecutorFn, bool WithRoom = false>
class waiter_op final : public waiter<T> {
  using work_type = typename completion_work<Handler, IoExecutorFn>::type;
  using allocator_type =
      std::conditional_t<WithRoom, std::allocator<waiter_op>, asio::recycling_allocator<waiter_op>>;

 public:
  // Makes the operation and hooks the handler's cancellation slot when the
  // policy honours some cancellation. Exception-safe: if anything throws,
  // nothing is left behind and the exception propagates to the initiating
  // function.
  static waiter_ptr create(Handler&& handler, const IoExecutorFn& io_ex, cancellation_policy policy,
                           place_keeper_ref keeper) {
    auto made =
        boost::allocate_unique<waiter_op>(allocator_type(), std::move(handler), io_ex, policy);
    waiter_op* const self = made.get().ptr();
    if constexpr (cancellable_value<T>) {
      if ((policy.waiting | policy.started) != asio::cancellation_type::none) {
        auto slot = asio::get_associated_cancellation_slot(*self->handler_);
        if (slot.is_connected()) {
          // A raw pointer: the handler's reference is taken once the slot's memory is.
          slot.template emplace<cancel_handler>(self, std::move(keeper));
          self->slot_installed_ = true;
        }
      }
    }
    return waiter_ptr(made.release().ptr());
  }

  waiter_op(Handler&& h, const IoExecutorFn& io_ex, cancellation_policy policy)
      : waiter<T>(policy),
        handler_(std::move(h)),
        work_(completion_work<Handler, IoExecutorFn>::make(*handler_, io_ex)) {}

 private:
  struct cancel_handler {
    waiter_ptr op;
    place_keeper_ref keeper;
    cancel_handler(waiter_op* o, place_keeper_ref k) noexcept : op(o), keeper(std::move(k)) {}
    void operator()(asio::cancellation_type_t type) const {
      static_cast<waiter_op*>(op.get())->cancel(type, keeper);
    }
  };

  void cancel(asio::cancellation_type_t type, const place_keeper_ref& keeper) {
    if constexpr (cancellable_value<T>) {
      typename waiter_base::stage from;
      if (!this->claim_for_cancel(type, from)) return;
      if (from == waiter_base::stage::queued)
        if (auto k = keeper.lock()) k->release_place();
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
    std::allocator_traits<allocator_type>::destroy(alloc, this);
    std::allocator_traits<allocator_type>::deallocate(alloc, this, 1);
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

// Makes the waiter of `handler` (taken as Asio's rules say: moved from an
// rvalue, copied from an lvalue), completing with T through its associated
// executor (`io_ex()` if it has none). `keeper`: where a caller that gives up
// while queued gives its place back (counted mailboxes), if anywhere.
template <class T, class Handler, class IoExecutorFn>
waiter_ptr make_waiter(Handler&& handler, const IoExecutorFn& io_ex,
                       cancellation_policy policy = {}, place_keeper_ref keeper = {}) {
  using H = std::decay_t<Handler>;
  return waiter_op<T, H, IoExecutorFn>::create(H(std::forward<Handler>(handler)), io_ex, policy,
                                               std::move(keeper));
}

// A waiter with room for the post that starts its work: post it with
// `room_allocator<void, waiter_ptr>(w)`.
template <class T, class Handler, class IoExecutorFn>
waiter_ptr make_waiter_with_room(Handler&& handler, const IoExecutorFn& io_ex) {
  using H = std::decay_t<Handler>;
  return waiter_op<T, H, IoExecutorFn, true>::create(H(std::forward<Handler>(handler)), io_ex, {},
                                                     {});
}

}  // namespace detail
WORKERS_END_NAMESPACE
