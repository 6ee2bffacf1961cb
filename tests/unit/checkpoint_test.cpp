// Checkpoint files: round trip, refusal of damaged files and of other
// models' checkpoints with their messages, and crash safety under kill -9.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "train/checkpoint.h"

namespace vaec::rt {
namespace {

std::string temp_path(const std::string &name) { return ::testing::TempDir() + "/" + name; }

std::string read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The temporary files beside `path` (support/files.h: `path`.tmp.XXXXXX).
int temporaries(const std::string &path, bool remove = false) {
  const std::filesystem::path p(path);
  int n = 0;
  for (const auto &e : std::filesystem::directory_iterator(p.parent_path()))
    if (e.path().filename().string().rfind(p.filename().string() + ".tmp.", 0) == 0) {
      ++n;
      if (remove) std::filesystem::remove(e.path());
    }
  return n;
}

// Re-seals a file whose bytes were edited: length and checksum made right
// again, so the reader's later checks are reached.
std::string reseal(std::string bytes) {
  const uint64_t length = bytes.size();
  std::memcpy(bytes.data() + 16, &length, 8);
  const uint64_t sum = fnv1a64(bytes.data(), bytes.size() - 8);
  std::memcpy(bytes.data() + bytes.size() - 8, &sum, 8);
  return bytes;
}

// A plan of `c`'s model, at `batch`: one parameter "w" [param_count] at the
// start of the parameter region, Adam's two state regions, and batch-dependent
// buffers before and after the parameters.
plan::Plan plan_for(const Checkpoint &c, int64_t batch = 64) {
  plan::Plan p;
  p.model = c.model;
  p.config = {{"batch", std::to_string(batch)}, {"optimizer", "adam"}, {"lr", "0.001"}};
  p.buffers = {{"x", plan::DType::U8, batch * 784, 0},
               {"params", plan::DType::F32, c.param_count, batch * 784},
               {"w", plan::DType::F32, c.param_count, batch * 784},
               {"h", plan::DType::F32, batch * 400, batch * 784 + c.param_count * 4}};
  plan::Param w;
  w.name = "w";
  w.buffer = 2;
  w.dims = {c.param_count};
  w.init_bound = 0.1;
  p.params = {w};
  p.param_count = c.param_count;
  p.param_region = 1;
  p.state_regions = {1, 2};
  p.optimizer_kernel = "adam";
  p.train.batch = batch;
  return p;
}

// A checkpoint whose every value depends on `epoch`, so a reader can tell
// a torn mix of two checkpoints from either of them.
Checkpoint make_checkpoint(int64_t params, int64_t epoch) {
  Checkpoint c;
  c.model = "tiny";
  c.epoch = epoch;
  c.epoch_step = 7;
  c.global_step = 468 * epoch + 7;
  c.seed = 0xfedcba9876543210ull;
  c.lr = 1e-3;
  c.threads = 2;
  c.param_count = params;
  c.batch = 64;
  for (int r = 0; r < 3; ++r) {
    std::vector<float> &region = c.regions.emplace_back(params);
    for (int64_t i = 0; i < params; ++i) region[i] = static_cast<float>(epoch * 1000 + r) + static_cast<float>(i % 97) / 97;
  }
  c.history.names = {"total", "recon", "kl"};
  for (int64_t e = 1; e <= epoch; ++e) c.history.rows.push_back({e, {3.0 * e, 2.0 * e, 1.0 * e}, {3.5, 2.5, NAN}});
  c.epoch_sums = {1.5, -2.25, 1e300};
  c.data_mean = {0.25f, -1.5f};
  c.data_std = {2.0f, 0.125f};
  c.model_hash = model_identity(plan_for(c));
  return c;
}

// The trainer writes its regions in place (region_views): the same bytes as
// from copies.
TEST(Checkpoint, RegionViewsWriteTheSameBytesAsCopies) {
  const Checkpoint c = make_checkpoint(1000, 3);
  Checkpoint v = make_checkpoint(1000, 3);
  const std::vector<std::vector<float>> held = std::move(v.regions);
  v.regions.clear();
  for (const std::vector<float> &r : held) v.region_views.push_back(r.data());
  const std::string copies = temp_path("copies.bin"), views = temp_path("views.bin");
  std::string error;
  ASSERT_TRUE(write_checkpoint(copies, c, error)) << error;
  ASSERT_TRUE(write_checkpoint(views, v, error)) << error;
  EXPECT_EQ(read_bytes(views), read_bytes(copies));
  EXPECT_EQ(std::filesystem::file_size(views), std::filesystem::file_size(copies));
}

TEST(Checkpoint, RoundTrip) {
  const Checkpoint c = make_checkpoint(1000, 3);
  const std::string path = temp_path("round_trip.bin");
  std::string error;
  ASSERT_TRUE(write_checkpoint(path, c, error)) << error;
  EXPECT_EQ(temporaries(path), 0);
  const size_t names = 4 + (4 + 5) + (4 + 5) + (4 + 2), rows = 4 + 3 * (8 + 6 * 8), sums = 4 + 3 * 8,
               stats = 4 + 2 * 2 * 4;
  EXPECT_EQ(std::filesystem::file_size(path), 100 + 4 /* "tiny" */ + 3 * 1000 * 4 + names + rows + sums + stats + 4 /* running statistics */ + 8);
  Checkpoint back;
  ASSERT_TRUE(read_checkpoint(path, back, error)) << error;
  EXPECT_EQ(back.model_hash, c.model_hash);
  EXPECT_EQ(back.model, "tiny");
  EXPECT_EQ(back.epoch, 3);
  EXPECT_EQ(back.epoch_step, 7);
  EXPECT_EQ(back.global_step, c.global_step);
  EXPECT_EQ(back.seed, c.seed);
  EXPECT_EQ(back.lr, 1e-3);
  EXPECT_EQ(back.threads, 2u);
  EXPECT_EQ(back.param_count, 1000);
  EXPECT_EQ(back.batch, 64);
  EXPECT_EQ(back.regions, c.regions);
  EXPECT_EQ(back.history.names, c.history.names);
  ASSERT_EQ(back.history.rows.size(), 3u);
  EXPECT_EQ(back.history.rows[2].epoch, 3);
  EXPECT_EQ(back.history.rows[2].train, c.history.rows[2].train);
  EXPECT_TRUE(std::isnan(back.history.rows[2].test[2]));
  EXPECT_EQ(back.epoch_sums, c.epoch_sums);
  EXPECT_EQ(back.data_mean, c.data_mean);
  EXPECT_EQ(back.data_std, c.data_std);
  EXPECT_TRUE(checkpoint_fits(back, path, c.model_hash, plan_for(c), error)) << error;
  // The same state gives the same bytes.
  ASSERT_TRUE(write_checkpoint(temp_path("round_trip2.bin"), back, error)) << error;
  EXPECT_EQ(read_bytes(temp_path("round_trip2.bin")), read_bytes(path));
}

TEST(Checkpoint, DamagedFilesAreRefusedWithMessages) {
  const std::string good_path = temp_path("good.bin"), path = temp_path("damaged.bin");
  std::string error;
  ASSERT_TRUE(write_checkpoint(good_path, make_checkpoint(100, 2), error)) << error;
  const std::string good = read_bytes(good_path);
  Checkpoint out;
  auto refused = [&](const std::string &bytes) {
    write_bytes(path, bytes);
    return read_checkpoint(path, out, error) ? std::string("accepted") : error;
  };
  EXPECT_EQ(refused(good.substr(0, good.size() - 100)),
            path + ": truncated: " + std::to_string(good.size() - 100) + " bytes of the " + std::to_string(good.size()) +
                " it should have");
  EXPECT_EQ(refused(good.substr(0, 50)), path + ": truncated: 50 bytes, shorter than the header");
  EXPECT_EQ(refused(""), path + ": not a vaec checkpoint (it does not start with VAECKPT)");
  EXPECT_EQ(refused("PK\x03\x04 a zip file, say"), path + ": not a vaec checkpoint (it does not start with VAECKPT)");
  EXPECT_EQ(refused(good + "abc"), path + ": damaged: 3 bytes after its end");
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x10;  // one bit in the parameters
  EXPECT_EQ(refused(flipped), path + ": corrupt: the checksum does not match its contents");
  std::string version = good;
  version[8] = 1;
  EXPECT_EQ(refused(version), path + ": checkpoint format version 1; this trainer reads versions 2 to 4");
  EXPECT_FALSE(read_checkpoint(temp_path("nowhere.bin"), out, error));
  EXPECT_EQ(error, temp_path("nowhere.bin") + ": cannot open: No such file or directory");

  // Intact checksum, nonsense inside.
  std::string huge = good;
  const int64_t count = int64_t{1} << 40;
  std::memcpy(huge.data() + 80, &count, 8);
  EXPECT_EQ(refused(reseal(huge)), path + ": malformed: 3 regions of 1099511627776 values do not fit in the file");
  std::string negative = good;
  const int64_t minus = -1;
  std::memcpy(negative.data() + 32, &minus, 8);
  EXPECT_EQ(refused(reseal(negative)), path + ": malformed: negative epoch count");
  std::string name = good;
  const uint32_t long_name = 1u << 30;
  std::memcpy(name.data() + 96, &long_name, 4);
  EXPECT_EQ(refused(reseal(name)), path + ": malformed: the header runs past the end");
  std::string batch = good;
  const int64_t zero = 0;
  std::memcpy(batch.data() + 88, &zero, 8);
  EXPECT_EQ(refused(reseal(batch)), path + ": malformed: batch 0");
}

// Random edits and cuts, sealed again so they pass the checksum: the reader
// must answer (yes or a message) without crashing or allocating wildly.
TEST(Checkpoint, MutatedFilesNeverCrashTheReader) {
  std::string error;
  ASSERT_TRUE(write_checkpoint(temp_path("seed.bin"), make_checkpoint(10, 2), error)) << error;
  const std::string good = read_bytes(temp_path("seed.bin"));
  std::mt19937_64 rng(7);
  const std::string path = temp_path("mutated.bin");
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = good;
    if (round % 3 == 0) bytes.resize(24 + rng() % (bytes.size() - 24));
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && bytes.size() > 32; ++e) bytes[16 + 8 + rng() % (bytes.size() - 32)] = static_cast<char>(rng());
    write_bytes(path, bytes.size() >= 32 ? reseal(bytes) : bytes);
    Checkpoint out;
    if (read_checkpoint(path, out, error)) {
      ++accepted;
      EXPECT_LE(out.regions.size() * out.param_count * 4, bytes.size());
    } else {
      EXPECT_FALSE(error.empty());
    }
  }
  EXPECT_GT(accepted, 0);  // edits to the parameters still read fine
}

