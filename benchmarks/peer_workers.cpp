// Peer `workers`: the library itself.  One group ("bench", workers named by a
// std::size_t) whose only request `value` carries a std::uint64_t; the state is
// the running sum.  The handler is a plain function (no coroutine frame): it
// adds the value to `workers::state(self)` and answers v + 1.
//
//   A1/A2  push_request_now (infinite queue, synchronous, never blocks); A1's
//          producer coroutine yields every bench::unbounded_capacity pushes,
//          as the channel peers' producers do when their channel is full.
//   B1/B2  co_await push_request_and_wait from a caller coroutine; B1 also with
//          launch_options::reply = reply_mode::dispatch ("workers_dispatch").
//   R      bench::pipeline_depth caller coroutines on the caller's io_context,
//          each looping co_await push_request_and_wait.
//   E      bench::scale_workers workers in one table on one thread, requests
//          round-robin; F  1,000 workers, two producer threads, 1 or 2 io
//          threads; G  a merging_dropbox worker whose merge adds the puts up.
//   C1/C2  bounded_queue{bench::bounded_capacity}: try_push_request_now first;
//          when full, co_await push_request (C1) or push_request with a
//          callback that releases a semaphore the producer thread waits on (C2).
//   D      bench::idle_workers workers launched into one table, then
//          trigger_shutdown for all and wait_for_completion for each.
//   S1/S2  bench::drain_count requests queued before the loop runs, then
//          handled by shutdown(w, drain) (S1) or by the running worker (S2).
//   K      a group with a control request (`ping`): pushed from the benchmark
//          thread while the worker works through its backlog (after a first
//          one, not measured, pushed after the backlog: it touches the memory
//          the measured one is carved from, as a warm heap would; on this VM a
//          page fault is 5 us).
//   T1/T2  a transient worker crashing and restarting bench::restart_rounds
//          times, each time with one request queued behind the crash (T1);
//          as many fresh launches, each with its first request (T2).
//
// Every worker is shut down (and awaited) before its io_context is destroyed.
// Launching, and the shutdown at the end of A/B/C, happen outside [begin, end].
#include "support.hpp"

#include <workers/workers.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// The producer coroutine of A1, C1 and E waits for the worker's last request
// on a channel, not a timer: a timer starts the io_context's reactor, which
// then polls epoll at every round of posted handlers (a system call per 32
// requests in C1), and the channel peers have no reactor.
using done_signal = asio::experimental::channel<void(error_code)>;

// The group.

struct bench_name {
  static constexpr std::string_view base[] = {"bench"};
  using type = std::size_t;
};

struct value {
  using result_type = std::uint64_t;
  using error_type = int;
  std::uint64_t v;
};

struct bench_requests {
  using types = workers::request_types<value>;
  using view_type = std::uint64_t;
  static std::uint64_t view(const value& r) { return r.v; }
};

struct bench_types {
  using state_type = std::uint64_t;  // the sum
  using parameters_type = int;
  using view_type = std::uint64_t;
  static std::uint64_t view(const std::uint64_t& s, const int&) { return s; }
};

using group = workers::make_single<bench_name, bench_requests, bench_types>;
using kind = workers::queue<workers::infinite>;
using W = group::worker<kind>;
using table_t = group::table<kind>;
using bounded_kind = workers::queue<workers::bounded>;

// What the A and C workloads observe from inside the worker.  Written on the
// worker's strand only; read by the benchmark after a synchronisation (same
// thread, the latch, or the signal's completion).  A line of their own: they
// live on the producer's stack, which A2 and C2 write from the other thread.
struct alignas(64) fire_counters {
  std::size_t got = 0;
  std::uint64_t sum = 0;  // the state, copied when the batch is complete
  bench::stamp end{};
  done_signal* done = nullptr;     // A1/C1: wakes the producer coroutine
  std::latch* finished = nullptr;  // A2/C2: wakes the producer thread
};

struct sum_handlers {
  fire_counters* counters = nullptr;  // null for B and D

