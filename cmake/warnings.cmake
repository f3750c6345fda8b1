# Warnings for every target of ours: -Wall -Wextra -Wpedantic, errors unless VKLLM_WERROR=OFF.
# -Wno-missing-field-initializers: GCC 12 flags C++20 designated initializers that leave
# members to their default member initializers, which is how every options struct is meant to
# be used (ops::rope(g, x, pos, f, {.rot_dim = 32})).
function(vkllm_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                                           -Wno-missing-field-initializers
                                           $<$<BOOL:${VKLLM_WERROR}>:-Werror>)
endfunction()