TEST(Checkpoint, OtherModelsAreRefusedByName) {
  const Checkpoint c = make_checkpoint(100, 1);
  std::string error;
  plan::Plan other = plan_for(c);
  other.model = "mnist_conv";
  EXPECT_FALSE(checkpoint_fits(c, "out/checkpoint.bin", c.model_hash, other, error));
  EXPECT_EQ(error, "out/checkpoint.bin is a checkpoint of model 'tiny', not of 'mnist_conv', which this trainer trains");
  plan::Plan wider = plan_for(c);
  wider.params[0].dims = {c.param_count / 2, 2};  // same bytes, other meaning
  const uint64_t other_hash = model_identity(wider);
  EXPECT_FALSE(checkpoint_fits(c, "out/checkpoint.bin", other_hash, wider, error));
  EXPECT_EQ(error, "out/checkpoint.bin was written by another compilation of model 'tiny' (model hash " +
                       [&] {
                         char buf[24];
                         std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)c.model_hash);
                         return std::string(buf);
                       }() +
                       ", this trainer's is " +
                       [&] {
                         char buf[24];
                         std::snprintf(buf, sizeof buf, "%016llx",
                                       (unsigned long long)other_hash);
                         return std::string(buf);
                       }() +
                       "): its parameters, optimizer or train settings differ; resume with the trainer that wrote it");
  plan::Plan fewer = plan_for(c);
  fewer.state_regions = {1};
  EXPECT_FALSE(checkpoint_fits(c, "x.bin", c.model_hash, fewer, error));
  EXPECT_EQ(error, "x.bin: its 3 regions of 100 values do not fit this model's 2 of 100");
}