  template <class Self>  // W or BW
  workers::result<std::uint64_t, int> on_request(Self& self, const value& r) {
    std::uint64_t& s = workers::state(self);
    s += r.v;
    if (counters && ++counters->got == bench::fire_count) {
      counters->end = bench::stamp::now();
      counters->sum = s;
      if (counters->done) counters->done->try_send(error_code{});
      if (counters->finished) counters->finished->count_down();
    }
    return {boost::system::in_place_value, r.v + 1};  // T and E are both integers
  }
};

// Launches worker 0 of `table` on `ex` from a non-io thread and waits until its
// loop is parked (with_state runs on the strand after the loop's first step).
template <class Kind>
group::worker<Kind> launch_blocking(const group::table<Kind>& table,
                                    const asio::io_context::executor_type& ex,
                                    const sum_handlers& handlers, std::thread& runner,
                                    asio::io_context& ctx) {
  auto launched = workers::launch(table, ex, std::size_t{0}, 0, handlers, asio::use_future);
  runner = std::thread([&ctx] { ctx.run(); });
  auto r = launched.get();
  if (!r.has_value()) return group::worker<Kind>{};
  group::worker<Kind> w = *r;
  workers::with_state(
      w, [](std::uint64_t&) {}, asio::use_future)
      .get();
  return w;
}

// A and C: fire and forget, on an infinite (A) or a bounded (C) queue.

// `Metrics`: the table keeps per-worker metrics (the "workers_metrics" rows).
template <class Kind, bool Metrics = false>
group::table<Kind> make_table() {
  const workers::table_options options{.metrics = Metrics};
  if constexpr (std::is_same_v<Kind, bounded_kind>)
    return group::create_table(workers::bounded_queue{bench::bounded_capacity}, options);
  else
    return group::create_table(workers::infinite_queue{}, options);
}

// From a plain thread: blocks until admitted when the bounded queue is full.
template <class Kind>
void push_one_blocking(const group::worker<Kind>& w, std::uint64_t i) {
  if constexpr (std::is_same_v<Kind, bounded_kind>) {
    if (!workers::try_push_request_now(w, value{i})) {
      // The completion runs on the worker's strand (the handler has no
      // executor of its own) and wakes this thread directly; use_future would
      // add a hop through the system executor's thread pool.
      std::binary_semaphore admitted{0};
      workers::push_request(w, value{i}, [&admitted](error_code) { admitted.release(); });
      admitted.acquire();
    }
  } else {
    workers::push_request_now(w, value{i});
  }
}

// A1/C1: producer coroutine and worker on one thread.
template <class Kind>
asio::awaitable<void> one_thread_producer(group::table<Kind> table, fire_counters& c,
                                          bench::stamp& begin, bool& ok) {
  auto ex = co_await asio::this_coro::executor;
  sum_handlers handlers{&c};
  auto launched = co_await workers::launch(table, ex, std::size_t{0}, 0, handlers);
  if (!launched.has_value()) co_return;
  group::worker<Kind> w = *launched;
  done_signal done(ex, 1);
  c.done = &done;

  begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::fire_count; ++i) {
    if constexpr (std::is_same_v<Kind, bounded_kind>) {
      if (!workers::try_push_request_now(w, value{i})) co_await workers::push_request(w, value{i});
    } else {
      workers::push_request_now(w, value{i});
      // Hands the thread over as often as the channel peers do when their
      // channel of unbounded_capacity is full; without it the worker would
      // only start after a backlog of fire_count requests (see README).
      if ((i + 1) % bench::unbounded_capacity == 0) co_await asio::post(ex, asio::use_awaitable);
    }
  }
  if (c.got < bench::fire_count) {
    error_code ec;
    co_await done.async_receive(asio::redirect_error(asio::use_awaitable, ec));
  }
  c.done = nullptr;
  co_await workers::shutdown(w);  // throws on error
  ok = table.size() == 0;
}

