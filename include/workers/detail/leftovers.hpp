#pragma once

// What a mailbox's critical section took out of it, to be destroyed, answered
// or counted once its lock is released (a request's destructor may call the
// worker). Every take passes one, but in steady state nothing leaves the
// mailbox: the containers are made only when something does, so an unused one
// costs a flag, not five destructors.

#include <workers/detail/config.hpp>
#include <workers/detail/waiter.hpp>

#include <new>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Entry, class BlockedList>
class leftovers {
 public:
  struct contents {
    std::vector<Entry> entries;        // pending requests taken out by a close
    BlockedList blocked;               // producers taken out waiting for room, or who gave up
    std::vector<waiter_ptr> admitted;  // producers let in: answered `true`
    BlockedList spent;                 // producers let in: what their records hold now
    bool wake = false;                 // an admission ended a park: the loop must be resumed
  };

  // Raw storage, not std::optional: GCC zero-fills an optional's whole
  // storage when it is made (a `rep stos` per take).
  leftovers() noexcept {}
  leftovers(const leftovers&) = delete;
  leftovers& operator=(const leftovers&) = delete;
  ~leftovers() {
    if (c_) c_->~contents();
  }

  // For the mailbox, under its lock: where to put what leaves.
  contents& fill() {
    if (!c_) c_ = ::new (static_cast<void*>(storage_)) contents;  // no zero-fill either
    return *c_;
  }

  // For the worker, once the lock is released: null if nothing left.
  contents* get() noexcept { return c_; }

 private:
  contents* c_ = nullptr;
  alignas(contents) unsigned char storage_[sizeof(contents)];
};

}  // namespace detail
WORKERS_END_NAMESPACE