// The identity is the model's, not the batch's or the machine's: a
// checkpoint of one batch fits the plan of any other, but not a plan whose
// parameters, optimizer or settings differ.
TEST(Checkpoint, IdentityIgnoresTheBatchOnly) {
  const Checkpoint c = make_checkpoint(100, 1);
  const plan::Plan at64 = plan_for(c, 64), at7 = plan_for(c, 7);
  EXPECT_EQ(model_identity(at64), model_identity(at7));
  // Nor the machine: another CPU's compilation resumes it.
  plan::Plan elsewhere = at64;
  elsewhere.config["cpu_features"] = "avx avx2 avx512f amx-bf16";
  EXPECT_EQ(model_identity(elsewhere), model_identity(at64));
  std::string error;
  EXPECT_TRUE(checkpoint_fits(c, "x.bin", model_identity(at7), at7, error)) << error;
  auto differs = [&](auto change) {
    plan::Plan p = at64;
    change(p);
    return model_identity(p) != model_identity(at64);
  };
  EXPECT_TRUE(differs([](plan::Plan &p) { p.model = "tiny2"; }));
  EXPECT_TRUE(differs([](plan::Plan &p) { p.config["optimizer"] = "sgd"; }));
  EXPECT_TRUE(differs([](plan::Plan &p) { p.config["lr"] = "0.002"; }));
  EXPECT_TRUE(differs([](plan::Plan &p) { p.params[0].name = "v"; }));
  EXPECT_TRUE(differs([](plan::Plan &p) { p.params[0].dims = {50, 2}; }));
  EXPECT_TRUE(differs([](plan::Plan &p) { p.buffers[2].offset += 4; }));  // moved within the region
  EXPECT_TRUE(differs([](plan::Plan &p) { p.state_regions = {1}; }));
  EXPECT_TRUE(differs([](plan::Plan &p) { p.optimizer_kernel = "rmsprop"; }));
  EXPECT_FALSE(differs([](plan::Plan &p) { p.buffers[3].elements *= 3; }));  // a batch-dependent buffer
}