template <class Kind, bool Metrics = false>
void fire_one_thread(benchmark::State& state) {
  bench::pin_cpu pin;
  for (auto _ : state) {
    asio::io_context ctx{1};
    auto table = make_table<Kind, Metrics>();
    fire_counters c;
    bench::stamp begin;
    bool ok = false;
    asio::co_spawn(ctx, one_thread_producer<Kind>(table, c, begin, ok), asio::detached);
    ctx.run();
    if (!ok || c.got != bench::fire_count) return bench::fail(state, "worker did not finish");
    if (c.sum != bench::expected_sum(bench::fire_count)) return bench::fail(state, "wrong sum");
    bench::record(state, begin, c.end, bench::fire_count);
  }
}

// A2/C2: producer on the benchmark thread, worker on another.
template <class Kind>
void fire_two_threads(benchmark::State& state) {
  for (auto _ : state) {
    asio::io_context ctx{1};
    auto table = make_table<Kind>();
    std::latch finished{1};
    fire_counters c;
    c.finished = &finished;
    const sum_handlers handlers{&c};
    std::thread runner;
    const auto w = launch_blocking(table, ctx.get_executor(), handlers, runner, ctx);
    if (!w) {
      runner.join();
      return bench::fail(state, "launch failed");
    }

    const bench::stamp begin = bench::stamp::now();
    for (std::uint64_t i = 0; i < bench::fire_count; ++i) push_one_blocking(w, i);
    finished.wait();

    workers::shutdown(w, asio::use_future).get();  // throws on error
    runner.join();
    if (table.size() != 0) return bench::fail(state, "shutdown failed");
    if (c.sum != bench::expected_sum(bench::fire_count)) return bench::fail(state, "wrong sum");
    bench::record(state, begin, c.end, bench::fire_count);
  }
}

// B: push_request_and_wait round trips.

asio::awaitable<void> round_trips(W w, bench::stamp& begin, bench::stamp& end, bool& ok) {
  begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::roundtrip_count; ++i) {
    auto r = co_await workers::push_request_and_wait(w, value{i});
    ok = ok && r.has_value() && *r == i + 1;
  }
  end = bench::stamp::now();
}

asio::awaitable<void> b1_caller(table_t table, workers::reply_mode reply, bench::stamp& begin,
                                bench::stamp& end, bool& ok) {
  auto ex = co_await asio::this_coro::executor;
  const sum_handlers handlers{};
  auto launched = co_await workers::launch(table, ex, std::size_t{0}, 0, handlers,
                                           workers::launch_options{.reply = reply});
  if (!launched.has_value()) {
    ok = false;
    co_return;
  }
  W w = *launched;
  co_await round_trips(w, begin, end, ok);
  co_await workers::shutdown(w);
  ok = ok && table.size() == 0;
}

template <bool Metrics = false, workers::reply_mode Reply = workers::reply_mode::post>
void b1(benchmark::State& state) {
  bench::pin_cpu pin;
  for (auto _ : state) {
    asio::io_context ctx{1};
    auto table = make_table<kind, Metrics>();
    bench::stamp begin, end;
    bool ok = true;
    asio::co_spawn(ctx, b1_caller(table, Reply, begin, end, ok), asio::detached);
    ctx.run();
    if (!ok || end.time == bench::clock::time_point{}) return bench::fail(state, "wrong reply");
    bench::record(state, begin, end, bench::roundtrip_count);
  }
}

// B2 and R: the worker on its own thread, callers on the benchmark thread's
// io_context: `spawn(w, callers)` starts them; once they are done the worker
// is shut down, outside the measured time. False if the launch or the
// shutdown failed (the benchmark then failed).
template <class Spawn>
bool across_threads(benchmark::State& state, Spawn spawn) {
  asio::io_context worker_ctx{1};
  asio::io_context caller_ctx{1};
  auto table = group::create_table(workers::infinite_queue{});
  const sum_handlers handlers{};
  std::thread runner;
  const W w = launch_blocking(table, worker_ctx.get_executor(), handlers, runner, worker_ctx);
  if (!w) {
    runner.join();
    bench::fail(state, "launch failed");
    return false;
  }
  spawn(w, caller_ctx);
  caller_ctx.run();
  workers::shutdown(w, asio::use_future).get();  // throws on error
  runner.join();
  if (table.size() == 0) return true;
  bench::fail(state, "shutdown failed");
  return false;
}

