// <workers/testing.hpp> itself: manual_clock (its clocks, its timers, the order
// and the executors they fire on), run_until_idle and run_for.

#include "support/calc.hpp"
#include "support/catch.hpp"

#include <workers/testing.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace testing_tests {

using namespace test;
using namespace std::chrono_literals;
using workers::testing::manual_clock;
using workers::testing::run_for;
using workers::testing::run_until_idle;
using steady = workers::steady_clock;

const steady::time_point steady_start = steady::time_point(1h);

// What fired, in order: the names the timers' functions log.
using log_type = std::vector<std::string>;

// Arms `t` for `at`; its function logs `name`.
void arm(workers::time_source::timer& t, steady::time_point at, std::string name, log_type& log) {
  t.wait_until(at, [&log, name] { log.push_back(name); });
}

TEST_CASE("testing: a manual clock starts at fixed points and moves only when told", "[testing]") {
  manual_clock clock;
  CHECK(clock.wall_now() == manual_clock::default_wall_start);
  CHECK(clock.steady_now() == steady_start);
  CHECK(clock.pending_timers() == 0);
  CHECK(!clock.next_deadline());
  clock.advance(1500ms);
  CHECK(clock.steady_now() == steady_start + 1500ms);
  CHECK(clock.wall_now() == manual_clock::default_wall_start + 1500ms);
  clock.advance(0ns);
  clock.advance(-5ms);  // never backwards
  CHECK(clock.steady_now() == steady_start + 1500ms);
  CHECK(clock.wall_now() == manual_clock::default_wall_start + 1500ms);

  const auto elsewhere = workers::clock::time_point(
      std::chrono::sys_days(std::chrono::year(2001) / 2 / 3).time_since_epoch());
  manual_clock other(elsewhere);
  CHECK(other.wall_now() == elsewhere);
  CHECK(other.steady_now() == steady_start);
  // The clock a table reads through its time_source.
  std::shared_ptr<workers::time_source> source = std::make_shared<manual_clock>(elsewhere);
  CHECK(source->wall_now() == elsewhere);
}

TEST_CASE("testing: advance fires due timers in deadline order, ties in arming order",
          "[testing]") {
  asio::io_context io;
  manual_clock clock;
  log_type log;
  auto a = clock.make_timer(io.get_executor());
  auto b = clock.make_timer(io.get_executor());
  auto c = clock.make_timer(io.get_executor());
  auto d = clock.make_timer(io.get_executor());
  auto e = clock.make_timer(io.get_executor());
  arm(*a, steady_start + 30ms, "a 30", log);
  arm(*b, steady_start + 10ms, "b 10", log);
  arm(*c, steady_start + 10ms, "c 10", log);  // armed after b, for the same deadline
  arm(*d, steady_start + 20ms, "d 20", log);
  arm(*e, steady_start + 30ms + 1ns, "e 30+", log);
  CHECK(clock.pending_timers() == 5);
  CHECK(clock.next_deadline() == steady_start + 10ms);

  clock.advance(10ms - 1ns);
  CHECK(run_until_idle(io) == 0);
  CHECK(log.empty());

  clock.advance(20ms + 1ns);  // to 30 ms: b, c, d, a are due
  CHECK(log.empty());         // posted to their executor, not run inside advance
  CHECK(clock.pending_timers() == 1);
  CHECK(clock.next_deadline() == steady_start + 30ms + 1ns);
  CHECK(run_until_idle(io) == 4);
  CHECK(log == log_type{"b 10", "c 10", "d 20", "a 30"});

  clock.advance(1ns);
  CHECK(run_until_idle(io) == 1);
  CHECK(log.back() == "e 30+");
  CHECK(clock.pending_timers() == 0);
  CHECK(!clock.next_deadline());
}

TEST_CASE("testing: a timer's function runs on the executor it was made for", "[testing]") {
  asio::io_context io1, io2;
  auto strand = asio::make_strand(io2);
  manual_clock clock;
  log_type log;
  bool on_strand = false;
  auto t1 = clock.make_timer(io1.get_executor());
  auto t2 = clock.make_timer(strand);
  arm(*t1, steady_start + 5ms, "io1", log);
  t2->wait_until(steady_start + 5ms, [&] {
    on_strand = strand.running_in_this_thread();
    log.push_back("strand");
  });
  clock.advance(5ms);
  CHECK(run_until_idle(io1) == 1);
  CHECK(log == log_type{"io1"});  // the strand's waits for io2 to run
  CHECK(run_until_idle(io2) >= 1);
  CHECK(log == log_type{"io1", "strand"});
  CHECK(on_strand);
}

