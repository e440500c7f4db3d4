// cbnn-data: inspect a dataset as training will read it.
//   cbnn-data --dataset cifar10|cifar100|folder|inat --data DIR [--imbalance IF | --subset-list F]
//             [--seed S] [--write-subset-list F] [--skip-bad-images] [--threads N] [--json]
// Prints the format found, the class names, per-class train counts (after the long-tail subset)
// and test counts, and the bad image files. CIFAR is decoded in full (it is small); image folders
// and iNaturalist are checked file by file with stb_image's header reader, without decoding
// pixels. --json prints {"classes", "train_counts", "test_counts", "format", "description",
// "subset", "train_size", "test_size", "decode_errors"}. Bad input: a message on stderr, exit 1.
//
// Layouts: cifar10/cifar100 as data/cifar.h (binary files or DIR/train + DIR/test image folders);
// folder: DIR/train/<class>/... with DIR/test or DIR/val as the test split when present, or
// DIR/<class>/... alone; inat: DIR/train2018.json|train2017.json|train.json and
// val2018.json|val2017.json|val.json, file names relative to DIR.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "data/cifar.h"
#include "data/image_folder.h"
#include "data/inat.h"
#include "data/long_tail.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "train/cli_parse.h"
#include "train/report.h"

namespace {

namespace fs = std::filesystem;
using namespace cbnn;

struct Split {
    std::vector<std::string> class_names;
    std::vector<int64_t> labels;
    std::vector<std::string> names;  // subset-list names: paths relative to DIR, or "#index"
};

struct Inspection {
    std::string format, description;
    Split train;
    std::optional<Split> test;
    std::vector<std::string> bad_files;
};

Split from_dataset(const Dataset& d) {
    return {d.class_names, d.labels, image_names(d.files, d.size())};
}

Split from_list(const ImageList& l, const std::string& prefix) {
    Split s{l.class_names, l.labels, l.files};
    for (std::string& n : s.names) n = prefix + n;
    return s;
}

void add_bad(Inspection& out, const DecodeReport& report, const std::string& prefix) {
    for (const std::string& b : report.bad_files) out.bad_files.push_back(prefix + b);
}

Inspection inspect_cifar(const std::string& dir, int num_classes, const DecodeOptions& options) {
    Inspection out;
    const CifarLoad train = load_cifar(dir, true, num_classes, options);
    const CifarLoad test = load_cifar(dir, false, num_classes, options);
    out.format = "cifar" + std::to_string(num_classes) + "-" + to_string(train.format);
    out.description = train.description + "; " + test.description;
    out.train = from_dataset(train.dataset);
    out.test = from_dataset(test.dataset);
    add_bad(out, train.decode_report, "");
    add_bad(out, test.decode_report, "");
    return out;
}

// Lists root and checks every file's header; bad files are reported relative to DIR.
Split checked(const ImageList& listed, const std::string& prefix, const DecodeOptions& options,
              Inspection& out) {
    DecodeReport report;
    const ImageList list = check_image_headers(listed, options, &report);
    add_bad(out, report, prefix);
    return from_list(list, prefix);
}

Inspection inspect_folder(const std::string& dir, const DecodeOptions& options) {
    Inspection out;
    out.format = "image-folder";
    const fs::path d(dir);
    std::error_code ec;
    if (!fs::is_directory(d / "train", ec)) {
        out.train = checked(list_image_folder(dir), "", options, out);
        out.description = "image folder " + dir + " (one split: no train/ folder, no test set)";
        return out;
    }
    out.train = checked(list_image_folder((d / "train").string()), "train/", options, out);
    out.description = "image folder " + dir + ": train/";
    for (const char* test : {"test", "val"}) {
        if (!fs::is_directory(d / test, ec)) continue;
        out.test =
            checked(list_image_folder((d / test).string()), std::string(test) + "/", options, out);
        CBNN_CHECK(out.test->class_names == out.train.class_names, "image folder ", dir, ": ", test,
                   "/ has other class folders than train/");
        out.description += std::string(" and ") + test + "/";
        return out;
    }
    out.description += " (no test/ or val/ folder)";
    return out;
}

std::string first_existing(const fs::path& dir, std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (fs::is_regular_file(dir / n)) return (dir / n).string();
    return "";
}

Inspection inspect_inat(const std::string& dir, const DecodeOptions& options) {
    Inspection out;
    out.format = "inat";
    check_folder(dir, "iNat folder");
    const std::string train_json =
        first_existing(dir, {"train2018.json", "train2017.json", "train.json"});
    CBNN_CHECK(!train_json.empty(), "iNat folder ", dir,
               " has no train2018.json, train2017.json or train.json");
    out.train = checked(read_inat(train_json, dir), "", options, out);
    out.description = "iNaturalist annotations " + train_json;
    const std::string test_json = first_existing(dir, {"val2018.json", "val2017.json", "val.json"});
    if (!test_json.empty()) {
        out.test = checked(read_inat(test_json, dir), "", options, out);
        CBNN_CHECK(out.test->class_names == out.train.class_names, "iNat file ", test_json,
                   " has other categories than ", train_json);
        out.description += " and " + test_json;
    }
    return out;
}

std::vector<int64_t> counts(const Split& s) {
    std::vector<int64_t> c(s.class_names.size(), 0);
    for (int64_t y : s.labels) ++c[static_cast<size_t>(y)];
    return c;
}

Split take(const Split& s, const std::vector<int64_t>& indices) {
    Split out{s.class_names, {}, {}};
    for (int64_t i : indices) {
        out.labels.push_back(s.labels[static_cast<size_t>(i)]);
        out.names.push_back(s.names[static_cast<size_t>(i)]);
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string dataset, data, subset_list, write_list;
    std::optional<double> imbalance;
    uint64_t seed = 0;
    bool json = false;
    DecodeOptions options;
    CLI::App app{
        "cbnn-data: inspect a dataset (classes, per-class counts, long-tail subsets, bad "
        "images: CIFAR decoded in full; folder and inat only by each file's header, so an image "
        "whose data is damaged past a good header is found when a trainer decodes it)"};
    app.add_option("--dataset", dataset, "cifar10, cifar100, folder or inat")
        ->required()
        ->check(CLI::IsMember({"cifar10", "cifar100", "folder", "inat"}));
    app.add_option("--data", data, "the dataset folder")->required();
    auto* imb = cli::add_number(app, "--imbalance", imbalance,
                                "long-tail imbalance factor IF >= 1: class i keeps "
                                "int(n_max (1/IF)^(i/(C-1))) training images");
    auto* list = app.add_option("--subset-list", subset_list,
                                "keep the training images named in this file (one relative path "
                                "a line, as shared/data/cifar10-lt)");
    imb->excludes(list);
    cli::add_number(app, "--seed", seed,
                    "seed of the long-tail selection (NumPy legacy RandomState; 0 reproduces "
                    "shared/data/cifar10-lt)");
    app.add_option("--write-subset-list", write_list,
                   "write the training images kept, one a line, to this file");
    app.add_flag("--skip-bad-images", options.skip_bad_images,
                 "skip files that fail the check above (listed) instead of failing");
    cli::add_number(app, "--threads", options.threads, "decode threads (0: all cores)");
    app.add_flag("--json", json, "print JSON instead of a table");
    if (const std::optional<int> status = cli::parse(app, argc, argv)) return *status;

    try {
        Inspection in = dataset == "cifar10"    ? inspect_cifar(data, 10, options)
                        : dataset == "cifar100" ? inspect_cifar(data, 100, options)
                        : dataset == "folder"   ? inspect_folder(data, options)
                                                : inspect_inat(data, options);
        std::string subset = "none";
        if (imbalance) {
            const int64_t num_classes = static_cast<int64_t>(in.train.class_names.size());
            in.train =
                take(in.train, select_long_tail(in.train.labels, num_classes, *imbalance, seed));
            subset =
                "imbalance " + cbnn::detail::concat(*imbalance) + ", seed " + std::to_string(seed);
        } else if (!subset_list.empty()) {
            in.train = take(in.train, subset_indices(in.train.names, read_subset_list(subset_list),
                                                     subset_list));
            subset = "list " + subset_list;
        }
        if (!write_list.empty()) {
            std::vector<int64_t> all(in.train.names.size());
            for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
            write_subset_list(write_list, in.train.names, all);
        }
        const std::vector<int64_t> train_counts = counts(in.train);
        const std::vector<int64_t> test_counts =
            in.test ? counts(*in.test) : std::vector<int64_t>(in.train.class_names.size(), 0);
        const size_t test_size = in.test ? in.test->labels.size() : 0;
        if (json) {
            const nlohmann::json out = {
                {"classes", in.train.class_names},      {"train_counts", train_counts},
                {"test_counts", test_counts},           {"format", in.format},
                {"description", in.description},        {"subset", subset},
                {"train_size", in.train.labels.size()}, {"test_size", test_size},
                {"decode_errors", in.bad_files}};
            // Class folders and paths may be any bytes: what is not UTF-8 prints as U+FFFD.
            std::printf("%s\n", cbnn::train::json_text(out, -1).c_str());
        } else {
            std::printf("format: %s\n%s\nsubset: %s\n", in.format.c_str(), in.description.c_str(),
                        subset.c_str());
            std::printf("%6s  %-24s %8s %8s\n", "label", "class", "train", "test");
            for (size_t c = 0; c < train_counts.size(); ++c) {
                std::printf("%6zu  %-24s %8lld %8lld\n", c, in.train.class_names[c].c_str(),
                            static_cast<long long>(train_counts[c]),
                            static_cast<long long>(test_counts[c]));
            }
            std::printf("%6s  %-24s %8zu %8zu\n", "", "total", in.train.labels.size(), test_size);
            std::printf("decode errors: %zu\n", in.bad_files.size());
            for (const std::string& b : in.bad_files) std::printf("  %s\n", b.c_str());
        }
    } catch (const std::exception& e) {  // cbnn::Error, and anything else: one line, not an abort
        std::fprintf(stderr, "cbnn-data: %s\n", e.what());
        return 1;
    }
    return 0;
}