void b2(benchmark::State& state) {
  for (auto _ : state) {
    bench::stamp begin, end;
    bool ok = true;
    if (!across_threads(state, [&](W w, asio::io_context& callers) {
          asio::co_spawn(callers, round_trips(w, begin, end, ok), asio::detached);
        }))
      return;
    if (!ok || end.time == bench::clock::time_point{}) return bench::fail(state, "wrong reply");
    bench::record(state, begin, end, bench::roundtrip_count);
  }
}

// R: bench::pipeline_depth caller coroutines on the caller's io_context, each
// looping push_request_and_wait, so that pipeline_depth requests are in flight.

struct pipeline {
  std::uint64_t next = 0;    // the next value to send
  std::size_t answered = 0;  // replies received
  bench::stamp end{};
  bool ok = true;
};

asio::awaitable<void> pipelined_caller(W w, pipeline& p) {
  while (p.next < bench::pipelined_count) {
    const std::uint64_t i = p.next++;
    auto r = co_await workers::push_request_and_wait(w, value{i});
    p.ok = p.ok && r.has_value() && *r == i + 1;
    if (++p.answered == bench::pipelined_count) p.end = bench::stamp::now();
  }
}

void pipelined(benchmark::State& state) {
  for (auto _ : state) {
    pipeline p;
    bench::stamp begin;
    if (!across_threads(state, [&](W w, asio::io_context& callers) {
          begin = bench::stamp::now();
          for (std::size_t c = 0; c < bench::pipeline_depth; ++c)
            asio::co_spawn(callers, pipelined_caller(w, p), asio::detached);
        }))
      return;
    if (!p.ok || p.answered != bench::pipelined_count) return bench::fail(state, "wrong reply");
    bench::record(state, begin, p.end, bench::pipelined_count);
  }
}

// D: idle workers.

void idle(benchmark::State& state) {
  bench::pin_cpu pin;
  for (auto _ : state)
    for (int round = 0; round < 2; ++round) {
      const std::size_t n = bench::idle_workers;
      bench::idle_run run(n, round);
      std::size_t launched = 0;
      std::size_t closed = 0;
      bool table_empty = false;
      {
        asio::io_context ctx{1};
        auto table = group::create_table(workers::infinite_queue{});
        const sum_handlers handlers{};
        std::vector<W> ws(n);

        run.launch_begin();
        for (std::size_t i = 0; i < n; ++i)
          workers::launch(table, ctx.get_executor(), i, 0, handlers, [&ws, &launched, i](auto r) {
            if (!r.has_value()) return;
            ws[i] = std::move(*r);
            ++launched;
          });
        while (launched < n && ctx.poll() != 0) {
        }  // every launch answered, every loop parked on its first wait
        run.launch_end();

        run.shutdown_begin();
        for (const auto& w : ws)
          if (w) workers::trigger_shutdown(w);
        for (const auto& w : ws)
          if (w) workers::wait_for_completion(w, [&closed](error_code ec) { closed += !ec; });
        ctx.run();  // returns once every worker has closed
        table_empty = table.size() == 0;
        ws.clear();
        run.shutdown_end();
      }
      if (launched != n) return bench::fail(state, "launch failed");
      if (closed != n || !table_empty) return bench::fail(state, "workers did not stop");
      run.record(state);
      bench::label(state, "100000 workers");
    }
}

// E and F: many workers, one shared `handled` counter (plain on one thread,
// atomic across threads); each worker sums into its own state.

template <class Count>
struct scale_counters {
  Count handled{0};
  bench::stamp end{};
  done_signal* done = nullptr;     // E: wakes the producer coroutine
  std::latch* finished = nullptr;  // F: wakes the benchmark thread
};

template <class Count>
struct scale_handlers {
  scale_counters<Count>* counters;

