// datasets.h — the registration functions of this plugin's datasets, called by plugin.cpp.
#pragma once

namespace gom::datasets {

void register_idx();        // idx_dataset.cpp
void register_synthetic();  // synthetic_dataset.cpp
void register_text();       // text_dataset.cpp
void register_csv();        // csv_dataset.cpp
void register_ratings();    // ratings_dataset.cpp
void register_sequence_task();  // sequence_task_dataset.cpp

}  // namespace gom::datasets
