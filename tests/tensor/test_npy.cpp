// .npy reading and writing: round trips, files laid out by hand exactly as NumPy writes them, and
// every malformed file the tools may be given.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tensor/npy.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

class NpyTest : public ::testing::Test {
  protected:
    std::string path(const std::string& name) { return testing::scratch_path("npy", name); }
    // magic, version 1.0, little-endian header length, header text padded as NumPy pads it.
    std::string write_raw(const std::string& name, const std::string& dict, const std::string& data,
                          char major = 1) {
        std::string header = dict;
        const size_t prefix = major == 1 ? 10 : 12;
        header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
        header += '\n';
        std::string bytes = std::string("\x93NUMPY", 6) + major + '\0';
        bytes += static_cast<char>(header.size() & 0xff);
        bytes += static_cast<char>(header.size() >> 8);
        if (major != 1) bytes += std::string(2, '\0');
        bytes += header + data;
        const std::string p = path(name);
        std::ofstream(p, std::ios::binary) << bytes;
        return p;
    }
    static std::string floats(std::initializer_list<float> v) {
        return std::string(reinterpret_cast<const char*>(std::data(v)), v.size() * sizeof(float));
    }
    void expect_error(const std::string& file, const std::string& fragment) {
        try {
            read_npy(file);
            FAIL() << "expected an error containing '" << fragment << "'";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
        }
    }
};

TEST_F(NpyTest, ReadsAFileLaidOutAsNumpyWritesIt) {
    const std::string p =
        write_raw("f4.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                  floats({1, 2, 3, 4, 5, 6}));
    const Tensor t = read_npy(p);
    EXPECT_EQ(t.shape(), (Shape{2, 3}));
    EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST_F(NpyTest, WidensInt32LabelsToInt64AndReadsVersion2Headers) {
    const int32_t labels[3] = {0, 7, -2};
    const std::string p =
        write_raw("i4.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
                  std::string(reinterpret_cast<const char*>(labels), 12), 2);
    const Tensor t = read_npy(p);
    EXPECT_EQ(t.dtype(), DType::i64);
    EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{0, 7, -2}));
}

TEST_F(NpyTest, RoundTripsEveryDtypeAndShape) {
    const std::vector<Tensor> tensors = {
        Tensor::from_vector<float>({1.5f, -2.f}, {2}),
        Tensor::from_vector<double>({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {3, 2}),
        Tensor::from_vector<int64_t>({-1, 1LL << 50}, {2, 1}),
        Tensor::from_vector<uint8_t>({9}, {}), Tensor::zeros({0, 4})};
    for (size_t i = 0; i < tensors.size(); ++i) {
        const std::string p = path("round" + std::to_string(i) + ".npy");
        write_npy(p, tensors[i]);
        const Tensor back = read_npy(p);
        EXPECT_EQ(back.shape(), tensors[i].shape()) << i;
        EXPECT_EQ(back.dtype(), tensors[i].dtype()) << i;
        EXPECT_EQ(std::filesystem::file_size(p) % 64, tensors[i].nbytes() % 64)
            << "header not 64-aligned";
        EXPECT_EQ(back.to(DType::f64).to_vector<double>(),
                  tensors[i].to(DType::f64).to_vector<double>());
    }
}

TEST_F(NpyTest, WritesTransposedViewsInLogicalOrder) {
    const Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).t();
    write_npy(path("t.npy"), t);
    EXPECT_EQ(read_npy(path("t.npy")).to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST_F(NpyTest, RejectsMalformedFilesWithTheReason) {
    expect_error(path("missing.npy"), "cannot open");
    const std::string text = path("text.npy");
    std::ofstream(text) << "hello, world";
    expect_error(text, "not a .npy file");
    expect_error(
        write_raw("fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                  floats({1, 2, 3, 4, 5, 6})),
        "Fortran-order");
    expect_error(write_raw("big.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
                           floats({1})),
                 "big-endian");
    expect_error(write_raw("f2.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
                           floats({1})),
                 "unsupported .npy dtype <f2");
    expect_error(
        write_raw("short.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                  floats({1, 2, 3, 4, 5})),
        "file truncated");
    expect_error(write_raw("long.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                           floats({1, 2, 3})),
                 "trailing bytes");
    expect_error(
        write_raw("noshape.npy", "{'descr': '<f4', 'fortran_order': False, }", floats({1})),
        "no 'shape' entry");
    expect_error(
        write_raw("badshape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }",
                  floats({1, 2})),
        "bad dimension");
}

TEST_F(NpyTest, UnwritablePathIsAClearError) {
    EXPECT_THROW(write_npy("/nonexistent-dir/x.npy", Tensor::zeros({1})), Error);
}

}  // namespace
}  // namespace cbnn
