// idx_cache.h — parsed IDX files shared between the datasets that use them.
#pragma once

#include <memory>
#include <string>

#include "idx_format.h"

namespace gom::datasets {

/// @brief The parsed file at `path`, read once while any dataset holds it: creating the train
/// and valid splits of one file (or the same dataset in several runs of a sweep) parses and
/// inflates it once. Keyed by canonical path, kind, size and modification time, so a rewritten
/// file is read again. Thread-safe; errors are not cached.
std::shared_ptr<const idx::Array> load_idx_shared(const std::string& path, idx::Kind kind);

}  // namespace gom::datasets
