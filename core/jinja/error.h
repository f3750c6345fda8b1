#pragma once
#include <string>

#include "sdk/base/error.h"

namespace vkllm::core::jinja {

// A template that cannot be parsed or rendered; the message names the line and the construct.
// raise_exception() in a template throws one too (the message is the template's).
class TemplateError : public InputError {
 public:
  TemplateError(const std::string& msg, int line);
  ~TemplateError() override;
  int line() const { return line_; }

 private:
  int line_;
};

}  // namespace vkllm::core::jinja
