// Loss curves as small multiples (contract in plot.h): layout, axes with
// "nice" ticks (steps of 1, 2 or 5 times a power of ten), thick lines and
// point markers, all clipped to the panel's plot area.
#include "support/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "support/font.h"

namespace vaec::rt {
namespace {

constexpr int kText = 2;  // font scale: 10x14 pixel glyphs
constexpr int kPanelW = 440, kPanelH = 320, kPad = 12, kHeader = 44;
constexpr int kLeft = 90, kRight = 18, kTop = 34, kBottom = 52;  // plot area inside a panel
constexpr int kMaxColumns = 3;
constexpr Rgb kInk{40, 40, 40}, kAxis{90, 90, 90}, kGrid{225, 225, 225};
constexpr Rgb kTrain{31, 119, 180}, kTest{230, 110, 0};  // blue and orange: told apart with most colour blindness

struct Rect {
  int x0, y0, x1, y1;  // inclusive
};

void set(Image &im, int x, int y, Rgb c, const Rect &clip) {
  if (x < clip.x0 || x > clip.x1 || y < clip.y0 || y > clip.y1) return;
  if (x < 0 || y < 0 || x >= im.width || y >= im.height) return;
  uint8_t *p = im.at(x, y);
  p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

void fill(Image &im, const Rect &r, Rgb c) {
  for (int y = r.y0; y <= r.y1; ++y)
    for (int x = r.x0; x <= r.x1; ++x) set(im, x, y, c, r);
}

// Bresenham with a `width` x `width` brush.
void line(Image &im, int x0, int y0, int x1, int y1, Rgb c, int width, const Rect &clip) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (;;) {
    for (int by = 0; by < width; ++by)
      for (int bx = 0; bx < width; ++bx) set(im, x0 + bx - width / 2, y0 + by - width / 2, c, clip);
    if (x0 == x1 && y0 == y1) return;
    const int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

// An axis range [lo, hi] widened to whole ticks of `step`.
struct Axis {
  double lo = 0, hi = 1, step = 1;
};

Axis nice_axis(double lo, double hi, int ticks, bool integer) {
  double raw = (hi - lo) / ticks;
  if (!(raw > 0) || !std::isfinite(raw)) raw = 1;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw))), norm = raw / magnitude;
  double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  if (integer) step = std::max(1.0, std::round(step));
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

// "0.25", "112", "1.5e+07": as many decimals as the step needs.
std::string tick_label(double v, double step) {
  char buf[32];
  if (std::fabs(v) < step * 1e-6) v = 0;  // no "-0" or "1e-17"
  const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6);
  if (std::fabs(v) >= 1e6 || step < 1e-6) std::snprintf(buf, sizeof buf, "%.3g", v);
  else std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The finite values of curve `k` (train and test) give the y range, except
// outliers far above the rest (an early epoch whose loss exploded would
// flatten every other point into one line): values above median + 10 x
// (median - min) stay off the scale and are drawn at the top edge. Returns
// whether some were.
bool value_range(const LossHistory &h, size_t k, double &lo, double &hi) {
  std::vector<double> values;
  for (const LossHistory::Row &r : h.rows)
    for (const std::vector<double> *v : {&r.train, &r.test})
      if (k < v->size() && std::isfinite((*v)[k])) values.push_back(std::clamp((*v)[k], -1e300, 1e300));
  bool clipped = false;
  lo = INFINITY, hi = -INFINITY;
  if (!values.empty()) {
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2], limit = median + 10 * (median - sorted.front());
    for (double x : values) {
      if (sorted.size() >= 4 && x > limit && median > sorted.front()) {
        clipped = true;
        continue;
      }
      lo = std::min(lo, x), hi = std::max(hi, x);
    }
  }
  if (lo > hi) lo = 0, hi = 1;
  double span = hi - lo;
  if (span <= 0) span = std::max(std::fabs(lo) * 0.1, 1e-3);
  lo -= 0.05 * span, hi += 0.05 * span;
  return clipped;
}

void draw_panel(Image &im, int px, int py, const LossHistory &h, size_t k) {
  const Rect plot{px + kLeft, py + kTop, px + kPanelW - kRight, py + kPanelH - kBottom};
  draw_text(im, plot.x0, py + 8, h.names[k], kText, kInk);

  int64_t first = 0, last = 0;
  if (!h.rows.empty()) {
    first = last = h.rows[0].epoch;
    for (const LossHistory::Row &r : h.rows) first = std::min(first, r.epoch), last = std::max(last, r.epoch);
  }
  if (first == last) --first, ++last;
  const Axis x = nice_axis(double(first), double(last), 6, true);
  double lo, hi;
  const bool clipped = value_range(h, k, lo, hi);
  if (clipped)
    draw_text(im, plot.x0 + text_width(h.names[k], kText) + 12, py + 8, "(off-scale values on top)", kText,
              kAxis);
  const Axis y = nice_axis(lo, hi, 5, false);
  auto to_px = [&](double v) { return plot.x0 + int(std::lround((v - x.lo) / (x.hi - x.lo) * (plot.x1 - plot.x0))); };
  auto to_py = [&](double v) { return plot.y1 - int(std::lround((v - y.lo) / (y.hi - y.lo) * (plot.y1 - plot.y0))); };
  const Rect all{0, 0, im.width - 1, im.height - 1};

  // Grid and tick labels; at most ~12 ticks even for odd ranges.
  for (int i = 0; i <= 12; ++i) {
    const double v = y.lo + i * y.step;
    if (v > y.hi + y.step * 1e-9) break;
    const int yy = to_py(v);
    line(im, plot.x0, yy, plot.x1, yy, kGrid, 1, plot);
    const std::string label = tick_label(v, y.step);
    draw_text(im, plot.x0 - 8 - text_width(label, kText), yy - text_height(kText) / 2, label, kText, kInk);
  }
  for (int i = 0; i <= 12; ++i) {
    const double v = x.lo + i * x.step;
    if (v > x.hi + x.step * 1e-9) break;
    const int xx = to_px(v);
    line(im, xx, plot.y0, xx, plot.y1, kGrid, 1, plot);
    line(im, xx, plot.y1, xx, plot.y1 + 5, kAxis, 1, all);
    const std::string label = tick_label(v, x.step);
    draw_text(im, xx - text_width(label, kText) / 2, plot.y1 + 10, label, kText, kInk);
  }
  draw_text(im, (plot.x0 + plot.x1 - text_width("epoch", kText)) / 2, plot.y1 + 30, "epoch", kText, kAxis);
  line(im, plot.x0, plot.y0, plot.x0, plot.y1, kAxis, 1, all);
  line(im, plot.x0, plot.y1, plot.x1, plot.y1, kAxis, 1, all);

  // The curves: a line between consecutive finite points, a marker on each
  // (whole even at the first and last epoch, which lie on the frame).
  const Rect curves{plot.x0 - 4, plot.y0 - 4, plot.x1 + 4, plot.y1 + 4};
  for (const auto &[values, color] : {std::pair{&LossHistory::Row::train, kTrain}, {&LossHistory::Row::test, kTest}}) {
    bool have_previous = false;
    int prev_x = 0, prev_y = 0;
    for (const LossHistory::Row &r : h.rows) {
      const std::vector<double> &v = r.*values;
      if (k >= v.size() || !std::isfinite(v[k])) {
        have_previous = false;
        continue;
      }
      const int cx = to_px(double(r.epoch)), cy = to_py(std::clamp(v[k], y.lo, y.hi));
      if (have_previous) line(im, prev_x, prev_y, cx, cy, color, 3, curves);
      fill(im, {std::max(cx - 3, curves.x0), std::max(cy - 3, curves.y0), std::min(cx + 3, curves.x1),
                std::min(cy + 3, curves.y1)},
           color);
      have_previous = true, prev_x = cx, prev_y = cy;
    }
  }
}

// Matplotlib's tab10, one colour per digit.
constexpr Rgb kTab10[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                            {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};

}  // namespace

Image plot_scatter(const std::vector<float> &xs, const std::vector<float> &ys, const std::vector<int> &labels,
                   const std::string &title, const std::string &x_name, const std::string &y_name) {
  constexpr int kSize = 640, kLegend = 110, kTitle = 70;
  Image im(kLeft + kSize + kRight + kLegend, kTitle + kSize + kBottom, 3, 255);
  const Rect all{0, 0, im.width - 1, im.height - 1};
  const Rect plot{kLeft, kTitle, kLeft + kSize, kTitle + kSize};
  draw_text(im, kPad + 8, 16, title, kText, kInk);
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (size_t i = 0; i < xs.size() && i < ys.size(); ++i)
    if (std::isfinite(xs[i]) && std::isfinite(ys[i]))
      xlo = std::min<double>(xlo, xs[i]), xhi = std::max<double>(xhi, xs[i]), ylo = std::min<double>(ylo, ys[i]),
      yhi = std::max<double>(yhi, ys[i]);
  if (xlo > xhi) xlo = ylo = -1, xhi = yhi = 1;
  if (xhi - xlo < 1e-6) xlo -= 1, xhi += 1;
  if (yhi - ylo < 1e-6) ylo -= 1, yhi += 1;
  const Axis x = nice_axis(xlo, xhi, 6, false), y = nice_axis(ylo, yhi, 6, false);
  auto to_px = [&](double v) { return plot.x0 + int(std::lround((v - x.lo) / (x.hi - x.lo) * (plot.x1 - plot.x0))); };
  auto to_py = [&](double v) { return plot.y1 - int(std::lround((v - y.lo) / (y.hi - y.lo) * (plot.y1 - plot.y0))); };
  for (int i = 0; i <= 12; ++i) {
    const double v = y.lo + i * y.step;
    if (v > y.hi + y.step * 1e-9) break;
    line(im, plot.x0, to_py(v), plot.x1, to_py(v), kGrid, 1, plot);
    const std::string label = tick_label(v, y.step);
    draw_text(im, plot.x0 - 8 - text_width(label, kText), to_py(v) - text_height(kText) / 2, label, kText, kInk);
  }
  for (int i = 0; i <= 12; ++i) {
    const double v = x.lo + i * x.step;
    if (v > x.hi + x.step * 1e-9) break;
    line(im, to_px(v), plot.y0, to_px(v), plot.y1, kGrid, 1, plot);
    const std::string label = tick_label(v, x.step);
    draw_text(im, to_px(v) - text_width(label, kText) / 2, plot.y1 + 10, label, kText, kInk);
  }
  draw_text(im, (plot.x0 + plot.x1 - text_width(x_name, kText)) / 2, plot.y1 + 30, x_name, kText, kAxis);
  draw_text(im, 8, kTitle - 26, y_name, kText, kAxis);
  line(im, plot.x0, plot.y0, plot.x0, plot.y1, kAxis, 1, all);
  line(im, plot.x0, plot.y1, plot.x1, plot.y1, kAxis, 1, all);
  for (size_t i = 0; i < xs.size() && i < ys.size(); ++i) {
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) continue;
    const int px = to_px(xs[i]), py = to_py(ys[i]);
    const Rgb c = i < labels.size() && labels[i] >= 0 ? kTab10[labels[i] % 10] : kInk;
    fill(im, {std::max(px - 1, plot.x0), std::max(py - 1, plot.y0), std::min(px + 1, plot.x1), std::min(py + 1, plot.y1)}, c);
  }
  // The legend: a swatch and the digit, for the labels present.
  bool present[10] = {};
  for (int l : labels)
    if (l >= 0) present[l % 10] = true;
  int ly = kTitle + 8;
  for (int d = 0; d < 10; ++d) {
    if (!present[d]) continue;
    const int lx = plot.x1 + kRight + 12;
    fill(im, {lx, ly, lx + 14, ly + 14}, kTab10[d]);
    draw_text(im, lx + 24, ly, std::to_string(d), kText, kInk);
    ly += 26;
  }
  return im;
}

