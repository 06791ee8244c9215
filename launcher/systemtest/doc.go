// Package systemtest runs the launchers against the real systems CI
// installs with scripts/ci (mpiexec, Slurm, Slurm's PBS wrappers, SGE,
// sshd, network namespaces). Its tests run only with PXSH_SYSTEM_TESTS=1
// and skip, saying why, when a tool is missing.
package systemtest