  workers::result<std::uint64_t, int> on_request(W& self, const value& r) {
    workers::state(self) += r.v;
    if (++counters->handled == bench::fire_count) {
      counters->end = bench::stamp::now();
      if (counters->done) counters->done->try_send(error_code{});
      if (counters->finished) counters->finished->count_down();
    }
    return {boost::system::in_place_value, r.v + 1};
  }
};

// E: fire_count requests round-robin over `n` workers, one thread.
asio::awaitable<void> scale_producer(std::size_t n, scale_counters<std::size_t>& c,
                                     bench::stamp& begin, bool& ok) {
  auto ex = co_await asio::this_coro::executor;
  auto table = group::create_table(workers::infinite_queue{});
  const scale_handlers<std::size_t> handlers{&c};
  std::vector<W> ws;
  ws.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto launched = co_await workers::launch(table, ex, i, 0, handlers);
    if (!launched.has_value()) co_return;
    ws.push_back(*launched);
  }
  done_signal done(ex, 1);
  c.done = &done;

  begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::fire_count; ++i) {
    workers::push_request_now(ws[i % n], value{i});
    if ((i + 1) % bench::unbounded_capacity == 0) co_await asio::post(ex, asio::use_awaitable);
  }
  if (c.handled < bench::fire_count) {
    error_code ec;
    co_await done.async_receive(asio::redirect_error(asio::use_awaitable, ec));
  }
  c.done = nullptr;
  std::uint64_t sum = 0;
  for (const auto& w : ws)
    sum += (co_await workers::with_state(w, [](std::uint64_t& s) { return s; })).value_or(0);
  for (const auto& w : ws) workers::trigger_shutdown(w);
  for (const auto& w : ws) co_await workers::wait_for_completion(w);
  ok = sum == bench::expected_sum(bench::fire_count) && table.size() == 0;
}

void scale_in_workers(benchmark::State& state, std::size_t n) {
  bench::pin_cpu pin;
  for (auto _ : state) {
    asio::io_context ctx{1};
    scale_counters<std::size_t> c;
    bench::stamp begin;
    bool ok = false;
    asio::co_spawn(ctx, scale_producer(n, c, begin, ok), asio::detached);
    ctx.run();
    if (!ok || c.handled != bench::fire_count) return bench::fail(state, "wrong sum");
    bench::record(state, begin, c.end, bench::fire_count);
  }
}

// F: busy_workers workers, two producer threads, `threads` io threads.
void scale_in_threads(benchmark::State& state, std::size_t threads) {
  for (auto _ : state) {
    asio::io_context ctx{static_cast<int>(threads)};
    auto table = group::create_table(workers::infinite_queue{});
    std::latch finished{1};
    scale_counters<std::atomic<std::size_t>> c;
    c.finished = &finished;
    const scale_handlers<std::atomic<std::size_t>> handlers{&c};
    std::vector<W> ws(bench::busy_workers);
    std::size_t launched = 0;
    for (std::size_t i = 0; i < ws.size(); ++i)
      workers::launch(table, ctx.get_executor(), i, 0, handlers, [&ws, &launched, i](auto r) {
        if (!r.has_value()) return;
        ws[i] = std::move(*r);
        ++launched;
      });
    while (launched < ws.size() && ctx.poll() != 0) {
    }  // every launch answered, every loop parked on its first wait
    if (launched != ws.size()) return bench::fail(state, "launch failed");
    ctx.restart();
    auto guard = asio::make_work_guard(ctx);
    std::vector<std::thread> runners;
    for (std::size_t t = 0; t < threads; ++t) runners.emplace_back([&ctx] { ctx.run(); });

    constexpr std::size_t per_producer = bench::fire_count / bench::producer_threads;
    std::latch go{1};
    std::vector<std::thread> producers;
    for (std::size_t p = 0; p < bench::producer_threads; ++p)
      producers.emplace_back([&ws, &go, p] {
        go.wait();
        for (std::size_t i = 0; i < per_producer; ++i)
          workers::push_request_now(ws[(i + p) % ws.size()], value{p * per_producer + i});
      });
    const bench::stamp begin = bench::stamp::now();
    go.count_down();
    finished.wait();
    for (auto& t : producers) t.join();

    std::uint64_t sum = 0;
    for (const auto& w : ws)
      sum += workers::with_state(
                 w, [](std::uint64_t& s) { return s; }, asio::use_future)
                 .get()
                 .value_or(0);  // empty: the worker closed, and the sum is wrong
    for (const auto& w : ws) workers::trigger_shutdown(w);
    for (const auto& w : ws) workers::wait_for_completion(w, asio::use_future).get();
    guard.reset();
    for (auto& t : runners) t.join();
    if (sum != bench::expected_sum(bench::fire_count) || table.size() != 0)
      return bench::fail(state, "wrong sum");
    bench::record_rate(state, begin, c.end, bench::fire_count);
  }
}

