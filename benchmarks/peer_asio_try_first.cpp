// Peer `asio_try_first` (the floor): the same channels as asio_naive, but the
// worker drains with try_receive and the producer pushes with try_send; each
// side suspends (co_await async_receive / async_send) only when its channel is
// empty / full.  "Unbounded" = capacity bench::unbounded_capacity (1024); C
// uses 64; B replies go through a second channel of capacity 1.
//
// E_<N>: N workers (channel + coroutine on its own strand, as in D) on one
// pinned io_context; the producer coroutine try_sends value i to worker i % N
// (async_send when full) and yields with a post every unbounded_capacity sends.
// The worker that brings the plain `handled` counter to fire_count takes `end`
// and closes every channel, which ends the workers.
// F_<T>: 1,000 such workers on concurrent_channels, one io_context (hint T) run
// by T threads; two producer std::threads try_send (blocking fallback: async_send
// whose completion releases a semaphore); `handled` is a std::atomic.
#include "asio_common.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <cstddef>
#include <iterator>
#include <semaphore>
#include <utility>

namespace {

using namespace bench::asio_peer;

template <class Channel>
asio::awaitable<void> sum_worker(Channel& ch, std::uint64_t& sum, bench::stamp& end,
                                 std::latch* ready) {
  if (ready) ready->count_down();
  std::size_t got = 0;
  const auto take = [&](error_code, std::uint64_t v) {
    sum += v;
    ++got;
  };
  while (got < bench::fire_count) {
    while (got < bench::fire_count && ch.try_receive(take)) {
    }
    if (got < bench::fire_count) take({}, co_await ch.async_receive(use_awaitable));
  }
  end = bench::stamp::now();
}

template <class Channel>
asio::awaitable<void> producer(Channel& ch, bench::stamp& begin) {
  begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::fire_count; ++i)
    if (!ch.try_send(error_code{}, i)) co_await ch.async_send(error_code{}, i, use_awaitable);
}

template <class Channel>
struct roundtrip_state {
  roundtrip_state(asio::io_context& worker_ctx, asio::io_context& caller_ctx)
      : requests(worker_ctx, bench::unbounded_capacity), replies(caller_ctx, 1) {}
  Channel requests;
  Channel replies;
};

template <class Channel>
asio::awaitable<void> echo_worker(roundtrip_state<Channel>& st, std::latch* ready) {
  if (ready) ready->count_down();
  for (std::size_t i = 0; i < bench::roundtrip_count; ++i) {
    std::uint64_t v = 0;
    if (!st.requests.try_receive([&](error_code, std::uint64_t x) { v = x; }))
      v = co_await st.requests.async_receive(use_awaitable);
    if (!st.replies.try_send(error_code{}, v + 1))
      co_await st.replies.async_send(error_code{}, v + 1, use_awaitable);
  }
}

template <class Channel>
asio::awaitable<void> caller(roundtrip_state<Channel>& st, bench::stamp& begin, bench::stamp& end,
                             bool& ok) {
  begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::roundtrip_count; ++i) {
    if (!st.requests.try_send(error_code{}, i))
      co_await st.requests.async_send(error_code{}, i, use_awaitable);
    std::uint64_t r = 0;
    if (!st.replies.try_receive([&](error_code, std::uint64_t x) { r = x; }))
      r = co_await st.replies.async_receive(use_awaitable);
    ok = ok && r == i + 1;
  }
  end = bench::stamp::now();
}

asio::awaitable<void> idle_loop(idle_worker& w, std::size_t& alive) {
  const auto take = [&](error_code, std::uint64_t v) { w.sum += v; };
  for (;;) {
    while (w.ch.try_receive(take)) {
    }
    error_code ec;
    const std::uint64_t v = co_await w.ch.async_receive(asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    w.sum += v;
  }
  --alive;
}

// E and F: a table of workers, each summing into its own state, and one shared
// `handled` counter (plain on one thread, std::atomic across threads).

template <class Channel>
struct scale_worker {
  explicit scale_worker(asio::io_context& ctx) : ch(ctx, bench::unbounded_capacity) {}
  Channel ch;
  std::uint64_t sum = 0;
};

template <class Channel, class Count>
struct scale_group {
  scale_group(asio::io_context& ctx, std::size_t n) {
    table.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      table.push_back(std::make_unique<scale_worker<Channel>>(ctx));
  }

  /// Called by the worker that handled the last request: stamp, then close
  /// every channel so that every worker's loop ends.
  void finish() {
    end = bench::stamp::now();
    for (auto& w : table) w->ch.close();
  }

  std::uint64_t sum() const {
    std::uint64_t s = 0;
    for (const auto& w : table) s += w->sum;
    return s;
  }

  std::vector<std::unique_ptr<scale_worker<Channel>>> table;
  Count handled{0};
  bench::stamp end{};
};

template <class Channel, class Count>
asio::awaitable<void> scale_loop(scale_worker<Channel>& w, scale_group<Channel, Count>& g) {
  const auto take = [&](error_code, std::uint64_t v) {
    w.sum += v;
    if (++g.handled == bench::fire_count) g.finish();
  };
  for (;;) {
    while (w.ch.try_receive(take)) {
    }
    error_code ec;
    const std::uint64_t v = co_await w.ch.async_receive(asio::redirect_error(use_awaitable, ec));
    if (ec) break;  // closed by finish()
    take(ec, v);
  }
}

/// Spawns every worker of `g` on its own strand and runs them up to their
/// first (idle) co_await.
template <class Channel, class Count>
void launch(asio::io_context& ctx, scale_group<Channel, Count>& g) {
  for (auto& w : g.table) asio::co_spawn(asio::make_strand(ctx), scale_loop(*w, g), asio::detached);
  while (ctx.poll() != 0) {
  }
  ctx.restart();
}

using scale_local = scale_group<local_channel, std::size_t>;
using scale_shared = scale_group<shared_channel, std::atomic<std::size_t>>;

asio::awaitable<void> scale_producer(scale_local& g, bench::stamp& begin) {
  auto ex = co_await asio::this_coro::executor;
  const std::size_t n = g.table.size();
  begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::fire_count; ++i) {
    auto& ch = g.table[i % n]->ch;
    if (!ch.try_send(error_code{}, i)) co_await ch.async_send(error_code{}, i, use_awaitable);
    if ((i + 1) % bench::unbounded_capacity == 0) co_await asio::post(ex, use_awaitable);
  }
}