TEST_CASE("testing: a timer armed by a firing one waits for the next advance", "[testing]") {
  asio::io_context io;
  manual_clock clock;
  auto t = clock.make_timer(io.get_executor());
  std::vector<steady::time_point> fired;
  // Fires every 10 ms: each time it runs, it arms itself 10 ms later.
  std::function<void()> tick = [&] {
    fired.push_back(clock.steady_now());
    t->wait_until(clock.steady_now() + 10ms, tick);
  };
  t->wait_until(steady_start + 10ms, tick);
  clock.advance(100ms);  // one wait was due: it fires once, not ten times
  run_until_idle(io);
  CHECK(fired == std::vector<steady::time_point>{steady_start + 100ms});
  CHECK(clock.pending_timers() == 1);
  CHECK(clock.next_deadline() == steady_start + 110ms);
  clock.advance(10ms);
  run_until_idle(io);
  CHECK(fired.size() == 2);
  CHECK(fired.back() == steady_start + 110ms);

  // Armed for a time already reached: posted at once, never waits.
  log_type log;
  auto late = clock.make_timer(io.get_executor());
  arm(*late, clock.steady_now(), "now", log);
  arm(*late, clock.steady_now() - 1h, "past", log);  // a second wait of the same timer
  CHECK(log.empty());                                // posted, not run inline
  CHECK(clock.pending_timers() == 1);                // only the ticking one waits
  run_until_idle(io);
  CHECK(log == log_type{"now", "past"});
  t->cancel();
}

TEST_CASE("testing: cancel, re-arming and destruction drop a timer's wait", "[testing]") {
  asio::io_context io;
  manual_clock clock;
  log_type log;
  auto t = clock.make_timer(io.get_executor());
  arm(*t, steady_start + 10ms, "cancelled", log);
  t->cancel();
  CHECK(clock.pending_timers() == 0);
  t->cancel();  // twice: nothing to do
  clock.advance(10ms);
  CHECK(run_until_idle(io) == 0);
  CHECK(log.empty());

  // Armed again, the wait in progress is replaced: only the second runs, at its deadline.
  arm(*t, clock.steady_now() + 5ms, "first", log);
  arm(*t, clock.steady_now() + 20ms, "second", log);
  CHECK(clock.pending_timers() == 1);
  CHECK(clock.next_deadline() == clock.steady_now() + 20ms);
  clock.advance(5ms);
  run_until_idle(io);
  CHECK(log.empty());
  clock.advance(15ms);
  run_until_idle(io);
  CHECK(log == log_type{"second"});

  // Replaced by an earlier deadline, the wait moves forward.
  arm(*t, clock.steady_now() + 20ms, "later", log);
  arm(*t, clock.steady_now() + 1ms, "sooner", log);
  CHECK(clock.next_deadline() == clock.steady_now() + 1ms);
  clock.advance(1ms);
  run_until_idle(io);
  CHECK(log == log_type{"second", "sooner"});
  CHECK(clock.pending_timers() == 0);

  // A destroyed timer's wait is gone; the others stay.
  auto other = clock.make_timer(io.get_executor());
  arm(*t, clock.steady_now() + 1ms, "destroyed", log);
  arm(*other, clock.steady_now() + 2ms, "other", log);
  CHECK(clock.pending_timers() == 2);
  t.reset();
  CHECK(clock.pending_timers() == 1);
  clock.advance(2ms);
  run_until_idle(io);
  CHECK(log == log_type{"second", "sooner", "other"});
}

TEST_CASE("testing: set_wall moves the wall clock alone", "[testing]") {
  asio::io_context io;
  manual_clock clock;
  log_type log;
  auto t = clock.make_timer(io.get_executor());
  arm(*t, steady_start + 10ms, "t", log);
  const auto back = manual_clock::default_wall_start - 24h;
  clock.set_wall(back);  // the system time stepped back a day
  CHECK(clock.wall_now() == back);
  CHECK(clock.steady_now() == steady_start);
  CHECK(clock.next_deadline() == steady_start + 10ms);
  run_until_idle(io);
  CHECK(log.empty());
  clock.set_wall(back + 48h);  // and forward two: no timer is due for it
  run_until_idle(io);
  CHECK(log.empty());
  CHECK(clock.pending_timers() == 1);
  clock.advance(10ms);  // both clocks move; the timer fires
  CHECK(clock.wall_now() == back + 48h + 10ms);
  CHECK(clock.steady_now() == steady_start + 10ms);
  run_until_idle(io);
  CHECK(log == log_type{"t"});
}

