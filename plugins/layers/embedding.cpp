#include "layers.h"

namespace gom_layers {

void register_embedding() {}

}  // namespace gom_layers
