// Peer `threads`: one std::thread per worker, fed through a std::mutex +
// std::condition_variable + std::deque queue; B replies through std::promise.
// Only the two-thread workloads (A2, B2, R, C2, G) and D make sense for it; D uses
// bench::idle_threads (10,000) workers, not 100,000.  E (up to 100,000 workers
// on one pinned thread) and F (1,000 workers on 1 or 2 io threads) do not: one
// thread per worker means 100,000 / 1,000 OS threads, so they are not registered.
//
// R: the benchmark thread keeps bench::pipeline_depth requests in flight; the
// worker answers each into the caller's reply queue (mutex + condition variable
// + vector, notified only when it becomes non-empty), the caller takes all the
// replies that arrived in one swap and pushes one new request per reply.
//
// G: the hand-written dropbox: a mutex-guarded std::optional slot {v, n} + a
// condition variable; a put merges into a waiting slot or fills an empty one
// (notifying only then), the worker takes the whole slot under the lock.
//
// Written the way one would write it for speed: the producer notifies only
// when it makes the queue non-empty, and the worker takes the whole queue in
// one swap under the lock and processes the batch outside of it.
#include "support.hpp"

#include <condition_variable>
#include <deque>
#include <future>
#include <latch>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace {

template <class Message>
class thread_worker {
 public:
  /// Starts the thread; `handle(Message&)` runs on it for every message.
  /// `capacity` bounds the queue (push blocks while it is full).
  template <class Handler>
  thread_worker(std::size_t capacity, Handler handle, std::latch* started = nullptr)
      : capacity_(capacity), thread_([this, handle, started]() mutable {
          if (started) started->count_down();
          run(handle);
        }) {}

  ~thread_worker() { stop(); }

  thread_worker(const thread_worker&) = delete;
  thread_worker& operator=(const thread_worker&) = delete;

  void push(Message m) {
    std::unique_lock lock(mutex_);
    if (queue_.size() >= capacity_) not_full_.wait(lock, [&] { return queue_.size() < capacity_; });
    const bool was_empty = queue_.empty();
    queue_.push_back(std::move(m));
    lock.unlock();
    if (was_empty) not_empty_.notify_one();
  }

  /// Asks the thread to finish (after draining) without waiting.
  void request_stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    not_empty_.notify_one();
  }

  void stop() {
    if (!thread_.joinable()) return;
    request_stop();
    thread_.join();
  }

 private:
  template <class Handler>
  void run(Handler& handle) {
    std::deque<Message> batch;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        not_empty_.wait(lock, [&] { return !queue_.empty() || stopping_; });
        if (queue_.empty()) return;  // stopping and drained
        batch.swap(queue_);
      }
      if (capacity_ != unbounded) not_full_.notify_one();
      for (auto& m : batch) handle(m);
      batch.clear();
    }
  }

 public:
  static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<Message> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after everything above is constructed
};

using value_worker = thread_worker<std::uint64_t>;

void fire(benchmark::State& state, std::size_t capacity) {
  for (auto _ : state) {
    // The worker's counters: a line of their own, away from the producer's stack.
    struct alignas(64) {
      std::uint64_t sum = 0;
      std::size_t got = 0;
      bench::stamp end;
    } c;
    bench::stamp begin;
    {
      std::latch started{1};
      value_worker w(
          capacity,
          [&c](std::uint64_t v) {
            c.sum += v;
            if (++c.got == bench::fire_count) c.end = bench::stamp::now();
          },
          &started);
      started.wait();
      begin = bench::stamp::now();
      for (std::uint64_t i = 0; i < bench::fire_count; ++i) w.push(i);
    }  // joins the worker
    if (c.sum != bench::expected_sum(bench::fire_count)) return bench::fail(state, "wrong sum");
    bench::record(state, begin, c.end, bench::fire_count);
  }
}

struct echo_request {
  std::uint64_t value;
  std::promise<std::uint64_t> reply;
};

void roundtrip(benchmark::State& state) {
  for (auto _ : state) {
    bool ok = true;
    bench::stamp begin, end;
    {
      std::latch started{1};
      thread_worker<echo_request> w(
          thread_worker<echo_request>::unbounded,
          [](echo_request& r) { r.reply.set_value(r.value + 1); }, &started);
      started.wait();
      begin = bench::stamp::now();
      for (std::uint64_t i = 0; i < bench::roundtrip_count; ++i) {
        std::promise<std::uint64_t> p;
        auto reply = p.get_future();
        w.push(echo_request{i, std::move(p)});
        ok = ok && reply.get() == i + 1;
      }
      end = bench::stamp::now();
    }
    if (!ok) return bench::fail(state, "wrong reply");
    bench::record(state, begin, end, bench::roundtrip_count);
  }
}

// R: the benchmark thread keeps bench::pipeline_depth requests in flight; each
// carries the caller's reply queue, which the worker appends {v, v + 1} to.
struct answer {
  std::uint64_t value;
  std::uint64_t reply;
};

