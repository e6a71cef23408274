#include "gom_core/augment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>

#include "gom/ops.h"

namespace gom {
namespace {

int64_t randint(std::mt19937_64& rng, int64_t n) {  // [0, n)
  return n <= 1 ? 0 : int64_t(rng() % uint64_t(n));
}
double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * uniform01(rng);
}

// ------------------------------------------------------------------------------ one image
void flip_image(const float* in, float* out, int64_t c, int64_t h, int64_t w) {
  for (int64_t p = 0; p < c * h; ++p)
    for (int64_t x = 0; x < w; ++x) out[p * w + x] = in[p * w + (w - 1 - x)];
}

// Reflection of an index outside [0, n) back into it, without repeating the edge.
int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

void crop_image(const float* in, float* out, int64_t c, int64_t h, int64_t w, int64_t padding,
                bool reflect, int64_t top, int64_t left, int64_t oh, int64_t ow) {
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        int64_t sy = top + y - padding, sx = left + x - padding;
        float v = 0;
        if (reflect) {
          v = in[(ch * h + reflect_index(sy, h)) * w + reflect_index(sx, w)];
        } else if (sy >= 0 && sy < h && sx >= 0 && sx < w) {
          v = in[(ch * h + sy) * w + sx];
        }
        out[(ch * oh + y) * ow + x] = v;
      }
}

// Output pixel (y, x) samples the input at the inverse map: relative to the centre, shifted back
// by (dx, dy), rotated back by the angle and divided by the scale.
void affine_image(const float* in, float* out, int64_t c, int64_t h, int64_t w, double degrees,
                  double dx, double dy, double scale) {
  const double a = degrees * std::numbers::pi / 180, cs = std::cos(a) / scale,
               sn = std::sin(a) / scale;
  const double cy = double(h - 1) / 2, cx = double(w - 1) / 2;
  auto at = [&](int64_t ch, int64_t y, int64_t x) -> double {
    return y >= 0 && y < h && x >= 0 && x < w ? in[(ch * h + y) * w + x] : 0.0;
  };
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const double u = double(x) - cx - dx, v = double(y) - cy - dy;
      const double sx = cx + cs * u - sn * v, sy = cy + sn * u + cs * v;
      const double fx = std::floor(sx), fy = std::floor(sy);
      const double wx = sx - fx, wy = sy - fy;
      const auto x0 = int64_t(fx), y0 = int64_t(fy);
      for (int64_t ch = 0; ch < c; ++ch)
        out[(ch * h + y) * w + x] = float(
            (1 - wy) * ((1 - wx) * at(ch, y0, x0) + wx * at(ch, y0, x0 + 1)) +
            wy * ((1 - wx) * at(ch, y0 + 1, x0) + wx * at(ch, y0 + 1, x0 + 1)));
    }
}

void erase_image(const float* in, float* out, int64_t c, int64_t h, int64_t w, int64_t top,
                 int64_t left, int64_t eh, int64_t ew, float value) {
  std::copy_n(in, c * h * w, out);
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = std::max<int64_t>(top, 0); y < std::min(top + eh, h); ++y)
      for (int64_t x = std::max<int64_t>(left, 0); x < std::min(left + ew, w); ++x)
        out[(ch * h + y) * w + x] = value;
}

// Applies `fn(in, out, c, h, w)` to each image of [..., C, H, W] (f32) into [..., C, oh, ow].
template <class Fn>
Tensor per_image(const Tensor& images, const char* what, int64_t oh, int64_t ow, Fn fn) {
  if (images.dim() < 3 || images.dtype() != DType::F32)
    throw Error(fmt::format("augment {}: images are f32 [B, C, H, W] or [C, H, W], got {} {}",
                            what, dtype_name(images.dtype()), shape_str(images.shape())));
  const Tensor src = images.to(kCPU).detach().contiguous();
  const int64_t d = src.dim(), c = src.shape()[size_t(d - 3)], h = src.shape()[size_t(d - 2)],
                w = src.shape()[size_t(d - 1)];
  if (oh < 0) oh = h;
  if (ow < 0) ow = w;
  Shape out_shape = src.shape();
  out_shape[size_t(d - 2)] = oh;
  out_shape[size_t(d - 1)] = ow;
  Tensor out = Tensor::empty(out_shape);
  const int64_t n = c * h * w != 0 ? src.numel() / (c * h * w) : 0;
  const float* in = n ? src.data<float>() : nullptr;
  float* o = n ? out.data<float>() : nullptr;
  for (int64_t i = 0; i < n; ++i) fn(in + i * c * h * w, o + i * c * oh * ow, c, h, w);
  return out.to(images.device());
}

