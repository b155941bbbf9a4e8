// Peer `asio_handler_reply` (B1, B2 only): a raw-Asio round trip where the
// request message carries the caller's completion handler (type-erased in an
// asio::any_completion_handler) and the worker replies by invoking it through
// the caller's executor (asio::dispatch on the handler's associated executor:
// inline when the caller's executor runs on the worker's thread, a post to the
// caller's io_context otherwise).  The request queue is a channel of capacity
// bench::unbounded_capacity drained try-first (as asio_try_first), so that the
// only difference to asio_try_first is the reply path.
#include "asio_common.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>

namespace {

using namespace bench::asio_peer;

using reply_handler = asio::any_completion_handler<void(std::uint64_t)>;

struct request {
  std::uint64_t value;
  reply_handler reply;
};

using request_sig = void(error_code, request);

/// The caller side: an ordinary Asio async operation.
template <class Channel, class Token>
auto async_call(Channel& ch, std::uint64_t value, Token&& token) {
  return asio::async_initiate<Token, void(std::uint64_t)>(
      [&ch](auto handler, std::uint64_t v) {
        request r{v, reply_handler(std::move(handler))};
        if (!ch.try_send(error_code{}, std::move(r)))  // full: queue the send
          ch.async_send(error_code{}, std::move(r), asio::detached);
      },
      token, value);
}

template <class Channel>
struct roundtrip_state {
  roundtrip_state(asio::io_context& worker_ctx, asio::io_context&)
      : requests(worker_ctx, bench::unbounded_capacity) {}
  Channel requests;
};

template <class Channel>
asio::awaitable<void> echo_worker(roundtrip_state<Channel>& st, std::latch* ready) {
  if (ready) ready->count_down();
  std::size_t served = 0;
  const auto serve = [&](error_code, request r) {
    ++served;
    asio::dispatch(asio::append(std::move(r.reply), r.value + 1));
  };
  while (served < bench::roundtrip_count) {
    while (served < bench::roundtrip_count && st.requests.try_receive(serve)) {
    }
    if (served < bench::roundtrip_count)
      serve({}, co_await st.requests.async_receive(use_awaitable));
  }
}

template <class Channel>
asio::awaitable<void> caller(roundtrip_state<Channel>& st, bench::stamp& begin, bench::stamp& end,
                             bool& ok) {
  begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::roundtrip_count; ++i) {
    const std::uint64_t r = co_await async_call(st.requests, i, use_awaitable);
    ok = ok && r == i + 1;
  }
  end = bench::stamp::now();
}

using local_requests = asio::experimental::channel<request_sig>;
using shared_requests = asio::experimental::concurrent_channel<request_sig>;

template <class Channel>
auto make_roundtrip(asio::io_context& w, asio::io_context& c) {
  return std::make_unique<roundtrip_state<Channel>>(w, c);
}

[[maybe_unused]] const bool registered = [] {
  using enum bench::workload;
  bench::add(B1, "asio_handler_reply", [](benchmark::State& s) {
    roundtrip_one_thread(s, make_roundtrip<local_requests>, echo_worker<local_requests>,
                         caller<local_requests>);
  });
  bench::add(B2, "asio_handler_reply", [](benchmark::State& s) {
    roundtrip_two_threads(s, make_roundtrip<shared_requests>, echo_worker<shared_requests>,
                          caller<shared_requests>);
  });
  return true;
}();

}  // namespace
