#include "sdk/kv_disk.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "sdk/base/error.h"
#include "sdk/base/hash.h"
#include "sdk/base/log.h"

namespace vkllm::sdk {
namespace fs = std::filesystem;
namespace {

// File layout (little endian): magic, fingerprint, hash, parent, key count, group count,
// payload bytes, keys, present flags (padded to 8 bytes), payload, 16-byte content hash of
// everything before it.
constexpr char kMagic[8] = {'V', 'K', 'L', 'L', 'M', 'K', 'V', '1'};
constexpr size_t kHeader = 8 + 8 + 8 + 8 + 4 + 4 + 8;
constexpr uint64_t kMaxFileBytes = uint64_t(1) << 30;

size_t pad8(size_t n) { return (n + 7) / 8 * 8; }

template <class T>
T get_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

std::vector<uint8_t> KvDiskTier::encode(uint64_t fingerprint, uint64_t hash,
                                        const KvDiskRecord& r) {
  const size_t body = r.keys.size() * 8 + pad8(r.present.size());
  std::vector<uint8_t> out(kHeader + body + r.payload.size() + 16, 0);
  uint8_t* p = out.data();
  auto put = [&](const void* v, size_t n) {
    if (n) std::memcpy(p, v, n);
    p += n;
  };
  const uint32_t nkeys = uint32_t(r.keys.size()), ngroups = uint32_t(r.present.size());
  const uint64_t payload = r.payload.size();
  put(kMagic, 8);
  put(&fingerprint, 8);
  put(&hash, 8);
  put(&r.parent, 8);
  put(&nkeys, 4);
  put(&ngroups, 4);
  put(&payload, 8);
  put(r.keys.data(), r.keys.size() * 8);
  put(r.present.data(), r.present.size());
  p = out.data() + kHeader + body;
  put(r.payload.data(), r.payload.size());
  const size_t n = out.size() - 16;
  ContentHash h = content_hash(std::span(out).first(n), fingerprint);
  std::memcpy(out.data() + n, &h.lo, 8);
  std::memcpy(out.data() + n + 8, &h.hi, 8);
  return out;
}

KvDiskTier::Decoded KvDiskTier::decode(std::span<const uint8_t> bytes, uint64_t fingerprint,
                                       uint64_t hash) {
  auto fail = [](std::string why, bool damaged) {
    return Decoded{std::nullopt, std::move(why), damaged};
  };
  const uint64_t size = bytes.size();
  const uint8_t* p = bytes.data();
  if (size < kHeader + 16 || size > kMaxFileBytes || std::memcmp(p, kMagic, 8) != 0)
    return fail("not a KV block file", true);
  if (get_le<uint64_t>(p + 8) != fingerprint)
    return fail("written for another model or cache format", false);
  ContentHash want{get_le<uint64_t>(p + size - 16), get_le<uint64_t>(p + size - 8)};
  if (!(content_hash(bytes.first(size - 16), fingerprint) == want))
    return fail("checksum mismatch (damaged)", true);
  KvDiskRecord r;
  const uint64_t stored_hash = get_le<uint64_t>(p + 16);
  r.parent = get_le<uint64_t>(p + 24);
  const uint64_t nkeys = get_le<uint32_t>(p + 32), ngroups = get_le<uint32_t>(p + 36);
  const uint64_t payload = get_le<uint64_t>(p + 40);
  const uint64_t body = nkeys * 8 + pad8(ngroups);
  if (stored_hash != hash || payload > size || body > size || kHeader + body + payload + 16 != size)
    return fail("its header does not match its name or size", true);
  for (uint64_t i = kHeader + nkeys * 8 + ngroups; i < kHeader + body; ++i)
    if (p[i] != 0) return fail("its header does not match its name or size", true);
  r.keys.resize(nkeys);
  if (nkeys) std::memcpy(r.keys.data(), p + kHeader, nkeys * 8);
  r.present.assign(p + kHeader + nkeys * 8, p + kHeader + nkeys * 8 + ngroups);
  r.payload.assign(p + kHeader + body, p + kHeader + body + payload);
  return {std::move(r), {}, false};
}

namespace {

std::optional<uint64_t> hash_of_name(const fs::path& p) {
  std::string stem = p.stem().string();
  if (p.extension() != ".kvb" || stem.size() != 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : stem) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = v << 4 | uint64_t(d);
  }
  return v;
}

}  // namespace

KvDiskTier::KvDiskTier(const KvDiskOptions& opt, uint64_t fingerprint)
    : dir_(fs::path(opt.dir) / fmt::format("{:016x}", fingerprint)),
      max_bytes_(opt.max_bytes),
      fingerprint_(fingerprint) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_)) {
    throw InputError(fmt::format("cache directory {}: cannot create it ({})", dir_.string(),
                                 ec ? ec.message() : "not a directory"));
  }
  // Index what an earlier process left, oldest first; leftovers of interrupted writes go.
  std::vector<std::tuple<fs::file_time_type, uint64_t, uint64_t>> found;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (!e.is_regular_file(ec)) continue;
    if (e.path().extension() == ".tmp") {
      fs::remove(e.path(), ec);
      continue;
    }
    if (auto h = hash_of_name(e.path()))
      found.emplace_back(e.last_write_time(ec), *h, e.file_size(ec));
  }
  std::sort(found.begin(), found.end());
  std::lock_guard lock(mu_);
  for (const auto& [time, hash, bytes] : found) add_file(hash, bytes, ++tick_);
  enforce_budget();
  log::sdk().info("[kv_disk] {}: {} blocks ({:.1f} MiB) on disk, budget {:.0f} MiB", dir_.string(),
                  files_.size(), double(stats_.bytes) / (1 << 20), double(max_bytes_) / (1 << 20));
  thread_ = std::thread([this] { writer(); });
}

