#pragma once
// Writes GGUF v3 files (llama.cpp's format): metadata key/values and tensors in F32, F16 or any
// quantized format llama.cpp and vkllm share, so other engines can run the very weights vkllm
// runs.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "sdk/base/dtype.h"

namespace vkllm::sdk {

// What `export-gguf --type` writes: one format for every matrix, or one of llama.cpp's K-quant
// mixes (q4_k_m, q5_k_m: output.weight, and attn_v/ffn_down in the layers llama.cpp's
// use_more_bits picks, as Q6_K). Matrices whose columns the format cannot hold fall back as
// llama.cpp's quantizer does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0,
// IQ4_XS -> IQ4_NL; then F16).
struct GgufExportType {
  std::string name;
  Dtype base = Dtype::f16;
  uint32_t file_type = 1;  // general.file_type (llama_ftype)
  bool mix = false;

  // The format of 2-D tensor `gguf_name` with `cols` columns in a model of `layers` layers.
  Dtype matrix_type(const std::string& gguf_name, int64_t cols, int layers) const;
};
// "f32", "f16", "q8_0", ..., "q4_k_m", "q5_k_m"; InputError listing the names.
GgufExportType gguf_export_type(const std::string& name);
std::vector<std::string> gguf_export_type_names();

class GgufWriter {
 public:
  GgufWriter() = default;
  // Matrices written with the export's base type take the export's per-tensor format; the
  // file records its general.file_type. `layers`: the model's block count.
  void set_export(const GgufExportType& type, int layers);
  void kv(const std::string& key, const std::string& v);
  void kv(const std::string& key, uint32_t v);
  void kv(const std::string& key, int32_t v);
  void kv(const std::string& key, float v);
  void kv(const std::string& key, bool v);
  void kv(const std::string& key, const std::vector<std::string>& v);
  void kv(const std::string& key, const std::vector<float>& v);
  void kv(const std::string& key, const std::vector<int32_t>& v);
  // A 2-D [rows, cols] or 1-D tensor from f32 values, stored as `type` (f32, f16 or a
  // quantized format with a ggml type; cols must be whole blocks). Shapes are given outermost
  // first.
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
  GgufExportType export_;
  bool has_export_ = false;
  int layers_ = 0;
};

}  // namespace vkllm::sdk
