#pragma once

// A request in the intake of a queue or a dropbox (intake.hpp): the entry and
// its link, a Boost.Intrusive hook, so that the chains the worker keeps (a
// batch, the nodes retired until collected) are intrusive lists whose last
// node is cached (a chain joins another in O(1)). Nodes are carved from the
// pushing thread's slabs (slab_cache.hpp): a producer on any thread allocates
// once per slab at most, and nothing in steady state.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/slab_cache.hpp>

#include <boost/intrusive/slist.hpp>

#include <cstddef>
#include <new>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

namespace bi = boost::intrusive;

template <class Entry>
struct entry_node {
  using hook_type = bi::slist_member_hook<bi::link_mode<bi::normal_link>>;

  template <class... A>
  explicit entry_node(A&&... a) : entry(std::forward<A>(a)...) {}

  hook_type hook;  // the link, shared by the intake and the chains
  Entry entry;

  // A chain of nodes, oldest first: not sized (length is asked for rarely), its
  // last node cached.
  using chain = bi::slist<entry_node, bi::member_hook<entry_node, hook_type, &entry_node::hook>,
                          bi::cache_last<true>, bi::constant_time_size<false>, bi::linear<true>>;

  // The raw link, for the lock-free intake and the lock-free walk of a batch.
  static entry_node* next(const entry_node* n) noexcept {
    using traits = typename chain::value_traits;
    auto* p = traits::node_traits::get_next(traits::to_node_ptr(*const_cast<entry_node*>(n)));
    return p ? traits::to_value_ptr(p) : nullptr;
  }
  static void link(entry_node* n, entry_node* to) noexcept {
    using traits = typename chain::value_traits;
    traits::node_traits::set_next(traits::to_node_ptr(*n), to ? traits::to_node_ptr(*to) : nullptr);
  }

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
  // Destroys every node of `c`, a run of one slab's nodes with one RMW.
  static void free_chain(chain& c) noexcept {
    if constexpr (cached()) {
      typename slab_cache<block_size()>::batch back;
      c.clear_and_dispose([&](entry_node* n) {
        n->~entry_node();
        back.give(n);
      });
    } else {
      c.clear_and_dispose([](entry_node* n) { destroy(n); });
    }
  }
  // Destroys a raw chain (newest first, from an intake).
  static void free_raw(entry_node* n) noexcept {
    chain c;
    while (n) c.push_front(*std::exchange(n, next(n)));
    free_chain(c);
  }
  static std::size_t length(const entry_node* n) noexcept {
    std::size_t count = 0;
    for (; n; n = next(n)) ++count;
    return count;
  }

  // A chain taken from an intake (newest first), in push order. A producer
  // reads the clock before its CAS, so two racing producers may link in the
  // other order than they read it: a push time that would go back along the
  // chain is raised to the one before it (`last`: the push time of the last
  // request taken before this chain).
  static chain in_push_order(entry_node* newest, steady_clock::time_point& last) noexcept {
    chain c;
    while (newest) c.push_front(*std::exchange(newest, next(newest)));
    for (entry_node& n : c) {
      if (n.entry.pushed < last) n.entry.pushed = last;
      last = n.entry.pushed;
    }
    return c;
  }

 private:
  // Functions: the class is complete in their bodies.
  static constexpr std::size_t block_size() noexcept { return (sizeof(entry_node) + 15) / 16 * 16; }
  static constexpr bool cached() noexcept {
    return alignof(entry_node) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;
  }

  static void* allocate() {
    if constexpr (cached())
      return slab_cache<block_size()>::local().take();
    else
      return ::operator new (sizeof(entry_node), std::align_val_t{alignof(entry_node)});
  }
  static void deallocate(void* p) noexcept {
    if constexpr (cached())
      slab_cache<block_size()>::give(p);
    else
      ::operator delete (p, std::align_val_t{alignof(entry_node)});
  }
};

}  // namespace detail
WORKERS_END_NAMESPACE
