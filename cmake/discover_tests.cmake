# vkllm_discover_tests(target [LABELS l...] [FIXTURES f...] [ENVIRONMENT v=x...]): one CTest
# entry per GoogleTest case, with list-valued properties. gtest_discover_tests' PROPERTIES
# flattens lists ("fast;parity" shifts the name/value pairs after it, so FIXTURES_REQUIRED and
# ENVIRONMENT were silently lost); here the properties are set by a file CTest includes after
# the discovered tests, on their list ${target}_TESTS.
function(vkllm_discover_tests target)
  cmake_parse_arguments(A "" "" "LABELS;FIXTURES;ENVIRONMENT" ${ARGN})
  gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60)
  set(props "")
  # A quoted value keeps its semicolons: one list-valued property each.
  foreach(p LABELS ENVIRONMENT)
    if(A_${p})
      string(APPEND props " ${p} \"${A_${p}}\"")
    endif()
  endforeach()
  if(A_FIXTURES)
    string(APPEND props " FIXTURES_REQUIRED \"${A_FIXTURES}\"")
  endif()
  set(file ${CMAKE_CURRENT_BINARY_DIR}/${target}_properties.cmake)
  file(WRITE ${file} "if(${target}_TESTS)\n  set_tests_properties(\${${target}_TESTS} PROPERTIES${props})\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${file})
endfunction()
