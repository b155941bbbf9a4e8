// Canceler (<workers/canceler.hpp>): its hooks run once when the worker
// closes, and at once when added afterwards. A hook that throws: faults.cpp.

#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

// Named, so that the unity build keeps each file's helpers apart.
namespace canceler_tests {

using namespace test;

TEST_CASE_METHOD(calc_fixture,
                 "canceler: hooks run once when the worker closes, and at once afterwards",
                 "[canceler]") {
  int before = 0, after = 0;
  run(io, [&]() -> asio::awaitable<void> {
    auto c = workers::canceler(w);
    c.on_cancel([&] { ++before; });
    REQUIRE_FALSE(c.canceled());
    REQUIRE(before == 0);
    co_await workers::shutdown(w);
    REQUIRE(c.canceled());
    REQUIRE(before == 1);
    workers::canceler(w).on_cancel([&] { ++after; });
    REQUIRE(after == 1);
  });
  REQUIRE(before == 1);
}

}  // namespace canceler_tests
