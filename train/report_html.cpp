// report.html for train/report.h: a tiny SVG plotting kit (a frame with axes and ticks, a line
// chart, a bar chart) and the self-contained page around it (inline CSS and SVG; no scripts, no
// URLs). Pixel geometry is fixed; the browser scales each SVG via its viewBox.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "train/report.h"

namespace cbnn::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

constexpr double kChartWidth = 720, kChartHeight = 300;
constexpr double kMarginLeft = 64, kMarginRight = 64, kMarginTop = 30, kMarginBottom = 46;
constexpr double kLegendRow = 16;
constexpr size_t kMaxMarkers = 60;  // point markers only while a curve has few points
constexpr const char* kBlue = "#1f77b4";
constexpr const char* kOrange = "#ff7f0e";
constexpr const char* kRed = "#d62728";
constexpr const char* kGray = "#7f7f7f";

std::string html_escape(const std::string& s) {
    std::string out;
    for (char ch : s) {
        switch (ch) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += ch;
        }
    }
    return out;
}

std::string fmt(double v, const char* spec = "%.4g") {
    if (!std::isfinite(v)) return "&ndash;";
    char buf[64];
    std::snprintf(buf, sizeof buf, spec, v);
    return buf;
}

std::string percent(double fraction) {
    return std::isfinite(fraction) ? fmt(100.0 * fraction, "%.2f") + "%" : "&ndash;";
}

// A linear axis with ~5 "nice" ticks (1, 2, 5 x 10^k), or a log10 axis with ticks at powers of 10.
struct Axis {
    double lo = 0, hi = 1;  // in log10 units when log
    bool log = false;
    std::vector<double> ticks;  // in data units

    static Axis fit(double min_v, double max_v, bool log_scale) {
        Axis a;
        a.log = log_scale;
        if (log_scale) {
            a.lo = std::floor(std::log10(min_v));
            a.hi = std::max(a.lo + 1, std::ceil(std::log10(max_v)));
            for (double e = a.lo; e <= a.hi; ++e) a.ticks.push_back(std::pow(10.0, e));
            return a;
        }
        if (!(max_v > min_v)) {
            min_v -= 0.5;
            max_v += 0.5;
        }
        const double raw = (max_v - min_v) / 5;
        const double mag = std::pow(10.0, std::floor(std::log10(raw)));
        const double step = raw / mag < 1.5   ? mag
                            : raw / mag < 3.5 ? 2 * mag
                            : raw / mag < 7.5 ? 5 * mag
                                              : 10 * mag;
        a.lo = std::floor(min_v / step) * step;
        a.hi = std::ceil(max_v / step) * step;
        for (double t = a.lo; t <= a.hi + step / 2; t += step)
            a.ticks.push_back(std::abs(t) < step / 1e6 ? 0.0 : t);
        return a;
    }
    // Position in [0, 1] along the axis.
    double unit(double v) const {
        const double x = log ? std::log10(std::max(v, std::pow(10.0, lo))) : v;
        return (x - lo) / (hi - lo);
    }
};

// Plot area and axes of one chart; px/py map data to SVG pixels.
struct Frame {
    Axis x, y;
    double left = kMarginLeft, right = kChartWidth - kMarginRight;
    double top = kMarginTop, bottom = kChartHeight - kMarginBottom;

    double px(double v) const { return left + x.unit(v) * (right - left); }
    double py(double v) const { return bottom - y.unit(v) * (bottom - top); }