// ------------------------------------------------------------------------------ random ones
class Flip : public Augmentation {
 public:
  explicit Flip(const Params& p) : p_(p.f("p")) {}
  std::string type() const override { return "flip"; }
  Config params() const override { return {{"p", p_}}; }

 protected:
  void image(const float* in, float* out, int64_t c, int64_t h, int64_t w,
             std::mt19937_64& rng) const override {
    if (uniform01(rng) < p_) flip_image(in, out, c, h, w);
    else std::copy_n(in, c * h * w, out);
  }

 private:
  double p_;
};

class Crop : public Augmentation {
 public:
  explicit Crop(const Params& p)
      : size_(p.has("size") ? p.list_i("size") : std::vector<int64_t>{}),
        padding_(p.i("padding")),
        reflect_(p.s("mode") == "reflect") {
    if (size_.size() == 1) size_.push_back(size_[0]);
    if (size_.size() > 2 || (size_.size() == 2 && (size_[0] < 1 || size_[1] < 1)))
      throw Error("augment crop: size is one number or {height, width}, each >= 1");
  }
  std::string type() const override { return "crop"; }
  Config params() const override {
    Config c{{"padding", padding_}, {"mode", reflect_ ? "reflect" : "zero"}};
    if (!size_.empty()) c["size"] = Value::List{Value(size_[0]), Value(size_[1])};
    return c;
  }
  std::pair<int64_t, int64_t> out_size(int64_t h, int64_t w) const override {
    return size_.empty() ? std::pair{h, w} : std::pair{size_[0], size_[1]};
  }

 protected:
  void image(const float* in, float* out, int64_t c, int64_t h, int64_t w,
             std::mt19937_64& rng) const override {
    const auto [oh, ow] = out_size(h, w);
    if (oh > h + 2 * padding_ || ow > w + 2 * padding_)
      throw Error(fmt::format("augment crop: {}x{} does not fit in the {}x{} image padded by {}",
                              oh, ow, h, w, padding_));
    if (reflect_ && (padding_ >= h || padding_ >= w))
      throw Error(fmt::format("augment crop: reflect padding {} must be below the image's {}x{}",
                              padding_, h, w));
    const int64_t top = randint(rng, h + 2 * padding_ - oh + 1);
    const int64_t left = randint(rng, w + 2 * padding_ - ow + 1);
    crop_image(in, out, c, h, w, padding_, reflect_, top, left, oh, ow);
  }

 private:
  std::vector<int64_t> size_;
  int64_t padding_;
  bool reflect_;
};

class Affine : public Augmentation {
 public:
  explicit Affine(const Params& p)
      : degrees_(p.f("degrees")), translate_(p.f("translate")), scale_(p.list_f("scale")),
        p_(p.f("p")) {
    if (scale_.size() == 1) scale_.push_back(scale_[0]);
    if (scale_.size() != 2 || scale_[0] <= 0 || scale_[1] < scale_[0])
      throw Error("augment affine: scale is {lo, hi} with 0 < lo <= hi (or one number)");
  }
  std::string type() const override { return "affine"; }
  Config params() const override {
    return {{"degrees", degrees_},
            {"translate", translate_},
            {"scale", Value::List{Value(scale_[0]), Value(scale_[1])}},
            {"p", p_}};
  }

