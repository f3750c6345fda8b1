#include "core/tokenizer/text.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <array>
#include <mutex>

#include "sdk/base/error.h"

namespace vkllm::core::text {

int utf8_len(unsigned char b) {
  if (b < 0x80) return 1;
  if ((b >> 5) == 0x6) return 2;
  if ((b >> 4) == 0xe) return 3;
  if ((b >> 3) == 0x1e) return 4;
  return 1;
}

namespace {
// Length of a valid UTF-8 sequence at s[i], or 0 when invalid/incomplete.
size_t valid_seq(std::string_view s, size_t i) {
  unsigned char b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (b >= 0xc2 && b <= 0xdf) {
    n = 2;
    cp = b & 0x1f;
  } else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    cp = b & 0x0f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    cp = b & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    unsigned char c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
    return 0;
  }
  return n;
}
}  // namespace

std::vector<std::string_view> utf8_chars(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = valid_seq(s, i);
    if (n == 0) n = 1;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xc0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += char(0xe0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  } else {
    out += char(0xf0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3f));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  }
}

size_t incomplete_utf8_tail(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence is cut short.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    unsigned char b = static_cast<unsigned char>(s[s.size() - back]);
    if ((b & 0xc0) == 0x80) continue;  // continuation byte
    int need = utf8_len(b);
    if (need > int(back) && b >= 0xc2 && b <= 0xf4) return back;
    return 0;
  }
  return 0;
}

size_t first_invalid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = valid_seq(s, i);
    if (n == 0) return i;
    i += n;
  }
  return s.size();
}

bool is_valid_utf8(std::string_view s) { return first_invalid_utf8(s) == s.size(); }

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t n = valid_seq(s, i);
    if (n) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    // Skip the maximal prefix of a valid sequence (WHATWG / Rust semantics), emit one U+FFFD.
    unsigned char b = static_cast<unsigned char>(s[i]);
    size_t skip = 1;
    int need = utf8_len(b);
    if (b >= 0xc2 && b <= 0xf4) {
      while (skip < size_t(need) && i + skip < s.size() &&
             (static_cast<unsigned char>(s[i + skip]) & 0xc0) == 0x80) {
        unsigned char c = static_cast<unsigned char>(s[i + skip]);
        if (skip == 1 && ((b == 0xe0 && c < 0xa0) || (b == 0xed && c > 0x9f) ||
                          (b == 0xf0 && c < 0x90) || (b == 0xf4 && c > 0x8f))) {
          break;
        }
        ++skip;
      }
    }
    out += "\xef\xbf\xbd";
    i += skip;
  }
  return out;
}

std::string normalize(std::string_view s, NormForm form) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormForm::NFC:
      n = icu::Normalizer2::getNFCInstance(err);
      break;
    case NormForm::NFD:
      n = icu::Normalizer2::getNFDInstance(err);
      break;
    case NormForm::NFKC:
      n = icu::Normalizer2::getNFKCInstance(err);
      break;
    case NormForm::NFKD:
      n = icu::Normalizer2::getNFKDInstance(err);
      break;
  }
  if (U_FAILURE(err)) throw InternalError("[tokenizer] ICU normalizer unavailable");
  icu::UnicodeString u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size())));
  icu::UnicodeString r = n->normalize(u, err);
  if (U_FAILURE(err)) throw InputError("[tokenizer] text cannot be normalized");
  std::string out;
  r.toUTF8String(out);
  return out;
}

std::string lowercase(std::string_view s) {
  icu::UnicodeString u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size())));
  u.toLower();
  std::string out;
  u.toUTF8String(out);
  return out;
}

namespace {
struct ByteMap {
  std::array<std::string, 256> to_unicode;
  std::array<int, 512> from_cp;
  ByteMap() {
    from_cp.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable =
          (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      char32_t cp = printable ? char32_t(b) : char32_t(256 + n++);
      append_utf8(to_unicode[size_t(b)], cp);
      from_cp[size_t(cp)] = b;
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}
}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return byte_map().to_unicode[b]; }

int unicode_to_byte(std::string_view ch) {
  if (ch.empty()) return -1;
  // decode one code point
  unsigned char b = static_cast<unsigned char>(ch[0]);
  char32_t cp;
  if (b < 0x80) {
    cp = b;
  } else if ((b >> 5) == 0x6 && ch.size() >= 2) {
    cp = char32_t(((b & 0x1f) << 6) | (static_cast<unsigned char>(ch[1]) & 0x3f));
  } else {
    return -1;
  }
  return cp < 512 ? byte_map().from_cp[size_t(cp)] : -1;
}

struct Regex::Impl {
  pcre2_code* code = nullptr;
};

Regex::Regex(const std::string& pattern) : impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE off = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &off, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw ModelError(fmt::format("[tokenizer] regex '{}' does not compile at {}: {}", pattern, off,
                                 reinterpret_cast<const char*>(msg)));
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back silently
}

Regex::~Regex() {
  if (impl_->code) pcre2_code_free(impl_->code);
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view s) const {
  std::vector<std::pair<size_t, size_t>> out;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  size_t start = 0;
  while (start <= s.size()) {
    int rc = pcre2_match(impl_->code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), start,
                         PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) break;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t b = ov[0], e = ov[1];
    if (e == b) {  // empty match: skip one character
      if (b >= s.size()) break;
      start = b + size_t(utf8_len(static_cast<unsigned char>(s[b])));
      continue;
    }
    out.emplace_back(b, e);
    start = e;
  }
  pcre2_match_data_free(md);
  return out;
}

}  // namespace vkllm::core::text