    void open(std::ostringstream& os, const std::string& title) const {
        os << "<svg class=\"chart\" viewBox=\"0 0 " << kChartWidth << " " << kChartHeight
           << "\" role=\"img\"><title>" << html_escape(title) << "</title>\n"
           << "<text x=\"" << kChartWidth / 2 << "\" y=\"18\" class=\"title\">"
           << html_escape(title) << "</text>\n";
    }
    // Grid lines, tick labels and axis names; y_percent labels y ticks as percentages.
    void axes(std::ostringstream& os, const std::string& x_label, const std::string& y_label,
              bool y_percent) const {
        for (double t : y.ticks) {
            const double yy = py(t);
            os << "<line class=\"grid\" x1=\"" << left << "\" y1=\"" << yy << "\" x2=\"" << right
               << "\" y2=\"" << yy << "\"/>"
               << "<text class=\"ytick\" x=\"" << left - 6 << "\" y=\"" << yy + 4 << "\">"
               << (y_percent ? fmt(100 * t, "%g") + "%" : fmt(t, "%g")) << "</text>\n";
        }
        for (double t : x.ticks) {
            const double xx = px(t);
            os << "<line class=\"tick\" x1=\"" << xx << "\" y1=\"" << bottom << "\" x2=\"" << xx
               << "\" y2=\"" << bottom + 5 << "\"/>"
               << "<text class=\"xtick\" x=\"" << xx << "\" y=\"" << bottom + 18 << "\">"
               << fmt(t, "%g") << "</text>\n";
        }
        os << "<rect class=\"frame\" x=\"" << left << "\" y=\"" << top << "\" width=\""
           << right - left << "\" height=\"" << bottom - top << "\"/>\n"
           << "<text class=\"xlabel\" x=\"" << (left + right) / 2 << "\" y=\"" << kChartHeight - 8
           << "\">" << html_escape(x_label) << "</text>\n"
           << "<text class=\"ylabel\" transform=\"translate(16," << (top + bottom) / 2
           << ") rotate(-90)\">" << html_escape(y_label) << "</text>\n";
    }
};

struct Series {
    std::string name;
    const char* color;
    std::vector<double> x, y;
};

bool usable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

// Curves over a shared x axis; non-finite points (epochs without a value) are skipped. log_y is
// used only when every point is positive and they span at least a factor of 10.
std::string line_chart(const std::string& title, const std::string& x_label,
                       const std::string& y_label, const std::vector<Series>& series, bool log_y,
                       bool y_percent) {
    double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
    for (const Series& s : series) {
        for (size_t i = 0; i < s.x.size(); ++i) {
            if (!std::isfinite(s.y[i])) continue;
            log_y = log_y && s.y[i] > 0;
            x_min = std::min(x_min, s.x[i]), x_max = std::max(x_max, s.x[i]);
            y_min = std::min(y_min, s.y[i]), y_max = std::max(y_max, s.y[i]);
        }
    }
    std::ostringstream os;
    Frame f;
    if (!std::isfinite(x_min)) {
        f.open(os, title);
        os << "<text class=\"empty\" x=\"" << kChartWidth / 2 << "\" y=\"" << kChartHeight / 2
           << "\">no data yet</text></svg>\n";
        return os.str();
    }
    // A log axis only pays off when the values span a decade or more.
    log_y = log_y && y_max >= 10 * y_min;
    f.x = Axis::fit(x_min, x_max, false);
    f.y = Axis::fit(log_y ? y_min : std::min(0.0, y_min), y_max, log_y);
    f.open(os, title);
    f.axes(os, x_label, y_label, y_percent);
    double legend_y = f.top + 14;
    for (const Series& s : series) {
        std::ostringstream points;
        size_t count = 0;
        for (size_t i = 0; i < s.x.size(); ++i) {
            if (!usable(s.y[i], log_y)) continue;
            points << (count++ ? " " : "") << f.px(s.x[i]) << "," << f.py(s.y[i]);
        }
        if (count == 0) continue;
        os << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\""
           << points.str() << "\"/>\n";
        if (count <= kMaxMarkers) {
            for (size_t i = 0; i < s.x.size(); ++i) {
                if (!usable(s.y[i], log_y)) continue;
                os << "<circle cx=\"" << f.px(s.x[i]) << "\" cy=\"" << f.py(s.y[i])
                   << "\" r=\"2.5\" fill=\"" << s.color << "\"><title>" << html_escape(s.name)
                   << " " << fmt(s.x[i], "%g") << ": " << fmt(s.y[i]) << "</title></circle>";
            }
            os << "\n";
        }
        os << "<line x1=\"" << f.right - 120 << "\" y1=\"" << legend_y - 4 << "\" x2=\""
           << f.right - 100 << "\" y2=\"" << legend_y - 4 << "\" stroke=\"" << s.color
           << "\" stroke-width=\"2\"/><text class=\"legend\" x=\"" << f.right - 94 << "\" y=\""
           << legend_y << "\">" << html_escape(s.name) << "</text>\n";
        legend_y += 16;
    }
    os << "</svg>\n";
    return os.str();
}

