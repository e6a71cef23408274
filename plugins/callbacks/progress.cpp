// progress: what the fit is doing, on the terminal. A live bar redrawn in place on a TTY
//   epoch 2/10 [#######.....] 312/469 loss 0.4213 12,345 samples/s ETA 0:07
// and plain lines elsewhere (CI logs, pipes); in both, one line per epoch with its metrics, and
// one for the test phase when the fit has one.
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "callbacks.h"
#include "gom/autograd.h"
#include "gom/callback.h"
#include "gom/ops.h"

namespace gom::callbacks {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// 12345.6 -> "12,346"; small rates keep a decimal so that a slow model does not read "0".
std::string rate_str(double r) {
  if (!(r >= 0) || std::isinf(r)) return "? ";
  if (r < 100) return fmt::format("{:.1f}", r);
  std::string digits = fmt::format("{:.0f}", r), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// ETA and epoch times: "0:07", "12:03", "1:02:03".
std::string clock_str(double s) {
  const auto t = static_cast<int64_t>(std::llround(std::max(0.0, s)));
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

std::string duration_str(double s) {
  return s < 60 ? fmt::format("{:.1f}s", s) : clock_str(s);
}

std::string value_str(double v) {
  const double a = std::fabs(v);
  if (std::isfinite(v) && v != 0 && (a >= 1e5 || a < 1e-3)) return fmt::format("{:.4g}", v);
  return fmt::format("{:.4f}", v);
}

class Progress : public Callback {
 public:
  explicit Progress(const Params& p)
      : out_(p.s("stream") == "stdout" ? stdout : stderr), every_(p.i("every")) {
    const std::string& mode = p.s("mode");
    const char* term = std::getenv("TERM");
    bar_ = mode == "bar" ||
           (mode == "auto" && isatty(fileno(out_)) && !(term && std::string(term) == "dumb"));
  }

  // Last: the epoch line shows what every other callback reported.
  int order() const override { return 1000; }

  void on(Event e, LoopState& s) override {
    if (world_rank() != 0) return;  // one display for a data-parallel job: rank 0's
    switch (e) {
      case Event::BeforeEpoch:
        epoch_start_ = Clock::now();
        train_rate_ = -1;
        break;
      case Event::BeforeTrain:
      case Event::BeforeValidate:
      case Event::BeforeTest:
        phase_start_ = Clock::now();
        last_draw_ = phase_start_ - std::chrono::seconds(1);  // the first batch is drawn
        loss_sum_ = Tensor();
        losses_ = 0;
        break;
      case Event::AfterLoss:
        add_loss(s);
        break;
      case Event::AfterBatch:
        after_batch(s);
        break;
      case Event::AfterTrain:
        train_rate_ = s.samples / std::max(1e-9, seconds(phase_start_, Clock::now()));
        clear();
        break;
      case Event::AfterValidate:
        if (train_rate_ < 0)  // an epoch without training shows the validation throughput
          train_rate_ = s.samples / std::max(1e-9, seconds(phase_start_, Clock::now()));
        clear();
        break;
      case Event::AfterEpoch:
        epoch_line(s);
        break;
      case Event::AfterTest:
        test_line(s);
        break;
      case Event::AfterFit:
        clear();
        break;
      default:
        break;
    }
  }

 private:
  // Summed on the device and read only when shown: no synchronisation per batch.
  void add_loss(const LoopState& s) {
    if (!s.loss.defined()) return;
    NoGrad ng;
    const Tensor l = mean(s.loss.detach());  // a fresh 0-d tensor, also for reduction=none
    loss_sum_ = loss_sum_.defined() ? add(loss_sum_, l) : l;
    ++losses_;
  }

  void after_batch(const LoopState& s) {
    if (bar_) {
      const auto now = Clock::now();
      if (now - last_draw_ < std::chrono::milliseconds(100)) return;  // ~10 redraws a second
      last_draw_ = now;
      draw(s, now);
    } else if (every_ > 0 && (s.batch + 1) % every_ == 0) {
      write(batch_text(s, Clock::now(), false) + "\n");
    }
  }

  std::string epoch_text(const LoopState& s) const {
    return s.epochs > 0 ? fmt::format("epoch {}/{}", s.epoch + 1, s.epochs)
                        : fmt::format("epoch {}", s.epoch + 1);
  }

  // "epoch 2/10 [####....] 312/469 loss 0.4213 12,345 samples/s ETA 0:07"; the bar itself is
  // sized to the room the terminal leaves (0: no bar, as in lines mode).
  std::string batch_text(const LoopState& s, Clock::time_point now, bool with_bar,
                         int width = 0) const {
    const double elapsed = seconds(phase_start_, now);
    const int64_t done = s.batch + 1;
    std::string head = "test";
    if (s.phase != MetricPhase::Test) {
      head = epoch_text(s);
      if (!s.training || !with_bar) head += s.training ? " train" : " valid";
    }
    std::string tail =
        s.batches > 0 ? fmt::format(" {}/{}", done, s.batches) : fmt::format(" {}", done);
    if (losses_ > 0) tail += " loss " + value_str(loss_sum_.item() / double(losses_));
    tail += " " + rate_str(s.samples / std::max(1e-9, elapsed)) + " samples/s";
    if (s.batches > 0 && done < s.batches)
      tail += " ETA " + clock_str(elapsed / double(done) * double(s.batches - done));
    if (!with_bar || s.batches <= 0) return head + tail;
    const int room = width - 1 - int(head.size() + tail.size()) - 3;
    const int cells = std::min(30, room);
    if (cells < 5) return head + tail;
    const auto full =
        static_cast<int>(double(cells) * double(std::min(done, s.batches)) / double(s.batches));
    return head + " [" + std::string(full, '#') + std::string(cells - full, '.') + "]" + tail;
  }

  void draw(const LoopState& s, Clock::time_point now) {
    const int width = terminal_width();
    std::string line = batch_text(s, now, true, width);
    if (int(line.size()) >= width) line.resize(std::max(0, width - 1));  // no wrap: \r must work
    const size_t shown = line.size();
    if (line.size() < last_len_) line.append(last_len_ - line.size(), ' ');  // cover the old one
    write("\r" + line);
    last_len_ = shown;
  }

  void clear() {
    if (!bar_ || last_len_ == 0) return;
    write("\r" + std::string(last_len_, ' ') + "\r");
    last_len_ = 0;
  }

  // "epoch 2/10 train_loss 0.4213 valid_loss 0.3982 accuracy 0.8812 lr 0.001 12,345 samples/s
  // 7.2s". The trainer's own timing metrics, when present, are shown in that form.
  void epoch_line(const LoopState& s) {
    clear();
    const auto& m = s.metrics;
    auto get = [&](const char* k, double fallback) {
      auto it = m.find(k);
      return it != m.end() ? it->second : fallback;
    };
    std::string line = epoch_text(s);
    for (const char* k : {"train_loss", "valid_loss"})
      if (auto it = m.find(k); it != m.end())
        line += fmt::format(" {} {}", k, value_str(it->second));
    for (const auto& [k, v] : m) {
      if (k == "train_loss" || k == "valid_loss" || k == "samples_per_sec" || k == "epoch_seconds")
        continue;
      line += fmt::format(" {} {}", k, k == "lr" ? fmt::format("{:.3g}", v) : value_str(v));
    }
    if (const double r = get("samples_per_sec", train_rate_); r >= 0)
      line += " " + rate_str(r) + " samples/s";
    line += " " + duration_str(get("epoch_seconds", seconds(epoch_start_, Clock::now())));
    write(line + "\n");
  }

  // "test test_accuracy 0.8912 test_loss 0.3021 1.2s": the test phase's metrics (only they are
  // in state.metrics during it).
  void test_line(const LoopState& s) {
    clear();
    std::string line = "test";
    for (const auto& [k, v] : s.metrics) line += fmt::format(" {} {}", k, value_str(v));
    write(line + " " + duration_str(seconds(phase_start_, Clock::now())) + "\n");
  }

  int terminal_width() const {
    winsize ws{};
    if (ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    if (const char* c = std::getenv("COLUMNS"); c && std::atoi(c) > 0) return std::atoi(c);
    return 100;
  }

  void write(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), out_);
    std::fflush(out_);  // stdout to a pipe is block-buffered: a log should not lag an epoch
  }

  std::FILE* out_;
  int64_t every_;
  bool bar_;
  Clock::time_point epoch_start_{}, phase_start_{}, last_draw_{};
  double train_rate_ = -1;
  Tensor loss_sum_;
  int64_t losses_ = 0;
  size_t last_len_ = 0;  // length of the bar on screen, 0 when none
};

}  // namespace

void register_progress() {
  Schema s;
  s.choice("mode", {"auto", "bar", "lines"},
           "bar: a live bar redrawn in place; lines: plain lines (logs, pipes); auto: bar when "
           "the stream is a terminal")
      .def("auto");
  s.integer("every", "in lines mode, also print a line every N batches (0: only per epoch)")
      .def(0)
      .min(0);
  s.choice("stream", {"stderr", "stdout"}, "where to write").def("stderr");
  register_callback(
      "progress",
      "shows the fit's progress: a live bar (batches, running loss, samples/s, ETA) and a line "
      "per epoch with its metrics",
      std::move(s), [](const Params& p) { return std::make_shared<Progress>(p); });
}

}  // namespace gom::callbacks
