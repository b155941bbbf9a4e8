// Faults in user code: on_completion, on_no_request, on_error and on_close
// that throw, a canceler hook that throws, a request whose destructor calls
// into its own worker, and wake-ups that must not restart the idle timeout.
// Each has a defined outcome.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <workers/testing.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <future>

// Named, so that the unity build keeps each file's helpers apart.
namespace faults_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;
using workers::testing::manual_clock;
using workers::testing::run_for;
using workers::testing::run_until_idle;

// A launch_options with the idle timeout `timeout` (and the tests' reply mode).
workers::launch_options idle_after(std::chrono::steady_clock::duration timeout) {
  auto o = test_launch_options();
  o.timeout = timeout;
  return o;
}

// Records when on_no_request runs, in milliseconds of `clock` since `start`.
struct idle_log : calc_handlers {
  std::shared_ptr<manual_clock> clock;
  std::chrono::steady_clock::time_point start = clock->steady_now();
  std::shared_ptr<std::vector<double>> at = std::make_shared<std::vector<double>>();
  explicit idle_log(std::shared_ptr<manual_clock> c) : clock(std::move(c)) {}
  template <class W>
  void on_no_request(W&) {
    at->push_back(std::chrono::duration<double, std::milli>(clock->steady_now() - start).count());
  }
};

struct throwing_completion : calc_handlers {
  template <class W, class R>
  void on_completion(W&, const R&, const typename R::result_type&, const workers::request_status&) {
    throw std::runtime_error("completion failed");
  }
};
struct throwing_idle : calc_handlers {
  void on_no_request(calc_worker&) { throw std::runtime_error("idle failed"); }
};

TEST_CASE("faults: an on_completion that throws still answers its caller, then crashes the worker",
          "[faults]") {
  asio::io_context io;
  auto table = make_table();
  throwing_completion h;
  calc_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    auto r = co_await workers::launch(table, io.get_executor(), "oc", calc_parameters{}, h);
    w = *r;
    auto got = co_await workers::push_request_and_wait(w, add{4});
    REQUIRE(*got == 4);
    co_await workers::wait_for_completion(w);
  });
  const auto st = std::get<workers::closed>(workers::status(w));
  REQUIRE(st.crash_errors->at(0).find("on_completion threw: completion failed") !=
          std::string::npos);
  REQUIRE(h.j->closes == 1);
}

TEST_CASE("faults: an on_no_request that throws crashes the worker", "[faults]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto table = make_table({.clock = clock});
  throwing_idle h;
  auto w = launch_now(io, table, "idle", h, idle_after(1ms));
  run_for(io, *clock, 1ms - 1ns);  // idle 1 ns short of its timeout: nothing yet
  REQUIRE(std::holds_alternative<workers::running>(workers::status(w)));
  REQUIRE(h.j->closes == 0);
  run_for(io, *clock, 1ns);
  const auto st = std::get<workers::closed>(workers::status(w));
  REQUIRE(st.crash_errors);
  REQUIRE(st.crash_errors->at(0).find("on_no_request threw: idle failed") != std::string::npos);
  CHECK(st.born == manual_clock::default_wall_start);
  CHECK(st.since == manual_clock::default_wall_start + 1ms);  // closed at the timeout, exactly
  REQUIRE(h.j->closes == 1);
}

TEST_CASE("faults: on_error and on_close that throw have defined outcomes", "[faults]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h1, h2;
  calc_worker w1, w2;
  run(io, [&]() -> asio::awaitable<void> {
    w1 = co_await launch_ok(table, "oe", h1, {.policy = on_error_policy::throws});
    // GCC 12 miscompiles class temporaries holding a std::string inside a
    // co_await expression (see README, "Compilers"): name the request first.
    fail request{"y"};
    auto r = co_await workers::push_request_and_wait(w1, std::move(request));
    REQUIRE(r.error().is_request_error());  // the request's own outcome still reaches its caller
    co_await workers::wait_for_completion(w1);
    w2 = co_await launch_ok(table, "oc", h2, {.throw_on_close = true});
    co_await workers::shutdown(w2);
  });
  auto c1 = std::get<workers::closed>(workers::status(w1));
  REQUIRE(c1.crash_errors);
  REQUIRE(c1.crash_errors->at(0).find("on_error") != std::string::npos);
  auto c2 = std::get<workers::closed>(workers::status(w2));
  REQUIRE(c2.crash_errors);
  REQUIRE(c2.crash_errors->at(0).find("on_close") != std::string::npos);
  REQUIRE(h1.j->closes == 1);
  REQUIRE(h2.j->closes == 1);
}

