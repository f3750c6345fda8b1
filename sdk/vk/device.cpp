#include "sdk/vk/device.h"

#include <fmt/format.h>

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <cstring>

#include "sdk/base/error.h"
#include "sdk/base/log.h"
#include "sdk/vk/check.h"
#include "sdk/vk/memory.h"
#include "sdk/vk/pipeline.h"

namespace vkllm::sdk {
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
constexpr const char* kNoDeviceHint =
    "no Vulkan device found. Install a Vulkan driver; on Debian/Ubuntu the CPU driver "
    "(lavapipe) is in the package 'mesa-vulkan-drivers' (apt-get install mesa-vulkan-drivers)";

bool has_layer(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, nullptr);
  std::vector<VkLayerProperties> layers(n);
  vkEnumerateInstanceLayerProperties(&n, layers.data());
  return std::any_of(layers.begin(), layers.end(), [&](const VkLayerProperties& l) {
    return std::strcmp(l.layerName, name) == 0;
  });
}

bool has_instance_extension(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceExtensionProperties(nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> ext(n);
  vkEnumerateInstanceExtensionProperties(nullptr, &n, ext.data());
  return std::any_of(ext.begin(), ext.end(), [&](const VkExtensionProperties& e) {
    return std::strcmp(e.extensionName, name) == 0;
  });
}

std::vector<std::string> device_extensions(VkPhysicalDevice pd) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> ext(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, ext.data());
  std::vector<std::string> out;
  for (auto& e : ext) out.emplace_back(e.extensionName);
  return out;
}

bool contains(const std::vector<std::string>& v, const char* s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "cpu";
    default:
      return "other";
  }
}

int type_rank(const std::string& t) {
  if (t == "discrete") return 0;
  if (t == "integrated") return 1;
  if (t == "virtual") return 2;
  if (t == "cpu") return 3;
  return 4;
}

// Keeps the Vulkan drivers and layers the loader opened resident for the life of the process:
// creating a second device (or engine) then skips reloading and re-initialising them, and their
// allocations stay attributable to a named library for leak checkers.
void pin_loaded_drivers() {
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void*) -> int {
        const char* name = info->dlpi_name;
        if (name && (std::strstr(name, "libvulkan_") || std::strstr(name, "libVkLayer"))) {
          dlopen(name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        }
        return 0;
      },
      nullptr);
}

