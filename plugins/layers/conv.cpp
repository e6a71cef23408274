#include "layers.h"

namespace gom_layers {

void register_conv() {}

}  // namespace gom_layers
