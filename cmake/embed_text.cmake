# Writes OUT: a C++ source defining vkllm::registry::NAME (default kModelTypesJson) with the
# text of IN.
if(NOT NAME)
  set(NAME kModelTypesJson)
endif()
file(READ ${IN} text)
file(WRITE ${OUT}.tmp "// generated from ${IN}; do not edit\nnamespace vkllm::registry {\nextern const char* const ${NAME};\nconst char* const ${NAME} = R\"vkllm_json(${text})vkllm_json\";\n}  // namespace vkllm::registry\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
