// expect: this request type is not in the worker's request set
// errors: 1
// Pushing a request that is not in Request::types.
#include "group.hpp"

struct stranger {
  using result_type = int;
  using error_type = std::string;
};

int main() {
  cf_worker w;
  workers::push_request_now(w, stranger{});
}