TEST_CASE("testing: timers armed and cancelled from several threads fire once each",
          "[testing][concurrency]") {
  asio::io_context io;
  manual_clock clock;
  constexpr int threads = 4, per_thread = 200;
  std::atomic<int> fired{0};
  std::vector<std::unique_ptr<workers::time_source::timer>> timers(threads * per_thread);
  for (auto& t : timers) t = clock.make_timer(io.get_executor());
  std::vector<std::thread> armers;
  for (int k = 0; k < threads; ++k)
    armers.emplace_back([&, k] {
      for (int i = 0; i < per_thread; ++i) {
        auto& t = *timers[k * per_thread + i];
        // Due after the advances below, which run meanwhile.
        t.wait_until(steady_start + 1h + std::chrono::milliseconds(i % 7), [&] { ++fired; });
        if (i % 2 == 1) t.cancel();  // half of them give up
        (void)clock.wall_now();
      }
    });
  for (int step = 0; step < 100; ++step) {
    clock.advance(1ms);
    run_until_idle(io);
  }
  for (auto& a : armers) a.join();
  CHECK(fired == 0);
  CHECK(clock.pending_timers() == threads * per_thread / 2);
  clock.advance(1h);
  run_until_idle(io);
  CHECK(fired == threads * per_thread / 2);
  CHECK(clock.pending_timers() == 0);
}

TEST_CASE("testing: run_until_idle runs what is ready, counts it, and never blocks", "[testing]") {
  asio::io_context io;
  CHECK(run_until_idle(io) == 0);
  int ran = 0;
  for (int i = 0; i < 3; ++i) asio::post(io, [&] { ++ran; });
  asio::post(io, [&] { asio::post(io, [&] { ++ran; }); });  // posts one more when it runs
  CHECK(run_until_idle(io) == 5);
  CHECK(ran == 4);
  // A stopped context runs again.
  io.stop();
  asio::post(io, [&] { ++ran; });
  CHECK(run_until_idle(io) == 1);
  CHECK(ran == 5);

  // A parked worker is a waiting operation: it keeps io.run() going, not run_until_idle.
  auto clock = std::make_shared<manual_clock>();
  auto table = make_table({.clock = clock});
  calc_handlers h;
  std::optional<calc_worker> w;
  workers::launch(table, io, "parked", calc_parameters{}, h,
                  [&](auto r) { w.emplace(std::move(r).value()); });
  CHECK(run_until_idle(io) > 0);
  REQUIRE(w);
  CHECK(std::holds_alternative<workers::running>(workers::status(*w)));
  CHECK(run_until_idle(io) == 0);
  std::optional<int> sum;
  workers::push_request_and_wait(*w, add{4},
                                 [&](workers::reply_result<add> r) { sum = r.value(); });
  CHECK(run_until_idle(io) > 0);
  CHECK(sum == 4);
  bool closed = false;
  workers::shutdown(*w, [&](boost::system::error_code) { closed = true; });
  run_until_idle(io);
  CHECK(closed);
  CHECK(clock->pending_timers() == 0);  // no idle timeout: the worker armed no timer
}

// Logs when on_no_request runs, in ms of the clock since its launch.
struct idle_log : calc_handlers {
  std::shared_ptr<manual_clock> clock;
  steady::time_point start = clock->steady_now();
  std::shared_ptr<std::vector<double>> at = std::make_shared<std::vector<double>>();
  explicit idle_log(std::shared_ptr<manual_clock> c) : clock(std::move(c)) {}
  template <class W>
  void on_no_request(W&) {
    at->push_back(std::chrono::duration<double, std::milli>(clock->steady_now() - start).count());
  }
};

TEST_CASE("testing: run_for fires each timer at its deadline, periodic ones included",
          "[testing]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  // No timer: the clock moves by exactly d.
  run_for(io, *clock, 25ms);
  CHECK(clock->steady_now() == steady_start + 25ms);

  auto table = make_table({.clock = clock});
  idle_log h(clock);
  auto options = test_launch_options();
  options.timeout = 40ms;
  std::optional<calc_worker> w;
  workers::launch(table, io, "idle", calc_parameters{}, h, options,
                  [&](auto r) { w.emplace(std::move(r).value()); });
  run_until_idle(io);
  REQUIRE(w);
  CHECK(clock->next_deadline() == clock->steady_now() + 40ms);
  run_for(io, *clock, 100ms);  // the idle timeout re-arms itself on the way
  CHECK(*h.at == std::vector<double>{40, 80});
  CHECK(clock->steady_now() == steady_start + 125ms);
  run_for(io, *clock, 20ms - 1ns);  // a timer 1 ns past the end does not fire
  CHECK(h.at->size() == 2);
  run_for(io, *clock, 1ns);  // one at the end does
  CHECK(*h.at == std::vector<double>{40, 80, 120});
  bool closed = false;
  workers::shutdown(*w, [&](boost::system::error_code) { closed = true; });
  run_until_idle(io);
  CHECK(closed);
  CHECK(clock->pending_timers() == 0);  // the close cancelled the idle timer
  run_for(io, *clock, 1h);
  CHECK(h.at->size() == 3);
}

}  // namespace testing_tests
