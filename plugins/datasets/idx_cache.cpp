// A process-wide cache of parsed IDX files, holding them weakly (freed with their last dataset).
#include "idx_cache.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <tuple>

namespace gom::datasets {

namespace {

using Key = std::tuple<std::string, int, uintmax_t, int64_t>;  // path, kind, size, mtime

struct Cache {
  std::mutex mu;
  std::map<Key, std::weak_ptr<const idx::Array>> files;
};

Cache& cache() {
  static auto* c = new Cache;  // leaked: datasets may outlive static destruction order
  return *c;
}

}  // namespace

std::shared_ptr<const idx::Array> load_idx_shared(const std::string& path, idx::Kind kind) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path canon = fs::weakly_canonical(path, ec);
  const uintmax_t size = fs::file_size(path, ec);
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  if (ec)  // let the parser's reader say what is wrong with the path
    return std::make_shared<const idx::Array>(idx::read_file(path, kind));

  const Key key{canon.string(), int(kind), size, int64_t(mtime)};
  auto& c = cache();
  // One lock across the load: two datasets asking for the same file at once parse it once.
  std::lock_guard lock(c.mu);
  if (auto it = c.files.find(key); it != c.files.end())
    if (auto alive = it->second.lock()) return alive;
  auto loaded = std::make_shared<const idx::Array>(idx::read_file(path, kind));
  std::erase_if(c.files, [](const auto& kv) { return kv.second.expired(); });
  c.files[key] = loaded;
  return loaded;
}

}  // namespace gom::datasets
