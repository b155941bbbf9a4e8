// The slabs request nodes are carved from (detail/slab_cache.hpp): carved in
// order; whole again wherever their last block is freed, and back with the
// thread that took them from the heap (its home), so a producer feeding a
// worker on another thread allocates nothing in steady state; bounded on both
// sides, so a burst goes back to the heap; and a home may exit while its
// slabs are still out (ASan, TSan and valgrind check that nothing leaks or is
// used freed).

#include "support/catch.hpp"

#include <workers/detail/slab_cache.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <semaphore>
#include <set>
#include <thread>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace slab_cache_tests {

using cache = workers::detail::slab_cache<48>;
constexpr std::size_t per_slab = cache::blocks;

std::vector<void*> take(std::size_t n) {
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < n; ++i) {
    blocks.push_back(cache::local().take());
    std::memset(blocks.back(), 0x5a, cache::block_size);  // writable, all of it
  }
  return blocks;
}
void give(const std::vector<void*>& blocks) {
  cache::batch back;
  for (void* p : blocks) back.give(p);
}

// Takes the blocks left in this thread's slab, and those of its whole slabs:
// its next block comes from a new slab from the heap.
std::vector<void*> take_all_but_heap() {
  cache& c = cache::local();
  std::vector<void*> held = take(c.left());
  while (c.kept() + c.in_inbox() != 0) {
    std::vector<void*> more = take(per_slab);
    held.insert(held.end(), more.begin(), more.end());
  }
  return held;
}

TEST_CASE("slab_cache: a slab's blocks are carved in order, one slab after another",
          "[slab_cache]") {
  give(take(cache::local().left()));  // start on a new slab
  const std::vector<void*> blocks = take(per_slab + 1);
  const auto at = [&](std::size_t i) { return reinterpret_cast<std::uintptr_t>(blocks[i]); };
  for (std::size_t i = 1; i < per_slab; ++i) CHECK(at(i) - at(i - 1) == cache::stride);
  CHECK(at(per_slab) - at(per_slab - 1) != cache::stride);
  give(blocks);
}

TEST_CASE("slab_cache: slabs freed on another thread go back to the thread that carved them",
          "[slab_cache][concurrency]") {
  const std::vector<void*> held = take_all_but_heap();
  const std::size_t from_heap = cache::local().from_heap();
  const std::vector<void*> first = take(3 * per_slab);
  CHECK(cache::local().from_heap() == from_heap + 3);
  std::binary_semaphore given{0}, retaken{0};
  // The other thread stays alive until the slabs are carved again: its own
  // cache must not be what hands them back to the heap.
  std::thread other([&] {
    give(first);
    CHECK(cache::local().kept() == 0);  // not its own
    given.release();
    retaken.acquire();
  });
  given.acquire();
  // The first two slabs are whole (the third is still carved from here).
  CHECK(cache::local().in_inbox() == 2);
  CHECK(cache::local().kept() == 0);
  const std::vector<void*> again = take(3 * per_slab);
  retaken.release();
  other.join();
  CHECK(cache::local().from_heap() == from_heap + 3);
  CHECK(std::set<void*>(first.begin(), first.end()) == std::set<void*>(again.begin(), again.end()));
  give(again);
  give(held);
}

TEST_CASE("slab_cache: a burst goes back to the heap beyond a few slabs, on either side",
          "[slab_cache][concurrency]") {
  constexpr std::size_t burst = 40 * per_slab;
  static_assert(40 > 2 * cache::max_kept);
  // Freed on this thread: it keeps max_kept.
  give(take(burst));
  CHECK(cache::local().kept() == cache::max_kept);
  // Freed on another: the inbox takes max_kept, the freer's heap the rest,
  // and this thread's next slab comes from the inbox (kept ones first).
  const std::vector<void*> blocks = take(burst + cache::max_kept * per_slab);
  CHECK(cache::local().kept() == 0);
  std::thread([&] { give(blocks); }).join();
  CHECK(cache::local().in_inbox() == cache::max_kept);
  give(take(2 * per_slab));
  CHECK(cache::local().in_inbox() == 0);
  CHECK(cache::local().kept() <= cache::max_kept);
}

TEST_CASE("slab_cache: a thread may exit with its blocks still out, or free others' and exit",
          "[slab_cache][concurrency]") {
  std::vector<void*> orphans;
  std::thread([&] { orphans = take(per_slab + 5); }).join();  // its home is gone
  std::vector<void*> mine = take(2 * per_slab);
  std::thread([&] { give(mine); }).join();  // to this thread's inbox, from another thread
  give(orphans);                            // to the heap: the last one frees its inbox
  CHECK(cache::local().in_inbox() >= 1);
  give(take(3 * per_slab));
}

TEST_CASE("slab_cache: producers feeding another thread reuse their slabs, blocks intact",
          "[slab_cache][concurrency]") {
  constexpr std::size_t window = 256, per_producer = 50'000, producers = 2;
  struct channel {
    std::counting_semaphore<window> room{window};
    std::counting_semaphore<window> ready{0};
    void* slots[window] = {};
  };
  std::vector<channel> channels(producers);
  std::vector<std::size_t> from_heap(producers);
  std::vector<std::thread> threads;
  for (std::size_t id = 0; id < producers; ++id)
    threads.emplace_back([&, id] {
      const std::size_t before = cache::local().from_heap();
      for (std::size_t i = 0; i < per_producer; ++i) {
        channels[id].room.acquire();
        void* p = cache::local().take();
        std::memset(p, static_cast<int>(id + 1), cache::block_size);
        channels[id].slots[i % window] = p;
        channels[id].ready.release();
      }
      from_heap[id] = cache::local().from_heap() - before;
    });
  std::size_t corrupted = 0;
  std::thread consumer([&] {
    cache::batch back;
    for (std::size_t i = 0; i < per_producer; ++i)
      for (std::size_t id = 0; id < producers; ++id) {
        channels[id].ready.acquire();
        auto* p = static_cast<unsigned char*>(channels[id].slots[i % window]);
        for (std::size_t b = 0; b < cache::block_size; ++b) corrupted += p[b] != id + 1;
        back.give(p);
        channels[id].room.release();
      }
  });
  for (auto& t : threads) t.join();
  consumer.join();
  CHECK(corrupted == 0);
  // A window in flight is a few slabs; whole ones come back to be carved
  // again: a few from the heap, not one per 64 blocks.
  for (std::size_t n : from_heap) CHECK(n <= window / per_slab + cache::max_kept);
}

}  // namespace slab_cache_tests
