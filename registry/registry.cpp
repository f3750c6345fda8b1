// The model-type registry arrives with the host issue; this unit keeps the library non-empty.
namespace vkllm::registry {
int registry_version() { return 1; }
}  // namespace vkllm::registry
