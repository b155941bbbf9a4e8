// Events (SPEC §6): the exact sequence each scenario emits, over the four
// buffer kinds, and what sinks do with them: levels, the process-wide default
// replaced at run time, a sink that throws, a sink that pushes to a worker.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/kinds.hpp"
#include "support/run.hpp"

#include <workers/sinks.hpp>
#include <workers/testing.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <semaphore>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace events_tests {

using namespace test;
using namespace std::chrono_literals;
using workers::testing::manual_clock;
using workers::testing::run_until_idle;

// The field that tells occurrences of an event apart, if any.
struct detail_of {
  std::string operator()(const workers::events::started_for& f) const { return " " + f.name; }
  std::string operator()(const workers::events::request_no_errors& f) const {
    return " " + f.view.text();
  }
  std::string operator()(const workers::events::request_error& f) const {
    return " " + f.view.text() + ": " + f.error.text();
  }
  std::string operator()(const workers::events::request_dropped& f) const {
    return " " + f.view.text();
  }
  std::string operator()(const workers::events::request_cancelled& f) const {
    return " " + f.view.text();
  }
  std::string operator()(const workers::events::request_refused& f) const {
    return " " + f.view.text();
  }
  std::string operator()(const workers::events::handler_exception& f) const {
    return " " + f.where;
  }
  std::string operator()(const workers::events::queue_high& f) const {
    return fmt::format(" {}", f.length);
  }
  std::string operator()(const workers::events::queue_normal& f) const {
    return fmt::format(" {}", f.length);
  }
  template <class Other>
  std::string operator()(const Other&) const {
    return "";
  }
};

// One line per event: its kind, and the field that tells occurrences apart.
std::string summary(const workers::event& e) {
  return std::string(workers::to_string(e.kind())) + std::visit(detail_of{}, e.fields);
}

// Keeps every event of every level, in order.
struct recorder {
  std::mutex mutex;
  std::vector<workers::event> events;

  bool should_handle(workers::level) const noexcept { return true; }
  void handle(const workers::event& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex);
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(summary(e));
    return out;
  }
};

// A table of kind `Kind` whose events a recorder keeps, and what a test runs on it.
template <class Kind>
struct recorded {
  asio::io_context io;
  std::shared_ptr<recorder> rec = std::make_shared<recorder>();
  decltype(kind_ops<Kind>::make_table()) table = kind_ops<Kind>::make_table({.sink = rec});
  calc_handlers h;

  calc_parameters parameters = kind_ops<Kind>::parameters(io.get_executor());

  // Launches worker "a" with `parameters` (on the coroutine's executor).
  asio::awaitable<calc::worker<Kind>> launch() {
    return launch_as<calc::worker<Kind>>(table, "a", h, parameters);
  }
};

// The event `settle` adds: the add of a caller, the hold of a callback stream
// (its own event comes once the next request is taken or the worker closes).
template <class Kind>
const char* settled =
    kind_ops<Kind>::has_callers ? "request_no_errors add 0" : "request_no_errors hold";

using lines = std::vector<std::string>;

TEMPLATE_TEST_CASE("events: launch, requests that succeed and fail, shutdown", "[events]",
                   infinite_kind, bounded_kind, dropbox, callback) {
  using ops = kind_ops<TestType>;
  recorded<TestType> t;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto w = co_await t.launch();
    add two{2};
    fail no{"no"};
    if constexpr (ops::has_callers) {  // one at a time: a dropbox would merge them
      (void)co_await ops::submit_and_wait(w, two, asio::use_awaitable);
      (void)co_await ops::submit_and_wait(w, no, asio::use_awaitable);
    } else {
      ops::submit(w, two);
      ops::submit(w, no);
      co_await settle<TestType>(w);
    }
    co_await workers::shutdown(w);
  });
  lines expected{"started_for a", "request_no_errors add 2", "request_error fail no: no",
                 "triggering_shutdown", "terminated"};
  // A callback's settle opens the gate and returns: the hold ends after the shutdown began.
  if constexpr (!ops::has_callers) expected.insert(expected.begin() + 4, "request_no_errors hold");
  CHECK(t.rec->lines() == expected);
}

