# `cmake --install` yields a CMake package: find_package(vkllm) gives vkllm::sdk (plugins),
# vkllm::core (applications) and vkllm_add_plugin() for out-of-tree families.
include(CMakePackageConfigHelpers)
set(VKLLM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vkllm)
install(EXPORT vkllmTargets NAMESPACE vkllm:: DESTINATION ${VKLLM_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/vkllmConfig.cmake.in
  ${CMAKE_BINARY_DIR}/vkllmConfig.cmake INSTALL_DESTINATION ${VKLLM_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/vkllmConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ExactVersion)
install(FILES ${CMAKE_BINARY_DIR}/vkllmConfig.cmake ${CMAKE_BINARY_DIR}/vkllmConfigVersion.cmake
  DESTINATION ${VKLLM_CMAKE_DIR})
