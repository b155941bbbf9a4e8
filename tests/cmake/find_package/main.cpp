#include <workers/version.hpp>
#include <workers/workers.hpp>

#ifdef EXPECTED_WORKERS_VERSION_MAJOR
static_assert(WORKERS_VERSION_MAJOR == EXPECTED_WORKERS_VERSION_MAJOR,
              "workers/version.hpp disagrees with the CMake project version");
#endif

int main() { return 0; }
