// The parameter and handler concepts, checked in both directions.

#include "support/calc.hpp"
#include "support/catch.hpp"

// Named, so that the unity build keeps each file's helpers apart.
namespace concepts_tests {

struct no_base {
  using type = std::string;
};
struct unhashable_name {
  static constexpr std::string_view base[] = {"x"};
  struct type {
    bool operator==(const type&) const = default;
  };
};
struct no_error {
  using result_type = int;
};
struct void_result {
  using result_type = void;
  using error_type = int;
};
struct no_view_requests {
  using types = workers::request_types<test::add>;
  using view_type = std::string;
};
struct not_a_list {
  using types = std::tuple<test::add>;
  using view_type = std::string;
  static std::string view(const test::add&) { return ""; }
};
struct bad_types {
  using state_type = int;
  using parameters_type = int;
  using view_type = int;
};

struct only_add {
  workers::result<int, std::string> on_request(test::calc_worker&, const test::add&) { return 1; }
};
struct with_reason : only_add {
  void on_close(test::calc_worker&, const workers::close_reason&) {}
};
struct unit_name {
  static constexpr std::string_view base[] = {"validator"};
  using type = workers::unit;
};
struct infallible {
  using result_type = int;
  using error_type = workers::never;
};
struct picky_error {
  struct error {
    explicit error(int) {}
  };
  using result_type = int;
  using error_type = error;
};

// A one-request group, for handlers_for.
struct one_requests {
  using types = workers::request_types<test::add>;
  using view_type = std::string;
  static std::string view(const test::add&) { return "add"; }
};
using one = workers::make_single<test::calc_name, one_requests, test::calc_types>;
using one_worker = one::worker<workers::queue<workers::infinite>>;
struct one_request_handlers {
  workers::result<int, std::string> on_request(one_worker&, const test::add&) { return 1; }
};
struct one_wrong_on_error : one_request_handlers {
  int on_error(one_worker&, const workers::request_status&, const test::add&, const std::string&) {
    return 0;
  }
};
struct one_wrong_on_close : one_request_handlers {
  int on_close(one_worker&) { return 0; }
};
struct one_wrong_on_launch : one_request_handlers {
  long on_launch(one_worker&, const std::string&, const test::calc_parameters&) { return 0; }
};
struct one_failing_on_launch : one_request_handlers {
  workers::result<int, std::string> on_launch(one_worker&, const std::string&,
                                              const test::calc_parameters&) {
    return 0;
  }
};
struct wrong_result {
  workers::result<long, std::string> on_request(test::calc_worker&, const test::add&) { return 1; }
};
struct async_add {
  boost::asio::awaitable<workers::result<int, std::string>> on_request(test::calc_worker&,
                                                                       const test::add&) {
    co_return 1;
  }
};

TEST_CASE("concepts: parameters that conform are accepted", "[concepts]") {
  STATIC_REQUIRE(workers::name_parameter<test::calc_name>);
  STATIC_REQUIRE(workers::request_parameter<test::calc_requests>);
  STATIC_REQUIRE(workers::types_parameter<test::calc_types>);
  STATIC_REQUIRE(workers::request<test::add>);
  STATIC_REQUIRE(workers::request_of<test::add, test::calc_requests>);
}

TEST_CASE("concepts: parameters that do not conform are rejected", "[concepts]") {
  STATIC_REQUIRE_FALSE(workers::name_parameter<no_base>);
  STATIC_REQUIRE_FALSE(workers::name_parameter<unhashable_name>);
  STATIC_REQUIRE_FALSE(workers::request<no_error>);
  STATIC_REQUIRE_FALSE(workers::request<void_result>);
  STATIC_REQUIRE_FALSE(workers::request_parameter<no_view_requests>);
  STATIC_REQUIRE_FALSE(workers::request_parameter<not_a_list>);
  STATIC_REQUIRE_FALSE(workers::types_parameter<bad_types>);
  STATIC_REQUIRE_FALSE(workers::request_of<int, test::calc_requests>);
}

TEST_CASE("concepts: the parts of the handlers concept, plain or awaitable, right result type",
          "[concepts]") {
  using workers::detail::has_on_close;
  using workers::detail::has_on_completion;
  using workers::detail::has_on_error;
  using workers::detail::has_on_request;
  using workers::detail::on_request_handler;
  STATIC_REQUIRE(on_request_handler<only_add, test::calc_worker, test::add>);
  STATIC_REQUIRE(on_request_handler<async_add, test::calc_worker, test::add>);
  STATIC_REQUIRE_FALSE(on_request_handler<wrong_result, test::calc_worker, test::add>);
  STATIC_REQUIRE_FALSE(has_on_request<only_add, test::calc_worker, test::fail>);
  STATIC_REQUIRE(has_on_close<test::calc_handlers, test::calc_worker>);
  STATIC_REQUIRE(has_on_close<with_reason, test::calc_worker>);
  STATIC_REQUIRE_FALSE(has_on_close<only_add, test::calc_worker>);
  STATIC_REQUIRE(has_on_error<test::calc_handlers, test::calc_worker, test::fail>);
  STATIC_REQUIRE(has_on_completion<test::calc_handlers, test::calc_worker, test::add>);
}

TEST_CASE("concepts: handlers_for accepts complete handlers and rejects incomplete ones",
          "[concepts]") {
  STATIC_REQUIRE(workers::handlers_for<test::calc_handlers, test::calc_worker>);
  STATIC_REQUIRE(workers::handlers_for<test::calc_handlers, test::dropbox_worker>);
  STATIC_REQUIRE(workers::handlers_for<one_request_handlers, one_worker>);
  STATIC_REQUIRE_FALSE(workers::handlers_for<only_add, test::calc_worker>);     // misses requests
  STATIC_REQUIRE_FALSE(workers::handlers_for<one_wrong_on_error, one_worker>);  // bad on_error
  STATIC_REQUIRE_FALSE(workers::handlers_for<one_request_handlers&, one_worker>);  // not an object
  // The optional members' shapes too: launch instantiates the worker only for
  // handlers the concept accepts, so it must check all that launch checks.
  STATIC_REQUIRE(workers::handlers_for<one_failing_on_launch, one_worker>);
  STATIC_REQUIRE_FALSE(workers::handlers_for<one_wrong_on_launch, one_worker>);  // not the state
  STATIC_REQUIRE_FALSE(workers::handlers_for<one_wrong_on_close, one_worker>);   // returns int
}

TEST_CASE("concepts: unit names a worker, never is an error type that cannot occur", "[concepts]") {
  STATIC_REQUIRE(workers::worker_name<workers::unit>);
  STATIC_REQUIRE(workers::name_parameter<unit_name>);
  STATIC_REQUIRE_FALSE(std::is_default_constructible_v<workers::never>);
  STATIC_REQUIRE(workers::request<infallible>);
  STATIC_REQUIRE_FALSE(workers::request<picky_error>);  // result cannot carry it
  REQUIRE(std::hash<workers::unit>{}(workers::unit{}) ==
          std::hash<workers::unit>{}(workers::unit{}));
}

}  // namespace concepts_tests