// G: a dropbox worker absorbing fire_count puts that merge.

struct part {
  using result_type = std::uint64_t;
  using error_type = int;
  std::uint64_t v;
  std::uint64_t n;  // puts merged into this one
};

struct drop_requests {
  using types = workers::request_types<part>;
  using view_type = std::uint64_t;
  static std::uint64_t view(const part& r) { return r.v; }
};

using drop_group = workers::make_single<bench_name, drop_requests, bench_types>;
using DW = drop_group::worker<workers::dropbox>;
using drop_any = drop_group::any_request;

drop_any merge_parts(DW&, drop_any incoming, const drop_any* pending) {
  if (!pending) return incoming;
  const part& p = std::get<part>(*pending);
  const part& i = std::get<part>(incoming);
  return part{p.v + i.v, p.n + i.n};
}

struct drop_handlers {
  fire_counters* counters;

  workers::result<std::uint64_t, int> on_request(DW& self, const part& r) {
    std::uint64_t& s = workers::state(self);
    s += r.v;
    counters->got += r.n;
    if (counters->got == bench::fire_count) {
      counters->end = bench::stamp::now();
      counters->sum = s;
      counters->finished->count_down();
    }
    return {boost::system::in_place_value, 0};
  }
};

void dropbox_puts(benchmark::State& state) {
  for (auto _ : state) {
    asio::io_context ctx{1};
    auto table = drop_group::create_table(workers::merging_dropbox{merge_parts});
    std::latch finished{1};
    fire_counters c;
    c.finished = &finished;
    auto launched = workers::launch(table, ctx.get_executor(), std::size_t{0}, 0, drop_handlers{&c},
                                    asio::use_future);
    std::thread runner([&ctx] { ctx.run(); });
    auto r = launched.get();
    if (!r.has_value()) {
      runner.join();
      return bench::fail(state, "launch failed");
    }
    const DW w = *r;
    workers::with_state(
        w, [](std::uint64_t&) {}, asio::use_future)
        .get();  // the loop is parked

    const bench::stamp begin = bench::stamp::now();
    for (std::uint64_t i = 0; i < bench::fire_count; ++i) workers::put_request(w, part{i, 1});
    finished.wait();

    workers::shutdown(w, asio::use_future).get();  // throws on error
    runner.join();
    if (table.size() != 0) return bench::fail(state, "shutdown failed");
    if (c.sum != bench::expected_sum(bench::fire_count)) return bench::fail(state, "wrong sum");
    bench::record(state, begin, c.end, bench::fire_count);
  }
}

// S1/S2: a backlog handled by a drain, or while running, on one thread.

struct backlog_handlers {
  std::size_t* got;
  bench::stamp* end;
  template <class Self>
  workers::result<std::uint64_t, int> on_request(Self& self, const value& r) {
    workers::state(self) += r.v;
    if (++*got == bench::drain_count) *end = bench::stamp::now();
    return {boost::system::in_place_value, r.v + 1};
  }
};