VkInstance create_instance(bool validation, bool* debug_utils) {
  auto app = vk_struct<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
  app.pApplicationName = "vkllm";
  app.pEngineName = "vkllm";
  uint32_t loader_version = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion(&loader_version) != VK_SUCCESS)
    loader_version = VK_API_VERSION_1_0;
  if (loader_version < VK_API_VERSION_1_2) {
    throw DeviceError(
        fmt::format("[device] the Vulkan loader supports only version {}.{}; vkllm "
                    "needs Vulkan 1.2 (update libvulkan1)",
                    VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version)));
  }
  app.apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
  std::vector<const char*> layers, exts;
  *debug_utils = false;
  if (validation) {
    if (has_layer(kValidationLayer)) {
      layers.push_back(kValidationLayer);
    } else {
      log::sdk().warn(
          "VKLLM_VALIDATION is set but {} is not installed (Debian package "
          "vulkan-validationlayers)",
          kValidationLayer);
    }
    if (has_instance_extension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
      exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
      *debug_utils = !layers.empty();
    }
  }
  if (has_instance_extension(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    exts.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
  }
  auto ci = vk_struct<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = uint32_t(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = uint32_t(exts.size());
  ci.ppEnabledExtensionNames = exts.data();
  if (has_instance_extension(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    ci.flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }
  VkInstance instance = VK_NULL_HANDLE;
  VkResult r = vkCreateInstance(&ci, nullptr, &instance);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
    throw DeviceError(std::string("[device] ") + kNoDeviceHint);
  vk_check(r, "vkCreateInstance");
  pin_loaded_drivers();
  return instance;
}

DeviceFeatures probe(VkPhysicalDevice pd, uint32_t index) {
  DeviceFeatures f;
  f.index = index;
  auto exts = device_extensions(pd);

  auto sub = vk_struct<VkPhysicalDeviceSubgroupProperties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES);
  auto drv = vk_struct<VkPhysicalDeviceDriverProperties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES);
  drv.pNext = &sub;
  auto props =
      vk_struct<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  props.pNext = &drv;
  auto dotp = vk_struct<VkPhysicalDeviceShaderIntegerDotProductProperties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES);
  bool has_dot = contains(exts, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
  if (has_dot) {
    dotp.pNext = props.pNext;
    props.pNext = &dotp;
  }
  vkGetPhysicalDeviceProperties2(pd, &props);
  const auto& p = props.properties;

  auto f12 = vk_struct<VkPhysicalDeviceVulkan12Features>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES);
  auto f11 = vk_struct<VkPhysicalDeviceVulkan11Features>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES);
  f11.pNext = &f12;
  auto feats = vk_struct<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  feats.pNext = &f11;
  vkGetPhysicalDeviceFeatures2(pd, &feats);

  f.name = p.deviceName;
  f.type = type_name(p.deviceType);
  f.driver = fmt::format("{} {}", drv.driverName, drv.driverInfo);
  f.vendor_id = p.vendorID;
  f.device_id = p.deviceID;
  f.api_version = p.apiVersion;
  f.fp16_arith = f12.shaderFloat16;
  f.int8_arith = f12.shaderInt8;
  f.storage16 = f11.storageBuffer16BitAccess;
  f.storage8 = f12.storageBuffer8BitAccess;
  f.int_dot = has_dot;
  f.int_dot_accelerated = has_dot && dotp.integerDotProduct4x8BitPackedSignedAccelerated;
  f.subgroup_size = sub.subgroupSize;
  f.subgroup_arith = (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                     (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);
  f.subgroup_shuffle = sub.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
  f.subgroup_size_control = contains(exts, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME) ||
                            p.apiVersion >= VK_API_VERSION_1_3;
  f.shared_memory_bytes = p.limits.maxComputeSharedMemorySize;
  f.max_workgroup_invocations = p.limits.maxComputeWorkGroupInvocations;
  f.max_storage_buffer_range = p.limits.maxStorageBufferRange;
  f.max_texel_buffer_elements = p.limits.maxTexelBufferElements;
  f.min_storage_offset_alignment = uint32_t(p.limits.minStorageBufferOffsetAlignment);
  f.min_texel_offset_alignment = uint32_t(p.limits.minTexelBufferOffsetAlignment);
  f.max_push_constants_bytes = p.limits.maxPushConstantsSize;
  f.timestamp_period_ns = p.limits.timestampPeriod;
  f.cooperative_matrix =
      contains(exts, "VK_KHR_cooperative_matrix") || contains(exts, "VK_NV_cooperative_matrix");
  f.push_descriptor = contains(exts, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  f.buffer_device_address = f12.bufferDeviceAddress;

  auto m3 = vk_struct<VkPhysicalDeviceMaintenance3Properties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES);
  auto props_m3 =
      vk_struct<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  props_m3.pNext = &m3;
  vkGetPhysicalDeviceProperties2(pd, &props_m3);
  f.max_allocation_bytes = m3.maxMemoryAllocationSize;

  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i) {
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) {
      f.device_local_heap_bytes =
          std::max<uint64_t>(f.device_local_heap_bytes, mem.memoryHeaps[i].size);
    }
  }
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i) {
    auto fl = mem.memoryTypes[i].propertyFlags;
    if ((fl & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && (fl & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
        (fl & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) && f.type != "discrete") {
      f.unified_memory = true;
    }
  }
  return f;
}

int find_memory_type(VkPhysicalDevice pd, VkMemoryPropertyFlags want,
                     VkMemoryPropertyFlags avoid = 0) {
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i) {
    auto fl = mem.memoryTypes[i].propertyFlags;
    if ((fl & want) == want && (fl & avoid) == 0) return int(i);
  }
  return -1;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance instance) {
  uint32_t n = 0;
  VkResult r = vkEnumeratePhysicalDevices(instance, &n, nullptr);
  if (r != VK_SUCCESS || n == 0) throw DeviceError(std::string("[device] ") + kNoDeviceHint);
  std::vector<VkPhysicalDevice> pds(n);
  vk_check(vkEnumeratePhysicalDevices(instance, &n, pds.data()), "vkEnumeratePhysicalDevices");
  return pds;
}

}  // namespace

