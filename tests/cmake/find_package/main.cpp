#include <workers/version.hpp>
#include <workers/workers.hpp>

#ifdef EXPECTED_WORKERS_VERSION
static_assert(WORKERS_VERSION == EXPECTED_WORKERS_VERSION,
              "workers/version.hpp disagrees with the CMake project version");
#endif

int main() { return 0; }
