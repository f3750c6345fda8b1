# Warnings for every target of ours: -Wall -Wextra -Wpedantic, errors unless VKLLM_WERROR=OFF.
# -Wno-missing-field-initializers: GCC 12 flags C++20 designated initializers that leave
# members to their default member initializers, which is how every options struct is meant to
# be used (ops::rope(g, x, pos, f, {.rot_dim = 32})).
# Shadowing: GCC's -Wshadow=local (locals shadowing locals); Clang's nearest equivalent is
# -Wshadow-uncaptured-local. Each flag is given only to the compiler that knows it.
function(vkllm_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
                                           -Wno-missing-field-initializers
                                           $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>
                                           $<$<CXX_COMPILER_ID:Clang>:-Wshadow-uncaptured-local>
                                           $<$<BOOL:${VKLLM_WERROR}>:-Werror>)
endfunction()