std::vector<DeviceFeatures> list_devices() {
  bool debug_utils = false;
  VkInstance instance = create_instance(false, &debug_utils);
  std::vector<DeviceFeatures> out;
  try {
    auto pds = physical_devices(instance);
    for (uint32_t i = 0; i < pds.size(); ++i) out.push_back(probe(pds[i], i));
  } catch (...) {
    vkDestroyInstance(instance, nullptr);
    throw;
  }
  vkDestroyInstance(instance, nullptr);
  return out;
}

uint32_t choose_device(const std::vector<DeviceFeatures>& all, const DeviceOptions& options) {
  if (all.empty()) throw DeviceError(std::string("[device] ") + kNoDeviceHint);
  if (options.select.empty()) {
    uint32_t best = 0;
    for (auto& f : all) {
      if (type_rank(f.type) < type_rank(all[best].type)) best = f.index;
    }
    return best;
  }
  bool numeric = std::all_of(options.select.begin(), options.select.end(),
                             [](char c) { return c >= '0' && c <= '9'; });
  if (numeric && options.select.size() < 9) {
    size_t idx = std::stoul(options.select);
    if (idx < all.size()) return uint32_t(idx);
  } else if (!numeric) {
    std::string lsel = options.select;
    std::transform(lsel.begin(), lsel.end(), lsel.begin(), ::tolower);
    for (auto& f : all) {
      std::string lname = f.name;
      std::transform(lname.begin(), lname.end(), lname.begin(), ::tolower);
      if (lname.find(lsel) != std::string::npos) return f.index;
    }
  }
  std::string names;
  for (auto& f : all) names += fmt::format("\n  {}: {} ({})", f.index, f.name, f.type);
  throw DeviceError(fmt::format("[device] VKLLM_DEVICE='{}' matches no device; devices:{}",
                                options.select, names));
}

namespace {
std::atomic<uint64_t> g_validation_messages{0};
}  // namespace

uint64_t Device::validation_messages_total() { return g_validation_messages.load(); }

std::shared_ptr<Device> Device::create(const DeviceOptions& options) {
  return std::shared_ptr<Device>(new Device(options));
}

VKAPI_ATTR VkBool32 VKAPI_CALL Device::debug_callback(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT type,
    const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  auto* self = static_cast<Device*>(user);
  bool counts = (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) &&
                (type & VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT);
  if (counts) {
    self->validation_messages_++;
    g_validation_messages++;
    log::sdk().error("[validation] {}", data->pMessage);
  } else {
    log::sdk().debug("[validation] {}", data->pMessage);
  }
  return VK_FALSE;
}

