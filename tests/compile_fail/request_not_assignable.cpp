// expect: request_type_check<frozen_requests, frozen>.*move-assignable|move-assignable.*request_type_check<frozen_requests, frozen>
// errors: 1
// A request that can be moved but not move-assigned is refused with one sentence that names the
// request type, not deep inside the worker, where buffers move requests in and out.
#include "group.hpp"

struct frozen {
  using result_type = int;
  using error_type = std::string;
  frozen() = default;
  frozen(frozen&&) = default;
  frozen& operator=(frozen&&) = delete;
};

struct frozen_requests {
  using types = workers::request_types<frozen>;
  using view_type = std::string;
  static std::string view(const frozen&) { return "frozen"; }
};

using bad = workers::make_single<cf_name, frozen_requests, cf_types>;

int main() { return sizeof(bad); }
