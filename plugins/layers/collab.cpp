#include "layers.h"

namespace gom_layers {

void register_collab() {}

}  // namespace gom_layers