// Fault 3 (akka#20998's shape): wake-ups that bring no request must not
// restart the idle timeout, which counts from the last request taken (or the
// last on_no_request). 30 submissions 10 ms apart, none of which the worker
// takes, under a 40 ms timeout: on_no_request at 40, 80, ..., 280 ms, 7 times;
// a worker that restarted its timeout at each wake-up would never run it.
const std::vector<double> every_40ms_to_300 = {40, 80, 120, 160, 200, 240, 280};
const std::vector<double> then_320 = {40, 80, 120, 160, 200, 240, 280, 320};

// A dropbox whose merge empties the slot on an add of 0 (and counts its calls).
auto emptying_dropbox_table(std::shared_ptr<manual_clock> clock, std::shared_ptr<int> merges) {
  return calc::create_table(
      workers::merging_dropbox{[merges](dropbox_worker& self, calc_any incoming,
                                        const calc_any* pending) -> workers::merged<calc_any> {
        ++*merges;
        if (auto* a = std::get_if<add>(&incoming); a && a->amount == 0)
          return workers::merged<calc_any>::empty();
        return merge_adds(self, std::move(incoming), pending);
      }},
      {.metrics = true, .clock = std::move(clock)});
}

TEST_CASE("faults: dropbox puts that their merge empties do not restart the idle timeout",
          "[faults]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto merges = std::make_shared<int>(0);
  auto table = emptying_dropbox_table(clock, merges);
  idle_log h(clock);
  auto w = launch_now(io, table, "d", h, idle_after(40ms));
  for (int i = 1; i <= 30; ++i) {
    run_for(io, *clock, 10ms);
    REQUIRE(workers::put_request(w, add{0}));  // wakes the worker, whose merge empties the slot
    run_until_idle(io);
  }
  CHECK(*merges == 30);  // the worker woke for each put and took nothing
  CHECK(workers::metrics(w)->handled == 0);
  CHECK(*h.at == every_40ms_to_300);
  // Still measured from the last on_no_request (280 ms): the next at 320, not at 340.
  run_for(io, *clock, 20ms - 1ns);
  CHECK(*h.at == every_40ms_to_300);
  run_for(io, *clock, 1ns);
  CHECK(*h.at == then_320);
  shut_down(io, w);
}

TEST_CASE("faults: dropbox puts the worker takes do restart the idle timeout", "[faults]") {
  // The same rhythm, with requests taken: no on_no_request until 40 ms after the last.
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto merges = std::make_shared<int>(0);
  auto table = emptying_dropbox_table(clock, merges);
  idle_log h(clock);
  auto w = launch_now(io, table, "d", h, idle_after(40ms));
  for (int i = 1; i <= 30; ++i) {
    run_for(io, *clock, 10ms);
    REQUIRE(workers::put_request(w, add{1}));
    run_until_idle(io);
  }
  CHECK(workers::metrics(w)->handled == 30);
  CHECK(h.at->empty());
  run_for(io, *clock, 40ms);
  CHECK(*h.at == std::vector<double>{340});
  shut_down(io, w);
}

TEST_CASE("faults: queued requests whose callers gave up do not restart the idle timeout",
          "[faults]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto table = make_table({.metrics = true, .clock = clock});
  idle_log h(clock);
  auto w = launch_now(io, table, "q", h, idle_after(40ms));
  int cancelled = 0;
  for (int i = 1; i <= 30; ++i) {
    run_for(io, *clock, 10ms);
    // The push wakes the worker; its caller gives up before the worker runs,
    // so the worker takes the request only to skip it.
    asio::cancellation_signal give_up;
    workers::push_request_and_wait(
        w, add{1}, asio::bind_cancellation_slot(give_up.slot(), [&](workers::reply_result<add> r) {
          if (!r && r.error().code() == asio::error::operation_aborted) ++cancelled;
        }));
    give_up.emit(asio::cancellation_type::terminal);
    run_until_idle(io);
    REQUIRE(workers::pending_requests_length(w) == 0);  // skipped, not left queued
  }
  CHECK(cancelled == 30);
  const auto m = workers::metrics(w).value();
  CHECK(m.cancelled == 30);
  CHECK(m.handled == 0);
  CHECK(*h.at == every_40ms_to_300);
  run_for(io, *clock, 20ms - 1ns);
  CHECK(*h.at == every_40ms_to_300);
  run_for(io, *clock, 1ns);
  CHECK(*h.at == then_320);
  bool zero = false;
  workers::with_state(
      w, [](int& s) { return s; },
      [&](std::exception_ptr, std::optional<int> s) { zero = s == 0; });
  run_until_idle(io);
  CHECK(zero);  // no skipped add was handled
  shut_down(io, w);
}