TEMPLATE_TEST_CASE("events: a handler that throws crashes the worker", "[events]", infinite_kind,
                   bounded_kind, dropbox, callback) {
  using ops = kind_ops<TestType>;
  recorded<TestType> t;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto w = co_await t.launch();
    ops::submit(w, boom{});
    co_await workers::wait_for_completion(w);
  });
  CHECK(t.rec->lines() == lines{"started_for a", "handler_exception on_request", "crashed"});
  const auto& crashed = std::get<workers::events::crashed>(t.rec->events.back().fields);
  CHECK(crashed.errors == workers::error_list{"on_request threw: boom"});
  CHECK(t.rec->events.back().level == workers::level::error);
}

TEMPLATE_TEST_CASE("events: on_error decides crash, shutdown, or throws", "[events]", infinite_kind,
                   bounded_kind, dropbox, callback) {
  using ops = kind_ops<TestType>;
  const auto [policy, tail] = GENERATE(table<on_error_policy, lines>({
      {on_error_policy::crash, lines{"crashed"}},
      {on_error_policy::shutdown, lines{"triggering_shutdown", "terminated"}},
      {on_error_policy::throws, lines{"handler_exception on_error", "crashed"}},
  }));
  recorded<TestType> t;
  t.parameters.policy = policy;  // outside the lambda: Clang 14 cannot capture a structured binding
  run(t.io, [&]() -> asio::awaitable<void> {
    auto w = co_await t.launch();
    ops::submit(w, fail{"no"});
    co_await workers::wait_for_completion(w);
  });
  lines expected{"started_for a", "request_error fail no: no"};
  expected.insert(expected.end(), tail.begin(), tail.end());
  CHECK(t.rec->lines() == expected);
}

TEMPLATE_TEST_CASE("events: a failed launch emits launch_failed only", "[events]", infinite_kind,
                   bounded_kind, dropbox, callback) {
  recorded<TestType> t;
  run(t.io, [&]() -> asio::awaitable<void> {
    t.parameters.fail_launch = true;
    auto r = co_await workers::launch(t.table, t.io.get_executor(), "a", t.parameters, t.h);
    CHECK_FALSE(r.has_value());
  });
  CHECK(t.rec->lines() == lines{"launch_failed"});
  CHECK(std::get<workers::events::launch_failed>(t.rec->events.at(0).fields).error ==
        "workers: launch of test-calc_a failed: on_launch returned an error");
}

TEMPLATE_TEST_CASE("events: what waits at close is dropped, what comes after refused", "[events]",
                   infinite_kind, bounded_kind, dropbox, callback) {
  using ops = kind_ops<TestType>;
  recorded<TestType> t;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto w = co_await t.launch();
    busy_gate gate(t.io.get_executor());
    ops::submit(w, gate.request());
    co_await gate.entered();
    ops::submit(w, add{1});
    ops::submit(w, add{2});
    co_await workers::shutdown(w);  // cancels the hold in flight
    if constexpr (ops::has_callers) CHECK(!ops::submit(w, add{3}));
  });
  lines expected{"started_for a", "triggering_shutdown"};
  // A dropbox merges its puts once its strand is free: the close came first.
  if constexpr (ops::has_callers) {
    expected.push_back("request_dropped add 1");
    expected.push_back("request_dropped add 2");
  }
  // A callback worker reads its next request only once it is free: none waits.
  expected.push_back("request_dropped hold");
  expected.push_back("terminated");
  if constexpr (ops::has_callers) expected.push_back("request_refused add 3");
  CHECK(t.rec->lines() == expected);
}

