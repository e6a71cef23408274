#include "layers.h"

namespace gom_layers {

void register_tabular() {}

}  // namespace gom_layers