template <bool Drain>
void backlog(benchmark::State& state) {
  bench::pin_cpu pin;
  for (auto _ : state) {
    asio::io_context ctx{1};
    auto table = make_table<kind>();
    std::size_t got = 0;
    bench::stamp end;
    std::optional<W> w;
    workers::launch(table, ctx.get_executor(), std::size_t{0}, 0, backlog_handlers{&got, &end},
                    [&](auto r) { w = r.value(); });
    while (!w) ctx.run_one();
    ctx.poll();  // the loop parks
    for (std::uint64_t i = 0; i < bench::drain_count; ++i) workers::push_request_now(*w, value{i});
    bool closed = false;
    const bench::stamp begin = bench::stamp::now();
    if constexpr (Drain) {
      workers::shutdown(*w, workers::shutdown_mode::drain,
                        [&](error_code, workers::shutdown_report r) {
                          closed = r.handled == bench::drain_count;
                        });
      ctx.run();
    } else {
      while (got < bench::drain_count) ctx.run_one();
      workers::shutdown(*w, [&](error_code) { closed = true; });
      ctx.run();
    }
    if (!closed || got != bench::drain_count || table.size() != 0)
      return bench::fail(state, "the backlog was not handled");
    bench::record(state, begin, end, bench::drain_count);
  }
}

// K: a control request behind a backlog.

struct ping {
  using result_type = std::uint64_t;
  using error_type = int;
  static constexpr bool control = true;
  bench::stamp pushed;
  bool warm_up = false;  // the first, which touches the lane's memory: not measured
};
struct control_requests {
  using types = workers::request_types<value, ping>;
  using view_type = std::uint64_t;
  static std::uint64_t view(const value& r) { return r.v; }
  static std::uint64_t view(const ping&) { return 0; }
};
using control_group = workers::make_single<bench_name, control_requests, bench_types>;

struct control_handlers {
  std::atomic<std::size_t>* got;
  bench::stamp* pushed;
  bench::stamp* handled;
  std::latch* done;
  template <class Self>
  workers::result<std::uint64_t, int> on_request(Self& self, const value& r) {
    workers::state(self) += r.v;
    got->fetch_add(1, std::memory_order_relaxed);
    return {boost::system::in_place_value, r.v + 1};
  }
  template <class Self>
  workers::result<std::uint64_t, int> on_request(Self&, const ping& p) {
    if (p.warm_up) return {boost::system::in_place_value, 0};
    *handled = bench::stamp::now();
    *pushed = p.pushed;
    done->count_down();
    return {boost::system::in_place_value, 0};
  }
};

void control_latency(benchmark::State& state) {
  for (auto _ : state) {
    asio::io_context ctx{1};
    auto table = control_group::create_table(workers::infinite_queue{});
    std::atomic<std::size_t> got{0};
    bench::stamp pushed, handled;
    std::latch done{1};
    auto launched =
        workers::launch(table, ctx.get_executor(), std::size_t{0}, 0,
                        control_handlers{&got, &pushed, &handled, &done}, asio::use_future);
    std::thread runner([&ctx] { ctx.run(); });
    auto w = launched.get().value();
    // The whole backlog is queued before the worker starts on it.
    std::latch queued{1};
    asio::post(ctx, [&queued] { queued.wait(); });
    for (std::uint64_t i = 0; i < bench::control_backlog; ++i)
      workers::push_request_now(w, value{i});
    workers::push_request_now(w, ping{bench::stamp::now(), true});
    queued.count_down();
    while (got.load(std::memory_order_relaxed) < bench::control_backlog / 2) {
    }
    workers::push_request_now(w, ping{bench::stamp::now()});
    done.wait();
    const bool behind = got.load(std::memory_order_relaxed) < bench::control_backlog;
    workers::shutdown(w, asio::use_future).get();  // throws on error
    runner.join();
    if (!behind) return bench::fail(state, "the backlog was gone before the control request");
    bench::record(state, pushed, handled, 1);
  }
}

// T1/T2: a restart against a fresh launch, each until a request is handled.

