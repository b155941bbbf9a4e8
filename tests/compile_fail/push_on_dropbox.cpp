// expect: push_request_and_wait_is_for_queue_workers<.*dropbox>.*push_request_and_wait is for queue workers|push_request_and_wait is for queue workers.*push_request_and_wait_is_for_queue_workers<.*dropbox>
// errors: 1
// A dropbox is put to, not pushed to.
#include "group.hpp"

boost::asio::awaitable<void> push(cf_group::worker<workers::dropbox> w) {
  auto r = co_await workers::push_request_and_wait(w, ping{});
  (void)r;
}
int main() { (void)&push; }
