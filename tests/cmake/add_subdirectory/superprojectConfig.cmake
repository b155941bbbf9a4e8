include(CMakeFindDependencyMacro)
find_dependency(workers 0.1)
include("${CMAKE_CURRENT_LIST_DIR}/superprojectTargets.cmake")