TEMPLATE_TEST_CASE("events: requests whose callers gave up are cancelled", "[events]",
                   infinite_kind, bounded_kind, dropbox) {
  using ops = kind_ops<TestType>;
  recorded<TestType> t;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto w = co_await t.launch();
    // In flight: a request that opts in is cut short when its caller cancels.
    {
      auto entered = std::make_shared<gate_channel>(t.io.get_executor(), 1);
      auto release = std::make_shared<gate_channel>(t.io.get_executor(), 1);
      asio::cancellation_signal cancel;
      auto op = ops::submit_and_wait(w, patient_hold{{entered, release}}, asio::deferred);
      auto answered = std::make_shared<std::atomic<bool>>(false);
      std::move(op)(
          asio::bind_cancellation_slot(cancel.slot(), [answered](auto) { *answered = true; }));
      co_await entered->async_receive(asio::use_awaitable);
      cancel.emit(asio::cancellation_type::terminal);
      co_await settle<TestType>(w);
      CHECK(*answered);
    }
    // Queued: a queue skips a request whose caller gave up (a dropbox handles it all the same).
    if constexpr (!std::is_same_v<TestType, dropbox>) {
      busy_gate gate(t.io.get_executor());
      ops::submit(w, gate.request());
      co_await gate.entered();
      asio::cancellation_signal cancel;
      auto op = ops::submit_and_wait(w, add{5}, asio::deferred);
      std::move(op)(asio::bind_cancellation_slot(cancel.slot(), [](auto) {}));
      cancel.emit(asio::cancellation_type::terminal);
      gate.open();
      co_await settle<TestType>(w);
    }
    co_await workers::shutdown(w);
  });
  lines expected{"started_for a", "request_cancelled patient hold", "request_no_errors add 0"};
  if constexpr (!std::is_same_v<TestType, dropbox>) {
    expected.push_back("request_no_errors hold");
    expected.push_back("request_cancelled add 5");
    expected.push_back("request_no_errors add 0");
  }
  expected.push_back("triggering_shutdown");
  expected.push_back("terminated");
  CHECK(t.rec->lines() == expected);
}

TEST_CASE("events: names, sections, levels and the worker as upstream spells them", "[events]") {
  recorded<infinite_kind> t;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(t.table, "n", t.h);
    fail x{"x"};  // named: see README, "Compilers"
    (void)co_await workers::push_request_and_wait(w, x, asio::use_awaitable);
    co_await workers::shutdown(w);
  });
  std::vector<std::string> names;
  for (const auto& e : t.rec->events) {
    names.push_back(e.name());
    CHECK(e.worker == "test-calc_n");
    CHECK(e.section == std::vector<std::string>{"test", "calc"});
    CHECK(e.level == workers::level_of(e.kind()));
  }
  CHECK(names == lines{"started_for_test-calc", "request_test-calc", "triggering_test-calc",
                       "terminate_test-calc"});
  const auto& failed = std::get<workers::events::request_error>(t.rec->events.at(1).fields);
  REQUIRE(failed.view.get<std::string>());
  CHECK(*failed.view.get<std::string>() == "fail x");
  REQUIRE(failed.error.get<std::string>());
  CHECK(*failed.error.get<std::string>() == "x");
  CHECK(failed.view.get<int>() == nullptr);
}

TEST_CASE("events: with no sink nothing is built, and the default is replaced at run time",
          "[events]") {
  asio::io_context io;
  auto table = make_table();  // no sink: the process-wide default, silent
  auto rec = std::make_shared<recorder>();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "d", h);
    (void)co_await workers::push_request_and_wait(w, add{1}, asio::use_awaitable);
    workers::set_default_sink(rec);
    (void)co_await workers::push_request_and_wait(w, add{2}, asio::use_awaitable);
    workers::set_default_sink({});
    (void)co_await workers::push_request_and_wait(w, add{3}, asio::use_awaitable);
    co_await workers::shutdown(w);
  });
  CHECK(rec->lines() == lines{"request_no_errors add 2"});
  CHECK(!workers::default_sink());
}

struct throwing_sink {
  bool should_handle(workers::level) const noexcept { return true; }
  void handle(const workers::event&) { throw std::runtime_error("sink down"); }
};

