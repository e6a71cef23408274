// Seeded image augmentation and derived datasets (gom_core/augment.h, derived_dataset.h): each
// augmentation exact on small hand-made images, random ones equal to a fixed-parameter one and
// reproducible by seed, random_split's parts, and a loader's augmented batches the same for the
// same (seed, epoch) — also from a fresh loader, as after a resume.
#include <catch2/catch.hpp>
#include <numeric>
#include <set>

#include "gom/gom.h"
#include "gom_core/augment.h"
#include "gom_core/data_loader.h"
#include "gom_core/derived_dataset.h"

using namespace gom;

namespace {

Tensor image(std::vector<float> v, Shape s) {
  return tensor(std::move(v), std::move(s));
}

std::vector<float> values(const Tensor& t) {
  return t.contiguous().to_vector<float>();
}

// [n, 1, h, w] of distinct values 0, 1, 2, ...
Tensor counting(int64_t n, int64_t h, int64_t w) {
  std::vector<float> v(size_t(n * h * w));
  std::iota(v.begin(), v.end(), 0.f);
  return image(v, {n, 1, h, w});
}

}  // namespace

TEST_CASE("augment: flip, pad-crop, rotation and erasing on hand-made images", "[augment]") {
  const Tensor x = image({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  CHECK(values(hflip(x)) == std::vector<float>{3, 2, 1, 6, 5, 4});

  const Tensor sq = image({1, 2, 3, 4}, {1, 1, 2, 2});  // a batch of one
  CHECK(pad_crop(sq, 1, false, 0, 0, 2, 2).shape() == Shape{1, 1, 2, 2});
  CHECK(values(pad_crop(sq, 1, false, 0, 0, 2, 2)) == std::vector<float>{0, 0, 0, 1});
  CHECK(values(pad_crop(sq, 1, false, 1, 1, 2, 2)) == std::vector<float>{1, 2, 3, 4});
  CHECK(values(pad_crop(sq, 1, false, 2, 2, 2, 2)) == std::vector<float>{4, 0, 0, 0});
  CHECK(values(pad_crop(sq, 1, false, 0, 1, 3, 2)) == std::vector<float>{0, 0, 1, 2, 3, 4});
  // Reflection without repeating the edge: padded row -1 is row 1, column -1 is column 1.
  const Tensor nine = image({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3});
  CHECK(values(pad_crop(nine, 1, true, 0, 0, 2, 2)) == std::vector<float>{5, 4, 2, 1});
  CHECK(values(pad_crop(nine, 2, true, 4, 4, 3, 3)) == std::vector<float>{9, 8, 7, 6, 5, 4, 3, 2, 1});

  // A quarter turn counter-clockwise is a transpose of the mirrored image (torch.rot90).
  const std::vector<float> rot = values(affine(nine, 90, 0, 0, 1));
  const std::vector<float> want{3, 6, 9, 2, 5, 8, 1, 4, 7};
  for (size_t i = 0; i < want.size(); ++i) CHECK(rot[i] == Approx(want[i]).margin(1e-5));
  const Tensor sixteen = counting(1, 4, 4);  // an even size: the centre is between pixels
  const std::vector<float> r4 = values(affine(sixteen, 90, 0, 0, 1));
  const std::vector<float> t4 = values(hflip(sixteen).transpose(2, 3));
  for (size_t i = 0; i < t4.size(); ++i) CHECK(r4[i] == Approx(t4[i]).margin(1e-5));
  // A shift of one pixel right, and half a pixel (bilinear: the mean of neighbours).
  CHECK(values(affine(nine, 0, 1, 0, 1)) == std::vector<float>{0, 1, 2, 0, 4, 5, 0, 7, 8});
  CHECK(values(affine(nine, 0, 0.5, 0, 1)) ==
        std::vector<float>{0.5f, 1.5f, 2.5f, 2, 4.5f, 5.5f, 3.5f, 7.5f, 8.5f});

  CHECK(values(erase(image({1, 1, 1, 1, 1, 1, 1, 1}, {2, 2, 2}), 1, 0, 1, 1, -1)) ==
        std::vector<float>{1, 1, -1, 1, 1, 1, -1, 1});
}

TEST_CASE("augment: random augmentations are fixed ones with seeded parameters", "[augment]") {
  const Tensor x = counting(8, 5, 5);
  CHECK(values(augment({make_augmentation("flip", {{"p", 1.0}})}, x, 1)) == values(hflip(x)));
  CHECK(values(augment({make_augmentation("flip", {{"p", 0.0}})}, x, 1)) == values(x));

  // Each image of a crop is the pad-crop at some offset in [0, 2 * padding].
  const Augmentations crop{make_augmentation("crop", {{"padding", int64_t(2)}})};
  const Tensor a = augment(crop, x, 7);
  REQUIRE(a.shape() == x.shape());
  std::set<std::pair<int64_t, int64_t>> offsets;
  for (int64_t i = 0; i < 8; ++i) {
    const Tensor one = x.slice(0, i, i + 1), got = a.slice(0, i, i + 1);
    int found = 0;
    for (int64_t t = 0; t <= 4; ++t)
      for (int64_t l = 0; l <= 4; ++l)
        if (values(pad_crop(one, 2, false, t, l, 5, 5)) == values(got)) {
          ++found;
          offsets.insert({t, l});
        }
    CHECK(found == 1);
  }
  CHECK(offsets.size() > 1);  // the images draw their own offsets
  CHECK(values(augment(crop, x, 7)) == values(a));
  CHECK(values(augment(crop, x, 8)) != values(a));

  // A crop to a given size; erasing with p = 1 zeroes a rectangle of 2-33 % of the area.
  CHECK(augment({make_augmentation("crop", {{"size", int64_t(3)}, {"padding", int64_t(0)}})}, x, 1)
            .shape() == Shape{8, 1, 3, 3});
  const Tensor ones = add(zeros({4, 1, 10, 10}), scalar(1.0));
  const std::vector<float> e = values(augment({make_augmentation("erase", {{"p", 1.0}})}, ones, 3));
  for (int64_t i = 0; i < 4; ++i) {
    int64_t zero = 0, top = 10, bottom = -1, left = 10, right = -1;
    for (int64_t y = 0; y < 10; ++y)
      for (int64_t c = 0; c < 10; ++c)
        if (e[size_t(i * 100 + y * 10 + c)] == 0) {
          ++zero;
          top = std::min(top, y), bottom = std::max(bottom, y);
          left = std::min(left, c), right = std::max(right, c);
        }
    CHECK(zero == (bottom - top + 1) * (right - left + 1));  // one rectangle
    CHECK(zero >= 2);
    CHECK(zero <= 45);  // 0.33 of 100, each side rounded
  }
  CHECK_THROWS_WITH(make_augmentation("rotate", {}),
                    "no augmentation 'rotate' (augmentations: affine, crop, erase, flip)");
}

TEST_CASE("augment: random_split's parts are seeded, disjoint and cover the data", "[augment]") {
  const auto parts = random_split_indices(11, {0.5, 0.3, 0.2}, 4);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].size() == 6);  // floor 5, 3, 2, and the one left over to the first
  CHECK(parts[1].size() == 3);
  CHECK(parts[2].size() == 2);
  std::set<int64_t> all;
  for (const auto& p : parts) all.insert(p.begin(), p.end());
  CHECK(all.size() == 11);
  CHECK(*all.rbegin() == 10);
  CHECK(random_split_indices(11, {0.5, 0.3, 0.2}, 4) == parts);
  CHECK(random_split_indices(11, {0.5, 0.3, 0.2}, 5) != parts);
  const auto counts = random_split_indices(10, {3, 7}, 4);
  CHECK(counts[0].size() == 3);
  CHECK(counts[1].size() == 7);
  CHECK_THROWS_WITH(random_split_indices(10, {3, 6}, 4),
                    "random_split: sizes must be counts that sum to the dataset's 10 examples, "
                    "or fractions that sum to 1 (they sum to 9)");
}

