#pragma once
// UTF-8 and Unicode helpers for the tokenizer: code-point iteration, normalization forms (ICU),
// the GPT-2 byte <-> printable-character map, and PCRE2 regular expressions with Unicode
// properties.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vkllm::core::text {

// Length in bytes of the UTF-8 sequence starting with byte b (1 for invalid lead bytes).
int utf8_len(unsigned char b);
// Splits s into UTF-8 characters (invalid bytes become single-byte pieces).
std::vector<std::string_view> utf8_chars(std::string_view s);
void append_utf8(std::string& out, char32_t cp);
// Bytes that end in an incomplete UTF-8 sequence: how many trailing bytes to hold back.
size_t incomplete_utf8_tail(std::string_view s);
// Replaces invalid UTF-8 with U+FFFD (one per maximal invalid subsequence, as Rust's
// String::from_utf8_lossy does).
std::string utf8_lossy(std::string_view bytes);
bool is_valid_utf8(std::string_view s);
// Byte offset of the first byte that does not start a valid sequence (s.size() if none).
size_t first_invalid_utf8(std::string_view s);

enum class NormForm { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view s, NormForm form);
std::string lowercase(std::string_view s);

// GPT-2 byte-level alphabet: every byte maps to one printable character.
const std::string& byte_to_unicode(uint8_t b);
// Inverse map; returns -1 for a character outside the alphabet.
int unicode_to_byte(std::string_view ch);

class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws ModelError with PCRE2's message
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Non-overlapping matches as [begin, end) byte ranges.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkllm::core::text