struct restart_handlers {
  std::size_t* got;
  template <class Self>
  std::uint64_t on_launch(Self&, const std::size_t&, const int&) {
    return 0;
  }
  template <class Self>
  workers::result<std::uint64_t, int> on_request(Self& self, const value& r) {
    if (r.v == 0) throw std::runtime_error("crash");
    workers::state(self) += r.v;
    ++*got;
    return {boost::system::in_place_value, r.v + 1};
  }
};

void restart(benchmark::State& state) {
  bench::pin_cpu pin;
  for (auto _ : state) {
    asio::io_context ctx{1};
    auto table = make_table<kind>();
    std::size_t got = 0;
    std::optional<W> w;
    workers::launch_options o;
    o.restart = {.policy = workers::restart_policy::transient,
                 .intensity = 2 * bench::restart_rounds,
                 .period = std::chrono::hours(1)};
    workers::launch(table, ctx.get_executor(), std::size_t{0}, 0, restart_handlers{&got}, o,
                    [&](auto r) { w = r.value(); });
    while (!w) ctx.run_one();
    ctx.poll();  // the loop parks
    const bench::stamp begin = bench::stamp::now();
    for (std::size_t i = 0; i < bench::restart_rounds; ++i) {
      workers::push_request_now(*w, value{0});  // the crash
      workers::push_request_now(*w, value{1});  // for the next incarnation
      while (got == i) ctx.run_one();
    }
    const bench::stamp end = bench::stamp::now();
    if (workers::restarts(*w) != bench::restart_rounds) return bench::fail(state, "no restart");
    workers::shutdown(*w, [](error_code) {});
    ctx.run();
    bench::record(state, begin, end, bench::restart_rounds);
  }
}

void fresh_launch(benchmark::State& state) {
  bench::pin_cpu pin;
  for (auto _ : state) {
    asio::io_context ctx{1};
    auto table = make_table<kind>();
    std::size_t got = 0;
    std::vector<W> live;
    live.reserve(bench::restart_rounds);
    const bench::stamp begin = bench::stamp::now();
    for (std::size_t i = 0; i < bench::restart_rounds; ++i) {
      workers::launch(table, ctx.get_executor(), i, 0, restart_handlers{&got}, [&](auto r) {
        live.push_back(r.value());
        workers::push_request_now(live.back(), value{1});
      });
      while (got == i) ctx.run_one();
    }
    const bench::stamp end = bench::stamp::now();
    for (const auto& w : live) workers::trigger_shutdown(w);
    ctx.run();
    if (table.size() != 0) return bench::fail(state, "shutdown failed");
    bench::record(state, begin, end, bench::restart_rounds);
  }
}

[[maybe_unused]] const bool registered = [] {
  using enum bench::workload;
  bench::add(A1, "workers", fire_one_thread<kind>);
  bench::add(A1, "workers_metrics", fire_one_thread<kind, true>);
  bench::add(A2, "workers", fire_two_threads<kind>);
  bench::add(B1, "workers", b1<>);
  bench::add(B1, "workers_metrics", b1<true>);
  bench::add(B1, "workers_dispatch", b1<false, workers::reply_mode::dispatch>);
  bench::add(B2, "workers", b2);
  bench::add(R, "workers", pipelined);
  bench::add(C1, "workers", fire_one_thread<bounded_kind>);
  bench::add(C2, "workers", fire_two_threads<bounded_kind>);
  bench::add(D, "workers", idle);
  for (const std::size_t n : bench::scale_workers)
    bench::add(E, n, "workers", [n](benchmark::State& s) { scale_in_workers(s, n); });
  bench::add(F, 1, "workers", [](benchmark::State& s) { scale_in_threads(s, 1); });
  bench::add(F, 2, "workers", [](benchmark::State& s) { scale_in_threads(s, 2); });
  bench::add(G, "workers", dropbox_puts);
  bench::add(S1, "workers", backlog<true>);
  bench::add(S2, "workers", backlog<false>);
  bench::add(K, "workers", control_latency);
  bench::add(T1, "workers", restart);
  bench::add(T2, "workers", fresh_launch);
  return true;
}();

}  // namespace