TEST_CASE("events: a sink that throws loses its events, not the worker or the requests",
          "[events]") {
  asio::io_context io;
  auto rec = std::make_shared<recorder>();
  auto table = make_table({.sink = workers::fan_out({throwing_sink{}, rec})});
  calc_handlers h;
  const auto failures_before = workers::sink_failures();
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "t", h);
    auto r = co_await workers::push_request_and_wait(w, add{4}, asio::use_awaitable);
    REQUIRE(r.has_value());
    CHECK(*r == 4);
    CHECK(std::holds_alternative<workers::running>(workers::status(w)));
    co_await workers::shutdown(w);
  });
  // Each event went to the recorder after the throwing sink had failed on it.
  CHECK(rec->lines() ==
        lines{"started_for t", "request_no_errors add 4", "triggering_shutdown", "terminated"});
  CHECK(workers::sink_failures() - failures_before == 4);

  // Alone, too: the worker's requests are answered, its close is clean.
  auto alone = make_table({.sink = throwing_sink{}});
  asio::io_context io2;
  run(io2, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(alone, "t", h);
    fail f{"f"};
    auto r = co_await workers::push_request_and_wait(w, f, asio::use_awaitable);
    CHECK_FALSE(r.has_value());
    co_await workers::shutdown(w);
    CHECK(std::get<workers::closed>(workers::status(w)).crash_errors == std::nullopt);
  });
}

TEST_CASE("events: a sink may push to another worker", "[events]") {
  asio::io_context io;
  auto audit_table = make_table();
  std::optional<calc_worker> audit;
  struct forwarding_sink {
    std::optional<calc_worker>* to;
    bool should_handle(workers::level l) const noexcept { return l >= workers::level::debug; }
    void handle(const workers::event& e) {
      if (*to && e.kind() == workers::event_kind::request_no_errors)
        workers::push_request_now(**to, add{1});
    }
  };
  auto table = make_table({.sink = forwarding_sink{&audit}});
  calc_handlers h, ha;
  run(io, [&]() -> asio::awaitable<void> {
    audit = co_await launch_ok(audit_table, "audit", ha);
    auto w = co_await launch_ok(table, "w", h);
    for (int i = 0; i < 10; ++i)
      (void)co_await workers::push_request_and_wait(w, add{1}, asio::use_awaitable);
    co_await workers::shutdown(w);
    auto total = co_await workers::push_request_and_wait(*audit, add{0}, asio::use_awaitable);
    CHECK(total.value() == 10);
    co_await workers::shutdown(*audit);
  });
}

TEST_CASE("events: fmt_sink writes one line per event at its level and above", "[events]") {
  asio::io_context io;
  std::ostringstream out;
  auto table = make_table({.sink = workers::fmt_sink(out, workers::level::info)});
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "f", h);
    (void)co_await workers::push_request_and_wait(w, add{1}, asio::use_awaitable);
    co_await workers::shutdown(w);
  });
  std::vector<std::string> text;
  std::istringstream in(out.str());
  for (std::string line; std::getline(in, line);) text.push_back(line.substr(line.find(' ') + 1));
  CHECK(text == lines{"info started_for_test-calc [test-calc_f] worker started for f",
                      "info terminate_test-calc [test-calc_f] worker terminated [test-calc]"});
}

TEST_CASE("events: backlog_sink keeps the last events of each level", "[events]") {
  asio::io_context io;
  auto backlog = std::make_shared<workers::backlog_sink>(2);
  auto table = make_table({.sink = backlog});
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "b", h);
    for (int i = 1; i <= 5; ++i)
      (void)co_await workers::push_request_and_wait(w, add{i}, asio::use_awaitable);
    // readable while the worker runs
    CHECK(backlog->events(workers::level::debug).size() == 2);
    co_await workers::shutdown(w);
  });
  std::vector<std::string> debug;
  for (const auto& e : backlog->events(workers::level::debug)) debug.push_back(summary(e));
  CHECK(debug == lines{"request_no_errors add 5", "triggering_shutdown"});
  const auto snapshot = backlog->snapshot();
  REQUIRE(snapshot.size() == 2);
  CHECK(snapshot[0].first == workers::level::debug);
  CHECK(snapshot[1].first == workers::level::info);
  CHECK(snapshot[1].second.size() == 2);  // started_for, terminated
}

