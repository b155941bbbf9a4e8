#pragma once

// The allocator of the operations a worker posts to its own strand (a wake-up,
// a close step) and of the strand's own invoker, which Asio allocates with the
// same allocator. Asio's recycling allocator keeps two blocks per thread: a
// thread that wakes many workers in a row (one producer feeding many workers,
// or a reply and a wake-up in flight together) holds more than two, and each
// miss costs an aligned_alloc. This one keeps up to `max_cached` blocks of one
// size per thread, so the steady state allocates nothing. A block may be freed
// on another thread than the one that took it: it joins that thread's cache.
// Queue workers take their request nodes from a cache of the node's size.

#include <cstddef>
#include <new>
#include <utility>

namespace workers::inline v0::detail {

template <std::size_t Size>
class block_cache {
 public:
  static constexpr std::size_t block_size = Size;
  static constexpr std::size_t max_cached = (512 * 1024) / Size;  // per thread: 512 KiB kept

  static block_cache& local() noexcept {
    thread_local block_cache cache;
    return cache;
  }

  block_cache() = default;
  block_cache(const block_cache&) = delete;
  block_cache& operator=(const block_cache&) = delete;
  // A block freed after this (by a static destroyed later on the main thread)
  // goes straight back to the heap.
  ~block_cache() {
    while (head_) ::operator delete(std::exchange(head_, head_->next));
    count_ = max_cached;
  }

  void* take() {
    if (!head_) return ::operator new(block_size);
    --count_;
    return std::exchange(head_, head_->next);
  }
  void give(void* p) noexcept {
    if (count_ == max_cached) return ::operator delete(p);
    head_ = ::new (p) block{head_};
    ++count_;
  }

 private:
  struct block {
    block* next;
  };
  static_assert(Size >= sizeof(block));
  block* head_ = nullptr;
  std::size_t count_ = 0;
};

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

}  // namespace workers::inline v0::detail