struct reply_queue {
  std::mutex mutex;
  std::condition_variable not_empty;
  std::vector<answer> replies;

  void push(answer a) {
    std::unique_lock lock(mutex);
    const bool was_empty = replies.empty();
    replies.push_back(a);
    lock.unlock();
    if (was_empty) not_empty.notify_one();
  }

  /// Waits for at least one reply and swaps all that arrived into `out`.
  void take(std::vector<answer>& out) {
    out.clear();
    std::unique_lock lock(mutex);
    not_empty.wait(lock, [&] { return !replies.empty(); });
    out.swap(replies);
  }
};

struct pipelined_request {
  std::uint64_t value;
  reply_queue* replies;
};

void pipelined(benchmark::State& state) {
  for (auto _ : state) {
    bool ok = true;
    bench::stamp begin, end;
    {
      reply_queue replies;
      replies.replies.reserve(bench::pipeline_depth);
      std::vector<answer> taken;
      taken.reserve(bench::pipeline_depth);
      std::latch started{1};
      thread_worker<pipelined_request> w(
          thread_worker<pipelined_request>::unbounded,
          [](pipelined_request& r) {
            r.replies->push(answer{r.value, r.value + 1});
          },
          &started);
      started.wait();
      begin = bench::stamp::now();
      std::uint64_t next = 0;
      for (; next < bench::pipeline_depth; ++next) w.push(pipelined_request{next, &replies});
      for (std::size_t answered = 0; answered < bench::pipelined_count;) {
        replies.take(taken);
        for (const answer& a : taken) {
          ok = ok && a.reply == a.value + 1;
          ++answered;
          if (next < bench::pipelined_count) w.push(pipelined_request{next++, &replies});
        }
      }
      end = bench::stamp::now();
      ok = ok && next == bench::pipelined_count;
    }
    if (!ok) return bench::fail(state, "wrong reply");
    bench::record(state, begin, end, bench::pipelined_count);
  }
}

void idle(benchmark::State& state) {
  for (auto _ : state)
    for (int round = 0; round < 2; ++round) {
      const std::size_t n = bench::idle_threads;
      bench::idle_run run(n, round);
      std::vector<std::unique_ptr<value_worker>> table;
      table.reserve(n);
      std::vector<std::uint64_t> sums(n, 0);
      std::latch started{static_cast<std::ptrdiff_t>(n)};
      run.launch_begin();
      for (std::size_t i = 0; i < n; ++i)
        table.push_back(std::make_unique<value_worker>(
            value_worker::unbounded, [&sums, i](std::uint64_t v) { sums[i] += v; }, &started));
      started.wait();  // every thread is running (and about to wait for work)
      run.launch_end();
      run.shutdown_begin();
      for (auto& w : table) w->request_stop();
      table.clear();  // joins
      run.shutdown_end();
      run.record(state);
      bench::label(state, "10000 workers (threads peer capped at 10k)");
    }
}

// G: one worker thread, the benchmark thread puts {v = i, n = 1} into a slot
// that merges with the request still waiting there.
struct part {
  std::uint64_t v;
  std::uint64_t n;
};

void dropbox(benchmark::State& state) {
  for (auto _ : state) {
    std::mutex mutex;
    std::condition_variable filled;
    std::optional<part> slot;
    std::uint64_t sum = 0;
    std::uint64_t count = 0;
    bench::stamp begin, end;
    std::latch started{1};
    std::thread worker([&] {
      started.count_down();
      std::uint64_t s = 0;
      std::uint64_t c = 0;
      while (c < bench::fire_count) {
        part taken;
        {
          std::unique_lock lock(mutex);
          filled.wait(lock, [&] { return slot.has_value(); });
          taken = *slot;
          slot.reset();
        }
        s += taken.v;
        c += taken.n;
      }
      end = bench::stamp::now();
      sum = s;
      count = c;
    });
    started.wait();
    begin = bench::stamp::now();
    for (std::uint64_t i = 0; i < bench::fire_count; ++i) {
      bool was_empty = false;
      {
        std::lock_guard lock(mutex);
        if (slot) {
          slot->v += i;
          slot->n += 1;
        } else {
          slot.emplace(part{i, 1});
          was_empty = true;
        }
      }
      if (was_empty) filled.notify_one();
    }
    worker.join();
    if (count != bench::fire_count || sum != bench::expected_sum(bench::fire_count))
      return bench::fail(state, "wrong sum");
    bench::record(state, begin, end, bench::fire_count);
  }
}

[[maybe_unused]] const bool registered = [] {
  using enum bench::workload;
  bench::add(A2, "threads", [](benchmark::State& s) { fire(s, value_worker::unbounded); });
  bench::add(B2, "threads", roundtrip);
  bench::add(R, "threads", pipelined);
  bench::add(C2, "threads", [](benchmark::State& s) { fire(s, bench::bounded_capacity); });
  bench::add(D, "threads", idle);
  bench::add(G, "threads", dropbox);
  return true;
}();

}  // namespace
