#pragma once

// A caller's cancellation reaching the handler (worker_impl.hpp), for request
// types that opt in (`cancels_with_caller`): while an awaitable on_request
// handles such a request, the cancellation of its one caller also cuts the
// handler short. The caller's waiter carries a hook, armed while the handler's
// call is in flight (waiter.hpp); whichever of the cancellation and the end of
// the handler takes it first fires or drops it. Fired, it posts to the strand
// a cut of the call it was armed for, known by a link the worker holds only
// while that call is in flight: it never reaches the next request.

#include <workers/detail/config.hpp>
#include <workers/detail/worker_impl.hpp>

#include <memory>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Kind, class H>
class worker_impl<Def, Kind, H>::caller_cancel final : public cancel_hook {
 public:
  caller_cancel(std::weak_ptr<base> worker, std::weak_ptr<caller_link> link)
      : worker_(std::move(worker)), link_(std::move(link)) {}
  void fire() noexcept override {
    if (auto w = worker_.lock()) {
      auto& impl = static_cast<worker_impl&>(*w);
      impl.post_on_strand(
          [w, link = std::move(link_)] { static_cast<worker_impl&>(*w).cancel_from_caller(link); });
    }
    delete this;
  }
  void drop() noexcept override { delete this; }

 private:
  std::weak_ptr<base> worker_;
  std::weak_ptr<caller_link> link_;
};

// Keeps the caller of `e` for its cancellation if R opted in and it has one
// caller. Only an awaited handler can be cut short: the hook is armed once
// the handler's call exists (`arm_for_call`); if the caller gave up already,
// arming fires it at once.
template <class Def, class Kind, class H>
template <class R>
void worker_impl<Def, Kind, H>::arm_caller_cancel(entry_type& e) {
  if constexpr (cancels_with_caller<R>) {
    if (e.reply && !e.reply->next()) armed_.caller = e.reply;
  }
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::arm_for_call() {
  if constexpr (any_cancels_with_caller) {
    if (!armed_.caller) return;
    armed_.link = std::make_shared<caller_link>();
    armed_.caller->arm(new caller_cancel(this->weak_from_this(), armed_.link));
  }
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::disarm_caller_cancel() noexcept {
  if constexpr (any_cancels_with_caller) {
    if (armed_.caller) armed_.caller->disarm();
    armed_ = {};
  }
}

// The caller of the request whose call `link` names cancelled: cut its handler
// short, if that call is still the one in flight.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::cancel_from_caller(const std::weak_ptr<caller_link>& link) {
  if constexpr (any_cancels_with_caller) {
    if (auto l = link.lock(); l && l == armed_.link) cut_call(cut::by_caller);
  }
}

}  // namespace detail
WORKERS_END_NAMESPACE
