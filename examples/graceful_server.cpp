// A server's end, the way production ends it: shard workers validate blocks
// behind a backlog; a peer's disconnect is a control request, handled ahead
// of that backlog; SIGTERM drains every shard with a deadline (an Asio
// signal_set), and the report says what the close did. A shutdown_guard
// closes the shards when the start-up fails before the io_context runs
// (here: the port cannot be bound), so run() does not hang on them.
//
// Run by ctest as example.graceful_server; it sends itself SIGTERM.

#include <workers/format.hpp>
#include <workers/workers.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include <fmt/format.h>

#include <array>
#include <cassert>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct validate_block {
  using result_type = bool;
  using error_type = std::string;
  int level;
};
// A control request: it is taken before every block still waiting.
struct disconnect_peer {
  using result_type = int;  // blocks validated before it
  using error_type = std::string;
  static constexpr bool control = true;
  std::string peer;
};

struct shard_name {
  static constexpr std::array<std::string_view, 2> base{"node", "shard"};
  using type = int;
};
struct shard_requests {
  using types = workers::request_types<validate_block, disconnect_peer>;
  using view_type = std::string;
  static std::string view(const validate_block& r) { return fmt::format("block {}", r.level); }
  static std::string view(const disconnect_peer& r) { return "disconnect " + r.peer; }
};
struct shard_types {
  using state_type = int;  // blocks validated
  using parameters_type = workers::unit;
  using view_type = int;
  static int view(const int& validated, const workers::unit&) { return validated; }
};
using shards = workers::make_single<shard_name, shard_requests, shard_types>;
using shard = shards::worker<workers::queue<workers::infinite>>;

struct shard_handlers {
  template <class W>
  int on_launch(W&, const int&, const workers::unit&) {
    return 0;
  }
  template <class W>
  workers::result<bool, std::string> on_request(W& self, const validate_block&) {
    ++workers::state(self);
    return true;
  }
  template <class W>
  workers::result<int, std::string> on_request(W& self, const disconnect_peer&) {
    return workers::state(self);
  }
};

// The start-up that fails: the shards are launched, then the port cannot be bound.
void start_and_fail_to_bind(asio::io_context& io) {
  auto table = shards::create_table(workers::infinite_queue{});
  workers::shutdown_guard guard(table);  // owns the shards from here on
  for (int i = 0; i < 4; ++i)
    workers::launch(table, io, i, workers::unit{}, shard_handlers{}, {}, [](auto) {});
  throw std::runtime_error("bind: address already in use");
}

int main() {
  {  // Without the guard, io.run() below would wait for the four shards forever.
    asio::io_context io;
    try {
      start_and_fail_to_bind(io);
    } catch (const std::runtime_error& e) {
      std::printf("start-up failed: %s\n", e.what());
    }
    io.run();  // returns: the guard shut the shards down
  }

  asio::io_context io;
  auto table = shards::create_table(workers::infinite_queue{});
  workers::shutdown_guard guard(table, workers::shutdown_mode::drain, 5s);
  for (int i = 0; i < 4; ++i)
    workers::launch(table, io, i, workers::unit{}, shard_handlers{}, {}, [](auto r) { r.value(); });
  const shard first = *workers::find_opt(table, 0);  // in its table from the launch on

  // SIGTERM: every shard drains what it accepted, within 5 s, then abort.
  asio::signal_set signals(io, SIGTERM);
  signals.async_wait([&](workers::error_code ec, int) {
    if (ec) return;
    workers::shutdown_all(table, workers::shutdown_mode::drain, 5s,
                          [](workers::error_code, workers::shutdown_report report) {
                            std::printf("shut down: %s\n", fmt::format("{}", report).c_str());
                            assert(report.workers == 4 && report.answered_closed == 0);
                          });
  });

  for (int level = 0; level < 1000; ++level)
    workers::push_request_now(first, validate_block{level});
  // The disconnect does not wait behind the thousand blocks.
  workers::push_request_and_wait(first, disconnect_peer{"peer-7"}, [](auto validated) {
    assert(validated && *validated == 0);
    std::printf("peer-7 disconnected before any of the 1000 blocks waiting\n");
  });
  asio::post(io, [] { std::raise(SIGTERM); });
  io.run();  // returns once every shard has drained and closed
  assert(table.size() == 0);
  return 0;
}