// E: N workers, one pinned thread.
template <std::size_t N>
void scale_in_workers(benchmark::State& state) {
  bench::pin_cpu pin;
  for (auto _ : state) {
    asio::io_context ctx{1};
    scale_local g(ctx, N);
    launch(ctx, g);
    bench::stamp begin;
    asio::co_spawn(ctx, scale_producer(g, begin), asio::detached);
    ctx.run();
    if (g.handled != bench::fire_count || g.sum() != bench::expected_sum(bench::fire_count))
      return bench::fail(state, "wrong sum");
    bench::record(state, begin, g.end, bench::fire_count);
  }
}

template <std::size_t... I>
void add_scale_in_workers(std::index_sequence<I...>) {
  (bench::add(bench::workload::E, bench::scale_workers[I], "asio_try_first",
              scale_in_workers<bench::scale_workers[I]>),
   ...);
}

// F: producer `p` (a std::thread) sends its half of the values.
void scale_produce(scale_shared& g, std::size_t p) {
  constexpr std::size_t per_producer = bench::fire_count / bench::producer_threads;
  std::binary_semaphore sent{0};
  for (std::size_t i = 0; i < per_producer; ++i) {
    auto& ch = g.table[(i + p) % bench::busy_workers]->ch;
    const std::uint64_t v = p * per_producer + i;
    if (!ch.try_send(error_code{}, v)) {  // full: block until the send completes
      ch.async_send(error_code{}, v, [&sent](error_code) { sent.release(); });
      sent.acquire();
    }
  }
}

// F: busy_workers workers, `threads` io threads, two producer threads.
void scale_in_threads(benchmark::State& state, std::size_t threads) {
  for (auto _ : state) {
    asio::io_context ctx{static_cast<int>(threads)};
    scale_shared g(ctx, bench::busy_workers);
    launch(ctx, g);  // every worker waits in async_receive
    std::vector<std::thread> runners;
    for (std::size_t t = 0; t < threads; ++t) runners.emplace_back([&ctx] { ctx.run(); });
    std::latch go{1};
    std::vector<std::thread> producers;
    for (std::size_t p = 0; p < bench::producer_threads; ++p)
      producers.emplace_back([&g, &go, p] {
        go.wait();
        scale_produce(g, p);
      });
    const bench::stamp begin = bench::stamp::now();
    go.count_down();
    for (auto& t : producers) t.join();
    for (auto& t : runners) t.join();  // run() returns once finish() closed every channel
    if (g.handled != bench::fire_count || g.sum() != bench::expected_sum(bench::fire_count))
      return bench::fail(state, "wrong sum");
    bench::record_rate(state, begin, g.end, bench::fire_count);
  }
}

template <class Channel>
auto make_roundtrip(asio::io_context& w, asio::io_context& c) {
  return std::make_unique<roundtrip_state<Channel>>(w, c);
}

[[maybe_unused]] const bool registered = [] {
  using enum bench::workload;
  bench::add(A1, "asio_try_first", [](benchmark::State& s) {
    fire_one_thread(s, bench::unbounded_capacity, sum_worker<local_channel>,
                    producer<local_channel>);
  });
  bench::add(A2, "asio_try_first", [](benchmark::State& s) {
    fire_two_threads(s, bench::unbounded_capacity, sum_worker<shared_channel>,
                     producer<shared_channel>);
  });
  bench::add(B1, "asio_try_first", [](benchmark::State& s) {
    roundtrip_one_thread(s, make_roundtrip<local_channel>, echo_worker<local_channel>,
                         caller<local_channel>);
  });
  bench::add(B2, "asio_try_first", [](benchmark::State& s) {
    roundtrip_two_threads(s, make_roundtrip<shared_channel>, echo_worker<shared_channel>,
                          caller<shared_channel>);
  });
  bench::add(C1, "asio_try_first", [](benchmark::State& s) {
    fire_one_thread(s, bench::bounded_capacity, sum_worker<local_channel>, producer<local_channel>);
  });
  bench::add(C2, "asio_try_first", [](benchmark::State& s) {
    fire_two_threads(s, bench::bounded_capacity, sum_worker<shared_channel>,
                     producer<shared_channel>);
  });
  bench::add(D, "asio_try_first", [](benchmark::State& s) { idle(s, idle_loop); });
  add_scale_in_workers(std::make_index_sequence<std::size(bench::scale_workers)>{});
  bench::add(F, 1, "asio_try_first", [](benchmark::State& s) { scale_in_threads(s, 1); });
  bench::add(F, 2, "asio_try_first", [](benchmark::State& s) { scale_in_threads(s, 2); });
  return true;
}();

}  // namespace
