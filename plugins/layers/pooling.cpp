#include "layers.h"

namespace gom_layers {

void register_pooling() {}

}  // namespace gom_layers
