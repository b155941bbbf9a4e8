#pragma once

// A request in the intake of a queue or a dropbox (intake.hpp): the entry and
// the link. Nodes come from a per-thread cache of their size (op_allocator.hpp)
// and go back to the cache of the thread that took them, so producers on any
// thread allocate nothing in steady state.

#include <workers/clock.hpp>
#include <workers/detail/op_allocator.hpp>

#include <cstddef>
#include <new>
#include <utility>

namespace workers::inline v0::detail {

template <class Entry>
struct entry_node {
  template <class... A>
  explicit entry_node(A&&... a) : entry(std::forward<A>(a)...) {}
  entry_node* next = nullptr;
  Entry entry;

  template <class... A>
  static entry_node* make(A&&... a) {
    void* p = allocate();
    try {
      return ::new (p) entry_node(std::forward<A>(a)...);
    } catch (...) {
      deallocate(p);
      throw;
    }
  }
  static void destroy(entry_node* n) noexcept {
    n->~entry_node();
    deallocate(n);
  }
  static void free_chain(entry_node* n) noexcept {
    if constexpr (cached()) {
      typename block_cache<block_size()>::batch back;  // a producer's blocks: one CAS
      while (n) {
        entry_node* const next = n->next;
        n->~entry_node();
        back.give(n);
        n = next;
      }
    } else {
      while (n) destroy(std::exchange(n, n->next));
    }
  }
  static std::size_t length(const entry_node* n) noexcept {
    std::size_t count = 0;
    for (; n; n = n->next) ++count;
    return count;
  }

  // Reverses a chain taken from an intake (newest first) into push order. A
  // producer reads the clock before its CAS, so two racing producers may link
  // in the other order than they read it: a push time that would go back
  // along the chain is raised to the one before it (`last`: the push time of
  // the last request taken before this chain).
  static entry_node* in_push_order(entry_node* newest, clock::time_point& last) noexcept {
    entry_node* oldest = nullptr;
    while (newest) {
      entry_node* n = std::exchange(newest, newest->next);
      n->next = std::exchange(oldest, n);
    }
    for (entry_node* p = oldest; p; p = p->next) {
      if (p->entry.pushed < last) p->entry.pushed = last;
      last = p->entry.pushed;
    }
    return oldest;
  }

 private:
  // Functions: the class is complete in their bodies.
  static constexpr std::size_t block_size() noexcept { return (sizeof(entry_node) + 63) / 64 * 64; }
  static constexpr bool cached() noexcept {
    return alignof(entry_node) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;
  }

  static void* allocate() {
    if constexpr (cached())
      return block_cache<block_size()>::local().take();
    else
      return ::operator new (sizeof(entry_node), std::align_val_t{alignof(entry_node)});
  }
  static void deallocate(void* p) noexcept {
    if constexpr (cached())
      block_cache<block_size()>::local().give(p);
    else
      ::operator delete (p, std::align_val_t{alignof(entry_node)});
  }
};

}  // namespace workers::inline v0::detail
