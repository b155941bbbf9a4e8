// Every public type formats with fmt.

#include "support/calc.hpp"
#include "support/catch.hpp"

#include <fmt/format.h>

// Named, so that the unity build keeps each file's helpers apart.
namespace format_tests {

using namespace std::chrono_literals;

TEST_CASE("format: statuses, request status, information", "[format]") {
  const auto t = workers::clock::time_point{} + 24h;
  REQUIRE(fmt::format("{}", workers::worker_status{workers::running{t}}) ==
          "running since 1970-01-02T00:00:00");
  REQUIRE(fmt::format("{}", workers::worker_status{workers::launching{t}}) ==
          "launching since 1970-01-02T00:00:00");
  REQUIRE(fmt::format("{}", workers::worker_status{workers::closing{t, t + 1s}}) ==
          "closing since 1970-01-02T00:00:01 (born 1970-01-02T00:00:00)");
  REQUIRE(fmt::format("{}", workers::closed{t, t, workers::error_list{"a", "b"}}) ==
          "closed since 1970-01-02T00:00:00 (born 1970-01-02T00:00:00), crashed: [\"a\", \"b\"]");
  REQUIRE(fmt::format("{}", workers::request_status{t, 3ms, 2us}) ==
          "pushed 1970-01-02T00:00:00, treated after 3000µs, completed in 2µs");
  REQUIRE(fmt::format("{}", workers::worker_information{2, workers::running{t}, 5}) ==
          "running since 1970-01-02T00:00:00 (queue length 5, 2 worker(s) in table)");
  REQUIRE(fmt::format("{}", workers::pending_request<std::string>{t, "add 1"}) ==
          "add 1 (pushed 1970-01-02T00:00:00)");
}

TEST_CASE("format: message errors and launch errors", "[format]") {
  using me = workers::message_error<std::string>;
  REQUIRE(fmt::format("{}", me(workers::worker_closed{})) == "closed");
  REQUIRE(fmt::format("{}", me(workers::worker_closed{workers::error_list{"x"}})) ==
          "closed (crashed: [\"x\"])");
  REQUIRE(fmt::format("{}", me(workers::request_error<std::string>{"bad"})) ==
          "request error: bad");
  REQUIRE(fmt::format("{}", me(workers::handler_exception{std::make_exception_ptr(
                                std::runtime_error("oops"))})) == "exception: oops");
  REQUIRE(fmt::format("{}", me(workers::request_dropped{})) == "dropped");
  REQUIRE(fmt::format("{}", me(workers::request_cancelled{})) == "cancelled");
  REQUIRE(me(workers::request_dropped{}).code() == workers::errc::dropped);
  REQUIRE(me(workers::request_dropped{}).code().message() == "request dropped");
  workers::launch_error<std::string> le{workers::errc::name_taken, "taken", {}, {}};
  REQUIRE(fmt::format("{}", le) == "taken");
}

}  // namespace format_tests
