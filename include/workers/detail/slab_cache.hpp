#pragma once

// Where request nodes come from (entry_node.hpp): slabs of `blocks` blocks of
// one size, carved in order by the thread that pushes, freed one by one by the
// worker, wherever it runs. A producer that outruns its worker on another
// thread takes one slab from the heap per `blocks` requests instead of one
// block per request, writes them contiguously, and the worker reads them so
// (the prefetcher streams them): the amortisation a deque's chunks give a
// mutex-and-deque queue.
//
// A slab counts its blocks still in use, plus one while its thread carves
// from it. Freeing a block counts it down (a run of blocks of one slab with
// one RMW); whoever brings the count to zero has the slab whole again, and
// gives it back to the thread that took it from the heap (its home): at once
// on that thread, else onto the home's inbox with one CAS, which the home
// takes whole, with an exchange, when it needs a slab (no ABA). So a producer
// feeding a worker on another thread reuses its slabs and allocates nothing in
// steady state.
//
// Bounded both ways, so a burst's memory comes back as the worker handles it
// (tokio#4321's shape): a home keeps at most `max_kept` whole slabs, and its
// inbox takes at most `max_kept` more; beyond, the one that has the slab whole
// gives it to the heap, on its own thread, whether or not the home pushes
// again. A home that exits closes its inbox: slabs that come back later go to
// the heap, and the last one out frees the inbox (it counts its slabs).
//
// A slab allocator in the kernel's sense (Bonwick), with one count per slab
// instead of a free list: requests are freed in the order they were pushed,
// so a slab's blocks die together and are never reused one by one.

#include <workers/detail/config.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <std::size_t Size>
class slab_cache {
  static_assert(Size % __STDCPP_DEFAULT_NEW_ALIGNMENT__ == 0, "blocks keep the heap's alignment");
  struct slab;
  // Before each block: keeps the block aligned for any scalar.
  struct alignas(__STDCPP_DEFAULT_NEW_ALIGNMENT__) header {
    slab* from;  // null: a block of its own, from the heap, to the heap
  };

 public:
  static constexpr std::size_t block_size = Size;
  static constexpr std::size_t stride = sizeof(header) + Size;
  // 64 blocks a slab while they are small (one heap allocation per 64
  // requests outrunning the worker); fewer for big ones, a slab ~16 KiB.
  static constexpr std::uint32_t blocks =
      stride <= 256 ? 64 : static_cast<std::uint32_t>(std::max<std::size_t>(4, 16384 / stride));
  // Whole slabs a thread keeps, and its inbox takes (about 64 KiB each).
  static constexpr std::uint32_t max_kept =
      static_cast<std::uint32_t>(std::max<std::size_t>(2, 65536 / (blocks * stride)));

  static slab_cache& local() noexcept {
    thread_local slab_cache cache;
    return cache;
  }

  slab_cache() = default;
  slab_cache(const slab_cache&) = delete;
  slab_cache& operator=(const slab_cache&) = delete;
  // The thread exits: the blocks of its slab not carved are given up with its
  // hold, its whole slabs go to the heap, and its inbox closes. A block taken
  // after this (by a static destroyed later on this thread) comes from the
  // heap on its own.
  ~slab_cache() {
    dead_ = true;
    if (current_) put_down(std::exchange(current_, nullptr), 1 + (blocks - next_));
    std::uint32_t gone = 0;
    for (; kept_; ++gone) free(std::exchange(kept_, kept_->next_kept));
    if (!inbox_) return;
    for (slab* s = inbox_->head.exchange(closed(), std::memory_order_acquire); s; ++gone)
      free(std::exchange(s, s->next_kept));
    std::exchange(inbox_, nullptr)->release(gone + 1);  // + this thread's own reference
  }

  void* take() {
    if (next_ == blocks || !current_) [[unlikely]] {
      if (dead_) return ::new (::operator new(stride)) header{nullptr} + 1;
      refill();
    }
    header* const h = current_->block(next_++);
    h->from = current_;
    return h + 1;
  }
  static void give(void* p) noexcept {
    header* const h = static_cast<header*>(p) - 1;
    if (!h->from) return ::operator delete(h);
    put_down(h->from, 1);
  }

  // Frees blocks in a row, each run of one slab's with one RMW.
  class batch {
   public:
    batch() noexcept = default;
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;
    ~batch() { flush(); }
    void give(void* p) noexcept {
      header* const h = static_cast<header*>(p) - 1;
      if (!h->from) return ::operator delete(h);
      if (h->from != slab_) flush();
      slab_ = h->from;
      ++count_;
    }

   private:
    void flush() noexcept {
      if (slab_) put_down(slab_, count_);
      slab_ = nullptr;
      count_ = 0;
    }
    slab* slab_ = nullptr;
    std::uint32_t count_ = 0;
  };

