#pragma once

// Room for the operations of one post to a worker's strand, inside an object
// that the posted function keeps alive (a launch's reply): Asio's operation
// for the function and, when the strand was idle, the strand's invoker. A
// launch then allocates once instead of three times; launches made before
// their context runs are all alive at once, and each leaves one hole in the
// heap when it completes instead of three (bench D: ~450 bytes per worker).
//
// The allocator holds a reference to the room's owner: Asio destroys an
// operation and then frees its memory through a copy of the operation's
// allocator, so an operation destroyed late (the strand's invoker, destroyed
// by the scheduler after the strand's queue when the context dies with the
// launch still queued) never outlives the room. What does not fit comes from
// op_allocator.

#include <workers/detail/config.hpp>
#include <workers/detail/op_allocator.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

class post_room {
 public:
  // A strand operation holding a small function, and the strand's invoker.
  static constexpr std::size_t size = 120;

  // Called on the posting thread only, during the post.
  void* take(std::size_t n, std::size_t align) noexcept {
    const std::size_t at = (used_ + align - 1) / align * align;
    if (align > alignof(void*) || at + n > size) return nullptr;
    used_ = static_cast<std::uint8_t>(at + n);
    return bytes_ + at;
  }
  // Compares addresses only: reads nothing of the room.
  bool owns(const void* p) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const auto b = reinterpret_cast<std::uintptr_t>(bytes_);
    return a >= b && a < b + size;
  }

 private:
  static_assert(size <= 255);
  std::uint8_t used_ = 0;
  alignas(void*) unsigned char bytes_[size];  // Asio's operations hold pointers
};

// OwnerPtr: an intrusive pointer to something with `post_room* room()` (null: no room).
template <class T, class OwnerPtr>
class room_allocator {
 public:
  using value_type = T;

  explicit room_allocator(OwnerPtr owner) noexcept : owner_(std::move(owner)) {}
  template <class U>
  room_allocator(const room_allocator<U, OwnerPtr>& other) noexcept : owner_(other.owner_) {}

  T* allocate(std::size_t n) {
    if (post_room* r = owner_->room())
      if (void* p = r->take(n * sizeof(T), alignof(T))) return static_cast<T*>(p);
    return op_allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    const post_room* r = owner_->room();
    if (!r || !r->owns(p)) op_allocator<T>().deallocate(p, n);
  }

  template <class U>
  bool operator==(const room_allocator<U, OwnerPtr>& other) const noexcept {
    return owner_ == other.owner_;
  }

 private:
  template <class, class>
  friend class room_allocator;
  OwnerPtr owner_;
};

}  // namespace detail
WORKERS_END_NAMESPACE
