// expect: on_request for the request type R named in on_request_of<R, ...> must return workers::result<R::result_type, R::error_type>
// errors: 1
// on_request for pong returns a result of the wrong value type.
#include "group.hpp"

struct wrong {
  workers::result<int, std::string> on_request(cf_worker&, const ping&) { return 1; }
  workers::result<long, std::string> on_request(cf_worker&, const pong&) { return 2L; }
};

int main() { launch_with(wrong{}); }
