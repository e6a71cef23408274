#include "layers.h"

namespace gom_layers {

void register_attention() {}

}  // namespace gom_layers
