#pragma once

// Locks for state that changes a few times in a worker's life (its lifecycle):
// one of a fixed pool of mutexes, picked by the address of what it guards, as
// libstdc++ guards atomic shared_ptrs and Boost.Atomic its lock-based atomics.
// A worker thus pays no 40-byte mutex for a lock it takes at launch, at close
// and when someone reads its status. Two objects may share a mutex, so nothing
// may take another lock, or call out, while holding one.

#include <workers/detail/config.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>

WORKERS_BEGIN_NAMESPACE
namespace detail {

class lock_pool {
 public:
  static std::mutex& for_object(const void* p) noexcept {
    // Objects of a few hundred bytes: drop the low bits, which hardly vary.
    const auto i = (reinterpret_cast<std::uintptr_t>(p) >> 6) % size;
    return locks_[i].mutex;
  }

 private:
  static constexpr std::size_t size = 64;
  struct alignas(64) padded {  // one per cache line: distinct locks do not contend
    std::mutex mutex;
  };
  static inline padded locks_[size];
};

}  // namespace detail
WORKERS_END_NAMESPACE
