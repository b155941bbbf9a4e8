// expect: try_push_request_now_is_for_bounded_queues<.*queue<.*infinite>.*try_push_request_now is for bounded queues|try_push_request_now is for bounded queues.*try_push_request_now_is_for_bounded_queues<.*queue<.*infinite>
// errors: 1
// try_push_request_now exists only for bounded queues.
#include "group.hpp"

int main() {
  cf_worker w;
  workers::try_push_request_now(w, ping{});
}
