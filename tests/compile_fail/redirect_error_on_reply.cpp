// expect: redirect_error has no error_code to set
// errors: 1
// push_request_and_wait completes with a result that carries its own error: redirect_error would
// never set its error_code, so a closed worker would look like success. It is refused.
#include "group.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

boost::asio::awaitable<void> push(cf_worker w) {
  workers::error_code ec;
  co_await workers::push_request_and_wait(
      w, ping{}, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
}

int main() { (void)&push; }
