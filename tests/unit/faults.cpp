// Faults in user hooks and cross-worker lifecycles: each has a defined outcome.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <future>

// Named, so that the unity build keeps each file's helpers apart.
namespace faults_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;

struct throwing_completion : calc_handlers {
  template <class W, class R>
  void on_completion(W&, const R&, const typename R::result_type&, const workers::request_status&) {
    throw std::runtime_error("completion failed");
  }
};
struct throwing_idle : calc_handlers {
  void on_no_request(calc_worker&) { throw std::runtime_error("idle failed"); }
};
// Shuts another worker down from inside its own handler.
struct stopper : calc_handlers {
  std::shared_ptr<calc_worker> other = std::make_shared<calc_worker>();
  asio::awaitable<workers::result<workers::unit, std::string>> on_request(calc_worker&,
                                                                          const stop_self&) {
    co_await workers::shutdown(*other);  // waits for the other worker's close
    co_return workers::unit{};
  }
  using calc_handlers::on_request;
};
// Triggers its own shutdown while launching.
struct quitter : calc_handlers {
  workers::result<int, std::string> on_launch(calc_worker& self, const std::string&,
                                              const calc_parameters&) {
    workers::trigger_shutdown(self);
    return 0;
  }
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
  auto table = make_table();
  throwing_idle h;
  calc_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    auto r = co_await workers::launch(table, io.get_executor(), "idle", calc_parameters{}, h,
                                      workers::launch_options{std::chrono::milliseconds(1)});
    w = *r;
    co_await workers::wait_for_completion(w);
  });
  const auto st = std::get<workers::closed>(workers::status(w));
  REQUIRE(st.crash_errors->at(0).find("on_no_request threw: idle failed") != std::string::npos);
  REQUIRE(h.j->closes == 1);
}

TEST_CASE("lifecycle: one worker shuts another down from inside its handler", "[faults]") {
  asio::io_context io(2);
  auto table = make_table();
  stopper h;
  calc_handlers other_handlers;
  run(
      io,
      [&]() -> asio::awaitable<void> {
        *h.other = co_await launch_ok(table, "other", other_handlers);
        auto launched =
            co_await workers::launch(table, io.get_executor(), "stopper", calc_parameters{}, h);
        auto a = *launched;
        auto r = co_await workers::push_request_and_wait(a, stop_self{});
        REQUIRE(r.has_value());
        REQUIRE(std::holds_alternative<workers::closed>(workers::status(*h.other)));
        REQUIRE(std::holds_alternative<workers::running>(workers::status(a)));
        co_await workers::shutdown(a);
      },
      2);
  REQUIRE(other_handlers.j->closes == 1);
  REQUIRE(table.size() == 0);
}

TEST_CASE("lifecycle: a shutdown triggered during on_launch lets the launch succeed, then closes",
          "[faults]") {
  asio::io_context io;
  auto table = make_table();
  quitter h;
  run(io, [&]() -> asio::awaitable<void> {
    auto r = co_await workers::launch(table, io.get_executor(), "q", calc_parameters{}, h);
    REQUIRE(r.has_value());
    co_await workers::wait_for_completion(*r);
    REQUIRE(std::holds_alternative<workers::closed>(workers::status(*r)));
    auto [late] = co_await workers::push_request(*r, add{1}, asio::as_tuple(asio::use_awaitable));
    REQUIRE(late == workers::errc::closed);
  });
  REQUIRE(h.j->closes == 1);
  REQUIRE(table.size() == 0);
}

TEST_CASE("lifecycle: a worker outlives its destroyed table and still works", "[faults]") {
  asio::io_context io;
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    calc_worker w;
    {
      auto table = make_table();
      w = co_await launch_ok(table, "orphan", h);
    }  // the table handle is gone
    auto got = co_await workers::push_request_and_wait(w, add{2});
    REQUIRE(*got == 2);
    REQUIRE(workers::information(w).instances_number == 0);
    co_await workers::shutdown(w);
  });
  REQUIRE(h.j->closes == 1);
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
