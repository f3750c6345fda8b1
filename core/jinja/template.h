#pragma once
// A Jinja2 interpreter for chat templates, configured as Hugging Face transformers renders them:
// trim_blocks, lstrip_blocks, loop controls, a sandbox without mutating methods, tojson with
// Python's json.dumps formatting, raise_exception() and strftime_now().
#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include "core/jinja/value.h"

namespace vkllm::core::jinja {

struct Node;

struct TemplateOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  // The clock strftime_now() reads (tests fix it); default: the system clock.
  std::function<std::time_t()> now;
};

class Template {
 public:
  // Parses the template; throws TemplateError naming the line and construct.
  explicit Template(const std::string& source, TemplateOptions opt = {});
  ~Template();
  Template(Template&&) noexcept;
  // Renders with `context` (an object: messages, add_generation_prompt, bos_token, ...).
  std::string render(const Value& context) const;

 private:
  std::shared_ptr<Node> root_;
  TemplateOptions opt_;
};

}  // namespace vkllm::core::jinja
