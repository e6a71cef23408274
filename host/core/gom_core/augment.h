// gom_core/augment.h — seeded image augmentations for f32 images [B, C, H, W] (or one [C, H, W]):
// random horizontal flip, random crop after padding (zeros or reflection), random affine
// (rotation, translation, scale; bilinear, zeros outside) and random erasing (cutout). Each image
// of a batch draws its own parameters from one stream seeded per batch, so the same seed gives the
// same images. The fixed-parameter functions under them are exposed for tests and for TTA.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gom/params.h"
#include "gom/tensor.h"

namespace gom {

/// @brief One random augmentation, applied to each image of a batch with its own parameters.
class Augmentation {
 public:
  virtual ~Augmentation() = default;
  /// @brief The batch `images` [B, C, H, W] (or one image [C, H, W]) augmented, drawing from `rng`.
  Tensor apply(const Tensor& images, std::mt19937_64& rng) const;
  /// @brief "flip", "crop", ...
  virtual std::string type() const = 0;
  /// @brief The parameters it was made with, for the run record.
  virtual Config params() const = 0;
  /// @brief The output image size for an input of h x w.
  virtual std::pair<int64_t, int64_t> out_size(int64_t h, int64_t w) const { return {h, w}; }

 protected:
  /// @brief One image: `in` [C, h, w] to `out` [C, out_size], parameters drawn from `rng`.
  virtual void image(const float* in, float* out, int64_t c, int64_t h, int64_t w,
                     std::mt19937_64& rng) const = 0;
};
using Augmentations = std::vector<std::shared_ptr<const Augmentation>>;

/// @brief The augmentation `type` (flip, crop, affine, erase) from its config; throws gom::Error
/// naming what is accepted. Schemas: augmentation_schema(type).
std::shared_ptr<const Augmentation> make_augmentation(const std::string& type, const Config& c);
const Schema& augmentation_schema(const std::string& type);
std::vector<std::string> augmentation_types();

/// @brief `images` through every augmentation in turn, all drawing from one stream seeded `seed`.
Tensor augment(const Augmentations& augs, const Tensor& images, uint64_t seed);
/// @brief "flip(p=0.5), crop(size=28, padding=4)": for logs and the run record.
std::string describe(const Augmentations& augs);

/// @brief A uniform double in [0, 1) from 53 bits of `rng` (the same on every platform, unlike
/// std::uniform_real_distribution).
double uniform01(std::mt19937_64& rng);

// Fixed-parameter image operations on [..., C, H, W] (each image the same).
/// @brief Mirrors the width.
Tensor hflip(const Tensor& images);
/// @brief Pads by `padding` on each side (zeros, or reflection without repeating the edge, as
/// torch's "reflect") and crops h x w at (top, left) of the padded image.
Tensor pad_crop(const Tensor& images, int64_t padding, bool reflect, int64_t top, int64_t left,
                int64_t h, int64_t w);
/// @brief Rotates by `degrees` (counter-clockwise as displayed, rows going down) about the centre,
/// scales by `scale` and shifts by (dx, dy) pixels; bilinear, zeros outside.
Tensor affine(const Tensor& images, double degrees, double dx, double dy, double scale);
/// @brief Sets the h x w rectangle at (top, left) of every channel to `value`.
Tensor erase(const Tensor& images, int64_t top, int64_t left, int64_t h, int64_t w, float value);

}  // namespace gom
