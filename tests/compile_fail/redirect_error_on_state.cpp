// expect: with_state completes with \(std::exception_ptr, value\), so redirect_error has no error_code to set
// errors: 1
// with_state completes with what its function threw, not an error_code: redirect_error would
// never set its error_code (and use_awaitable rethrows the exception anyway). It is refused.
#include "group.hpp"

boost::asio::awaitable<void> read_state(cf_worker w) {
  workers::error_code ec;
  auto v = co_await workers::with_state(
      w, [](int& s) { return s; }, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  (void)v;
}
int main() { (void)&read_state; }
