#pragma once
// The stages of a tokenizer.json pipeline, each built from its JSON block. Internal to the
// tokenizer.
#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace vkllm::core::tok {

// A piece of input text on its way through the pipeline. `first` marks the piece that starts
// the input (Metaspace's prepend_scheme "first" looks at it).
struct Piece {
  std::string text;
  bool first = false;
};

class Normalizer {
 public:
  virtual ~Normalizer();
  virtual std::string normalize(std::string s) const = 0;
  static std::unique_ptr<Normalizer> from_json(const nlohmann::json& j);
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer();
  virtual std::vector<Piece> split(std::vector<Piece> pieces) const = 0;
  static std::unique_ptr<PreTokenizer> from_json(const nlohmann::json& j);
};

class Model {
 public:
  virtual ~Model();
  virtual void tokenize(const std::string& piece, std::vector<int32_t>& out) const = 0;
  // Vocabulary (token -> id) as the model defines it.
  virtual const std::unordered_map<std::string, int32_t>& vocab() const = 0;
  static std::unique_ptr<Model> from_json(const nlohmann::json& j);
};

class PostProcessor {
 public:
  virtual ~PostProcessor();
  virtual std::vector<int32_t> process(std::vector<int32_t> ids) const = 0;
  static std::unique_ptr<PostProcessor> from_json(const nlohmann::json& j);
};

class Decoder {
 public:
  virtual ~Decoder();
  virtual std::vector<std::string> decode(std::vector<std::string> tokens) const = 0;
  // The bytes one token adds in the middle of a text: no stripping of a first token's space, a
  // byte token as its raw byte (which may be part of a UTF-8 character).
  virtual std::string piece(std::string token) const;
  static std::unique_ptr<Decoder> from_json(const nlohmann::json& j);
};

}  // namespace vkllm::core::tok