// A canceler hook that throws.
TEST_CASE(
    "faults: a canceler hook that throws still lets every waiter be answered and run() return",
    "[faults]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  auto launched = workers::launch(table, io.get_executor(), "throwing-hook", calc_parameters{}, h,
                                  asio::use_future);
  io_runner runner(io);
  auto w = get_within(launched).value();
  workers::canceler(w).on_cancel([] { throw std::runtime_error("hook threw"); });
  busy_gate gate(io.get_executor());
  auto in_flight = workers::push_request_and_wait(w, gate.request(), asio::use_future);
  auto entered = asio::co_spawn(io, gate.entered(), asio::use_future);
  get_within(entered);
  auto queued = workers::push_request_and_wait(w, add{1}, asio::use_future);
  auto completion = workers::wait_for_completion(w, asio::use_future);
  auto shut = workers::shutdown(w, asio::use_future);

  CHECK(answered_within(in_flight));
  CHECK(answered_within(queued));
  CHECK(answered_within(completion));
  CHECK(answered_within(shut));
  const bool returned = runner.returns_within();
  INFO("exceptions that escaped io_context::run(): " << runner.escaped());
  CHECK(returned);
  CHECK(std::holds_alternative<workers::closed>(workers::status(w)));
}

// User code run under the worker's locks.
// A group whose request's destructor calls into its own worker.
struct probe_name {
  static constexpr std::string_view base[] = {"test", "probe"};
  using type = std::string;
};

enum class probe_call { pending_requests_length, current_request, push };

struct probe_target;

// Calls `target->call` on the worker from its destructor, moved-from or not
// (the pointer is copied on move), as a user type might.
struct probe {
  using result_type = workers::unit;
  using error_type = std::string;
  probe_target* target = nullptr;
  ~probe();
};
struct noop {
  using result_type = workers::unit;
  using error_type = std::string;
};
// Suspends the worker: signals `entered`, waits for `release`.
struct suspend {
  using result_type = workers::unit;
  using error_type = std::string;
  std::shared_ptr<gate_channel> entered;
  std::shared_ptr<gate_channel> release;
};

struct probe_requests {
  using types = workers::request_types<probe, noop, suspend>;
  using view_type = std::string;
  static std::string view(const probe&) { return "probe"; }
  static std::string view(const noop&) { return "noop"; }
  static std::string view(const suspend&) { return "suspend"; }
};
struct probe_types {
  using state_type = int;
  using parameters_type = int;
  using view_type = int;
  static int view(const int& s, const int&) { return s; }
};
using probe_group = workers::make_single<probe_name, probe_requests, probe_types>;
using probe_any = probe_group::any_request;
using probe_queue_worker = probe_group::worker<workers::queue<workers::infinite>>;
using probe_dropbox_worker = probe_group::worker<workers::dropbox>;

struct probe_handlers {
  template <class W>
  workers::result<workers::unit, std::string> on_request(W&, const probe&) {
    return workers::unit{};
  }
  template <class W>
  workers::result<workers::unit, std::string> on_request(W&, const noop&) {
    return workers::unit{};
  }
  template <class W>
  asio::awaitable<workers::result<workers::unit, std::string>> on_request(W&, const suspend& s) {
    s.entered->try_send(error_code{});
    co_await s.release->async_receive(asio::use_awaitable);
    co_return workers::unit{};
  }
};

struct probe_target {
  probe_call call = probe_call::pending_requests_length;
  std::optional<probe_queue_worker> queue_worker;      // set while the worker runs
  std::optional<probe_dropbox_worker> dropbox_worker;  // idem

  template <class W>
  void touch(const W& w) {
    switch (call) {
      case probe_call::pending_requests_length:
        (void)workers::pending_requests_length(w);
        break;
      case probe_call::current_request:
        (void)workers::current_request(w);
        break;
      case probe_call::push:
        if constexpr (std::is_same_v<typename W::kind, workers::dropbox>)
          (void)workers::put_request(w, noop{});
        else
          (void)workers::push_request_now(w, noop{});
        break;
    }
  }
  void touch() {
    if (queue_worker) touch(*queue_worker);
    if (dropbox_worker) touch(*dropbox_worker);
  }
};

probe::~probe() {
  if (target) target->touch();
}

const char* name_of(probe_call c) {
  switch (c) {
    case probe_call::pending_requests_length:
      return "pending_requests_length";
    case probe_call::current_request:
      return "current_request";
    case probe_call::push:
      return "a push";
  }
  return "?";
}

