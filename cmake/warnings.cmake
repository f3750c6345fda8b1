# Warnings for every target of ours: -Wall -Wextra -Wpedantic, errors unless VKLLM_WERROR=OFF.
function(vkllm_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                                           $<$<BOOL:${VKLLM_WERROR}>:-Werror>)
endfunction()
