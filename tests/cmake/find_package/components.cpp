// Each optional component found by find_package(workers COMPONENTS ...) brings its library.

#include <workers/workers.hpp>

#ifdef WORKERS_HAS_JSON
#include <workers/json.hpp>
#endif
#ifdef WORKERS_HAS_PROMETHEUS
#include <workers/prometheus.hpp>
#endif
#ifdef WORKERS_HAS_REDIS
#include <workers/redis.hpp>
#endif

int main() {
#ifdef WORKERS_HAS_REDIS
  // Links hiredis: a connector to nowhere, never connected.
  auto connector = workers::redis::hiredis_connector::unix_socket("/nonexistent");
  return connector->address().empty() ? 1 : 0;
#else
  return 0;
#endif
}
