#pragma once

// What a buffer's critical section took out of it, to be destroyed or
// answered once the producers' lock is released (a request's destructor may
// call the worker). Every push and every take passes one, but in steady state
// nothing leaves the buffer: the containers are made only when something
// does, so an unused one costs a flag, not four destructors.

#include <workers/detail/waiter.hpp>

#include <new>
#include <vector>

namespace workers::inline v0::detail {

template <class Entry, class BlockedList>
class leftovers {
 public:
  struct contents {
    std::vector<Entry> entries;        // pending requests taken out by a close
    BlockedList blocked;               // producers still waiting, or that gave up
    std::vector<waiter_ptr> admitted;  // producers let in: answered `true`
  };

  // Raw storage, not std::optional: GCC zero-fills an optional's whole
  // storage when it is made (a `rep stos` per push and per take).
  leftovers() noexcept {}
  leftovers(const leftovers&) = delete;
  leftovers& operator=(const leftovers&) = delete;
  ~leftovers() {
    if (c_) c_->~contents();
  }

  // For the buffer, under the lock: where to put what leaves.
  contents& fill() {
    if (!c_) c_ = ::new (static_cast<void*>(storage_)) contents;  // no zero-fill either
    return *c_;
  }

  // For the caller, once the lock is released: null if nothing left.
  contents* get() noexcept { return c_; }

 private:
  contents* c_ = nullptr;
  alignas(contents) unsigned char storage_[sizeof(contents)];
};

}  // namespace workers::inline v0::detail