 protected:
  void image(const float* in, float* out, int64_t c, int64_t h, int64_t w,
             std::mt19937_64& rng) const override {
    // Every draw happens whether or not the image is changed: the stream stays aligned.
    const bool on = uniform01(rng) < p_;
    const double deg = uniform(rng, -degrees_, degrees_);
    const double dx = uniform(rng, -translate_, translate_) * double(w);
    const double dy = uniform(rng, -translate_, translate_) * double(h);
    const double s = uniform(rng, scale_[0], scale_[1]);
    if (on) affine_image(in, out, c, h, w, deg, dx, dy, s);
    else std::copy_n(in, c * h * w, out);
  }

 private:
  double degrees_, translate_;
  std::vector<double> scale_;
  double p_;
};

// torchvision's RandomErasing: a rectangle of a random share of the area and aspect ratio (up to
// 10 tries to fit it), or a size x size square (cutout) when size is given.
class Erase : public Augmentation {
 public:
  explicit Erase(const Params& p)
      : p_(p.f("p")), size_(p.i("size")), scale_(p.list_f("scale")), ratio_(p.list_f("ratio")),
        value_(float(p.f("value"))) {
    if (scale_.size() != 2 || scale_[1] < scale_[0] || ratio_.size() != 2 || ratio_[0] <= 0 ||
        ratio_[1] < ratio_[0])
      throw Error("augment erase: scale and ratio are {lo, hi} with lo <= hi (ratio lo > 0)");
  }
  std::string type() const override { return "erase"; }
  Config params() const override {
    return {{"p", p_},
            {"size", size_},
            {"scale", Value::List{Value(scale_[0]), Value(scale_[1])}},
            {"ratio", Value::List{Value(ratio_[0]), Value(ratio_[1])}},
            {"value", double(value_)}};
  }

 protected:
  void image(const float* in, float* out, int64_t c, int64_t h, int64_t w,
             std::mt19937_64& rng) const override {
    std::copy_n(in, c * h * w, out);
    if (uniform01(rng) >= p_) return;
    if (size_ > 0) {  // cutout: the square's centre anywhere, clipped at the edges
      const int64_t cy = randint(rng, h), cx = randint(rng, w);
      erase_image(in, out, c, h, w, cy - size_ / 2, cx - size_ / 2, size_, size_, value_);
      return;
    }
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double area = double(h * w) * uniform(rng, scale_[0], scale_[1]);
      const double ratio = std::exp(uniform(rng, std::log(ratio_[0]), std::log(ratio_[1])));
      const auto eh = int64_t(std::lround(std::sqrt(area * ratio)));
      const auto ew = int64_t(std::lround(std::sqrt(area / ratio)));
      if (eh < 1 || ew < 1 || eh >= h || ew >= w) continue;
      const int64_t top = randint(rng, h - eh + 1), left = randint(rng, w - ew + 1);
      erase_image(in, out, c, h, w, top, left, eh, ew, value_);
      return;
    }
  }

 private:
  double p_;
  int64_t size_;
  std::vector<double> scale_, ratio_;
  float value_;
};

const std::map<std::string, Schema>& schemas() {
  static const std::map<std::string, Schema> s = [] {
    std::map<std::string, Schema> m;
    Schema& flip = m["flip"];
    flip.number("p", "probability of mirroring an image left-right").def(0.5).range(0, 1);
    Schema& crop = m["crop"];
    crop.list("size", "output {height, width}, or one number for both (default: the input's)")
        .or_scalar()
        .min(1);
    crop.integer("padding", "pixels added on each side before the random crop").def(4).min(0);
    crop.choice("mode", {"zero", "reflect"}, "what the padding holds").def("zero");
    Schema& affine = m["affine"];
    affine.number("degrees", "rotation drawn uniformly in [-degrees, degrees]").def(10).min(0);
    affine.number("translate", "shift drawn in [-t, t] times the image's width and height")
        .def(0)
        .range(0, 1);
    affine.list("scale", "zoom drawn in [lo, hi] (one number: fixed)").or_scalar().def(
        Value::List{Value(1.0), Value(1.0)});
    affine.number("p", "probability of transforming an image").def(1).range(0, 1);
    Schema& erase = m["erase"];
    erase.number("p", "probability of erasing a rectangle of an image").def(0.5).range(0, 1);
    erase.integer("size", "cutout: a size x size square centred anywhere (0: random erasing "
                          "with scale and ratio)")
        .def(0)
        .min(0);
    erase.list("scale", "share of the image's area erased, drawn in [lo, hi]")
        .def(Value::List{Value(0.02), Value(0.33)})
        .range(0, 1);
    erase.list("ratio", "aspect ratio (height / width), drawn log-uniformly in [lo, hi]")
        .def(Value::List{Value(0.3), Value(3.3)})
        .min(0);
    erase.number("value", "what the erased pixels become").def(0);
    return m;
  }();
  return s;
}

}  // namespace

