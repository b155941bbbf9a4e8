// expect: no matching function for call to.*try_push_request_now
// errors: 1
// try_push_request_now exists only for bounded queues.
#include "group.hpp"

int main() {
  cf_worker w;
  workers::try_push_request_now(w, ping{});
}