Device::Device(const DeviceOptions& options) : options_(options) {
  bool debug_utils = false;
  instance_ = create_instance(options.validation, &debug_utils);
  try {
    if (debug_utils) {
      auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
      auto ci = vk_struct<VkDebugUtilsMessengerCreateInfoEXT>(
          VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT);
      ci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
      ci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
      ci.pfnUserCallback = debug_callback;
      ci.pUserData = this;
      if (create) VK_CHECK(create(instance_, &ci, nullptr, &messenger_));
    }

    auto pds = physical_devices(instance_);
    std::vector<DeviceFeatures> all;
    for (uint32_t i = 0; i < pds.size(); ++i) all.push_back(probe(pds[i], i));
    uint32_t chosen = choose_device(all, options);
    features_ = all[size_t(chosen)];
    physical_ = pds[size_t(chosen)];
    if (features_.api_version < VK_API_VERSION_1_2) {
      throw DeviceError(fmt::format("[device] {} supports Vulkan {}.{}; vkllm needs 1.2",
                                    features_.name, VK_API_VERSION_MAJOR(features_.api_version),
                                    VK_API_VERSION_MINOR(features_.api_version)));
    }
    kernel_class_ =
        options.kernels.value_or(features_.type == "cpu" ? KernelClass::cpu : KernelClass::gpu);

    // Queue: the first family with compute.
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> qf(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nq, qf.data());
    bool found = false;
    for (uint32_t i = 0; i < nq && !found; ++i) {
      if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
        queue_family_ = i;
        found = true;
      }
    }
    if (!found) throw DeviceError("[device] " + features_.name + " has no compute queue");

    auto exts = device_extensions(physical_);
    std::vector<const char*> enable;
    push_descriptors_ = features_.push_descriptor && !options.no_push_descriptor;
    if (push_descriptors_) enable.push_back(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    if (features_.api_version < VK_API_VERSION_1_3 &&
        contains(exts, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME)) {
      enable.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    }

    // Enable what we probed, and nothing we did not.
    auto have12 = vk_struct<VkPhysicalDeviceVulkan12Features>(
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES);
    auto have11 = vk_struct<VkPhysicalDeviceVulkan11Features>(
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES);
    have11.pNext = &have12;
    auto have = vk_struct<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
    have.pNext = &have11;
    vkGetPhysicalDeviceFeatures2(physical_, &have);

    auto f12 = vk_struct<VkPhysicalDeviceVulkan12Features>(
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES);
    f12.shaderFloat16 = have12.shaderFloat16;
    f12.shaderInt8 = have12.shaderInt8;
    f12.storageBuffer8BitAccess = have12.storageBuffer8BitAccess;
    f12.uniformAndStorageBuffer8BitAccess = have12.uniformAndStorageBuffer8BitAccess;
    f12.shaderSubgroupExtendedTypes = have12.shaderSubgroupExtendedTypes;
    auto f11 = vk_struct<VkPhysicalDeviceVulkan11Features>(
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES);
    f11.storageBuffer16BitAccess = have11.storageBuffer16BitAccess;
    f11.uniformAndStorageBuffer16BitAccess = have11.uniformAndStorageBuffer16BitAccess;
    f11.pNext = &f12;
    auto ssc = vk_struct<VkPhysicalDeviceSubgroupSizeControlFeatures>(
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES);
    auto feats = vk_struct<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
    feats.features.shaderInt16 = have.features.shaderInt16;
    feats.features.shaderInt64 = have.features.shaderInt64;
    feats.features.robustBufferAccess = VK_FALSE;
    feats.pNext = &f11;
    if (features_.subgroup_size_control) {
      auto have_ssc = vk_struct<VkPhysicalDeviceSubgroupSizeControlFeatures>(
          VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES);
      auto probe_ssc =
          vk_struct<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
      probe_ssc.pNext = &have_ssc;
      vkGetPhysicalDeviceFeatures2(physical_, &probe_ssc);
      ssc.subgroupSizeControl = have_ssc.subgroupSizeControl;
      ssc.computeFullSubgroups = have_ssc.computeFullSubgroups;
      f12.pNext = &ssc;
    }

    float priority = 1.0f;
    auto qci = vk_struct<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
    qci.queueFamilyIndex = queue_family_;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    auto dci = vk_struct<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
    dci.pNext = &feats;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    dci.enabledExtensionCount = uint32_t(enable.size());
    dci.ppEnabledExtensionNames = enable.data();
    VK_CHECK(vkCreateDevice(physical_, &dci, nullptr, &device_));
    vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
    if (push_descriptors_) {
      push_descriptor_fn_ = reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(
          vkGetDeviceProcAddr(device_, "vkCmdPushDescriptorSetKHR"));
      push_descriptors_ = push_descriptor_fn_ != nullptr;
    }

    // Memory types: device-local for tensors (host-visible too on unified memory unless
    // disabled), host-visible + cached for staging/readback.
    int dev_hv = options.no_host_visible
                     ? -1
                     : find_memory_type(physical_, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                                       VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    bool use_hv = dev_hv >= 0 && features_.unified_memory;
    int dev = use_hv ? dev_hv : find_memory_type(physical_, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (dev < 0) dev = find_memory_type(physical_, 0);
    int stg = find_memory_type(physical_, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                              VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                              VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (stg < 0) {
      stg = find_memory_type(
          physical_, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    }
    if (dev < 0 || stg < 0)
      throw DeviceError("[device] " + features_.name + " has no usable memory type");
    device_type_ = uint32_t(dev);
    staging_type_ = uint32_t(stg);
    host_visible_device_local_ = use_hv;

    auto pci = vk_struct<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = queue_family_;
    VK_CHECK(vkCreateCommandPool(device_, &pci, nullptr, &one_off_pool_));

    weights_ = std::make_unique<MemoryPool>(*this, MemoryPool::Kind::device, "weights");
    arena_ = std::make_unique<MemoryPool>(*this, MemoryPool::Kind::device, "arena");
    staging_ = std::make_unique<MemoryPool>(*this, MemoryPool::Kind::staging, "staging");
    pipelines_ = std::make_unique<Pipelines>(*this);
  } catch (...) {
    if (device_) vkDestroyDevice(device_, nullptr);
    if (messenger_) {
      auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
      if (destroy) destroy(instance_, messenger_, nullptr);
    }
    vkDestroyInstance(instance_, nullptr);
    throw;
  }
  log::sdk().info(
      "device: {} ({}, {}), kernels: {}, push descriptors: {}, unified memory: {}, validation: {}",
      features_.name, features_.type, features_.driver,
      kernel_class_ == KernelClass::cpu ? "cpu" : "gpu", push_descriptors_,
      host_visible_device_local_, validation_enabled());
}

Device::~Device() {
  if (device_) vkDeviceWaitIdle(device_);
  pipelines_.reset();
  staging_.reset();
  arena_.reset();
  weights_.reset();
  if (one_off_pool_) vkDestroyCommandPool(device_, one_off_pool_, nullptr);
  if (device_) vkDestroyDevice(device_, nullptr);
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

void Device::add_in_flight(VkFence fence) {
  std::lock_guard lock(in_flight_mu_);
  in_flight_.push_back(fence);
}

void Device::remove_in_flight(VkFence fence) {
  std::lock_guard lock(in_flight_mu_);
  std::erase(in_flight_, fence);
}

void Device::wait_in_flight(VkFence except) {
  std::vector<VkFence> others;
  {
    std::lock_guard lock(in_flight_mu_);
    for (VkFence f : in_flight_)
      if (f != except) others.push_back(f);
  }
  if (!others.empty()) {
    VK_CHECK(vkWaitForFences(device_, uint32_t(others.size()), others.data(), VK_TRUE, UINT64_MAX));
  }
}

void Device::add_profile(const std::string& kernel, double ms) {
  std::lock_guard lock(profile_mu_);
  auto& k = profile_[kernel];
  k.dispatches++;
  k.ms += ms;
}

std::map<std::string, Device::KernelTime> Device::profile() const {
  std::lock_guard lock(profile_mu_);
  return profile_;
}

void Device::reset_profile() {
  std::lock_guard lock(profile_mu_);
  profile_.clear();
}

MemoryPool& Device::weights() { return *weights_; }
MemoryPool& Device::arena() { return *arena_; }
MemoryPool& Device::staging() { return *staging_; }
Pipelines& Device::pipelines() { return *pipelines_; }

void Device::run_once(const std::function<void(VkCommandBuffer)>& record) {
  std::lock_guard lock(one_off_mu_);
  auto ai = vk_struct<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  ai.commandPool = one_off_pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cb;
  VK_CHECK(vkAllocateCommandBuffers(device_, &ai, &cb));
  VkFence fence = VK_NULL_HANDLE;
  VkResult r = VK_SUCCESS;
  try {
    auto bi = vk_struct<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VK_CHECK(vkBeginCommandBuffer(cb, &bi));
    record(cb);
    VK_CHECK(vkEndCommandBuffer(cb));
    auto fci = vk_struct<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
    VK_CHECK(vkCreateFence(device_, &fci, nullptr, &fence));
    auto si = vk_struct<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb;
    {
      std::lock_guard ql(queue_mu_);
      r = vkQueueSubmit(queue_, 1, &si, fence);
    }
    if (r == VK_SUCCESS) r = vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX);
  } catch (...) {
    if (fence) vkDestroyFence(device_, fence, nullptr);
    vkFreeCommandBuffers(device_, one_off_pool_, 1, &cb);
    throw;
  }
  vkDestroyFence(device_, fence, nullptr);
  vkFreeCommandBuffers(device_, one_off_pool_, 1, &cb);
  vk_check(r, "vkQueueSubmit/vkWaitForFences (one-off)");
}

}  // namespace vkllm::sdk