const char* group_color(ShotGroup g) {
    return g == ShotGroup::many ? kBlue : g == ShotGroup::medium ? kOrange : kRed;
}

// Per-class test accuracy as bars in class-index order (coloured by shot group), with the
// training count per class as a polyline on a right-hand axis (log10 when the counts span >= 10x).
// A bar's tooltip starts with the class name when there are names; "class k: accuracy a%, n
// training images" stays as it is (scripts/sweep_tables.py reads it from reports older than
// eval.json).
std::string class_accuracy_chart(const EvalResult& r, const std::vector<std::string>& names) {
    const int64_t c = r.num_classes;
    const bool has_counts = !r.train_counts.empty();
    Frame f;
    // Class k sits at x = k, its bar centred there.
    f.x = Axis::fit(0, static_cast<double>(std::max<int64_t>(c - 1, 1)), false);
    f.x.lo = -0.5;
    f.x.hi = static_cast<double>(c) - 0.5;
    std::erase_if(f.x.ticks, [&](double t) { return t > static_cast<double>(c - 1); });
    f.y = Axis::fit(0, 1, false);
    f.top += kLegendRow;  // the legend sits between the title and the plot
    std::ostringstream os;
    f.open(os, "Per-class test accuracy and training images per class");
    f.axes(os, "class index", "test accuracy", true);
    const double band = (f.right - f.left) / static_cast<double>(c);
    const double bar = band > 3 ? band * 0.8 : band;
    for (int64_t k = 0; k < c; ++k) {
        const double acc = r.per_class_accuracy[static_cast<size_t>(k)];
        if (!std::isfinite(acc)) continue;
        const double x0 = f.px(static_cast<double>(k)) - bar / 2;
        const char* color =
            has_counts ? group_color(shot_group(r.train_counts[static_cast<size_t>(k)])) : kGray;
        os << "<rect x=\"" << x0 << "\" y=\"" << f.py(acc) << "\" width=\"" << bar << "\" height=\""
           << f.bottom - f.py(acc) << "\" fill=\"" << color << "\"><title>";
        if (static_cast<int64_t>(names.size()) == c)
            os << html_escape(names[static_cast<size_t>(k)]) << ", ";
        os << "class " << k << ": accuracy " << percent(acc);
        if (has_counts) os << ", " << r.train_counts[static_cast<size_t>(k)] << " training images";
        os << ", " << r.per_class_samples[static_cast<size_t>(k)] << " test images</title></rect>";
    }
    os << "\n";
    if (has_counts) {
        const auto [lo_it, hi_it] =
            std::minmax_element(r.train_counts.begin(), r.train_counts.end());
        const double lo = static_cast<double>(*lo_it), hi = static_cast<double>(*hi_it);
        const Axis counts =
            Axis::fit(std::max(lo, 1.0), std::max(hi, 1.0), lo > 0 && hi >= 10 * lo);
        const Axis linear = Axis::fit(0, std::max(hi, 1.0), false);
        const Axis& a = counts.log ? counts : linear;
        auto cy = [&](double v) { return f.bottom - a.unit(v) * (f.bottom - f.top); };
        os << "<polyline fill=\"none\" stroke=\"#222\" stroke-width=\"1.5\" points=\"";
        for (int64_t k = 0; k < c; ++k) {
            os << (k ? " " : "") << f.px(static_cast<double>(k)) << ","
               << cy(static_cast<double>(r.train_counts[static_cast<size_t>(k)]));
        }
        os << "\"/>\n";
        for (double t : a.ticks) {
            os << "<text class=\"rtick\" x=\"" << f.right + 6 << "\" y=\"" << cy(t) + 4 << "\">"
               << fmt(t, "%g") << "</text>";
        }
        os << "\n<text class=\"ylabel\" transform=\"translate(" << kChartWidth - 10 << ","
           << (f.top + f.bottom) / 2 << ") rotate(90)\">training images"
           << (a.log ? " (log scale)" : "") << "</text>\n";
        double lx = f.left + 8;
        for (ShotGroup g : {ShotGroup::many, ShotGroup::medium, ShotGroup::few}) {
            os << "<rect x=\"" << lx << "\" y=\"" << f.top - kLegendRow + 2
               << "\" width=\"10\" height=\"10\" fill=\"" << group_color(g)
               << "\"/><text class=\"legend\" x=\"" << lx + 14 << "\" y=\""
               << f.top - kLegendRow + 11 << "\">" << shot_group_name(g) << "</text>";
            lx += 80;
        }
        os << "<line x1=\"" << lx << "\" y1=\"" << f.top - kLegendRow + 7 << "\" x2=\"" << lx + 16
           << "\" y2=\"" << f.top - kLegendRow + 7
           << "\" stroke=\"#222\" stroke-width=\"1.5\"/><text class=\"legend\" x=\"" << lx + 20
           << "\" y=\"" << f.top - kLegendRow + 11 << "\">training images</text>\n";
    }
    os << "</svg>\n";
    return os.str();
}