// Everything a scenario's thread uses, on the heap: if the worker deadlocks,
// the thread is detached and this is leaked with it, never destroyed under it.
struct probe_scenario {
  probe_target target;
  asio::io_context io;
  std::exception_ptr failure;
  bool completed = false;
};

// Runs `make()`'s coroutine on `s->io`, on a thread of its own. False if it has
// not finished within `within`: the thread is then stuck (a deadlock) and is
// left behind, with `s`.
template <class Make>
bool finishes_within(std::shared_ptr<probe_scenario> s, Make make,
                     std::chrono::steady_clock::duration within) {
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  std::thread t([s, done, make = std::move(make)]() mutable {
    asio::co_spawn(s->io, make(), [s](std::exception_ptr e) {
      s->failure = e;
      s->io.stop();
    });
    s->io.run();
    done->set_value();
  });
  if (finished.wait_for(within) != std::future_status::ready) {
    t.detach();
    return false;
  }
  t.join();
  if (s->failure) std::rethrow_exception(s->failure);
  return s->completed;
}

// A queue worker, busy; a probe is queued, then more requests (the queue grows
// and moves its entries); then the worker handles them all and closes.
asio::awaitable<void> queue_probe_scenario(std::shared_ptr<probe_scenario> s) {
  auto ex = co_await asio::this_coro::executor;
  auto table = probe_group::create_table(workers::infinite_queue{});
  probe_handlers h;
  std::string name = "queue";
  int params = 0;
  auto w = (co_await workers::launch(table, ex, std::move(name), params, h)).value();
  s->target.queue_worker = w;
  auto entered = std::make_shared<gate_channel>(ex, 1);
  auto release = std::make_shared<gate_channel>(ex, 1);
  workers::push_request_now(w, suspend{entered, release});
  co_await entered->async_receive(asio::use_awaitable);
  workers::push_request_now(w, probe{&s->target});
  for (int i = 0; i < 64; ++i) workers::push_request_now(w, noop{});
  release->try_send(error_code{});
  auto last = co_await workers::push_request_and_wait(w, noop{});
  (void)last;
  co_await workers::shutdown(w);
  s->target.queue_worker.reset();
  s->completed = true;
}

// A dropbox worker, busy; a probe is put, then a request that replaces it.
asio::awaitable<void> dropbox_probe_scenario(std::shared_ptr<probe_scenario> s) {
  auto ex = co_await asio::this_coro::executor;
  auto table = probe_group::create_table(workers::merging_dropbox{
      [](probe_dropbox_worker&, probe_any incoming, const probe_any*) { return incoming; }});
  probe_handlers h;
  std::string name = "dropbox";
  int params = 0;
  auto w = (co_await workers::launch(table, ex, std::move(name), params, h)).value();
  s->target.dropbox_worker = w;
  auto entered = std::make_shared<gate_channel>(ex, 1);
  auto release = std::make_shared<gate_channel>(ex, 1);
  workers::put_request(w, suspend{entered, release});
  co_await entered->async_receive(asio::use_awaitable);
  workers::put_request(w, probe{&s->target});
  workers::put_request(w, noop{});  // merged over the probe: the probe leaves the slot
  release->try_send(error_code{});
  auto last = co_await workers::put_request_and_wait(w, noop{});
  (void)last;
  workers::put_request(w, probe{&s->target});  // handled, then destroyed
  auto after = co_await workers::put_request_and_wait(w, noop{});
  (void)after;
  co_await workers::shutdown(w);
  s->target.dropbox_worker.reset();
  s->completed = true;
}

// Runs `scenario` once per call a destructor may make. A deadlocked worker's
// thread is left behind (detached, stuck) and its state leaked, so that the
// other tests still run: 5 s per deadlock.
template <class Scenario>
void check_each_probe_call(Scenario scenario) {
  for (auto call :
       {probe_call::pending_requests_length, probe_call::current_request, probe_call::push}) {
    auto s = std::make_shared<probe_scenario>();
    s->target.call = call;
    INFO("the destructor calls " << name_of(call));
    CHECK(finishes_within(
        s, [s, scenario] { return scenario(s); }, 5s));
  }
}

TEST_CASE(
    "faults: a queued request whose destructor calls into its own worker does not deadlock it",
    "[faults]") {
  check_each_probe_call(queue_probe_scenario);
}

TEST_CASE(
    "faults: a dropbox request whose destructor calls into its own worker does not deadlock it",
    "[faults]") {
  check_each_probe_call(dropbox_probe_scenario);
}

}  // namespace faults_tests