Image plot_loss_curves(const LossHistory &history, const std::string &title) {
  const size_t panels = std::max<size_t>(history.names.size(), 1);
  const int columns = static_cast<int>(std::min<size_t>(panels, kMaxColumns));
  const int rows = static_cast<int>((panels + kMaxColumns - 1) / kMaxColumns);
  Image im(2 * kPad + columns * kPanelW, kHeader + rows * kPanelH + kPad, 3, 255);
  const Rect all{0, 0, im.width - 1, im.height - 1};

  draw_text(im, kPad + 8, 16, title, kText, kInk);
  // The legend, right-aligned in the header: a line sample, then its name.
  int x = im.width - kPad - 16;
  for (const auto &[name, color] : {std::pair{"test", kTest}, {"train", kTrain}}) {
    x -= text_width(name, kText);
    draw_text(im, x, 16, name, kText, kInk);
    x -= 36;
    line(im, x, 16 + text_height(kText) / 2, x + 26, 16 + text_height(kText) / 2, color, 3, all);
    x -= 24;
  }

  if (history.names.empty()) {
    LossHistory none;
    none.names = {"loss"};
    draw_panel(im, kPad, kHeader, none, 0);
    return im;
  }
  for (size_t k = 0; k < history.names.size(); ++k)
    draw_panel(im, kPad + static_cast<int>(k % kMaxColumns) * kPanelW, kHeader + static_cast<int>(k / kMaxColumns) * kPanelH,
               history, k);
  return im;
}

}  // namespace vaec::rt
