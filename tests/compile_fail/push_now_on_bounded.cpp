// expect: push_request_now_is_for_infinite_queues<.*queue<.*bounded>.*push_request_now is for infinite queues|push_request_now is for infinite queues.*push_request_now_is_for_infinite_queues<.*queue<.*bounded>
// errors: 1
// push_request_now exists only for infinite queues: a bounded queue must be
// pushed with push_request (which waits for room) or try_push_request_now.
#include "group.hpp"

int main() {
  cf_group::worker<workers::queue<workers::bounded>> w;
  workers::push_request_now(w, ping{});
}