TEST_CASE("augment: a loader's augmented batches depend on the seed and epoch only",
          "[augment]") {
  auto base = std::make_shared<TensorDataset>(counting(10, 4, 4),
                                              tensor_i64({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {10}), 10);
  auto sub = std::make_shared<SubsetDataset>(base, std::vector<int64_t>{9, 2, 5});
  CHECK(sub->get_batch({1, 2}).target.to_vector<int64_t>() == std::vector<int64_t>{2, 5});
  CHECK(&root_dataset(*sub) == base.get());

  const Augmentations augs{make_augmentation("crop", {{"padding", int64_t(2)}}),
                           make_augmentation("flip", {})};
  auto aug = std::make_shared<TransformedDataset>(
      base,
      [augs](Batch b, uint64_t seed) {
        b.input = augment(augs, b.input, seed);
        return b;
      },
      describe(augs), false);
  CHECK(aug->describe().find(R"(crop(mode="zero", padding=2), flip(p=0.5))") != std::string::npos);
  auto epoch_inputs = [&](uint64_t seed, int64_t epoch, int prefetch) {
    LoaderOptions o;
    o.batch_size = 4;
    o.seed = seed;
    o.prefetch = prefetch;
    DataLoader dl(aug, o);
    dl.begin_epoch(epoch);
    std::vector<float> all;
    Batch b;
    while (dl.next(b)) {
      auto v = values(b.input);
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  const auto e0 = epoch_inputs(1, 0, 2);
  CHECK(epoch_inputs(1, 0, 0) == e0);  // with or without the prefetch thread
  CHECK(epoch_inputs(2, 0, 2) != e0);
  const auto e1 = epoch_inputs(1, 1, 2);
  CHECK(e1 != e0);
  // A fresh loader (a resumed run) that begins at epoch 1 gives epoch 1's batches.
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 1;
  DataLoader dl(aug, o);
  dl.begin_epoch(0);
  dl.begin_epoch(1);
  Batch b;
  REQUIRE(dl.next(b));
  CHECK(std::vector<float>(e1.begin(), e1.begin() + 64) == values(b.input));
}
