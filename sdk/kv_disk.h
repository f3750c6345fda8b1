#pragma once
// The prefix cache's disk tier: published KV blocks written to files (one per block, named by
// its chain hash) so that a later request, also after a process restart, reads them back
// instead of recomputing them. Files live in DIR/<fingerprint>/, where the fingerprint names
// the model (weights, quantization, merged adapters) and the cache format (dtype, block size,
// layer shapes); each file repeats the fingerprint, the block's parent hash and token keys, and
// ends with a checksum, so a damaged or foreign file is ignored (with a warning), never used.
// Writes run on a background thread; the least recently used files go when the directory
// outgrows its byte budget (recency survives restarts as the files' modification times).
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace vkllm::sdk {

struct KvDiskOptions {
  std::string dir;  // empty: no disk tier
  uint64_t max_bytes = uint64_t(8) << 30;
  uint64_t fingerprint = 0;  // the model's; the cache mixes in its own format
};

// One block as stored: the data of every layer (KvCache decides the layout) and what it
// is checked against on reading.
struct KvDiskRecord {
  uint64_t parent = 0;
  std::vector<uint64_t> keys;
  std::vector<uint8_t> present;  // per layer group: 1 when the block's data is in the payload
  std::vector<uint8_t> payload;
};

struct KvDiskStats {
  int64_t files = 0;
  uint64_t bytes = 0;
  int64_t written = 0, read = 0, rejected = 0, evicted = 0;
  int64_t dropped = 0;  // writes skipped because the queue was full or the disk failed
};

class KvDiskTier {
 public:
  // Creates DIR/<fingerprint hex>/ (InputError naming it when that fails) and indexes the
  // files already there.
  KvDiskTier(const KvDiskOptions& opt, uint64_t fingerprint);
  ~KvDiskTier();  // writes what is queued first
  KvDiskTier(const KvDiskTier&) = delete;
  KvDiskTier& operator=(const KvDiskTier&) = delete;

  bool contains(uint64_t hash) const;
  // Queues the block for writing (the caller does not wait).
  void put(uint64_t hash, KvDiskRecord record);
  // The block stored under `hash` when its file is intact and was written for this parent
  // and these keys; a damaged or mismatching file is dropped with a warning.
  std::optional<KvDiskRecord> get(uint64_t hash, uint64_t parent, std::span<const uint64_t> keys);
  void flush();  // waits until the queue is written
  KvDiskStats stats() const;
  const std::filesystem::path& path() const { return dir_; }

  static constexpr uint64_t kMaxQueuedBytes = uint64_t(256) << 20;

  // A block file's bytes, and back: the record, or why the bytes are not an intact file of
  // block `hash` for this fingerprint (`damaged`: not a block file at all, or a broken one).
  struct Decoded {
    std::optional<KvDiskRecord> record;
    std::string error;
    bool damaged = false;
  };
  static std::vector<uint8_t> encode(uint64_t fingerprint, uint64_t hash, const KvDiskRecord& r);
  static Decoded decode(std::span<const uint8_t> bytes, uint64_t fingerprint, uint64_t hash);

 private:
  struct File {
    uint64_t bytes = 0, tick = 0;
  };
  std::filesystem::path file_of(uint64_t hash) const;
  void writer();
  void write_one(uint64_t hash, const KvDiskRecord& r);
  void add_file(uint64_t hash, uint64_t bytes, uint64_t tick);  // mu_ held
  void remove_file(uint64_t hash, bool unlink);                 // mu_ held
  void enforce_budget();                                        // mu_ held

  std::filesystem::path dir_;
  uint64_t max_bytes_, fingerprint_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::unordered_map<uint64_t, File> files_;
  std::map<uint64_t, uint64_t> order_;  // tick -> hash, oldest first
  uint64_t tick_ = 0;
  std::deque<uint64_t> queue_;  // hashes to write, oldest first
  // Records queued or being written (readable before they reach the disk).
  std::unordered_map<uint64_t, std::shared_ptr<const KvDiskRecord>> pending_;
  uint64_t queued_bytes_ = 0;
  bool writing_ = false, stop_ = false, warned_write_ = false;
  KvDiskStats stats_;
  std::thread thread_;
};

}  // namespace vkllm::sdk
