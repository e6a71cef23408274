// gom/checkpoint.h — the whole training state in one safetensors file, so a fit can continue
// exactly where it stopped.
//
// Tensors: the model's weights under their own names ("0.weight", what PyTorch's
// load_state_dict takes) and the optimizer's state under "optim/" ("optim/0.exp_avg"). Metadata
// (strings): "gom.checkpoint" (the format version, 1), "epoch" (completed epochs), "step"
// (optimizer steps), "rng.seed" and "rng.offset" (the default generator), "optimizer.type",
// "optimizer.groups" (every group's options as JSON) and "callbacks" (a JSON list of
// {"type", "state"} for the fit's callbacks, in order), the loop's checkpoint_metadata (the run's
// identity, from the host), plus whatever the caller adds.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gom/callback.h"

namespace gom {

/// @brief Where a checkpoint's training stood.
struct CheckpointInfo {
  int64_t epoch = 0;  ///< completed epochs
  int64_t step = 0;   ///< optimizer steps taken
  std::map<std::string, std::string> metadata;
};

/// @brief Writes the state of the loop `s` (its model, optimizer and callbacks, and the default
/// generator) after `completed_epochs` epochs to `path`, atomically (see save_safetensors).
void save_checkpoint(const std::string& path, const LoopState& s, int64_t completed_epochs,
                     const std::map<std::string, std::string>& extra = {});

/// @brief Restores a checkpoint into `model`, `optimizer` (of the type it was written by),
/// `callbacks` (matched by position and type) and the default generator. Weights and optimizer
/// state must match by name and shape; every mismatch is a gom::Error naming the file.
CheckpointInfo load_checkpoint(const std::string& path, Module& model, Optimizer& optimizer,
                               const std::vector<std::shared_ptr<Callback>>& callbacks);

/// @brief Only the metadata and the position of a checkpoint (no tensors are restored).
CheckpointInfo read_checkpoint_info(const std::string& path);

}  // namespace gom