TEST(Checkpoint, AFailedWriteLeavesThePreviousOne) {
  const std::string dir = temp_path("failed_write");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/checkpoint.bin";
  std::string error;
  ASSERT_TRUE(write_checkpoint(path, make_checkpoint(50, 1), error)) << error;
  // A full disk, as a file size limit: in a child, with SIGXFSZ ignored so
  // the write fails with EFBIG instead of killing it.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{100, 100};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::string child_error;
    const bool failed = !write_checkpoint(path, make_checkpoint(50, 2), child_error) &&
                        child_error == path + ": cannot write: File too large";
    _exit(failed ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the write did not fail as expected";
  EXPECT_EQ(temporaries(path), 0);
  Checkpoint out;
  ASSERT_TRUE(read_checkpoint(path, out, error)) << error;
  EXPECT_EQ(out.epoch, 1);
  EXPECT_FALSE(write_checkpoint(dir + "/missing/checkpoint.bin", make_checkpoint(50, 2), error));
  EXPECT_EQ(error, dir + "/missing/checkpoint.bin: cannot create a temporary file beside it: No such file or directory");
  Checkpoint bad = make_checkpoint(50, 2);
  bad.regions[1].resize(49);
  EXPECT_FALSE(write_checkpoint(path, bad, error));
  EXPECT_EQ(error, path + ": not written: a region has 49 values, not 50");
}

// A symlink planted where the old fixed temporary name was, or at the
// checkpoint itself, never leads the write to its target.
TEST(Checkpoint, WritesNeverFollowAPlantedSymlink) {
  const std::string dir = temp_path("planted");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/checkpoint.bin", victim = dir + "/victim";
  write_bytes(victim, "precious");
  std::filesystem::create_symlink(victim, path + ".tmp");
  std::string error;
  ASSERT_TRUE(write_checkpoint(path, make_checkpoint(50, 1), error)) << error;
  EXPECT_EQ(read_bytes(victim), "precious");
  std::filesystem::remove(path);
  std::filesystem::create_symlink(victim, path);
  ASSERT_TRUE(write_checkpoint(path, make_checkpoint(50, 2), error)) << error;
  EXPECT_EQ(read_bytes(victim), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(path));
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::owner_read,
            std::filesystem::perms::owner_read);
}

