# Compiles GLSL compute kernels to SPIR-V with glslc at build time and embeds them in a
# generated C++ source as a table {name, words}. Variants come from specialization constants,
# so each .comp file yields exactly one SPIR-V module named after the file.
function(vkllm_embed_kernels target out_cpp)
  set(spv_files)
  set(names)
  foreach(src ${ARGN})
    get_filename_component(name ${src} NAME_WE)
    set(spv ${CMAKE_CURRENT_BINARY_DIR}/kernels/${name}.spv)
    add_custom_command(
      OUTPUT ${spv}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/kernels
      COMMAND ${GLSLC} --target-env=vulkan1.2 -O -Werror
              -I ${CMAKE_CURRENT_SOURCE_DIR}/kernels -MD -MF ${spv}.d -o ${spv} ${src}
      DEPENDS ${src}
      DEPFILE ${spv}.d
      COMMENT "glslc ${name}.comp"
      VERBATIM)
    list(APPEND spv_files ${spv})
    list(APPEND names ${name})
  endforeach()
  add_custom_command(
    OUTPUT ${out_cpp}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_cpp} "-DNAMES=${names}" "-DFILES=${spv_files}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_spirv.cmake
    DEPENDS ${spv_files} ${PROJECT_SOURCE_DIR}/cmake/embed_spirv.cmake
    COMMENT "embedding ${target} kernels"
    VERBATIM)
endfunction()
