// A tour of workers: a small group of named account workers on a thread pool.
// Requests succeed and fail, introspection is printed while the workers are
// busy, and everything shuts down cleanly.

#include <workers/format.hpp>
#include <workers/workers.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <string_view>

namespace asio = boost::asio;
using namespace std::chrono_literals;

// 1. The group's name, and the type naming one worker of it.
struct bank_name {
  static constexpr std::string_view base[] = {"demo", "account"};
  using type = std::string;
};

// 2. The requests: each carries its own result and error types.
struct deposit {
  using result_type = long;  // the new balance
  using error_type = std::string;
  long amount;
};
struct withdraw {
  using result_type = long;
  using error_type = std::string;  // "insufficient funds"
  long amount;
};
struct audit {  // slow: suspends on a timer, the worker stays responsive to introspection
  using result_type = long;
  using error_type = std::string;
};
struct bank_requests {
  using types = workers::request_types<deposit, withdraw, audit>;
  using view_type = std::string;
  static std::string view(const deposit& r) { return fmt::format("deposit {}", r.amount); }
  static std::string view(const withdraw& r) { return fmt::format("withdraw {}", r.amount); }
  static std::string view(const audit&) { return "audit"; }
};

// 3. The worker's state, its launch parameters, and a view of the state.
struct bank_types {
  using state_type = long;       // the balance
  using parameters_type = long;  // the opening balance
  using view_type = long;
  static long view(const long& balance, const long&) { return balance; }
};

using bank = workers::make_single<bank_name, bank_requests, bank_types>;
using account = bank::worker<workers::queue<workers::infinite>>;

// 4. The handlers. Plain functions cost no coroutine frame; `audit` is a coroutine.
struct account_handlers {
  long on_launch(account&, const std::string&, const long& opening) { return opening; }

  workers::result<long, std::string> on_request(account& self, const deposit& r) {
    return workers::state(self) += r.amount;
  }
  workers::result<long, std::string> on_request(account& self, const withdraw& r) {
    auto& balance = workers::state(self);
    if (r.amount > balance) return {boost::system::in_place_error, "insufficient funds"};
    return balance -= r.amount;
  }
  asio::awaitable<workers::result<long, std::string>> on_request(account& self, const audit&) {
    asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
    co_await t.async_wait(asio::use_awaitable);
    co_return workers::state(self);
  }

  workers::error_action on_error(account& self, const workers::request_status& st,
                                 const withdraw& r, const std::string& e) {
    fmt::print("  [{}] {} failed: {} ({})\n", self.full_name(), bank_requests::view(r), e, st);
    return workers::error_action::proceed();
  }
  void on_close(account& self) { fmt::print("  [{}] closed\n", self.full_name()); }
};

asio::awaitable<void> tour(bank::table<workers::queue<workers::infinite>> table,
                           asio::any_io_executor ex) {
  // Launch three named workers; each runs on its own strand of the pool.
  for (const char* who : {"alice", "bob", "carol"}) {
    account_handlers handlers;
    auto launched = co_await workers::launch(table, ex, who, 100L, handlers);
    if (!launched) throw std::runtime_error(fmt::format("{}", launched.error()));
  }
  fmt::print("launched: {} workers in the table\n", table.size());

  auto alice = *workers::find_opt(table, "alice");
  auto bob = *workers::find_opt(table, "bob");

  // Push and wait: a typed result, or a message_error.
  auto balance = co_await workers::push_request_and_wait(alice, deposit{50});
  fmt::print("alice after deposit: {}\n", *balance);
  auto refused = co_await workers::push_request_and_wait(bob, withdraw{500});
  fmt::print("bob withdraw 500: {}\n", refused.error());

  // Fire and forget, then look inside while the worker is busy.
  workers::push_request_now(alice, audit{});
  for (long amount : {1L, 2L, 3L}) workers::push_request_now(alice, deposit{amount});
  asio::steady_timer pause(ex, 10ms);
  co_await pause.async_wait(asio::use_awaitable);
  if (auto current = workers::current_request(alice))
    fmt::print("alice is treating: {}\n", *current);
  for (const auto& pending : workers::pending_requests(alice))
    fmt::print("  pending: {}\n", pending);
  fmt::print("alice: {}\n", workers::information(alice));

  auto final_balance = co_await workers::push_request_and_wait(alice, audit{});
  fmt::print("alice audited: {}\n", *final_balance);

  // The state is read on the worker's strand.
  auto carol = *workers::find_opt(table, "carol");
  auto carol_balance = co_await workers::with_state(carol, [](long& b) { return b; });
  fmt::print("carol's balance: {}\n", *carol_balance);

  // Shut everyone down; each shutdown completes once the worker has closed.
  for (auto& [name, w] : workers::list(table)) co_await workers::shutdown(w);
  fmt::print("after shutdown: {} workers in the table; alice is {}\n", table.size(),
             workers::status(alice));
  auto late = co_await workers::push_request_and_wait(alice, deposit{1});
  fmt::print("a request to a closed worker: {}\n", late.error());
}

int main() {
  asio::thread_pool pool(2);
  auto table = bank::create_table(workers::infinite_queue{});
  auto done = asio::co_spawn(pool, tour(table, pool.get_executor()), asio::use_future);
  done.get();
  pool.join();
}