// Top-5 error as a percentage, or why there is none when the evaluation had 5 classes or fewer.
std::string top5_percent(double fraction, const EvalResult* eval) {
    if (eval != nullptr && !has_top5(eval->num_classes)) return kTop5NotApplicable;
    return percent(fraction);
}

void table_row(std::ostringstream& os, const std::string& key, const std::string& value) {
    os << "<tr><th>" << key << "</th><td>" << value << "</td></tr>\n";
}

std::string summary_table(const ReportInput& in) {
    std::ostringstream os;
    os << "<table>\n";
    if (!in.epochs.empty()) {
        const EpochRecord& last = in.epochs.back();
        double seconds = 0, best = INFINITY;
        int64_t best_epoch = 0;
        for (const EpochRecord& e : in.epochs) {
            if (std::isfinite(e.seconds)) seconds += e.seconds;
            if (std::isfinite(e.test_error) && e.test_error < best)
                best = e.test_error, best_epoch = e.epoch;
        }
        table_row(os, "epochs done", std::to_string(last.epoch));
        table_row(os, "training loss (last epoch)", fmt(last.loss));
        table_row(os, "learning rate (last epoch)", fmt(last.lr));
        table_row(os, "train error (last epoch)", percent(last.train_error));
        table_row(os, "test error (last epoch)", percent(last.test_error));
        table_row(os, "top-5 test error (last epoch)", top5_percent(last.top5, in.last_eval));
        if (best_epoch > 0)
            table_row(os, "best test error",
                      percent(best) + " (epoch " + std::to_string(best_epoch) + ")");
        table_row(os, "training time", format_duration(seconds));
        table_row(os, "images/s (last epoch)",
                  std::isfinite(last.images_per_second) ? format_thousands(last.images_per_second)
                                                        : "&ndash;");
    }
    if (in.last_eval != nullptr) {
        const EvalResult& r = *in.last_eval;
        table_row(os, "evaluated test images", std::to_string(r.samples));
        table_row(os, "top-1 error (last evaluation)", percent(r.top1_error));
        table_row(os, "top-5 error (last evaluation)", top5_percent(r.top5_error, &r));
        table_row(os, "balanced accuracy", percent(r.balanced_accuracy));
        table_row(os, "mean test loss", fmt(r.mean_loss));
    }
    os << "</table>\n";
    return os.str();
}

