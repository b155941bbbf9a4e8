// The watchdog (launch_options::watchdog): slow and stuck handlers, on a
// manual clock. An awaitable handler is cut when stuck and the worker crashes
// if it has not returned after the grace; a plain one is reported when it returns.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"

#include <workers/testing.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace watchdog_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;
using workers::testing::manual_clock;
using workers::testing::run_until_idle;

// Keeps the watchdog's events.
struct watch_log {
  std::mutex mutex;
  std::vector<std::string> lines;
  bool should_handle(workers::level) const noexcept { return true; }
  void handle(const workers::event& e) {
    std::string line;
    if (const auto* s = std::get_if<workers::events::request_slow>(&e.fields))
      line = fmt::format("slow {} {}ms{}", s->view.text(),
                         std::chrono::duration_cast<std::chrono::milliseconds>(s->running).count(),
                         s->returned ? " returned" : "");
    else if (const auto* t = std::get_if<workers::events::request_stuck>(&e.fields))
      line = fmt::format("stuck {} {}ms{}", t->view.text(),
                         std::chrono::duration_cast<std::chrono::milliseconds>(t->running).count(),
                         t->returned ? " returned" : "");
    else
      return;
    std::lock_guard lock(mutex);
    lines.push_back(line);
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return lines;
  }
};

// A hold that ignores cancellation (its wait has no cancellation slot); an
// add that takes `work` of the manual clock's time in a plain handler.
struct stubborn_handlers : calc_handlers {
  std::shared_ptr<manual_clock> clock;
  // Shared: the worker has its own copy of the handlers.
  std::shared_ptr<std::chrono::milliseconds> work = std::make_shared<std::chrono::milliseconds>(0);
  using calc_handlers::on_request;
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_request(W&, const hold& r) {
    r.entered->try_send(error_code{});
    co_await r.release->async_receive(
        asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
    co_return 1;
  }
  template <class W>
  workers::result<int, std::string> on_request(W& self, const add& r) {
    clock->advance(*work);  // the handler's own time, as the worker's clock sees it
    return workers::state(self) += r.amount;
  }
};

struct watched {
  asio::io_context io;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<watch_log> log = std::make_shared<watch_log>();
  calc_table table = make_table({.sink = log, .metrics = true, .clock = clock});

  template <class H>
  calc_worker launch(H& h) {
    workers::launch_options o = test_launch_options();
    o.watchdog = workers::watchdog_budgets{.slow = 1s, .stuck = 5s, .grace = 1s};
    auto w = launch_now(io, table, "w", h, o);
    io.restart();
    return w;
  }
};

TEST_CASE("watchdog: an awaitable handler is reported slow, then cut when stuck", "[watchdog]") {
  watched t;
  calc_handlers h;
  auto w = t.launch(h);
  hold gate = busy_gate(t.io.get_executor()).request();
  std::optional<bool> threw;
  workers::push_request_and_wait(w, gate, [&](auto r) {
    threw = !r && std::holds_alternative<workers::handler_exception>(r.error());
  });
  run_until_idle(t.io);
  t.clock->advance(999ms);
  run_until_idle(t.io);
  CHECK(t.log->snapshot().empty());
  t.clock->advance(1ms);
  run_until_idle(t.io);
  CHECK(t.log->snapshot() == std::vector<std::string>{"slow hold 1000ms"});
  t.clock->advance(4s);
  run_until_idle(t.io);
  // Cut: its wait threw operation_aborted, which reached its caller, and the worker runs on.
  CHECK(t.log->snapshot() == std::vector<std::string>{"slow hold 1000ms", "stuck hold 5000ms"});
  REQUIRE(threw);
  CHECK(*threw);
  CHECK(std::holds_alternative<workers::running>(workers::status(w)));
  auto m = workers::metrics(w);
  REQUIRE(m);
  CHECK(m->slow == 1);
  CHECK(m->stuck == 1);
  std::optional<int> next;
  workers::push_request_and_wait(w, add{1}, [&](auto r) { next = r.value(); });
  run_until_idle(t.io);
  CHECK(next == 1);
  shut_down(t.io, w);
}

TEST_CASE(
    "watchdog: a stuck handler that ignores its cancellation crashes the worker after the grace",
    "[watchdog]") {
  watched t;
  stubborn_handlers h;
  h.clock = t.clock;
  auto w = t.launch(h);
  busy_gate gate(t.io.get_executor());
  std::optional<int> held;
  workers::push_request_and_wait(w, gate.request(), [&](auto r) { held = r.value(); });
  std::optional<bool> queued_closed;
  workers::push_request_and_wait(w, add{1},
                                 [&](auto r) { queued_closed = is_closed_with(r, true); });
  run_until_idle(t.io);
  t.clock->advance(5s);
  run_until_idle(t.io);
  CHECK(std::holds_alternative<workers::running>(workers::status(w)));
  t.clock->advance(999ms);
  run_until_idle(t.io);
  CHECK(std::holds_alternative<workers::running>(workers::status(w)));
  t.clock->advance(1ms);
  run_until_idle(t.io);
  // Crashed: what waits is answered at once; the close waits for the handler.
  REQUIRE(std::holds_alternative<workers::closing>(workers::status(w)));
  REQUIRE(queued_closed);
  CHECK(*queued_closed);
  gate.open();
  run_until_idle(t.io);
  REQUIRE(held == 1);  // what it returned reached its caller
  const auto s = workers::status(w);
  REQUIRE(std::holds_alternative<workers::closed>(s));
  const auto& errors = std::get<workers::closed>(s).crash_errors;
  REQUIRE(errors);
  REQUIRE(errors->size() == 1);
  CHECK(errors->front() ==
        "stuck: hold ran 6000 ms, 1000 ms past its stuck budget, and did not return 1000 ms after "
        "it was cancelled");
}

TEST_CASE("watchdog: a plain handler is reported when it returns, and not cut", "[watchdog]") {
  watched t;
  stubborn_handlers h;
  h.clock = t.clock;
  auto w = t.launch(h);
  *h.work = 500ms;
  std::vector<int> got;
  workers::push_request_and_wait(w, add{1}, [&](auto r) { got.push_back(r.value()); });
  run_until_idle(t.io);
  CHECK(t.log->snapshot().empty());
  *h.work = 6s;
  workers::push_request_and_wait(w, add{1}, [&](auto r) { got.push_back(r.value()); });
  run_until_idle(t.io);
  CHECK(t.log->snapshot() ==
        std::vector<std::string>{"slow add 1 6000ms returned", "stuck add 1 6000ms returned"});
  CHECK(got == std::vector<int>{1, 2});
  CHECK(std::holds_alternative<workers::running>(workers::status(w)));
  shut_down(t.io, w);
}

TEST_CASE("watchdog: budgets that are not positive are refused at launch", "[watchdog]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  workers::launch_options o;
  o.watchdog = workers::watchdog_budgets{.slow = 0s};
  CHECK_THROWS_WITH(
      workers::launch(table, io, "w", calc_parameters{}, h, o, [](auto) {}),
      "workers: watchdog of worker test-calc_w: its budgets must be positive and its grace not "
      "negative");
}

}  // namespace watchdog_tests
