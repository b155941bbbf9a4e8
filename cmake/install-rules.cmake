include(CMakePackageConfigHelpers)

set(package workers)

# A header-only library is architecture independent: its config goes to the data directory.
set(WORKERS_INSTALL_CMAKEDIR
    "${CMAKE_INSTALL_DATADIR}/${package}"
    CACHE STRING "Install path for the CMake package config of workers")
mark_as_advanced(WORKERS_INSTALL_CMAKEDIR)

install(
  DIRECTORY "${PROJECT_SOURCE_DIR}/include/"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  COMPONENT workers_Development)

install(
  TARGETS workers
  EXPORT workersTargets
  INCLUDES
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# Each optional component's target has an export file of its own, loaded by the package config
# only when the component is asked for (its dependencies are then found too).
foreach(component IN LISTS WORKERS_COMPONENTS)
  install(TARGETS workers_${component} EXPORT workers_${component}Targets)
  install(
    EXPORT workers_${component}Targets
    NAMESPACE workers::
    DESTINATION "${WORKERS_INSTALL_CMAKEDIR}"
    COMPONENT workers_Development)
  export(
    EXPORT workers_${component}Targets
    NAMESPACE workers::
    FILE "${PROJECT_BINARY_DIR}/workers_${component}Targets.cmake")
endforeach()

write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/${package}ConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion
  ARCH_INDEPENDENT)

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/${package}Config.cmake.in"
  "${PROJECT_BINARY_DIR}/${package}Config.cmake"
  INSTALL_DESTINATION "${WORKERS_INSTALL_CMAKEDIR}")

install(
  FILES "${PROJECT_BINARY_DIR}/${package}Config.cmake"
        "${PROJECT_BINARY_DIR}/${package}ConfigVersion.cmake"
  DESTINATION "${WORKERS_INSTALL_CMAKEDIR}"
  COMPONENT workers_Development)

install(
  EXPORT workersTargets
  NAMESPACE workers::
  DESTINATION "${WORKERS_INSTALL_CMAKEDIR}"
  COMPONENT workers_Development)

# The build tree exports the target too: a superproject that builds us with add_subdirectory can
# install(EXPORT) its own targets that link workers::workers, and a neighbour project can use this
# build tree as its prefix.
export(
  EXPORT workersTargets
  NAMESPACE workers::
  FILE "${PROJECT_BINARY_DIR}/${package}Targets.cmake")