TEMPLATE_TEST_CASE("events: queue alarms cross once each way", "[events]", infinite_kind,
                   bounded_kind) {
  using ops = kind_ops<TestType>;
  asio::io_context io;
  auto rec = std::make_shared<recorder>();
  auto table = ops::make_table({.sink = rec, .metrics = true});
  calc_handlers h;
  const workers::launch_options options{.alarms = workers::queue_alarms{.high = 3, .low = 1}};
  run(io, [&]() -> asio::awaitable<void> {
    auto r = co_await workers::launch(table, io.get_executor(), "q", calc_parameters{}, h, options);
    auto w = r.value();
    busy_gate gate(io.get_executor());
    ops::submit(w, gate.request());
    co_await gate.entered();
    for (int i = 1; i <= 4; ++i) ops::submit(w, add{i});  // high once, at 3
    gate.open();  // settle's add 0 comes last: normal once, when add 4 leaves only it
    co_await settle<TestType>(w);
    CHECK(workers::metrics(w)->queue_alarms == 1);
    co_await workers::shutdown(w);
  });
  CHECK(rec->lines() == lines{"started_for q", "queue_high 3", "request_no_errors hold",
                              "request_no_errors add 1", "request_no_errors add 2",
                              "request_no_errors add 3", "queue_normal 1",
                              "request_no_errors add 4", "request_no_errors add 0",
                              "triggering_shutdown", "terminated"});
}

TEST_CASE("events: the age alarm rises on an old request and falls on a fresh one", "[events]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto rec = std::make_shared<recorder>();
  auto table = make_table({.sink = rec, .clock = clock});
  calc_handlers h;
  auto options = test_launch_options();
  options.alarms = workers::queue_alarms{.max_age = 50ms};
  auto w = launch_now(io, table, "q", h, options);
  // Keeps the worker busy while a request waits `wait`, then lets it take that request.
  const auto waits = [&](int amount, std::chrono::nanoseconds wait) {
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    run_until_idle(io);
    workers::push_request_now(w, add{amount});
    clock->advance(wait);
    gate.open();
    run_until_idle(io);
  };
  waits(1, 50ms - 1ns);  // taken 1 ns short of max_age: no alarm
  CHECK(rec->lines() ==
        lines{"started_for q", "request_no_errors hold", "request_no_errors add 1"});
  waits(2, 50ms);  // taken exactly max_age old: the alarm rises
  waits(3, 0ns);   // the next taken, the fresh hold, brings it down
  waits(4, 0ns);   // and it stays down
  shut_down(io, w);
  const auto l = rec->lines();
  CHECK(l == lines{"started_for q", "request_no_errors hold", "request_no_errors add 1",
                   "request_no_errors hold", "queue_high 0", "request_no_errors add 2",
                   "queue_normal 0", "request_no_errors hold", "request_no_errors add 3",
                   "request_no_errors hold", "request_no_errors add 4", "triggering_shutdown",
                   "terminated"});
  REQUIRE(l.size() == 13);
  CHECK(std::get<workers::events::queue_high>(rec->events[4].fields).oldest_age == 50ms);
  // Stamped on the table's clock: the alarm rose when add 2 was taken, 50 ms - 1 ns + 50 ms in.
  CHECK(rec->events[4].time == manual_clock::default_wall_start + 100ms - 1ns);
  CHECK(rec->events[6].time == manual_clock::default_wall_start + 100ms - 1ns);
}

