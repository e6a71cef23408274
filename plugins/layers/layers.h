// Registration functions of the layer plugin's files (one per file).
#pragma once

namespace gom_layers {
void register_linear();
void register_activations();
void register_flatten();
void register_dropout();
void register_sequential();
void register_losses();
}  // namespace gom_layers
