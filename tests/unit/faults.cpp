// Faults in user hooks and cross-worker lifecycles: each has a defined outcome.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

using namespace test;

namespace {
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
}  // namespace

TEST_CASE(
    "faults: an on_completion that throws still answers its caller, then crashes the worker") {
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

TEST_CASE("faults: an on_no_request that throws crashes the worker") {
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

TEST_CASE("lifecycle: one worker shuts another down from inside its handler") {
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

TEST_CASE("lifecycle: a shutdown triggered during on_launch lets the launch succeed, then closes") {
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

TEST_CASE("lifecycle: a worker outlives its destroyed table and still works") {
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
