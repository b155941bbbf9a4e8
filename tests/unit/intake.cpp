// The lock-free intake of queue workers (detail/intake.hpp), on its own and
// hard: producers recycle a few nodes each, so that the same addresses come
// back at once (ABA), and the consumer parks whenever it finds the intake
// empty (the empty race: a push and a park at the same moment). Every node
// pushed is taken once, each producer's in its order, and every park ends by
// exactly one wake-up, from a push or from an unpark.

#include "support/catch.hpp"

#include <workers/detail/intake.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace intake_tests {

using workers::detail::intake;

struct item {
  item* next = nullptr;
  std::size_t producer = 0;
  std::size_t seq = 0;
  // The raw link, as the intake sets it.
  static void link(item* i, item* to) noexcept { i->next = to; }
};

// A producer's few nodes: taken by the producer, given back by the consumer.
class pool {
 public:
  explicit pool(std::size_t n) : nodes_(n) {
    for (auto& i : nodes_) free_.push_back(&i);
  }
  item* take() {
    std::lock_guard lock(mutex_);
    if (free_.empty()) return nullptr;
    item* i = free_.back();
    free_.pop_back();
    return i;
  }
  void give(item* i) {
    std::lock_guard lock(mutex_);
    free_.push_back(i);
  }

 private:
  std::vector<item> nodes_;
  std::mutex mutex_;
  std::vector<item*> free_;
};

constexpr std::size_t producers = 3;
constexpr std::size_t per_producer = 50'000;
constexpr auto watchdog = std::chrono::seconds(60);

item* in_push_order(item* newest) {
  item* oldest = nullptr;
  while (newest) {
    item* n = newest;
    newest = n->next;
    n->next = oldest;
    oldest = n;
  }
  return oldest;
}

TEST_CASE("intake: every push is taken once and in order, and every park ends by one wake-up",
          "[intake][concurrency]") {
  intake<item> in;
  std::deque<pool> pools;
  for (std::size_t p = 0; p < producers; ++p) pools.emplace_back(4);

  std::counting_semaphore<> wake(0);
  std::atomic<std::size_t> woke_by_push{0}, woke_by_unpark{0};
  std::atomic<bool> done{false};

  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (std::size_t s = 0; s < per_producer; ++s) {
        item* i = nullptr;
        while (!(i = pools[p].take())) std::this_thread::yield();
        i->producer = p;
        i->seq = s;
        if (in.push(i) == intake<item>::pushed::woke) {
          woke_by_push.fetch_add(1);
          wake.release();
        }
      }
    });
  // The close and the idle timeout also end a park, racing with the pushes.
  threads.emplace_back([&] {
    while (!done.load())
      if (in.unpark()) {
        woke_by_unpark.fetch_add(1);
        wake.release();
      } else {
        std::this_thread::yield();
      }
  });

  std::vector<std::size_t> next_seq(producers, 0);
  std::size_t taken = 0, parks = 0;
  bool lost = false, out_of_order = false;
  while (taken < producers * per_producer) {
    item* chain = in_push_order(in.take());
    if (!chain) {
      if (in.park()) {
        ++parks;
        if (!wake.try_acquire_for(watchdog)) {
          lost = true;
          break;
        }
      }
      continue;
    }
    while (chain) {
      item* i = chain;
      chain = chain->next;
      if (i->seq != next_seq[i->producer]) out_of_order = true;
      next_seq[i->producer] = i->seq + 1;
      ++taken;
      pools[i->producer].give(i);
    }
  }
  done.store(true);
  for (auto& t : threads) t.join();

  REQUIRE_FALSE(lost);
  REQUIRE_FALSE(out_of_order);
  CHECK(taken == producers * per_producer);
  for (std::size_t p = 0; p < producers; ++p) CHECK(next_seq[p] == per_producer);
  // One wake-up per park: none lost (the watchdog), none twice.
  CHECK(woke_by_push.load() + woke_by_unpark.load() == parks);
  CHECK_FALSE(wake.try_acquire());
  CHECK(parks > 0);
}

TEST_CASE("intake: a seal racing with producers loses no push and lets none in after it",
          "[intake][concurrency]") {
  intake<item> in;
  std::vector<std::vector<item>> nodes(producers, std::vector<item>(per_producer));
  std::vector<std::size_t> linked(producers, 0);
  std::atomic<bool> go{false};
  std::atomic<std::size_t> refused{0}, pushed{0};

  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      while (!go.load()) std::this_thread::yield();
      for (std::size_t s = 0; s < per_producer; ++s) {
        item& i = nodes[p][s];
        i.producer = p;
        i.seq = s;
        if (in.push(&i) == intake<item>::pushed::sealed) {
          refused.fetch_add(1);
          CHECK(in.push(&i) == intake<item>::pushed::sealed);  // sealed for good
          return;
        }
        linked[p] = s + 1;
        pushed.fetch_add(1);
      }
    });

  go.store(true);
  std::vector<std::size_t> next_seq(producers, 0);
  bool out_of_order = false;
  auto consume = [&](item* chain) {
    for (item* i = in_push_order(chain); i; i = i->next) {
      if (i->seq != next_seq[i->producer]) out_of_order = true;
      next_seq[i->producer] = i->seq + 1;
    }
  };
  // Take batches while the producers run, then seal in the middle of the stream.
  while (pushed.load() < producers * per_producer / 2) consume(in.take());
  consume(in.seal());
  for (auto& t : threads) t.join();

  CHECK_FALSE(out_of_order);
  CHECK(in.take() == nullptr);
  CHECK_FALSE(in.park());  // a sealed intake never parks, so nothing waits for a wake-up
  // What got in was taken, by a batch or by the seal; nothing else got in.
  for (std::size_t p = 0; p < producers; ++p) CHECK(next_seq[p] == linked[p]);
}

}  // namespace intake_tests
