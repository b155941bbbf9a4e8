// expect: request_parameter<Request>.*|Request = frozen_requests
// A request that can be moved but not move-assigned is rejected by the concept (the error names
// the request parameter), not deep inside the worker, where buffers move requests in and out.
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