double uniform01(std::mt19937_64& rng) {
  return double(rng() >> 11) * 0x1.0p-53;
}

Tensor Augmentation::apply(const Tensor& images, std::mt19937_64& rng) const {
  const int64_t d = images.dim();
  if (d < 3)
    throw Error(fmt::format("augment {}: images are f32 [B, C, H, W] or [C, H, W], got {}", type(),
                            shape_str(images.shape())));
  const auto [oh, ow] = out_size(images.shape()[size_t(d - 2)], images.shape()[size_t(d - 1)]);
  return per_image(images, type().c_str(), oh, ow,
                   [&](const float* in, float* out, int64_t c, int64_t h, int64_t w) {
                     image(in, out, c, h, w, rng);
                   });
}

const Schema& augmentation_schema(const std::string& type) {
  auto it = schemas().find(type);
  if (it == schemas().end())
    throw Error(fmt::format("no augmentation '{}' (augmentations: {})", type,
                            fmt::join(augmentation_types(), ", ")));
  return it->second;
}

std::vector<std::string> augmentation_types() {
  std::vector<std::string> t;
  for (const auto& [k, v] : schemas()) t.push_back(k);
  return t;
}

std::shared_ptr<const Augmentation> make_augmentation(const std::string& type, const Config& c) {
  const Params p = validate("augmentation '" + type + "'", augmentation_schema(type), c);
  if (type == "flip") return std::make_shared<Flip>(p);
  if (type == "crop") return std::make_shared<Crop>(p);
  if (type == "affine") return std::make_shared<Affine>(p);
  return std::make_shared<Erase>(p);
}

Tensor augment(const Augmentations& augs, const Tensor& images, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Tensor x = images;
  for (const auto& a : augs) x = a->apply(x, rng);
  return x;
}

std::string describe(const Augmentations& augs) {
  std::vector<std::string> parts;
  for (const auto& a : augs) {
    std::vector<std::string> kv;
    for (const auto& [k, v] : a->params()) kv.push_back(k + "=" + v.str());
    parts.push_back(fmt::format("{}({})", a->type(), fmt::join(kv, ", ")));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

Tensor hflip(const Tensor& images) {
  return per_image(images, "flip", -1, -1, flip_image);
}

Tensor pad_crop(const Tensor& images, int64_t padding, bool reflect, int64_t top, int64_t left,
                int64_t h, int64_t w) {
  return per_image(images, "crop", h, w,
                   [&](const float* in, float* out, int64_t c, int64_t ih, int64_t iw) {
                     crop_image(in, out, c, ih, iw, padding, reflect, top, left, h, w);
                   });
}

Tensor affine(const Tensor& images, double degrees, double dx, double dy, double scale) {
  return per_image(images, "affine", -1, -1,
                   [&](const float* in, float* out, int64_t c, int64_t h, int64_t w) {
                     affine_image(in, out, c, h, w, degrees, dx, dy, scale);
                   });
}

Tensor erase(const Tensor& images, int64_t top, int64_t left, int64_t h, int64_t w, float value) {
  return per_image(images, "erase", -1, -1,
                   [&](const float* in, float* out, int64_t c, int64_t ih, int64_t iw) {
                     erase_image(in, out, c, ih, iw, top, left, h, w, value);
                   });
}

}  // namespace gom
