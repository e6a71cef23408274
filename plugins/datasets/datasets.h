// datasets.h — the registration functions of this plugin's datasets, called by plugin.cpp.
#pragma once

namespace gom::datasets {

void register_idx();        // idx_dataset.cpp
void register_synthetic();  // synthetic_dataset.cpp

}  // namespace gom::datasets
