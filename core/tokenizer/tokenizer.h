#pragma once
// Hugging Face tokenizer.json: normalizers, pre-tokenizers, the BPE model (byte-level as in
// GPT-2 and its successors, or SentencePiece-style with byte fallback),
// added and special tokens, post-processors and decoders.
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vkllm::core {

namespace tok {
class Normalizer;
class PreTokenizer;
class Model;
class PostProcessor;
class Decoder;
}  // namespace tok

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false, normalized = false, lstrip = false, rstrip = false, single_word = false;
};

class Tokenizer {
 public:
  // Reads tokenizer.json (and tokenizer_config.json beside it when present, for BOS/EOS and the
  // chat template). Throws ModelError naming the file and the unsupported component.
  static std::shared_ptr<Tokenizer> from_folder(const std::string& folder);
  static std::shared_ptr<Tokenizer> from_json(const nlohmann::json& tokenizer_json,
                                              const nlohmann::json& tokenizer_config = {},
                                              const std::string& where = "tokenizer.json");
  ~Tokenizer();

  // Encodes UTF-8 text (InputError when it is not valid UTF-8). add_special applies the
  // post-processor (BOS and the like); added tokens in the text are always recognised.
  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

  int64_t vocab_size() const { return int64_t(id_to_token_.size()); }
  std::optional<int32_t> token_id(const std::string& token) const;
  const std::string& token(int32_t id) const;
  bool is_special(int32_t id) const;
  // An added token (matched whole in text), special or not.
  bool is_added(int32_t id) const {
    return id >= 0 && size_t(id) < added_flag_.size() && added_flag_[size_t(id)];
  }
  // The bytes a token adds in the middle of a text (an added token: its content; a byte-fallback
  // token: its byte, possibly part of a UTF-8 character). all_token_bytes(): every id's.
  std::string token_bytes(int32_t id) const;
  std::vector<std::string> all_token_bytes() const;

  // From tokenizer_config.json (names resolved to ids where the vocabulary has them).
  std::optional<int32_t> bos_id() const { return bos_; }
  std::optional<int32_t> eos_id() const { return eos_; }
  const std::string& bos_token() const { return bos_token_; }
  const std::string& eos_token() const { return eos_token_; }
  const std::string& chat_template() const { return chat_template_; }
  const nlohmann::json& config() const { return config_; }

 private:
  Tokenizer();
  std::vector<std::string> decode_tokens(const std::vector<std::string>& tokens) const;

  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::Model> model_;
  std::unique_ptr<tok::PostProcessor> post_;
  std::unique_ptr<tok::Decoder> decoder_;
  std::vector<AddedToken> added_;                         // longest first
  std::array<std::vector<uint32_t>, 256> added_by_byte_;  // indexes into added_ by first byte
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<bool> special_;
  std::vector<bool> added_flag_;  // per id: an added token (its bytes are its content)
  std::optional<int32_t> bos_, eos_;
  bool clean_up_spaces_ = false;
  std::string bos_token_, eos_token_, chat_template_;
  nlohmann::json config_;
};

std::string clean_up_tokenization(std::string s);

// Whether s is complete, valid UTF-8.
bool text_is_valid_utf8(std::string_view s);

// Streaming detokenization: feed ids one at a time, get text that never ends inside a UTF-8
// character and matches decoding the whole sequence at once.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& t, bool skip_special = true)
      : t_(t), skip_(skip_special) {}
  std::string push(int32_t id);
  std::string flush();  // whatever is held back (at the end of generation)

 private:
  const Tokenizer& t_;
  bool skip_;
  std::vector<int32_t> ids_;
  size_t prefix_ = 0, read_ = 0;
};

}  // namespace vkllm::core
