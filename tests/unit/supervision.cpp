// Supervised restart (<workers/supervision.hpp>): restart policies, their
// limits and backoff on a manual clock, the identity, queue and callers that
// survive an incarnation, the table's strategies, and teardown in the middle
// of a restart.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"

#include <workers/testing.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace supervision_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;
using workers::restart_policy;
using workers::testing::manual_clock;
using workers::testing::run_for;
using workers::testing::run_until_idle;

// Keeps the supervision events, and the other ones by name.
struct restart_log {
  std::mutex mutex;
  std::vector<std::string> lines;
  bool should_handle(workers::level) const noexcept { return true; }
  void handle(const workers::event& e) {
    std::string line;
    using ms = std::chrono::milliseconds;
    if (const auto* r = std::get_if<workers::events::restarting>(&e.fields))
      line = fmt::format("restarting {} {} in {}ms", r->attempt, workers::to_string(r->cause),
                         std::chrono::duration_cast<ms>(r->delay).count());
    else if (const auto* d = std::get_if<workers::events::restarted>(&e.fields))
      line = fmt::format("restarted {}", d->attempt);
    else if (std::holds_alternative<workers::events::restart_limit_reached>(e.fields))
      line = "limit";
    else if (std::holds_alternative<workers::events::crashed>(e.fields))
      line = "crashed";
    else if (std::holds_alternative<workers::events::terminated>(e.fields))
      line = "terminated";
    else
      return;
    std::lock_guard lock(mutex);
    lines.push_back(e.worker.substr(e.worker.rfind('_') + 1) + ": " + line);
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return lines;
  }
};

// calc_handlers whose on_launch also logs the restart it is, and why the
// incarnation before ended.
struct supervised_handlers : calc_handlers {
  template <class W>
  workers::result<int, std::string> on_launch(W& self, const std::string& name,
                                              const calc_parameters& p) {
    if (auto why = workers::last_close_reason(self))
      j->log(fmt::format("relaunch {} after {}", workers::restarts(self),
                         workers::to_string(why->cause)));
    return calc_handlers::on_launch(self, name, p);
  }
};

workers::launch_options restarting(restart_policy policy, unsigned intensity = 1,
                                   std::optional<workers::restart_backoff> backoff = {}) {
  auto o = test_launch_options();
  o.restart = {.policy = policy, .intensity = intensity, .period = 5s, .backoff = backoff};
  return o;
}
workers::restart_backoff backoff_ms(int min, int max, int reset_after_ms = 60'000) {
  return {std::chrono::milliseconds(min), std::chrono::milliseconds(max), 0.0,
          std::chrono::milliseconds(reset_after_ms)};
}

// A worker on a manual clock with its callers' answers, in order.
template <class Table>
struct supervised {
  asio::io_context io;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<restart_log> log = std::make_shared<restart_log>();
  Table table;
  supervised_handlers h;
  std::optional<typename Table::worker_type> w;
  std::vector<std::string> answers;

  explicit supervised(Table (*make)(workers::table_options), workers::table_supervision s = {})
      : table(make({.sink = log, .metrics = true, .clock = clock, .supervision = s})) {}
  typename Table::worker_type launch(workers::launch_options o, std::string name = "w",
                                     calc_parameters p = {}) {
    std::optional<typename Table::worker_type> out;
    workers::launch(table, io, std::move(name), p, h, o, [&](auto r) {
      REQUIRE(r.has_value());
      out.emplace(*r);
    });
    run_until_idle(io);
    REQUIRE(out);
    if (!w) w = out;
    return *out;
  }
  template <class R>
  void push(R r, std::string name) {
    push_to(*w, std::move(r), std::move(name));
  }
  template <class W, class R>
  void push_to(const W& to, R r, std::string name) {
    workers::push_request_and_wait(to, std::move(r), [this, name](auto got) {
      if (got)
        answers.push_back(name + " ok");
      else if (got.error().is_closed())
        answers.push_back(name + (is_closed_with(got, true) ? " closed crashed" : " closed"));
      else
        answers.push_back(name + " error");
    });
  }
  std::string phase() const {
    const auto s = workers::status(*w);
    return std::visit([](const auto& v) { return fmt::format("{}", v).substr(0, 7); }, s);
  }
};

