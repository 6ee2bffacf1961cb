// allreduce_time FLOATS [REPEATS]: the median time of an MPI_Allreduce (sum)
// of FLOATS floats over the ranks mpirun started, in microseconds, printed
// by rank 0 (bench/mpi.sh; built there with mpicxx).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const long n = argc > 1 ? std::atol(argv[1]) : 1;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 200;
  std::vector<float> v(std::max(1L, n), 1.0f);
  std::vector<double> times;
  for (int i = 0; i < repeats + 10; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (i >= 10) times.push_back(MPI_Wtime() - t);  // the first ones set connections up
  }
  std::sort(times.begin(), times.end());
  if (rank == 0) std::printf("%.1f\n", 1e6 * times[times.size() / 2]);
  MPI_Finalize();
  return 0;
}
