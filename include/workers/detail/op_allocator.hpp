#pragma once

// The allocator of the operations a worker posts to its own strand (a wake-up,
// a close step) and of the strand's own invoker, which Asio allocates with the
// same allocator: blocks of 128 bytes from the per-thread block_cache.

#include <workers/detail/block_cache.hpp>
#include <workers/detail/config.hpp>

#include <cstddef>
#include <new>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// An executor_op with a small function.
using op_block_cache = block_cache<128>;

template <class T>
struct op_allocator {
  using value_type = T;

  op_allocator() noexcept = default;
  template <class U>
  op_allocator(const op_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (fits(n)) return static_cast<T*>(op_block_cache::local().take());
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{alignof(T)}));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (fits(n)) return op_block_cache::local().give(p);
    // Unsized: Clang 14 declares no sized operator delete by default.
    ::operator delete (p, std::align_val_t{alignof(T)});
  }

  template <class U>
  bool operator==(const op_allocator<U>&) const noexcept {
    return true;
  }

 private:
  static constexpr bool fits(std::size_t n) noexcept {
    return alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ &&
           n <= op_block_cache::block_size / sizeof(T);
  }
};

}  // namespace detail
WORKERS_END_NAMESPACE
