#pragma once

// Set-ups shared by the unit tests: launching and shutting down a worker on an
// io_context run by hand (workers::testing::run_until_idle), a check of a
// reply's worker_closed, and the Catch2 fixtures (calc_fixture and its kin).

#include "support/calc.hpp"
#include "support/catch.hpp"

#include <workers/testing.hpp>

#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace test {

// Launches a calc worker on `io` and runs `io` until idle: the worker, or the test fails.
template <class Table, class H>
typename Table::worker_type launch_now(asio::io_context& io, const Table& table, std::string name,
                                       H& h, workers::launch_options options) {
  std::optional<typename Table::worker_type> w;
  workers::launch(table, io, std::move(name), calc_parameters{}, h, options,
                  [&](auto r) { w.emplace(std::move(r).value()); });
  workers::testing::run_until_idle(io);
  REQUIRE(w);
  return *w;
}

// Shuts `w` down and runs `io` until it has closed.
template <class W>
void shut_down(asio::io_context& io, const W& w) {
  bool closed = false;
  workers::shutdown(w, [&](boost::system::error_code) { closed = true; });
  workers::testing::run_until_idle(io);
  REQUIRE(closed);
}

// Whether a reply is worker_closed, with crash errors if `crashed`.
template <class T>
bool is_closed_with(const T& r, bool crashed) {
  if (r || !r.error().is_closed()) return false;
  return std::get<workers::worker_closed>(r.error()).crash_errors.has_value() == crashed;
}

// Catch2 fixtures (TEST_CASE_METHOD): an io_context, a calc table, calc_handlers `h`, and a
// worker `w` named "w" launched with them (test_launch_options()), the io_context run until the
// launch completed. The test then runs `io`, with test::run or workers::testing::run_until_idle,
// and closes `w`. One per buffer kind the tests launch most: calc_fixture (an infinite queue),
// bounded_fixture<Size> and dropbox_fixture.
template <class Table>
struct worker_fixture {
  asio::io_context io;
  Table table;
  calc_handlers h;
  typename Table::worker_type w;

  explicit worker_fixture(Table t, std::string name = "w")
      : table(std::move(t)), w(launch_now(io, table, std::move(name), h, test_launch_options())) {
    io.restart();  // ready for a later io.run(), even had the launch run out of work
  }
};

struct calc_fixture : worker_fixture<calc_table> {
  calc_fixture() : worker_fixture(make_table()) {}
  explicit calc_fixture(std::string name, workers::table_options options = {})
      : worker_fixture(make_table(std::move(options)), std::move(name)) {}
};

template <std::size_t Size>
struct bounded_fixture : worker_fixture<bounded_table> {
  bounded_fixture() : worker_fixture<bounded_table>(make_bounded_table(Size)) {}
};

struct dropbox_fixture : worker_fixture<dropbox_table> {
  dropbox_fixture() : worker_fixture(make_dropbox_table()) {}
};

}  // namespace test
