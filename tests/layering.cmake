# Core, the registry's code and the CLI never name a model family; families live in plugins/
# and in registry/model_types.json (data).
file(GLOB_RECURSE files ${SOURCE_DIR}/core/*.cpp ${SOURCE_DIR}/core/*.h ${SOURCE_DIR}/registry/*.cpp
     ${SOURCE_DIR}/registry/*.h ${SOURCE_DIR}/tools/vkllm/*.cpp ${SOURCE_DIR}/tools/vkllm/*.h)
set(bad "")
foreach(f ${files})
  if(f MATCHES "/tests/")
    continue()
  endif()
  file(STRINGS ${f} lines REGEX "[Ll]lama|[Gg]emma|[Qq]wen|[Pp]ixtral|[Ll]lava|[Mm]istral")
  foreach(line ${lines})
    string(REPLACE "llama.cpp" "" line "${line}")  # the other engine, not a family
    if(line MATCHES "[Ll]lama|[Gg]emma|[Qq]wen|[Pp]ixtral|[Ll]lava|[Mm]istral")
      string(APPEND bad "\n  ${f}: ${line}")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "family names outside plugins/ and model_types.json:${bad}")
endif()
