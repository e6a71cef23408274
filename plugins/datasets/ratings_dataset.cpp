#include "datasets.h"

namespace gom::datasets {

void register_ratings() {}

}  // namespace gom::datasets
