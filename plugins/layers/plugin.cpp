// Plugin entry of the basic layers: linear, activations, flatten, dropout, sequential, losses.
#include "gom/plugin.h"

#include "layers.h"

static void register_all(const gom::PluginContext&) {
  gom_layers::register_linear();
  gom_layers::register_activations();
  gom_layers::register_flatten();
  gom_layers::register_dropout();
  gom_layers::register_sequential();
  gom_layers::register_losses();
}
GOM_PLUGIN(register_all)
