#include "layers.h"

namespace gom_layers {

void register_containers() {}

}  // namespace gom_layers
