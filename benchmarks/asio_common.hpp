// Plumbing shared by the raw-Asio peers (asio_naive, asio_try_first,
// asio_handler_reply).  Only the set-up / run / tear-down skeletons live here;
// the per-message code of each peer is written out in its own file.
#pragma once

#include "support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <latch>
#include <memory>
#include <thread>
#include <vector>

namespace bench::asio_peer {

namespace asio = boost::asio;
using asio::use_awaitable;
using boost::system::error_code;

using value_sig = void(error_code, std::uint64_t);
/// Single-thread workloads: no locking.
using local_channel = asio::experimental::channel<value_sig>;
/// Two-thread workloads: mutex-protected channel.
using shared_channel = asio::experimental::concurrent_channel<value_sig>;

/// A1 / C1 skeleton: worker on a strand, producer on the plain executor, both
/// on one io_context (hint 1) run by the (pinned) benchmark thread.
/// `worker(ch, sum, end, ready)` and `producer(ch, begin)` return awaitables.
template <class Worker, class Producer>
void fire_one_thread(benchmark::State& state, std::size_t capacity, Worker worker,
                     Producer producer) {
  bench::pin_cpu pin;
  for (auto _ : state) {
    asio::io_context ctx{1};
    local_channel ch{ctx, capacity};
    std::uint64_t sum = 0;
    bench::stamp begin, end;
    asio::co_spawn(asio::make_strand(ctx), worker(ch, sum, end, nullptr), asio::detached);
    asio::co_spawn(ctx, producer(ch, begin), asio::detached);
    ctx.run();
    if (sum != bench::expected_sum(bench::fire_count)) return bench::fail(state, "wrong sum");
    bench::record(state, begin, end, bench::fire_count);
  }
}

/// A2 / C2 skeleton: worker io_context run by a std::thread, producer
/// coroutine on a second io_context run by the benchmark thread.
template <class Worker, class Producer>
void fire_two_threads(benchmark::State& state, std::size_t capacity, Worker worker,
                      Producer producer) {
  for (auto _ : state) {
    asio::io_context worker_ctx{1};
    asio::io_context producer_ctx{1};
    shared_channel ch{worker_ctx, capacity};
    std::uint64_t sum = 0;
    bench::stamp begin, end;
    std::latch ready{1};
    asio::co_spawn(asio::make_strand(worker_ctx), worker(ch, sum, end, &ready), asio::detached);
    std::thread worker_thread([&] { worker_ctx.run(); });
    ready.wait();
    asio::co_spawn(producer_ctx, producer(ch, begin), asio::detached);
    producer_ctx.run();
    worker_thread.join();
    if (sum != bench::expected_sum(bench::fire_count)) return bench::fail(state, "wrong sum");
    bench::record(state, begin, end, bench::fire_count);
  }
}

/// B1 skeleton: `setup(ctx, ctx)` returns a state object holding the channels;
/// `worker(st, ready)` / `caller(st, begin, end, ok)` return awaitables.
template <class Setup, class Worker, class Caller>
void roundtrip_one_thread(benchmark::State& state, Setup setup, Worker worker, Caller caller) {
  bench::pin_cpu pin;
  for (auto _ : state) {
    asio::io_context ctx{1};
    auto st = setup(ctx, ctx);
    bench::stamp begin, end;
    bool ok = true;
    asio::co_spawn(asio::make_strand(ctx), worker(*st, nullptr), asio::detached);
    asio::co_spawn(ctx, caller(*st, begin, end, ok), asio::detached);
    ctx.run();
    if (!ok || end.time == bench::clock::time_point{}) return bench::fail(state, "wrong reply");
    bench::record(state, begin, end, bench::roundtrip_count);
  }
}

/// B2 skeleton: `setup(worker_ctx, caller_ctx)`.
template <class Setup, class Worker, class Caller>
void roundtrip_two_threads(benchmark::State& state, Setup setup, Worker worker, Caller caller) {
  for (auto _ : state) {
    asio::io_context worker_ctx{1};
    asio::io_context caller_ctx{1};
    auto st = setup(worker_ctx, caller_ctx);
    bench::stamp begin, end;
    bool ok = true;
    std::latch ready{1};
    asio::co_spawn(asio::make_strand(worker_ctx), worker(*st, &ready), asio::detached);
    std::thread worker_thread([&] { worker_ctx.run(); });
    ready.wait();
    asio::co_spawn(caller_ctx, caller(*st, begin, end, ok), asio::detached);
    caller_ctx.run();
    worker_thread.join();
    if (!ok || end.time == bench::clock::time_point{}) return bench::fail(state, "wrong reply");
    bench::record(state, begin, end, bench::roundtrip_count);
  }
}

/// D: one idle worker = a channel + a coroutine on its own strand.
struct idle_worker {
  explicit idle_worker(asio::io_context& ctx) : ch(ctx, bench::unbounded_capacity) {}
  local_channel ch;
  std::uint64_t sum = 0;
};

/// D skeleton: `loop(worker, alive)` returns the worker's awaitable; it must
/// decrement `alive` when it exits (the channel is closed to stop it).
template <class Loop>
void idle(benchmark::State& state, Loop loop) {
  bench::pin_cpu pin;
  for (auto _ : state)
    for (int round = 0; round < 2; ++round) {
      const std::size_t n = bench::idle_workers;
      bench::idle_run run(n, round);
      std::size_t alive = n;
      {
        asio::io_context ctx{1};
        std::vector<std::unique_ptr<idle_worker>> table;
        table.reserve(n);
        run.launch_begin();
        for (std::size_t i = 0; i < n; ++i) {
          table.push_back(std::make_unique<idle_worker>(ctx));
          asio::co_spawn(asio::make_strand(ctx), loop(*table.back(), alive), asio::detached);
        }
        ctx.poll();  // every worker runs up to its first (idle) co_await
        run.launch_end();
        run.shutdown_begin();
        for (auto& w : table) w->ch.close();
        ctx.run();  // every worker observes the close and returns
        table.clear();
        run.shutdown_end();
      }
      if (alive != 0) return bench::fail(state, "workers did not stop");
      run.record(state);
      bench::label(state, "100000 workers");
    }
}

}  // namespace bench::asio_peer