// What is not a regular file is refused by its type, before reading; a
// header whose length is not the file's is refused before allocating it.
TEST(Checkpoint, RefusesWhatIsNotAFileAndLyingLengths) {
  const std::string dir = temp_path("not_a_file");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Checkpoint out;
  std::string error;
  EXPECT_FALSE(read_checkpoint(dir, out, error));
  EXPECT_EQ(error, dir + ": is a directory, not a checkpoint");
  EXPECT_FALSE(read_checkpoint("/dev/zero", out, error));
  EXPECT_EQ(error, "/dev/zero: is a character device, not a checkpoint");
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_FALSE(read_checkpoint(fifo, out, error));  // returns at once: no writer is waited for
  EXPECT_EQ(error, fifo + ": is a FIFO (a named pipe), not a checkpoint");
  const std::string path = dir + "/huge.bin";
  ASSERT_TRUE(write_checkpoint(path, make_checkpoint(10, 1), error)) << error;
  std::string bytes = read_bytes(path);
  const uint64_t huge = uint64_t{1} << 62;
  std::memcpy(bytes.data() + 16, &huge, 8);
  write_bytes(path, bytes);
  EXPECT_FALSE(read_checkpoint(path, out, error));
  EXPECT_EQ(error, path + ": truncated: " + std::to_string(bytes.size()) + " bytes of the " + std::to_string(huge) +
                       " it should have");
}

// kill -9 at random moments of a loop that keeps replacing the checkpoint:
// afterwards the file always loads, whole, as one of the checkpoints
// written (never older than one seen before).
TEST(Checkpoint, SurvivesKillMinusNineAtAnyMoment) {
  const std::string dir = temp_path("kill9");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/checkpoint.bin";
  constexpr int64_t kParams = 1 << 19;  // 6 MiB a file: writes take long enough to be hit
  std::string error;
  // Kills come at random within four times what one write takes here (the
  // machine may be busy), so some land mid-write and some after a few.
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(write_checkpoint(path, make_checkpoint(kParams, 1), error)) << error;
  const int64_t write_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - before).count();
  std::mt19937 rng(2024);
  int64_t last_epoch = 1;
  int torn_writes = 0, rounds_with_progress = 0;
  // At least 30 rounds, more (up to 300, with wider windows) until both a
  // torn write and a completed one were seen: a busy machine can delay the
  // child past many short windows.
  for (int round = 0; round < 300 && (round < 30 || torn_writes == 0 || rounds_with_progress == 0); ++round) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::string child_error;
      for (int64_t epoch = last_epoch + 1;; ++epoch)
        if (!write_checkpoint(path, make_checkpoint(kParams, epoch), child_error)) _exit(3);
    }
    ::usleep(static_cast<useconds_t>(rng() % (4 * write_us * (1 + round / 30) + 1)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer exited on its own: " << status;
    if (temporaries(path, true) > 0) ++torn_writes;  // killed between creating and renaming it
    Checkpoint out;
    ASSERT_TRUE(read_checkpoint(path, out, error)) << "round " << round << ": " << error;
    ASSERT_GE(out.epoch, last_epoch);
    const Checkpoint expected = make_checkpoint(kParams, out.epoch);
    ASSERT_EQ(out.regions, expected.regions) << "round " << round;
    ASSERT_EQ(out.global_step, expected.global_step);
    rounds_with_progress += out.epoch > last_epoch;
    last_epoch = out.epoch;
  }
  // The kills did land in the middle of writes, and writes did complete.
  EXPECT_GT(torn_writes, 0);
  EXPECT_GT(rounds_with_progress, 0);
}

}  // namespace
}  // namespace vaec::rt
