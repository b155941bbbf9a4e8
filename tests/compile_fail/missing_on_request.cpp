// expect: (on_request_of<pong.*have no on_request\(self, const R&\)|have no on_request\(self, const R&\).*on_request_of<pong)
// errors: 1
// Handlers that handle ping but forget pong.
#include "group.hpp"

struct only_ping {
  workers::result<int, std::string> on_request(cf_worker&, const ping&) { return 1; }
};

int main() { launch_with(only_ping{}); }
