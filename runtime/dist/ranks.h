// The processes of a data-parallel run: `mpirun -np N DIR/train` starts N
// ranks of one training (runtime/README.md, "Several processes"). A trainer
// started without mpirun is one rank and never touches MPI, so the main job
// stays a plain single process.
//
// Each global batch is cut into N contiguous shares of its rows, rank r
// taking [n r / N, n (r + 1) / N): shares differ by at most one row and a
// batch smaller than N leaves some ranks without rows (they add zeros).
// Collectives use MPI_COMM_WORLD with MPI's default error handler: a rank
// that dies ends the job (mpirun kills the others and says which rank died).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vaec::rt::dist {

class Ranks {
 public:
  // The run's ranks; the first call joins MPI when mpirun started this
  // process (OMPI_COMM_WORLD_SIZE or PMIX_RANK in the environment).
  static Ranks &world();
  // Leaves MPI: at the end of main (status 0 or a signal's, the same on
  // every rank), or ending every rank's run at once (status 1: one rank
  // failed alone), unless every rank refused alike (refuse()). A single
  // process just returns.
  void finish(int status);
  // A refusal every rank reaches alike, before any collective, from what
  // they share (the plan, the command line): rank 0 says why, the others
  // say nothing, all wait for each other, and finish(1) then leaves MPI as
  // at a normal end rather than aborting, so the message is said once and
  // not cut short. Should some rank not come (started with other options),
  // the others give up waiting after 10 s, each says why and finish(1)
  // aborts the job. Returns 1.
  int refuse(const std::string &message);

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool many() const { return size_ > 1; }
  // This rank's rows [first, end) of a batch of n.
  std::pair<int64_t, int64_t> share(int64_t n) const { return share_of(n, rank_); }
  std::pair<int64_t, int64_t> share_of(int64_t n, int rank) const {
    return {n * rank / size_, n * (rank + 1) / size_};
  }

  // Blocking collectives over every rank (no-ops for one rank).
  void sum(double *values, int count) const;
  void broadcast(void *data, size_t bytes) const;  // from rank 0
  // Every rank's `values` (the same count on each), rank by rank.
  std::vector<uint64_t> gather(const std::vector<uint64_t> &values) const;

  // Non-blocking sums of floats in place; wait_all() completes them, test()
  // lets MPI progress them meanwhile.
  void start_sum(float *values, int64_t count);
  void test();
  void wait_all();

 private:
  Ranks();
  int rank_ = 0, size_ = 1;
  bool joined_ = false, refused_together_ = false;
  std::vector<void *> requests_;  // MPI_Request, kept opaque here
};

}  // namespace vaec::rt::dist
