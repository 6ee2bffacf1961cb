// MPI for the data-parallel run (contract in ranks.h).
#include "dist/ranks.h"

#include "support/text.h"

#include <malloc.h>
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace vaec::rt::dist {
namespace {

// Refusals agree on a communicator of their own, so that a rank waiting
// there never meets another rank's collective on MPI_COMM_WORLD.
MPI_Comm refusals = MPI_COMM_NULL;

}  // namespace

Ranks &Ranks::world() {
  static Ranks ranks;
  return ranks;
}

Ranks::Ranks() {
  if (!std::getenv("OMPI_COMM_WORLD_SIZE") && !std::getenv("PMIX_RANK")) return;
  int provided = 0;
  // Only the main thread calls MPI; the OpenMP threads never do.
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  joined_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  // OpenMPI's non-blocking allreduce copies each bucket into a scratch buffer
  // it mallocs per call; glibc maps such buffers fresh and unmaps them at
  // free, so every step faulted its megabytes in again (docs/DISTRIBUTED.md).
  if (many()) {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    MPI_Comm_dup(MPI_COMM_WORLD, &refusals);
  }
}

void Ranks::finish(int status) {
  if (!joined_) return;
  if (status == 1 && many() && !refused_together_) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Finalize();
  joined_ = false;
}

int Ranks::refuse(const std::string &message) {
  if (rank_ == 0) print_message(message);
  if (!joined_ || !many()) return 1;
  // Every rank refusing here means every rank is here: then none ends (and
  // has mpirun end the job) before rank 0 has said why. A rank that went on
  // instead (started with other options) would leave the others waiting:
  // after a while each says why itself and ends the job.
  MPI_Request all_here;
  MPI_Ibarrier(refusals, &all_here);
  int done = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (MPI_Test(&all_here, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  refused_together_ = done != 0;
  if (!refused_together_ && rank_ != 0) print_message(message);
  return 1;
}

void Ranks::sum(double *values, int count) const {
  if (many()) MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void Ranks::broadcast(void *data, size_t bytes) const {
  if (!many()) return;
  auto *p = static_cast<char *>(data);
  for (size_t done = 0; done < bytes;) {  // MPI counts are ints
    const int n = static_cast<int>(std::min<size_t>(bytes - done, INT_MAX / 2));
    MPI_Bcast(p + done, n, MPI_BYTE, 0, MPI_COMM_WORLD);
    done += static_cast<size_t>(n);
  }
}

std::vector<uint64_t> Ranks::gather(const std::vector<uint64_t> &values) const {
  if (!many()) return values;
  std::vector<uint64_t> all(values.size() * static_cast<size_t>(size_));
  MPI_Allgather(values.data(), static_cast<int>(values.size()), MPI_UINT64_T, all.data(),
                static_cast<int>(values.size()), MPI_UINT64_T, MPI_COMM_WORLD);
  return all;
}

void Ranks::start_sum(float *values, int64_t count) {
  if (!many()) return;
  if (count > INT_MAX) throw std::runtime_error("a gradient bucket of more than 2^31 floats");
  auto *request = new MPI_Request;
  MPI_Iallreduce(MPI_IN_PLACE, values, static_cast<int>(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, request);
  requests_.push_back(request);
}

void Ranks::test() {
  for (void *r : requests_) {
    int done = 0;
    MPI_Test(static_cast<MPI_Request *>(r), &done, MPI_STATUS_IGNORE);
  }
}

void Ranks::wait_all() {
  for (void *r : requests_) {
    MPI_Wait(static_cast<MPI_Request *>(r), MPI_STATUS_IGNORE);
    delete static_cast<MPI_Request *>(r);
  }
  requests_.clear();
}

}  // namespace vaec::rt::dist
