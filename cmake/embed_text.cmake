# Writes OUT: a C++ source defining vkllm::registry::kModelTypesJson with the text of IN.
file(READ ${IN} text)
file(WRITE ${OUT}.tmp "// generated from ${IN}; do not edit\nnamespace vkllm::registry {\nextern const char* const kModelTypesJson;\nconst char* const kModelTypesJson = R\"vkllm_json(${text})vkllm_json\";\n}  // namespace vkllm::registry\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
