#pragma once
// Writes GGUF v3 files (llama.cpp's format): metadata key/values and tensors in F32, F16,
// Q8_0 or Q4_0, so other engines can run the very weights vkllm runs.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "sdk/base/dtype.h"

namespace vkllm::sdk {

class GgufWriter {
 public:
  GgufWriter() = default;
  void kv(const std::string& key, const std::string& v);
  void kv(const std::string& key, uint32_t v);
  void kv(const std::string& key, int32_t v);
  void kv(const std::string& key, float v);
  void kv(const std::string& key, bool v);
  void kv(const std::string& key, const std::vector<std::string>& v);
  void kv(const std::string& key, const std::vector<float>& v);
  void kv(const std::string& key, const std::vector<int32_t>& v);
  // A 2-D [rows, cols] or 1-D tensor from f32 values, stored as `type` (f32, f16, q8_0, q4_0;
  // quantized types need cols % 32 == 0). Shapes are given outermost first.
  void tensor(const std::string& name, const std::vector<int64_t>& shape,
              const std::vector<float>& values, Dtype type);
  // Tokenizer metadata. A byte-level BPE vocabulary (GGUF's "gpt2" model): tokens by id, their
  // types (1 normal, 3 control, 4 user defined, 5 unused), merges "a b"; bos/eos < 0 when
  // absent.
  // `pre` names the pre-tokenizer as llama.cpp does (tokenizer.ggml.pre: gpt-2, llama-bpe, ...).
  void vocab_byte_bpe(const std::vector<std::string>& tokens, const std::vector<int32_t>& types,
                      const std::vector<std::string>& merges, int32_t bos, int32_t eos,
                      const std::string& pre = "gpt-2", bool add_bos = true);
  // A SentencePiece vocabulary (GGUF's "llama" model): tokens by id with scores (llama.cpp
  // merges the adjacent pair whose concatenation scores highest) and types (1 normal, 2 unknown,
  // 3 control, 4 user defined, 6 byte); ids < 0 when absent.
  void vocab_spm(const std::vector<std::string>& tokens, const std::vector<float>& scores,
                 const std::vector<int32_t>& types, int32_t bos, int32_t eos, int32_t unk,
                 bool add_space_prefix, bool add_bos);
  // A placeholder SentencePiece vocabulary of n tokens (<unk>, <s>, </s>, the 256 byte tokens,
  // then fillers) for checkpoints without a tokenizer: runs by token id still work.
  void vocab_placeholder(int64_t n);
  // Writes the file (InputError when it cannot).
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    uint32_t ggml_type;
    std::vector<uint8_t> data;
  };
  std::vector<uint8_t> kvs_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace vkllm::sdk
