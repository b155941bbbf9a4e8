// expect: on_request takes the request type R named in on_request_of<R, ...> as R&
// errors: 1
// A handler may take its request as const R&, R or R&&, not as R&: the queued request is read by
// introspection while the handler runs.
#include "group.hpp"

struct mutates {
  workers::result<int, std::string> on_request(cf_worker&, ping&) { return 1; }
  workers::result<int, std::string> on_request(cf_worker&, const pong&) { return 2; }
};
int main() { launch_with(mutates{}); }
