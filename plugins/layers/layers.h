// Registration functions of the layer plugin's files (one per file).
#pragma once

namespace gom_layers {
void register_linear();
void register_activations();
void register_flatten();
void register_dropout();
void register_sequential();
void register_losses();
void register_conv();
void register_pooling();
void register_batchnorm();
void register_containers();
void register_layernorm();
void register_attention();
void register_embedding();
void register_recurrent();
void register_collab();
void register_tabular();
void register_select();
}  // namespace gom_layers
