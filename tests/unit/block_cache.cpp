// The per-thread block caches behind request nodes and posted operations
// (detail/op_allocator.hpp): a block freed on another thread goes back to the
// thread that took it, so a producer feeding a worker on another thread
// reuses its blocks instead of taking new ones from the heap; and a thread
// may exit while its blocks are still out (they go to the heap as they come
// back: ASan, TSan and valgrind check that nothing leaks or is used freed).

#include "support/catch.hpp"

#include <workers/detail/op_allocator.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <deque>
#include <mutex>
#include <semaphore>
#include <set>
#include <thread>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace block_cache_tests {

using cache = workers::detail::block_cache<64>;

std::vector<void*> take(std::size_t n) {
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < n; ++i) blocks.push_back(cache::local().take());
  return blocks;
}

TEST_CASE("block_cache: blocks freed on another thread go back to the thread that took them",
          "[block_cache]") {
  const std::vector<void*> first = take(32);
  std::binary_semaphore given{0}, retaken{0};
  // The other thread stays alive until the blocks are taken again: its own
  // cache must not be what hands them back to the heap.
  std::thread other([&] {
    for (void* p : first) cache::local().give(p);
    given.release();
    retaken.acquire();
  });
  given.acquire();
  const std::vector<void*> again = take(32);
  retaken.release();
  other.join();
  CHECK(std::set<void*>(first.begin(), first.end()) == std::set<void*>(again.begin(), again.end()));
  for (void* p : again) cache::local().give(p);
}

TEST_CASE("block_cache: a batch gives each owner's blocks back to it, runs of them at once",
          "[block_cache][concurrency]") {
  // Two owners, alive until they took their blocks again; the blocks come
  // back through one batch on this thread, in runs of each owner's.
  std::vector<void*> taken[2], again[2];
  std::binary_semaphore ready[2]{std::binary_semaphore{0}, std::binary_semaphore{0}};
  std::binary_semaphore given{0}, given_too{0};
  std::counting_semaphore<2> done{0};
  auto owner = [&](int i, std::binary_semaphore& go) {
    return std::thread([&, i] {
      taken[i] = take(12);
      ready[i].release();
      go.acquire();
      again[i] = take(12);
      ready[i].release();
      done.acquire();
      for (void* p : again[i]) cache::local().give(p);
    });
  };
  std::thread a = owner(0, given), b = owner(1, given_too);
  ready[0].acquire();
  ready[1].acquire();
  {
    workers::detail::block_cache<64>::batch back;
    for (std::size_t i = 0; i < 12; i += 3) {
      for (std::size_t j = i; j < i + 3; ++j) back.give(taken[0][j]);
      for (std::size_t j = i; j < i + 3; ++j) back.give(taken[1][j]);
    }
  }  // flushed
  given.release();
  given_too.release();
  ready[0].acquire();
  ready[1].acquire();
  for (int i = 0; i < 2; ++i)
    CHECK(std::set<void*>(taken[i].begin(), taken[i].end()) ==
          std::set<void*>(again[i].begin(), again[i].end()));
  done.release(2);
  a.join();
  b.join();
}

TEST_CASE("block_cache: producers feeding another thread reuse a window's worth of blocks",
          "[block_cache][concurrency]") {
  constexpr std::size_t window = 64, per_producer = 50'000, producers = 2;
  std::mutex mutex;
  std::deque<unsigned char*> channel;
  std::counting_semaphore<> queued{0};
  std::vector<std::set<void*>> seen(producers);
  std::vector<std::thread> threads;
  for (std::size_t id = 0; id < producers; ++id)
    threads.emplace_back([&, id] {
      std::counting_semaphore<window> room{window};
      for (std::size_t i = 0; i < per_producer; ++i) {
        room.acquire();
        auto* p = static_cast<unsigned char*>(cache::local().take());
        seen[id].insert(p);
        std::memset(p, static_cast<int>(id + 1), cache::block_size - sizeof(void*));
        ::new (p + cache::block_size - sizeof(void*)) void*(&room);  // the consumer frees room
        {
          std::lock_guard lock(mutex);
          channel.push_back(p);
        }
        queued.release();
      }
      // `room` outlives the consumer's last release.
      for (std::size_t i = 0; i < window; ++i) room.acquire();
    });
  std::size_t corrupted = 0;
  std::thread consumer([&] {
    for (std::size_t n = 0; n < producers * per_producer; ++n) {
      queued.acquire();
      unsigned char* p = nullptr;
      {
        std::lock_guard lock(mutex);
        p = channel.front();
        channel.pop_front();
      }
      const unsigned char id = p[0];
      if (std::count(p, p + cache::block_size - sizeof(void*), id) !=
          static_cast<std::ptrdiff_t>(cache::block_size - sizeof(void*)))
        ++corrupted;
      auto* room = *reinterpret_cast<std::counting_semaphore<window>**>(p + cache::block_size -
                                                                        sizeof(void*));
      cache::local().give(p);
      room->release();
    }
  });
  for (auto& t : threads) t.join();
  consumer.join();
  CHECK(corrupted == 0);
  // Before blocks went back to their owner: the consumer kept up to 8,192 of
  // them, and each producer took a new block for nearly every request.
  for (const auto& s : seen) CHECK(s.size() <= 2 * window);
}

TEST_CASE("block_cache: a thread may exit with its blocks still out",
          "[block_cache][concurrency]") {
  for (int round = 0; round < 50; ++round) {
    std::vector<void*> blocks;
    std::thread owner([&] { blocks = take(16); });
    owner.join();
    // Half come back on this thread, half on another, at the same time.
    std::thread other([&] {
      for (std::size_t i = 0; i < blocks.size(); i += 2) cache::local().give(blocks[i]);
    });
    for (std::size_t i = 1; i < blocks.size(); i += 2) cache::local().give(blocks[i]);
    other.join();
  }
  // And while they come back: the owner's exit races with the other thread's frees.
  for (int round = 0; round < 50; ++round) {
    std::vector<void*> blocks;
    std::binary_semaphore taken{0};
    std::thread other;
    std::thread owner([&] {
      blocks = take(16);
      taken.release();
    });
    taken.acquire();
    other = std::thread([&] {
      for (void* p : blocks) cache::local().give(p);
    });
    owner.join();
    other.join();
  }
  SUCCEED("ASan, TSan and valgrind see no leak and no use after free");
}

}  // namespace block_cache_tests