TEST_CASE("events: every request's event exactly once on a multi-threaded context",
          "[events][concurrency]") {
  asio::io_context io;
  auto rec = std::make_shared<recorder>();
  auto table = make_table({.sink = rec, .metrics = true});
  constexpr int producers = 4, per_producer = 500;
  calc_handlers h;
  run(
      io,
      [&]() -> asio::awaitable<void> {
        auto w = co_await launch_ok(table, "mt", h);
        std::vector<std::thread> threads;
        for (int p = 0; p < producers; ++p)
          threads.emplace_back([&] {
            for (int i = 0; i < per_producer; ++i) workers::push_request_now(w, add{1});
          });
        for (auto& t : threads) t.join();
        co_await settle<infinite_kind>(w);
        CHECK(workers::metrics(w)->handled == producers * per_producer + 1);
        co_await workers::shutdown(w);
      },
      4);
  int handled = 0;
  for (const auto& l : rec->lines()) handled += l == "request_no_errors add 1" ? 1 : 0;
  CHECK(handled == producers * per_producer);
}

// A fire-and-forget push that passed the phase check and loses the race with
// the close (the intake is sealed before its node is linked) is refused like
// any other: its request_refused event and its count.
struct tripwire_name {
  static constexpr std::string_view base[] = {"test", "tripwire"};
  using type = std::string;
};
// Runs `on_move` once, at its first move: the push has checked the phase and
// reserved a place, and is moving the request into the queue.
struct tripwire {
  using result_type = workers::unit;
  using error_type = std::string;
  std::shared_ptr<const std::function<void()>> on_move;
  explicit tripwire(std::function<void()> f)
      : on_move(std::make_shared<const std::function<void()>>(std::move(f))) {}
  tripwire(tripwire&& other) noexcept : on_move(std::exchange(other.on_move, nullptr)) {
    if (auto f = std::exchange(on_move, nullptr)) (*f)();
  }
  tripwire& operator=(tripwire&& other) noexcept {
    on_move = std::exchange(other.on_move, nullptr);
    return *this;
  }
};
struct tripwire_requests {
  using types = workers::request_types<tripwire>;
  using view_type = std::string;
  static std::string view(const tripwire&) { return "tripwire"; }
};
using tripwire_group = workers::make_single<tripwire_name, tripwire_requests, calc_types>;
struct tripwire_handlers {
  template <class W>
  workers::result<workers::unit, std::string> on_request(W&, const tripwire&) {
    return workers::unit{};
  }
};

TEMPLATE_TEST_CASE("events: a push that loses the race with the close is refused and counted",
                   "[events][concurrency]", workers::infinite_queue, workers::bounded_queue) {
  using kind = typename TestType::tag;
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  auto rec = std::make_shared<recorder>();
  TestType buffer{};
  if constexpr (std::is_same_v<TestType, workers::bounded_queue>) buffer.size = 4;
  auto table = tripwire_group::create_table(buffer, {.sink = rec, .metrics = true});
  io_runner runner(io);
  auto launched = workers::launch(table, io.get_executor(), std::string("t"), calc_parameters{},
                                  tripwire_handlers{}, asio::use_future);
  auto w = get_within(launched).value();

  // The producer stops inside the push (in the request's move) until the worker has closed.
  std::binary_semaphore in_push{0}, closed{0};
  std::atomic<bool> waited{false};
  std::thread producer([&] {
    auto wait_for_close = [&] {
      in_push.release();
      waited = closed.try_acquire_for(answer_limit);
    };
    bool queued = false;  // a prvalue: its first move is the push's own
    if constexpr (std::is_same_v<kind, workers::queue<workers::infinite>>)
      queued = workers::push_request_now(w, tripwire(wait_for_close));
    else
      queued = workers::try_push_request_now(w, tripwire(wait_for_close));
    CHECK_FALSE(queued);
  });
  REQUIRE(in_push.try_acquire_for(answer_limit));
  auto shut = workers::shutdown(w, asio::use_future);
  get_within(shut);
  closed.release();
  producer.join();
  guard.reset();
  REQUIRE(runner.returns_within());

  CHECK(waited);
  CHECK(rec->lines() ==
        lines{"started_for t", "triggering_shutdown", "terminated", "request_refused tripwire"});
  CHECK(workers::metrics(w)->refused == 1);
}

}  // namespace events_tests
