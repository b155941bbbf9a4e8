#pragma once

// The request a worker is handling, as introspection sees it, and the view of
// a request moved out for a handler that takes it by value. The entry is set
// and cleared
// on the strand, read under the mailbox's lock, which keeps the entry in place
// meanwhile (a mailbox retires what it took only under that lock). An integer
// atomic with each order fixed in place: GCC may leave std::atomic<T*>::store
// out of line in a large translation unit, and there the order, an argument,
// becomes a full-barrier exchange, once per request.

#include <workers/detail/config.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Entry>
class current_entry {
 public:
  const Entry* get() const noexcept {
    return reinterpret_cast<const Entry*>(p_.load(std::memory_order_acquire));
  }
  void set(Entry* e) noexcept {
    p_.store(reinterpret_cast<std::uintptr_t>(e), std::memory_order_release);
  }
  void clear() noexcept { p_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<std::uintptr_t> p_{0};
};

// The view of the request last moved out of its entry (for a handler that
// takes it by value or rvalue), kept for introspection, which would otherwise
// read what the move left. Written and read under the mailbox's lock. Made on
// the first move: most workers never move a request out, and pay one pointer.
template <class Entry, class View>
class moved_view {
 public:
  template <class MakeView>
  void keep(const Entry& e, MakeView&& make_view) {
    if (!kept_) kept_ = std::make_unique<kept>();
    kept_->view.emplace(make_view());
    kept_->of = &e;
  }
  // The entry it was kept for is gone (its place may hold another).
  void forget() noexcept {
    if (kept_) kept_->of = nullptr;
  }
  // The view kept for `e`, if its request was moved out.
  const View* of(const Entry* e) const noexcept {
    return kept_ && kept_->of == e ? &*kept_->view : nullptr;
  }

 private:
  struct kept {
    const Entry* of = nullptr;
    std::optional<View> view;
  };
  std::unique_ptr<kept> kept_;
};

}  // namespace detail
WORKERS_END_NAMESPACE