// on_launch of a restart throws while `failures` is positive.
struct flaky : supervised_handlers {
  std::shared_ptr<std::atomic<int>> failures = std::make_shared<std::atomic<int>>(0);
  template <class W>
  workers::result<int, std::string> on_launch(W& self, const std::string& name,
                                              const calc_parameters& p) {
    if (workers::restarts(self) > 0 && failures->fetch_sub(1) > 0)
      throw std::runtime_error("not yet");
    return supervised_handlers::on_launch(self, name, p);
  }
};

// on_launch of a restart never returns.
struct slow_launch : supervised_handlers {
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_launch(W& self, const std::string&,
                                                               const calc_parameters&) {
    if (workers::restarts(self) > 0) {
      asio::steady_timer forever(co_await asio::this_coro::executor, 1h);
      co_await forever.async_wait(asio::use_awaitable);
    }
    co_return 0;
  }
};

// on_launch of a restart waits for `gate`.
struct gated_launch : supervised_handlers {
  std::shared_ptr<gate_channel> gate;
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_launch(W& self, const std::string&,
                                                               const calc_parameters&) {
    if (workers::restarts(self) > 0) co_await gate->async_receive(asio::use_awaitable);
    co_return 0;
  }
};

// A hold that ignores cancellation: the watchdog's stuck crash waits for it.
struct stubborn_handlers : supervised_handlers {
  using supervised_handlers::on_request;
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_request(W&, const hold& r) {
    r.entered->try_send(error_code{});
    co_await r.release->async_receive(
        asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
    co_return 1;
  }
};

calc_table infinite(workers::table_options o) { return make_table(std::move(o)); }
bounded_table bounded_1(workers::table_options o) { return make_bounded_table(1, std::move(o)); }

TEST_CASE("supervision: a transient worker restarts after a crash and its queue waits for it",
          "[supervision]") {
  supervised<calc_table> t(infinite);
  const auto w = t.launch(restarting(restart_policy::transient, 1, backoff_ms(100, 1000)));
  const auto before = w;  // a handle taken before the restart
  t.push(add{5}, "add5");
  t.push(boom{}, "boom");
  t.push(add{1}, "add1");
  t.push(add{2}, "add2");
  run_until_idle(t.io);
  // The crashing request's caller has the exception; the rest wait for the backoff.
  REQUIRE(t.answers == std::vector<std::string>{"add5 ok", "boom error"});
  const auto status = workers::status(w);
  const auto* r = std::get_if<workers::restarting>(&status);
  REQUIRE(r);
  CHECK(r->attempt == 1);
  REQUIRE(r->last_errors);
  CHECK(r->last_errors->front() == "on_request threw: boom");
  REQUIRE(r->next_attempt);
  CHECK(*r->next_attempt - t.clock->wall_now() == 100ms);
  CHECK(workers::pending_requests_length(w) == 2);
  CHECK_FALSE(workers::current_request(w));  // nothing in hand while it restarts
  const auto full = workers::full_status(w);
  CHECK(std::holds_alternative<workers::restarting>(full.status));
  CHECK(full.pending_requests.size() == 2);
  CHECK(workers::metrics(w)->in_flight == 0);
  CHECK(workers::find_opt(t.table, "w").has_value());  // same name, same table
  std::optional<bool> had_state;
  workers::with_state(
      w, [](int& s) { return s; },
      [&](std::exception_ptr, std::optional<int> v) { had_state = v.has_value(); });
  run_until_idle(t.io);
  CHECK(had_state == false);  // no state between two incarnations
  t.push(add{3}, "add3");     // accepted during the backoff, as if busy
  run_until_idle(t.io);
  CHECK(t.answers.size() == 2);
  run_for(t.io, *t.clock, 100ms);
  // The new incarnation starts from the launch's state (0), in order.
  REQUIRE(t.answers ==
          std::vector<std::string>{"add5 ok", "boom error", "add1 ok", "add2 ok", "add3 ok"});
  CHECK(std::holds_alternative<workers::running>(workers::status(before)));
  CHECK(workers::information(before).incarnations == 2);
  CHECK(workers::restarts(before) == 1);
  CHECK(workers::metrics(before)->restarts == 1);
  const auto journal = t.h.j->snapshot();
  // on_close of the first incarnation ran before on_launch of the second.
  const auto close_at = std::find(journal.begin(), journal.end(), "close");
  const auto relaunch_at =
      std::find(journal.begin(), journal.end(), "relaunch 1 after handler exception");
  REQUIRE(close_at != journal.end());
  REQUIRE(relaunch_at != journal.end());
  CHECK(close_at < relaunch_at);
  CHECK(t.log->snapshot() ==
        std::vector<std::string>{"w: restarting 1 handler exception in 100ms", "w: restarted 1"});
  int sum = 0;
  workers::push_request_and_wait(before, add{0}, [&](auto got) { sum = got.value(); });
  run_until_idle(t.io);
  CHECK(sum == 6);
  shut_down(t.io, w);
}

TEST_CASE("supervision: past its intensity the worker closes for good and its queue is answered",
          "[supervision]") {
  supervised<calc_table> t(infinite);
  const auto w = t.launch(restarting(restart_policy::transient, 1));
  bool completed = false;
  workers::wait_for_completion(w, [&](error_code) { completed = true; });
  t.push(boom{}, "boom1");
  run_until_idle(t.io);  // restarted at once (no backoff)
  CHECK(std::holds_alternative<workers::running>(workers::status(w)));
  CHECK_FALSE(completed);  // a restart does not complete wait_for_completion
  t.clock->advance(1s);
  t.push(boom{}, "boom2");  // a second crash within 5 s: one more than allowed
  t.push(add{1}, "queued");
  run_until_idle(t.io);
  CHECK(completed);
  CHECK(t.answers ==
        std::vector<std::string>{"boom1 error", "boom2 error", "queued closed crashed"});
  const auto status = workers::status(w);
  const auto* c = std::get_if<workers::closed>(&status);
  REQUIRE(c);
  REQUIRE(c->crash_errors);
  CHECK(c->crash_errors->front() == "on_request threw: boom");
  CHECK(c->crash_errors->back() == "restart limit reached: more than 1 restart(s) in 5000 ms");
  CHECK(t.log->snapshot() == std::vector<std::string>{"w: restarting 1 handler exception in 0ms",
                                                      "w: restarted 1", "w: limit", "w: crashed"});
  CHECK_FALSE(workers::find_opt(t.table, "w").has_value());
}

TEST_CASE("supervision: the window slides, so crashes far apart restart every time",
          "[supervision]") {
  supervised<calc_table> t(infinite);
  const auto w = t.launch(restarting(restart_policy::permanent, 1));
  for (int i = 0; i < 4; ++i) {
    t.push(boom{}, "boom");
    run_until_idle(t.io);
    REQUIRE(std::holds_alternative<workers::running>(workers::status(w)));
    t.clock->advance(5s);
  }
  CHECK(workers::restarts(w) == 4);
  CHECK(workers::information(w).incarnations == 5);
  shut_down(t.io, w);
}

TEST_CASE("supervision: a shutdown during the backoff ends the worker without a restart",
          "[supervision]") {
  supervised<calc_table> t(infinite);
  const auto w = t.launch(restarting(restart_policy::transient, 3, backoff_ms(500, 500)));
  t.push(boom{}, "boom");
  t.push(add{1}, "queued");
  run_until_idle(t.io);
  REQUIRE(t.phase() == "restart");
  bool completed = false;
  workers::wait_for_completion(w, [&](error_code) { completed = true; });
  shut_down(t.io, w);
  CHECK(completed);
  CHECK(t.answers == std::vector<std::string>{"boom error", "queued closed"});
  run_for(t.io, *t.clock, 1s);  // the backoff's end finds the worker closed
  CHECK(std::holds_alternative<workers::closed>(workers::status(w)));
  CHECK(t.h.j->snapshot() == std::vector<std::string>{"launch w", "close"});
  CHECK(t.log->snapshot() ==
        std::vector<std::string>{"w: restarting 1 handler exception in 500ms", "w: terminated"});
}

TEST_CASE("supervision: which ends restart a worker, by its policy", "[supervision]") {
  struct row {
    restart_policy policy;
    on_error_policy on_error;
    bool restarts;
  };
  const row rows[] = {
      {restart_policy::temporary, on_error_policy::crash, false},
      {restart_policy::transient, on_error_policy::crash, true},
      {restart_policy::transient, on_error_policy::shutdown, false},
      {restart_policy::permanent, on_error_policy::shutdown, true},
      {restart_policy::permanent, on_error_policy::crash, true},
  };
  for (const auto& r : rows) {
    supervised<calc_table> t(infinite);
    calc_parameters p;
    p.policy = r.on_error;
    const auto w = t.launch(restarting(r.policy), "w", p);
    t.push(fail{"no"}, "fail");
    run_until_idle(t.io);
    CAPTURE(workers::to_string(r.policy), static_cast<int>(r.on_error));
    CHECK(std::holds_alternative<workers::running>(workers::status(w)) == r.restarts);
    CHECK(workers::restarts(w) == (r.restarts ? 1u : 0u));
    if (r.restarts) shut_down(t.io, w);
  }
}

TEST_CASE("supervision: a shutdown is never restarted, even for a permanent worker",
          "[supervision]") {
  supervised<calc_table> t(infinite);
  const auto w = t.launch(restarting(restart_policy::permanent, 5));
  shut_down(t.io, w);
  CHECK(workers::restarts(w) == 0);
  CHECK(t.log->snapshot() == std::vector<std::string>{"w: terminated"});
}

TEST_CASE("supervision: a failing on_launch of a restart counts against the limit",
          "[supervision]") {
  supervised<calc_table> t(infinite);
  flaky h;
  std::optional<calc_worker> w;
  auto o = restarting(restart_policy::transient, 3, backoff_ms(10, 1000));
  workers::launch(t.table, t.io, "w", calc_parameters{}, h, o, [&](auto r) { w.emplace(*r); });
  run_until_idle(t.io);
  REQUIRE(w);
  t.w = w;
  SECTION("two failures, then a launch: three restarts within the limit") {
    *h.failures = 2;
    t.push(boom{}, "boom");
    t.push(add{1}, "queued");
    run_for(t.io, *t.clock, 1s);
    CHECK(t.answers == std::vector<std::string>{"boom error", "queued ok"});
    CHECK(workers::restarts(*w) == 3);
    CHECK(t.log->snapshot() == std::vector<std::string>{"w: restarting 1 handler exception in 10ms",
                                                        "w: restarting 2 launch failed in 20ms",
                                                        "w: restarting 3 launch failed in 40ms",
                                                        "w: restarted 3"});
    shut_down(t.io, *w);
  }
  SECTION("three failures: the fourth attempt exceeds the limit") {
    *h.failures = 3;
    t.push(boom{}, "boom");
    t.push(add{1}, "queued");
    run_for(t.io, *t.clock, 1s);
    CHECK(t.answers == std::vector<std::string>{"boom error", "queued closed crashed"});
    const auto status = workers::status(*w);
    const auto* c = std::get_if<workers::closed>(&status);
    REQUIRE(c);
    REQUIRE(c->crash_errors);
    CHECK(c->crash_errors->size() == 5);  // the crash, three launches, the limit
  }
}

TEST_CASE("supervision: the backoff doubles up to its max and starts again after a quiet period",
          "[supervision]") {
  supervised<calc_table> t(infinite);
  const auto w = t.launch(restarting(restart_policy::transient, 100, backoff_ms(100, 300, 10'000)));
  std::vector<std::string> expected;
  for (int delay : {100, 200, 300, 300}) {
    t.push(boom{}, "boom");
    run_for(t.io, *t.clock, std::chrono::milliseconds(delay));
    REQUIRE(std::holds_alternative<workers::running>(workers::status(w)));
  }
  t.clock->advance(10s);
  t.push(boom{}, "boom");
  run_for(t.io, *t.clock, 100ms);
  const auto log = t.log->snapshot();
  REQUIRE(log.size() == 10);
  CHECK(log[0] == "w: restarting 1 handler exception in 100ms");
  CHECK(log[2] == "w: restarting 2 handler exception in 200ms");
  CHECK(log[4] == "w: restarting 3 handler exception in 300ms");
  CHECK(log[6] == "w: restarting 4 handler exception in 300ms");
  CHECK(log[8] == "w: restarting 5 handler exception in 100ms");
  shut_down(t.io, w);
}

TEST_CASE("supervision: a producer waiting for room in a bounded queue waits through a restart",
          "[supervision]") {
  supervised<bounded_table> t(bounded_1);
  const auto w = t.launch(restarting(restart_policy::transient, 1, backoff_ms(100, 100)));
  t.push(boom{}, "boom");
  t.push(add{1}, "queued");  // fills the queue once boom is taken
  t.push(add{2}, "waiting");
  run_until_idle(t.io);
  CHECK(t.answers == std::vector<std::string>{"boom error"});
  CHECK(t.phase() == "restart");
  run_for(t.io, *t.clock, 100ms);
  CHECK(t.answers == std::vector<std::string>{"boom error", "queued ok", "waiting ok"});
  shut_down(t.io, w);
}

TEST_CASE("supervision: restart_with_empty_queue answers what waited closed, as OTP loses it",
          "[supervision]") {
  supervised<calc_table> t(infinite);
  auto o = restarting(restart_policy::transient, 1, backoff_ms(100, 100));
  o.restart.restart_with_empty_queue = true;
  const auto w = t.launch(o);
  t.push(boom{}, "boom");
  t.push(add{1}, "queued");
  run_until_idle(t.io);
  CHECK(t.answers == std::vector<std::string>{"boom error", "queued closed crashed"});
  t.push(add{2}, "during backoff");  // accepted: the next incarnation handles it
  run_for(t.io, *t.clock, 100ms);
  CHECK(t.answers.back() == "during backoff ok");
  shut_down(t.io, w);
}

TEST_CASE("supervision: one_for_all restarts every supervised worker of the table together",
          "[supervision]") {
  supervised<calc_table> t(
      infinite,
      {.strategy = workers::supervision_strategy::one_for_all, .intensity = 1, .period = 5s});
  const auto a = t.launch(restarting(restart_policy::transient), "a");
  const auto b = t.launch(restarting(restart_policy::transient), "b");
  const auto c = t.launch(restarting(restart_policy::temporary), "c");
  t.push_to(b, add{7}, "b7");
  t.push_to(a, boom{}, "boom a");
  run_until_idle(t.io);
  CHECK(workers::restarts(a) == 1);
  CHECK(workers::restarts(b) == 1);
  CHECK(workers::restarts(c) == 0);  // temporary: not part of the group
  CHECK(t.answers == std::vector<std::string>{"b7 ok", "boom a error"});
  // One group restart counted: the next crash of any of them exceeds it, and
  // both close for good.
  t.push_to(b, boom{}, "boom b");
  run_until_idle(t.io);
  CHECK(std::holds_alternative<workers::closed>(workers::status(a)));
  CHECK(std::holds_alternative<workers::closed>(workers::status(b)));
  CHECK(std::holds_alternative<workers::running>(workers::status(c)));
  shut_down(t.io, c);
}

TEST_CASE("supervision: rest_for_one restarts the workers launched after the one that ended",
          "[supervision]") {
  supervised<calc_table> t(
      infinite,
      {.strategy = workers::supervision_strategy::rest_for_one, .intensity = 5, .period = 5s});
  const auto a = t.launch(restarting(restart_policy::transient), "a");
  const auto b = t.launch(restarting(restart_policy::transient), "b");
  const auto c = t.launch(restarting(restart_policy::transient), "c");
  t.push_to(b, boom{}, "boom b");
  run_until_idle(t.io);
  CHECK(workers::restarts(a) == 0);
  CHECK(workers::restarts(b) == 1);
  CHECK(workers::restarts(c) == 1);
  const auto log = t.log->snapshot();
  CHECK(std::count(log.begin(), log.end(), "c: restarting 1 sibling restart in 0ms") == 1);
  for (const auto& w : {a, b, c}) shut_down(t.io, w);
}

TEST_CASE("supervision: a callback worker's next incarnation reads again", "[supervision]") {
  supervised<callback_table> t(make_callback_table);
  calc_parameters p;
  p.stream = std::make_shared<request_stream>(t.io.get_executor());
  const auto w = t.launch(restarting(restart_policy::transient, 1, backoff_ms(50, 50)), "w", p);
  p.stream->send(add{1});
  p.stream->send(boom{});
  p.stream->send(add{2});
  run_for(t.io, *t.clock, 100ms);
  CHECK(std::holds_alternative<workers::running>(workers::status(w)));
  CHECK(workers::restarts(w) == 1);
  p.stream->send(add{3});
  p.stream->close();
  run_for(t.io, *t.clock, 100ms);
  const auto journal = t.h.j->snapshot();
  CHECK(std::count(journal.begin(), journal.end(), "done add 2") == 1);
  CHECK(std::count(journal.begin(), journal.end(), "done add 3") == 1);
  CHECK(std::holds_alternative<workers::closed>(workers::status(w)));
}

TEST_CASE("supervision: the context destroyed during a backoff abandons what waits",
          "[supervision][teardown]") {
  std::optional<calc_worker> w;
  std::string answer;
  {
    supervised<calc_table> t(infinite);
    w = t.launch(restarting(restart_policy::transient, 1, backoff_ms(100, 100)));
    t.push(boom{}, "boom");
    t.push(add{1}, "queued");
    run_until_idle(t.io);
    REQUIRE(t.phase() == "restart");
  }  // the io_context goes with its handlers, the timer's included
  const auto status = workers::status(*w);
  CHECK(std::holds_alternative<workers::closed>(status));
}

TEST_CASE("supervision: the context destroyed during a restart's on_launch",
          "[supervision][teardown]") {
  std::optional<calc_worker> w;
  {
    asio::io_context io;
    auto table = make_table();
    slow_launch h;
    workers::launch(table, io, "w", calc_parameters{}, h, restarting(restart_policy::transient),
                    [&](auto r) { w.emplace(*r); });
    run_until_idle(io);
    REQUIRE(w);
    workers::push_request(*w, boom{}, [](auto&&...) {});
    workers::push_request(*w, add{1}, [](auto&&...) {});
    run_until_idle(io);
    REQUIRE(std::holds_alternative<workers::restarting>(workers::status(*w)));
  }
  CHECK(std::holds_alternative<workers::closed>(workers::status(*w)));
}

TEST_CASE("supervision: a shutdown during a restart's awaited on_launch ends it", "[supervision]") {
  for (auto mode : {workers::shutdown_mode::abort, workers::shutdown_mode::drain}) {
    supervised<calc_table> t(infinite);
    gated_launch h;
    h.gate = std::make_shared<gate_channel>(t.io, 1);
    std::optional<calc_worker> w;
    workers::launch(t.table, t.io, "w", calc_parameters{}, h, restarting(restart_policy::transient),
                    [&](auto r) { w.emplace(*r); });
    run_until_idle(t.io);
    t.w = w;
    t.push(boom{}, "boom");
    t.push(add{1}, "queued");
    run_until_idle(t.io);
    REQUIRE(t.phase() == "restart");
    bool done = false;
    workers::shutdown(*w, mode, workers::no_deadline,
                      [&](error_code, workers::shutdown_report) { done = true; });
    run_until_idle(t.io);
    CAPTURE(workers::to_string(mode));
    if (mode == workers::shutdown_mode::drain) {
      CHECK_FALSE(done);  // the drain waits for on_launch
      h.gate->try_send(error_code{});
      run_until_idle(t.io);
      CHECK(t.answers == std::vector<std::string>{"boom error", "queued ok"});
    } else {
      CHECK(t.answers == std::vector<std::string>{"boom error", "queued closed"});
    }
    CHECK(done);
  }
}

TEST_CASE("supervision: an on_close that throws at a restart adds its error, the restart goes on",
          "[supervision]") {
  supervised<calc_table> t(infinite);
  calc_parameters p;
  p.throw_on_close = true;
  const auto w = t.launch(restarting(restart_policy::transient, 1, backoff_ms(100, 100)), "w", p);
  t.push(boom{}, "boom");
  run_until_idle(t.io);
  const auto status = workers::status(w);
  const auto* r = std::get_if<workers::restarting>(&status);
  REQUIRE(r);
  CHECK(r->last_errors ==
        workers::error_list{"on_request threw: boom", "on_close threw: close failed"});
  run_for(t.io, *t.clock, 100ms);
  CHECK(std::holds_alternative<workers::running>(workers::status(w)));
  const auto why = workers::last_close_reason(w);
  REQUIRE(why);
  CHECK(why->crash_errors->size() == 2);
  bool closed = false;
  workers::shutdown(w, [&](error_code) { closed = true; });
  run_until_idle(t.io);
  CHECK(closed);  // its last on_close threw too: closed, crashed
  CHECK(std::get<workers::closed>(workers::status(w)).crash_errors.has_value());
}

TEST_CASE("supervision: a shutdown made with deferred before a crash, launched during the backoff",
          "[supervision][teardown]") {
  supervised<calc_table> t(infinite);
  const auto w = t.launch(restarting(restart_policy::transient, 1, backoff_ms(100, 100)));
  auto later = workers::shutdown(w, asio::deferred);
  auto never = workers::shutdown(w, asio::deferred);  // never launched: no effect
  t.push(boom{}, "boom");
  t.push(add{1}, "queued");
  run_until_idle(t.io);
  REQUIRE(t.phase() == "restart");
  bool closed = false;
  std::move(later)([&](error_code ec) { closed = !ec; });
  run_until_idle(t.io);
  CHECK(closed);
  CHECK(t.answers == std::vector<std::string>{"boom error", "queued closed"});
  run_for(t.io, *t.clock, 1s);
  CHECK(workers::restarts(w) == 1);
  CHECK(workers::information(w).incarnations == 1);
  (void)never;
}

TEST_CASE("supervision: the watchdog's stuck crash restarts a transient worker", "[supervision]") {
  supervised<calc_table> t(infinite);
  stubborn_handlers h;
  auto o = restarting(restart_policy::transient, 1, backoff_ms(100, 100));
  o.watchdog = workers::watchdog_budgets{.stuck = 1s, .grace = 1s};
  std::optional<calc_worker> w;
  workers::launch(t.table, t.io, "w", calc_parameters{}, h, o, [&](auto r) { w.emplace(*r); });
  run_until_idle(t.io);
  t.w = w;
  hold gate = busy_gate(t.io.get_executor()).request();
  t.push(gate, "hold");
  t.push(add{1}, "queued");
  run_for(t.io, *t.clock, 3s);  // stuck at 1 s, cut, crashed 1 s later: it waits for the hold
  CHECK(t.phase() == "restart");
  const auto status = workers::status(*w);
  REQUIRE(std::get<workers::restarting>(status).last_errors);
  CHECK(std::get<workers::restarting>(status).last_errors->front().starts_with("stuck: hold"));
  CHECK(t.answers.empty());
  gate.release->try_send(error_code{});  // the handler returns: its caller gets its result
  run_for(t.io, *t.clock, 100ms);
  CHECK(t.answers == std::vector<std::string>{"hold ok", "queued ok"});
  CHECK(workers::restarts(*w) == 1);
  shut_down(t.io, *w);
}

TEST_CASE("supervision: a dropbox keeps its slot through a restart, puts merge into it",
          "[supervision]") {
  supervised<dropbox_table> t(make_dropbox_table);
  const auto w = t.launch(restarting(restart_policy::transient, 1, backoff_ms(100, 100)));
  workers::put_request_and_wait(w, boom{}, [&](auto r) { t.answers.push_back(r ? "ok" : "boom"); });
  run_until_idle(t.io);
  REQUIRE(t.phase() == "restart");
  for (int i = 1; i <= 3; ++i)
    workers::put_request_and_wait(w, add{i}, [&](auto r) {
      t.answers.push_back(r ? fmt::format("sum {}", *r) : std::string("error"));
    });
  run_until_idle(t.io);
  CHECK(workers::pending_requests_length(w) == 1);  // merged while the worker restarts
  run_for(t.io, *t.clock, 100ms);
  CHECK(t.answers == std::vector<std::string>{"boom", "sum 6", "sum 6", "sum 6"});
  shut_down(t.io, w);
}

// on_launch waits for `gate` at the first launch too.
struct gated_first_launch : supervised_handlers {
  std::shared_ptr<gate_channel> gate;
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_launch(W&, const std::string&,
                                                               const calc_parameters&) {
    co_await gate->async_receive(asio::use_awaitable);
    co_return 0;
  }
};

TEST_CASE("supervision: a drain that begins during the first awaited on_launch waits for it",
          "[supervision][faults]") {
  supervised<calc_table> t(infinite);
  gated_first_launch h;
  h.gate = std::make_shared<gate_channel>(t.io, 1);
  std::optional<calc_worker> w;
  std::optional<bool> launched;
  workers::launch(t.table, t.io, "w", calc_parameters{}, h, test_launch_options(), [&](auto r) {
    launched = r.has_value();
    if (r) w.emplace(*r);
  });
  run_until_idle(t.io);  // on_launch waits
  auto found = workers::find_opt(t.table, "w");
  REQUIRE(found);
  t.w = found;
  t.push(add{1}, "accepted");
  bool done = false;
  workers::shutdown(*found, workers::shutdown_mode::drain, workers::no_deadline,
                    [&](error_code, workers::shutdown_report) { done = true; });
  run_until_idle(t.io);
  CHECK_FALSE(done);  // the close waits for on_launch
  CHECK_FALSE(launched);
  h.gate->try_send(error_code{});
  run_until_idle(t.io);
  // The launch completes with the worker, which drains what it accepted, then closes.
  CHECK(launched == true);
  CHECK(t.answers == std::vector<std::string>{"accepted ok"});
  CHECK(done);
  CHECK(h.j->closes == 1);
  CHECK(std::holds_alternative<workers::closed>(workers::status(*found)));
}

TEST_CASE("supervision: restart options are checked at launch", "[supervision]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  auto o = test_launch_options();
  o.restart.policy = restart_policy::transient;
  o.restart.backoff = backoff_ms(200, 100);
  CHECK_THROWS_WITH(workers::launch(table, io, "w", calc_parameters{}, h, o, [](auto) {}),
                    Catch::Contains("restart options of worker test-calc_w"));
  CHECK_THROWS_AS(
      make_table(
          {.supervision = {.strategy = workers::supervision_strategy::one_for_all, .period = 0s}}),
      std::invalid_argument);
}

TEST_CASE("supervision: crashes and pushes from many threads, every caller answered once",
          "[supervision][concurrency]") {
  asio::thread_pool pool(4);
  auto table = make_table({.metrics = true});
  calc_handlers h;
  std::optional<calc_worker> w;
  std::promise<void> launched;
  workers::launch(table, pool.get_executor(), "w", calc_parameters{}, h,
                  restarting(restart_policy::permanent, 1'000'000), [&](auto r) {
                    w.emplace(*r);
                    launched.set_value();
                  });
  launched.get_future().wait();
  constexpr int per_thread = 2000;
  std::atomic<int> ok{0}, errors{0}, closed{0}, answered{0};
  std::promise<void> all_answered;
  std::vector<std::thread> producers;
  for (int t = 0; t < 3; ++t)
    producers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const auto count = [&](auto got) {
          if (got)
            ++ok;
          else if (got.error().is_closed())
            ++closed;
          else
            ++errors;
          if (++answered == 3 * per_thread) all_answered.set_value();
        };
        if ((i + t) % 50 == 0)
          workers::push_request_and_wait(*w, boom{}, count);
        else
          workers::push_request_and_wait(*w, add{1}, count);
      }
    });
  for (auto& p : producers) p.join();
  all_answered.get_future().wait();  // a crash during the close would not restart
  std::promise<void> closed_down;
  workers::shutdown(*w, workers::shutdown_mode::drain, workers::no_deadline,
                    [&](error_code, workers::shutdown_report) { closed_down.set_value(); });
  closed_down.get_future().wait();
  pool.join();
  CAPTURE(fmt::format("{}", workers::status(*w)));
  CHECK(ok + errors + closed == 3 * per_thread);
  CHECK(closed == 0);
  CHECK(errors == 3 * per_thread / 50);
  CHECK(workers::restarts(*w) == static_cast<std::uint32_t>(errors.load()));
}

}  // namespace supervision_tests
