// Peer `asio_naive`: a worker coroutine on a strand that does one
// `co_await async_receive` per message on an Asio experimental channel
// (channel for one thread, concurrent_channel for two).  The producer does one
// `co_await async_send` per message.  "Unbounded" queues are channels with
// capacity bench::unbounded_capacity (1024); C uses capacity 64.  B replies go
// through a second channel of capacity 1.
#include "asio_common.hpp"

namespace {

using namespace bench::asio_peer;

template <class Channel>
asio::awaitable<void> sum_worker(Channel& ch, std::uint64_t& sum, bench::stamp& end,
                                 std::latch* ready) {
  if (ready) ready->count_down();
  for (std::size_t i = 0; i < bench::fire_count; ++i)
    sum += co_await ch.async_receive(use_awaitable);
  end = bench::stamp::now();
}

template <class Channel>
asio::awaitable<void> producer(Channel& ch, bench::stamp& begin) {
  begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::fire_count; ++i)
    co_await ch.async_send(error_code{}, i, use_awaitable);
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
    const std::uint64_t v = co_await st.requests.async_receive(use_awaitable);
    co_await st.replies.async_send(error_code{}, v + 1, use_awaitable);
  }
}

template <class Channel>
asio::awaitable<void> caller(roundtrip_state<Channel>& st, bench::stamp& begin, bench::stamp& end,
                             bool& ok) {
  begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::roundtrip_count; ++i) {
    co_await st.requests.async_send(error_code{}, i, use_awaitable);
    const std::uint64_t r = co_await st.replies.async_receive(use_awaitable);
    ok = ok && r == i + 1;
  }
  end = bench::stamp::now();
}

asio::awaitable<void> idle_loop(idle_worker& w, std::size_t& alive) {
  for (;;) {
    error_code ec;
    const std::uint64_t v = co_await w.ch.async_receive(asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    w.sum += v;
  }
  --alive;
}

template <class Channel>
auto make_roundtrip(asio::io_context& w, asio::io_context& c) {
  return std::make_unique<roundtrip_state<Channel>>(w, c);
}

[[maybe_unused]] const bool registered = [] {
  using enum bench::workload;
  bench::add(A1, "asio_naive", [](benchmark::State& s) {
    fire_one_thread(s, bench::unbounded_capacity, sum_worker<local_channel>,
                    producer<local_channel>);
  });
  bench::add(A2, "asio_naive", [](benchmark::State& s) {
    fire_two_threads(s, bench::unbounded_capacity, sum_worker<shared_channel>,
                     producer<shared_channel>);
  });
  bench::add(B1, "asio_naive", [](benchmark::State& s) {
    roundtrip_one_thread(s, make_roundtrip<local_channel>, echo_worker<local_channel>,
                         caller<local_channel>);
  });
  bench::add(B2, "asio_naive", [](benchmark::State& s) {
    roundtrip_two_threads(s, make_roundtrip<shared_channel>, echo_worker<shared_channel>,
                          caller<shared_channel>);
  });
  bench::add(C1, "asio_naive", [](benchmark::State& s) {
    fire_one_thread(s, bench::bounded_capacity, sum_worker<local_channel>, producer<local_channel>);
  });
  bench::add(C2, "asio_naive", [](benchmark::State& s) {
    fire_two_threads(s, bench::bounded_capacity, sum_worker<shared_channel>,
                     producer<shared_channel>);
  });
  bench::add(D, "asio_naive", [](benchmark::State& s) { idle(s, idle_loop); });
  return true;
}();

}  // namespace
