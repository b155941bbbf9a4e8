# The optional components: a target each, defined when its libraries are found
# (find_package(workers COMPONENTS json prometheus redis) in a consumer).

find_package(boost_json ${WORKERS_BOOST_MIN_VERSION} CONFIG QUIET)
find_package(prometheus-cpp CONFIG QUIET)
find_path(WORKERS_HIREDIS_INCLUDE_DIR hiredis/async.h)
find_library(WORKERS_HIREDIS_LIBRARY hiredis)
mark_as_advanced(WORKERS_HIREDIS_INCLUDE_DIR WORKERS_HIREDIS_LIBRARY)

set(WORKERS_COMPONENTS "")

if(TARGET Boost::json)
  add_library(workers_json INTERFACE)
  add_library(workers::json ALIAS workers_json)
  set_property(TARGET workers_json PROPERTY EXPORT_NAME json)
  target_link_libraries(workers_json INTERFACE workers Boost::json)
  list(APPEND WORKERS_COMPONENTS json)
endif()

if(TARGET prometheus-cpp::core)
  add_library(workers_prometheus INTERFACE)
  add_library(workers::prometheus ALIAS workers_prometheus)
  set_property(TARGET workers_prometheus PROPERTY EXPORT_NAME prometheus)
  target_link_libraries(workers_prometheus INTERFACE workers prometheus-cpp::core)
  list(APPEND WORKERS_COMPONENTS prometheus)
endif()

if(TARGET Boost::json AND WORKERS_HIREDIS_INCLUDE_DIR AND WORKERS_HIREDIS_LIBRARY)
  add_library(workers_redis INTERFACE)
  add_library(workers::redis ALIAS workers_redis)
  set_property(TARGET workers_redis PROPERTY EXPORT_NAME redis)
  # hiredis by name: the linker finds it in the system's directories, here and where installed.
  target_link_libraries(workers_redis INTERFACE workers Boost::json
                                                "$<BUILD_INTERFACE:${WORKERS_HIREDIS_LIBRARY}>"
                                                "$<INSTALL_INTERFACE:hiredis>")
  list(APPEND WORKERS_COMPONENTS redis)
endif()

if(PROJECT_IS_TOP_LEVEL)
  message(STATUS "workers: optional components found: ${WORKERS_COMPONENTS}")
endif()
