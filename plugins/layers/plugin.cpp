// Plugin entry of the layers: linear, activations, flatten, dropout, sequential, losses,
// convolution and pooling, normalisation, containers, attention, embeddings, recurrent nets,
// collaborative filtering and tabular models.
#include "gom/plugin.h"

#include "layers.h"

static void register_all(const gom::PluginContext&) {
  gom_layers::register_linear();
  gom_layers::register_activations();
  gom_layers::register_flatten();
  gom_layers::register_dropout();
  gom_layers::register_sequential();
  gom_layers::register_losses();
  gom_layers::register_conv();
  gom_layers::register_pooling();
  gom_layers::register_batchnorm();
  gom_layers::register_containers();
  gom_layers::register_layernorm();
  gom_layers::register_attention();
  gom_layers::register_embedding();
  gom_layers::register_recurrent();
  gom_layers::register_collab();
  gom_layers::register_tabular();
  gom_layers::register_select();
}
GOM_PLUGIN(register_all)