KvDiskTier::~KvDiskTier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

fs::path KvDiskTier::file_of(uint64_t hash) const {
  return dir_ / fmt::format("{:016x}.kvb", hash);
}

bool KvDiskTier::contains(uint64_t hash) const {
  std::lock_guard lock(mu_);
  return files_.contains(hash) || pending_.contains(hash);
}

void KvDiskTier::put(uint64_t hash, KvDiskRecord record) {
  std::lock_guard lock(mu_);
  if (files_.contains(hash) || pending_.contains(hash)) return;
  uint64_t bytes = record.payload.size();
  if (queued_bytes_ + bytes > kMaxQueuedBytes || bytes > max_bytes_) {
    ++stats_.dropped;
    log::sdk().debug("[kv_disk] write queue full: block {:016x} not written", hash);
    return;
  }
  queued_bytes_ += bytes;
  pending_.emplace(hash, std::make_shared<const KvDiskRecord>(std::move(record)));
  queue_.push_back(hash);
  cv_.notify_one();
}

void KvDiskTier::flush() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && !writing_; });
}

void KvDiskTier::writer() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping with nothing left to write
    uint64_t hash = queue_.front();
    queue_.pop_front();
    std::shared_ptr<const KvDiskRecord> rec = pending_.at(hash);
    writing_ = true;
    lock.unlock();
    write_one(hash, *rec);
    lock.lock();
    writing_ = false;
    pending_.erase(hash);
    queued_bytes_ -= rec->payload.size();
    if (queue_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

void KvDiskTier::write_one(uint64_t hash, const KvDiskRecord& r) {
  std::vector<uint8_t> bytes = encode(fingerprint_, hash, r);
  fs::path final_path = file_of(hash);
  fs::path tmp = final_path;
  tmp += ".tmp";
  bool ok;
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    ok = bool(f.flush());
  }
  std::error_code ec;
  if (ok) fs::rename(tmp, final_path, ec);
  std::lock_guard lock(mu_);
  if (!ok || ec) {
    fs::remove(tmp, ec);
    ++stats_.dropped;
    if (!warned_write_) {
      log::sdk().warn(
          "[kv_disk] cannot write {} (disk full or read-only?); blocks that do not "
          "fit stay in memory only",
          final_path.string());
      warned_write_ = true;
    }
    return;
  }
  ++stats_.written;
  add_file(hash, bytes.size(), ++tick_);
  enforce_budget();
}

std::optional<KvDiskRecord> KvDiskTier::get(uint64_t hash, uint64_t parent,
                                            std::span<const uint64_t> keys) {
  auto matches = [&](const KvDiskRecord& r) {
    return r.parent == parent && std::equal(keys.begin(), keys.end(), r.keys.begin(), r.keys.end());
  };
  {
    std::lock_guard lock(mu_);
    if (auto it = pending_.find(hash); it != pending_.end()) {
      if (!matches(*it->second)) return std::nullopt;
      ++stats_.read;
      return *it->second;
    }
    if (!files_.contains(hash)) return std::nullopt;
  }
  const fs::path path = file_of(hash);
  auto reject = [&](const std::string& why, bool damaged) -> std::optional<KvDiskRecord> {
    log::sdk().warn("[kv_disk] ignoring {}: {}", path.string(), why);
    std::lock_guard lock(mu_);
    ++stats_.rejected;
    remove_file(hash, damaged);
    return std::nullopt;
  };
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  if (ec) return reject("cannot read it (" + ec.message() + ")", false);
  if (size > kMaxFileBytes) return reject("not a KV block file", true);
  std::vector<uint8_t> bytes(size);
  {
    std::ifstream f(path, std::ios::binary);
    if (!f.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size)))
      return reject("cannot read it", false);
  }
  Decoded d = decode(bytes, fingerprint_, hash);
  if (!d.record) return reject(d.error, d.damaged);
  KvDiskRecord& r = *d.record;
  if (!matches(r)) return std::nullopt;  // a hash collision: another block, left alone
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);  // recency across restarts
  std::lock_guard lock(mu_);
  if (auto it = files_.find(hash); it != files_.end()) {
    order_.erase(it->second.tick);
    it->second.tick = ++tick_;
    order_.emplace(it->second.tick, hash);
  }
  ++stats_.read;
  return std::move(r);
}

void KvDiskTier::add_file(uint64_t hash, uint64_t bytes, uint64_t tick) {
  remove_file(hash, false);
  files_.emplace(hash, File{bytes, tick});
  order_.emplace(tick, hash);
  stats_.bytes += bytes;
}

void KvDiskTier::remove_file(uint64_t hash, bool unlink) {
  auto it = files_.find(hash);
  if (it == files_.end()) return;
  stats_.bytes -= it->second.bytes;
  order_.erase(it->second.tick);
  files_.erase(it);
  if (unlink) {
    std::error_code ec;
    fs::remove(file_of(hash), ec);
  }
}

void KvDiskTier::enforce_budget() {
  while (stats_.bytes > max_bytes_ && !order_.empty()) {
    remove_file(order_.begin()->second, true);
    ++stats_.evicted;
  }
}

KvDiskStats KvDiskTier::stats() const {
  std::lock_guard lock(mu_);
  KvDiskStats s = stats_;
  s.files = int64_t(files_.size());
  return s;
}

}  // namespace vkllm::sdk
