// A block validator on a bounded queue, as in the Octez node: a fast producer
// pushes blocks faster than the validator handles them; the queue holds at most
// 8 of them and the producer waits for room (backpressure) instead of piling up.

#include <workers/format.hpp>
#include <workers/workers.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace asio = boost::asio;

constexpr std::size_t queue_size = 8;
constexpr int block_count = 40;

// 1. The group's name, and the type naming one worker of it.
struct validator_name {
  static constexpr std::string_view base[] = {"validator", "block"};
  using type = std::string;
};

// 2. The requests. `validate` answers a verdict or an error; `stats` reads the tally.
struct tally {
  int validated = 0;
  int failed = 0;
};
struct validate {
  using result_type = std::string;  // the verdict
  using error_type = std::string;   // "invalid block"
  int level;
  std::string hash;
};
struct stats {
  using result_type = tally;
  using error_type = std::string;
};
struct validator_requests {
  using types = workers::request_types<validate, stats>;
  using view_type = std::string;
  static std::string view(const validate& r) {
    return fmt::format("validate {} {}", r.level, r.hash);
  }
  static std::string view(const stats&) { return "stats"; }
};

// 3. The state (a tally), the launch parameters (simulated work per block) and a view.
struct validator_types {
  using state_type = tally;
  using parameters_type = std::chrono::milliseconds;
  using view_type = std::string;
  static std::string view(const tally& t, const std::chrono::milliseconds&) {
    return fmt::format("{} validated, {} failed", t.validated, t.failed);
  }
};

using bounded = workers::queue<workers::bounded>;
using validator = workers::make_single<validator_name, validator_requests, validator_types>;
using validator_worker = validator::worker<bounded>;

// 4. The handlers. `validate` is a coroutine: it suspends on a timer, as real
// validation would wait on I/O; failures are counted by `on_error`.
struct validator_handlers {
  using verdict = workers::result<std::string, std::string>;
  asio::awaitable<verdict> on_request(validator_worker& self, const validate& r) {
    asio::steady_timer work(co_await asio::this_coro::executor, self.parameters());
    co_await work.async_wait(asio::use_awaitable);
    if (r.level % 7 == 0) co_return verdict{boost::system::in_place_error, "invalid block"};
    ++workers::state(self).validated;
    co_return verdict{boost::system::in_place_value, "valid"};
  }
  workers::result<tally, std::string> on_request(validator_worker& self, const stats&) {
    return workers::state(self);
  }

  workers::error_action on_error(validator_worker& self, const workers::request_status&,
                                 const validate& r, const std::string& e) {
    ++workers::state(self).failed;
    fmt::print("  [{}] block {} rejected: {}\n", self.full_name(), r.level, e);
    return workers::error_action::proceed();
  }
  void on_close(validator_worker& self) { fmt::print("  [{}] closed\n", self.full_name()); }
};

asio::awaitable<int> run(validator::table<bounded> table) {
  auto ex = co_await asio::this_coro::executor;
  std::string name = "main";  // named, not a temporary inside co_await: see README, Compilers
  auto launched = co_await workers::launch(table, ex, std::move(name), std::chrono::milliseconds(1),
                                           validator_handlers{});
  if (!launched) throw std::runtime_error(fmt::format("{}", launched.error()));
  validator_worker w = *launched;

  // The fast producer. Each block is first offered without waiting; when the
  // queue is full `try_push_request_now` refuses it and we wait for room.
  // (One thread: nothing runs between the checks below, so they are exact.)
  int waits = 0;
  for (int level = 1; level <= block_count; ++level) {
    validate block{level, fmt::format("BL{:08x}", level * 0x9e3779b1u)};  // named, as above
    if (!workers::try_push_request_now(w, block)) {
      if (workers::pending_requests_length(w) != queue_size) {
        fmt::print("error: try_push_request_now refused a queue that is not full\n");
        co_return 1;
      }
      ++waits;
      co_await workers::push_request(w, std::move(block));  // waits for room; throws if closed
    }
    const std::size_t length = workers::pending_requests_length(w);
    if (length > queue_size) {
      fmt::print("error: {} requests queued, more than {}\n", length, queue_size);
      co_return 1;
    }
    if (level % 8 == 0)
      fmt::print("pushed {:2} blocks, queue length {}/{}\n", level, length, queue_size);
  }
  fmt::print("the producer waited for room {} times\n", waits);

  // FIFO: `stats` is handled after every block pushed before it.
  auto t = co_await workers::push_request_and_wait(w, stats{});
  if (!t) throw std::runtime_error(fmt::format("{}", t.error()));
  fmt::print("validated {}, failed {}\n", t->validated, t->failed);
  const int expected_failed = block_count / 7;
  if (t->validated != block_count - expected_failed || t->failed != expected_failed || waits == 0) {
    fmt::print("error: expected {} validated, {} failed, some waits\n",
               block_count - expected_failed, expected_failed);
    co_return 1;
  }

  co_await workers::shutdown(w);
  fmt::print("validator is {}; {} workers in the table\n", workers::status(w), table.size());
  co_return 0;
}

int main() {
  // A single thread keeps the producer's checks exact; the worker still runs on its own strand.
  asio::io_context io;
  auto table = validator::create_table(workers::bounded_queue{queue_size});
  auto done = asio::co_spawn(io, run(table), asio::use_future);
  io.run();
  return done.get();
}