std::string shot_table(const ReportInput& in) {
    std::ostringstream os;
    os << "<table>\n<tr><th>group</th><th>training images per class</th><th>classes</th><th>test "
          "images</th><th>accuracy</th></tr>\n";
    const char* ranges[3] = {"&gt; 100", "20 &ndash; 100", "&lt; 20"};
    const ShotGroup groups[3] = {ShotGroup::many, ShotGroup::medium, ShotGroup::few};
    for (int g = 0; g < 3; ++g) {
        os << "<tr><td>" << shot_group_name(groups[g]) << "</td><td>" << ranges[g] << "</td>";
        if (in.last_eval != nullptr) {
            const GroupAccuracy& a = in.last_eval->group(groups[g]);
            os << "<td>" << a.classes << "</td><td>" << a.samples << "</td><td>"
               << percent(a.accuracy) << "</td>";
        } else {
            const EpochRecord* last = in.epochs.empty() ? nullptr : &in.epochs.back();
            const double acc = last == nullptr ? kNaN
                               : g == 0        ? last->many
                               : g == 1        ? last->medium
                                               : last->few;
            os << "<td>&ndash;</td><td>&ndash;</td><td>" << percent(acc) << "</td>";
        }
        os << "</tr>\n";
    }
    os << "</table>\n";
    return os.str();
}

std::string settings_table(const nlohmann::json& settings) {
    std::ostringstream os;
    os << "<table>\n";
    if (settings.is_object()) {
        for (const auto& [key, value] : settings.items()) {
            table_row(os, html_escape(key),
                      html_escape(value.is_string() ? value.get<std::string>() : value.dump()));
        }
    }
    os << "</table>\n";
    return os.str();
}

constexpr const char* kStyle = R"(
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { width: 100%; max-width: 720px; height: auto; border: 1px solid #ddd; background: #fff; }
svg .title { font-size: 14px; font-weight: bold; text-anchor: middle; }
svg .xtick, svg .xlabel, svg .empty { font-size: 11px; text-anchor: middle; }
svg .ytick { font-size: 11px; text-anchor: end; }
svg .rtick, svg .legend { font-size: 11px; text-anchor: start; }
svg .ylabel { font-size: 12px; text-anchor: middle; }
svg .grid { stroke: #e5e5e5; } svg .tick { stroke: #888; } svg .frame { fill: none; stroke: #888; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 10px; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
)";

}  // namespace

std::string render_report_html(const ReportInput& in) {
    std::vector<double> epoch, loss, lr, train_error, test_error, top5;
    for (const EpochRecord& e : in.epochs) {
        epoch.push_back(static_cast<double>(e.epoch));
        loss.push_back(e.loss);
        lr.push_back(e.lr);
        train_error.push_back(e.train_error);
        test_error.push_back(e.test_error);
        top5.push_back(e.top5);
    }
    std::ostringstream os;
    os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
       << html_escape(in.title) << "</title>\n<style>" << kStyle
       << "</style>\n</head>\n<body>\n<h1>" << html_escape(in.title) << "</h1>\n";
    os << "<h2>Summary</h2>\n" << summary_table(in);
    os << "<h2>Training curves</h2>\n<div class=\"charts\">\n"
       << line_chart("Training loss", "epoch", "loss", {{"train loss", kBlue, epoch, loss}}, true,
                     false)
       << line_chart("Top-1 error", "epoch", "error",
                     {{"train", kBlue, epoch, train_error},
                      {"test", kRed, epoch, test_error},
                      {"test top-5", kOrange, epoch, top5}},
                     false, true)
       << line_chart("Learning rate", "epoch", "learning rate", {{"lr", kGray, epoch, lr}}, true,
                     false)
       << "</div>\n";
    os << "<h2>Many / medium / few-shot test accuracy</h2>\n" << shot_table(in);
    if (in.last_eval != nullptr) {
        os << "<h2>Per-class test accuracy (long tail)</h2>\n<div class=\"charts\">\n"
           << class_accuracy_chart(*in.last_eval, in.class_names) << "</div>\n";
    }
    os << "<h2>Settings</h2>\n" << settings_table(in.settings);
    os << "</body>\n</html>\n";
    return os.str();
}

}  // namespace cbnn::train
