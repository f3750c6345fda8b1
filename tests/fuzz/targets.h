#pragma once
// The bodies of the fuzz targets, shared by the libFuzzer executables (fuzz_<name>.cpp, clang
// preset) and by the test that replays the corpus and every past finding in every build
// (test_fuzz_inputs.cpp). Each parses one input; bad input may throw vkllm::Error (caught
// here); anything else escaping, or a sanitizer report, is a finding.
#include <cstdint>
#include <string_view>

namespace vkllm::fuzz {

void safetensors(std::string_view input);
void jinja(std::string_view input);
void tokenizer(std::string_view input);
void image(std::string_view input);
void config(std::string_view input);
// A request body of the server's /v1/chat/completions or /v1/completions.
void openai_request(std::string_view input);
// A GBNF grammar: read, then matched against bytes of the input and masked over a small
// vocabulary.
void gbnf(std::string_view input);
// A JSON Schema: compiled to GBNF, which must then read without error (else a finding).
void json_schema(std::string_view input);
// A LoRA adapter: the first line is adapter_config.json, the rest the safetensors file (PEFT's
// adapter_model.safetensors, or MLX's adapters.safetensors when the config has "rank" or
// "lora_parameters"), read against a small llama-shaped base and merged.
void adapter(std::string_view input);
// A file of the KV cache's disk tier. Its last 16 bytes are replaced by the checksum (so the
// fuzzer gets past it into the header); the fingerprint and hash are the file's own. A block
// that decodes must encode back to the same bytes (else a finding).
void kv_block(std::string_view input);
// A GGUF file: parsed; then every metadata value dumped, every tensor's bytes summed, the
// vocabulary made into a tokenizer that encodes and decodes a text, and the typed reads a
// loader makes (architecture, counts) taken.
void gguf(std::string_view input);

}  // namespace vkllm::fuzz