  // For tests: whole slabs kept by this thread, and waiting in its inbox;
  // blocks left to carve in its slab; slabs it took from the heap.
  std::uint32_t kept() const noexcept { return kept_count_; }
  std::uint32_t in_inbox() const noexcept {
    return inbox_ ? inbox_->count.load(std::memory_order_relaxed) : 0;
  }
  std::uint32_t left() const noexcept { return current_ ? blocks - next_ : 0; }
  std::size_t from_heap() const noexcept { return from_heap_; }

 private:
  // Where other threads give a thread's slabs back. Its own line: they write it.
  struct alignas(64) inbox {
    std::atomic<slab*> head{nullptr};  // `closed()`: the home thread exited
    std::atomic<std::uint32_t> count{0};
    // The home thread's, plus one per slab that has this home and is not
    // back in the heap: the last one frees the inbox.
    std::atomic<std::size_t> refs{1};
    void release(std::size_t n) noexcept {
      if (refs.fetch_sub(n, std::memory_order_acq_rel) == n) delete this;
    }
  };
  struct alignas(64) slab {  // the count on its own line: the freeing thread writes it
    std::atomic<std::uint32_t> in_use{0};
    inbox* home;
    slab* next_kept = nullptr;
    header* block(std::uint32_t i) noexcept {
      return reinterpret_cast<header*>(reinterpret_cast<unsigned char*>(this + 1) + i * stride);
    }
  };
  static constexpr std::size_t slab_bytes = sizeof(slab) + blocks * stride;
  static slab* closed() noexcept { return reinterpret_cast<slab*>(alignof(slab)); }

  void refill() {
    if (!kept_ && inbox_ && inbox_->count.load(std::memory_order_relaxed) != 0) {
      slab* s = inbox_->head.exchange(nullptr, std::memory_order_acquire);
      std::uint32_t n = 0;
      for (; s; ++n) keep(std::exchange(s, s->next_kept));
      inbox_->count.fetch_sub(n, std::memory_order_relaxed);
    }
    slab* s;
    if (kept_) {
      s = std::exchange(kept_, kept_->next_kept);
      --kept_count_;
    } else {
      if (!inbox_) inbox_ = new inbox;
      s = ::new (::operator new (slab_bytes, std::align_val_t{alignof(slab)})) slab{};
      s->home = inbox_;
      inbox_->refs.fetch_add(1, std::memory_order_relaxed);
      ++from_heap_;
    }
    // Not seen by another thread until a block of it is handed over (a
    // release there), so relaxed.
    s->in_use.store(blocks + 1, std::memory_order_relaxed);
    if (current_) put_down(current_, 1);
    current_ = s;
    next_ = 0;
  }
  void keep(slab* s) noexcept {
    s->next_kept = std::exchange(kept_, s);
    ++kept_count_;
  }
  static void free(slab* s) noexcept { ::operator delete (s, std::align_val_t{alignof(slab)}); }
  static void to_heap(slab* s) noexcept {
    inbox* const home = s->home;
    free(s);
    home->release(1);
  }
  // `n` of `s`'s blocks, or its carver's hold, are done with.
  static void put_down(slab* s, std::uint32_t n) noexcept {
    // acq_rel: the thread that reaches zero sees every other one's writes to
    // the blocks (their destructors) before it reuses or frees them.
    if (s->in_use.fetch_sub(n, std::memory_order_acq_rel) != n) return;
    slab_cache& c = local();
    if (s->home == c.inbox_ && !c.dead_) {
      if (c.kept_count_ >= max_kept) return to_heap(s);
      return c.keep(s);
    }
    send_home(s);
  }
  // A slab whole on another thread than its home's.
  static void send_home(slab* s) noexcept {
    inbox* const home = s->home;
    slab* top = home->head.load(std::memory_order_relaxed);
    if (top == closed() || home->count.fetch_add(1, std::memory_order_relaxed) >= max_kept) {
      if (top != closed()) home->count.fetch_sub(1, std::memory_order_relaxed);
      return to_heap(s);
    }
    do {
      if (top == closed()) {
        home->count.fetch_sub(1, std::memory_order_relaxed);
        return to_heap(s);
      }
      s->next_kept = top;
    } while (!home->head.compare_exchange_weak(top, s, std::memory_order_release,
                                               std::memory_order_relaxed));
  }

  slab* current_ = nullptr;  // carved from: its blocks [next_, blocks) are free
  std::uint32_t next_ = 0;
  slab* kept_ = nullptr;  // whole slabs, for the next refills
  std::uint32_t kept_count_ = 0;
  inbox* inbox_ = nullptr;  // made with the first slab taken from the heap
  std::size_t from_heap_ = 0;
  bool dead_ = false;
};

}  // namespace detail
WORKERS_END_NAMESPACE
