#pragma once

// A per-thread cache of memory blocks of one size: the operations a worker
// posts to its strand (op_allocator.hpp) come from it, so the steady state
// allocates nothing. Request nodes come from slabs instead (slab_cache.hpp),
// which give a burst back to the heap.
// Asio's recycling allocator keeps two blocks per thread: a thread that wakes
// many workers in a row, or holds a reply and a wake-up in flight together,
// needs more, and each miss costs an aligned_alloc. This one keeps up to
// `max_cached` blocks per thread.
//
// A block goes back to the thread that took it, also when another thread
// frees it: a producer thread feeding a worker on another thread would
// otherwise take every block from the heap while the worker's thread hoards
// them. Each block carries its owner (`header`); a block freed by another
// thread is pushed onto the owner's inbox with one CAS, and the owner takes
// its whole inbox at once, with an exchange, when its own list runs dry (so
// no ABA). A thread that exits with blocks still out leaves its inbox
// orphaned: those blocks go to the heap as they come back, and the last one
// frees the inbox.

#include <workers/detail/config.hpp>

#include <atomic>
#include <cstddef>
#include <new>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

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
  // The thread exits. A block taken after this (by a static destroyed later on
  // the main thread) comes from the heap and goes back there.
  ~block_cache() {
    drain();
    while (head_) ::operator delete(std::exchange(head_, head_->next));
    dead_ = true;
    if (!inbox_) return;
    if (out_ == 0) {
      delete inbox_;
      return;
    }
    // Those still out end the inbox: each one, or this exchange for those
    // that came back meanwhile, counts down `orphaned_out`.
    inbox_->orphaned_out.store(out_, std::memory_order_relaxed);
    std::size_t back = 0;
    for (header* h = inbox_->head.exchange(orphaned(), std::memory_order_acq_rel); h; ++back)
      ::operator delete(std::exchange(h, h->next));
    if (back != 0 && inbox_->orphaned_out.fetch_sub(back, std::memory_order_acq_rel) == back)
      delete inbox_;
  }

  void* take() {
    if (!head_ && !drain()) return fresh();
    --count_;
    ++out_;
    return std::exchange(head_, head_->next) + 1;
  }
  void give(void* p) noexcept {
    header* const h = to_header(p);
    if (!mine(h)) return send(h, h, 1);
    keep(h);
  }
  // Blocks taken from this cache and not back in it yet.
  std::size_t out() const noexcept { return out_; }

 private:
  struct inbox;
  // Before each block; keeps the block aligned for any scalar.
  struct alignas(__STDCPP_DEFAULT_NEW_ALIGNMENT__) header {
    inbox* owner;  // null: from the heap, to the heap
    header* next;
  };
  struct alignas(64) inbox {             // its own cache line: other threads write it
    std::atomic<header*> head{nullptr};  // given back by other threads; `orphaned()`: owner gone
    std::atomic<std::size_t> orphaned_out{0};
  };
  static header* orphaned() noexcept { return reinterpret_cast<header*>(alignof(header)); }

  void* fresh() {
    if (!dead_ && !inbox_) inbox_ = new inbox;
    void* const p = ::operator new(sizeof(header) + block_size);
    if (!dead_) ++out_;
    return ::new (p) header{dead_ ? nullptr : inbox_, nullptr} + 1;
  }
  // Takes the blocks other threads gave back (beyond `max_cached`, to the
  // heap: a burst does not stay cached); false if there are none.
  bool drain() noexcept {
    if (!inbox_ || dead_) return false;
    header* h = inbox_->head.exchange(nullptr, std::memory_order_acquire);
    if (!h) return false;
    while (h) keep(std::exchange(h, h->next));
    return true;
  }
  static header* to_header(void* p) noexcept { return static_cast<header*>(p) - 1; }
  bool mine(const header* h) const noexcept { return h->owner == inbox_ && inbox_ && !dead_; }
  void keep(header* h) noexcept {
    --out_;
    if (count_ >= max_cached) return ::operator delete(h);
    h->next = std::exchange(head_, h);
    ++count_;
  }
  // Blocks `first` to `last` (`n` of them, linked), all of one other thread
  // (or of this one, once it exits), or all from the heap.
  static void send(header* first, header* last, std::size_t n) noexcept {
    inbox* const box = first->owner;
    header* top = box ? box->head.load(std::memory_order_acquire) : nullptr;
    if (!box || top == orphaned()) {
      last->next = nullptr;
      while (first) ::operator delete(std::exchange(first, first->next));
      if (box && box->orphaned_out.fetch_sub(n, std::memory_order_acq_rel) == n) delete box;
      return;
    }
    do {
      if (top == orphaned()) return send(first, last, n);
      last->next = top;
    } while (!box->head.compare_exchange_weak(top, first, std::memory_order_release,
                                              std::memory_order_acquire));
  }

 public:
  // Gives back blocks in a row, those of one other thread with one CAS.
  class batch {
   public:
    batch() noexcept = default;
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;
    ~batch() { flush(); }
    void give(void* p) noexcept {
      header* const h = to_header(p);
      if (block_cache& c = local(); c.mine(h)) return c.keep(h);
      if (first_ && first_->owner != h->owner) flush();
      h->next = std::exchange(first_, h);
      if (!last_) last_ = h;
      ++count_;
    }

   private:
    void flush() noexcept {
      if (first_) send(first_, last_, count_);
      first_ = last_ = nullptr;
      count_ = 0;
    }
    header* first_ = nullptr;
    header* last_ = nullptr;
    std::size_t count_ = 0;
  };

 private:
  inbox* inbox_ = nullptr;  // made by the first block taken from the heap
  header* head_ = nullptr;
  std::size_t count_ = 0;  // in `head_`
  std::size_t out_ = 0;    // taken from this cache and not back in it
  bool dead_ = false;
};

}  // namespace detail
WORKERS_END_NAMESPACE
