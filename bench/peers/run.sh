#!/usr/bin/env bash
# Measures the peers of the softgrad kernels on this machine, on one thread
# (or -threads N):
# oneDNN (softmax, log-softmax, softmax backward; capped at AVX2, then at the
# best ISA the CPU runs), OpenBLAS (sger; sgemm for GerBatch and Gemm) and
# PyTorch, printing Go benchmark lines on stdout for benchstat.
#
#   bash bench/peers/run.sh [-count N] [-benchtime S] [-large] [-no-torch] [-threads N] | tee peers.txt
#
# -count N runs N rounds; each round runs every program once, every case
# once, so that a drift of the machine's speed spreads over all cases.
# -threads N runs oneDNN and OpenBLAS on N threads, their cases named
# .../threads=N as softgrad's are (PyTorch is then left out).
# Installs its Debian packages when missing (root, or sudo). Runs from any
# directory; builds peers.c into a temporary directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
count=1
benchtime=0.2
large=()
torch=1
threads=1
usage() {
	echo "usage: $0 [-count N] [-benchtime SECONDS] [-large] [-no-torch] [-threads N]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "${1#-}" in
	count | -count) count=${2:?}; shift ;;
	count=* | -count=*) count=${1#*=} ;;
	benchtime | -benchtime) benchtime=${2:?}; shift ;;
	benchtime=* | -benchtime=*) benchtime=${1#*=} ;;
	large | -large) large=(-large) ;;
	no-torch | -no-torch) torch=0 ;;
	threads | -threads) threads=${2:?}; shift ;;
	threads=* | -threads=*) threads=${1#*=} ;;
	*) usage ;;
	esac
	shift
done
[[ $count =~ ^[1-9][0-9]*$ ]] || usage
[[ $threads =~ ^[1-9][0-9]*$ ]] || usage
[ "$threads" = 1 ] || torch=0

# ---- packages ----
apt_install() {
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get install -y -qq "$@" >&2 ||
		{ "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq "$@" >&2; }
}
missing() {
	local p out=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out+=("$p")
	done
	echo "${out[@]}"
}
need=$(missing gcc libc6-dev libdnnl-dev libopenblas-dev)
[ -z "$need" ] || apt_install $need
if [ $torch = 1 ]; then
	need=$(missing python3 python3-torch python3-numpy)
	if [ -n "$need" ] && ! apt_install $need; then
		echo "run.sh: could not install $need; skipping PyTorch" >&2
		torch=0
	fi
fi

# ---- build ----
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cblas=$(ls /usr/include/*/openblas-pthread/cblas.h /usr/include/*/openblas*/cblas.h /usr/include/openblas/cblas.h 2>/dev/null | head -n1 || true)
[ -n "$cblas" ] || { echo "run.sh: OpenBLAS's cblas.h not found" >&2; exit 1; }
gcc -O2 -fopenmp -I"$(dirname "$cblas")" "$here/peers.c" -o "$tmp/peers" -ldnnl -lopenblas -lm

# ---- run ----
# One thread everywhere (or -threads): OpenMP (oneDNN, PyTorch), OpenBLAS's
# own pool (it would start one idle thread per CPU otherwise); the programs
# also set it.
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
unset ONEDNN_MAX_CPU_ISA DNNL_MAX_CPU_ISA ATEN_CPU_CAPABILITY
avx512=0
grep -qw avx512f /proc/cpuinfo && avx512=1
# peers runs without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which an
# environment may set for other programs: OpenBLAS then picks its kernels
# and block sizes for this CPU, as it does for a user. peers prints the
# core it picked.
peers() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$tmp/peers" -threads "$threads" "$@"; }
for ((r = 1; r <= count; r++)); do
	# oneDNN capped at AVX2 (only where the default would be AVX-512):
	# impl=onednn-avx2, its oneDNN cases only.
	if [ $avx512 = 1 ]; then
		ONEDNN_MAX_CPU_ISA=AVX2 peers -count 1 -benchtime "$benchtime" "${large[@]}" -run 'impl=onednn'
	fi
	# oneDNN at its default ISA (impl=onednn-avx512 here), memcpy, OpenBLAS.
	peers -count 1 -benchtime "$benchtime" "${large[@]}"
	if [ $torch = 1 ]; then
		# PyTorch with its default kernels (impl=pytorch), then with its
		# AVX-512 ones (impl=pytorch-avx512), which 1.13 does not pick by itself.
		/usr/bin/python3 "$here/torch_peers.py" -count 1 -benchtime "$benchtime"
		if [ $avx512 = 1 ]; then
			ATEN_CPU_CAPABILITY=avx512 /usr/bin/python3 "$here/torch_peers.py" -count 1 -benchtime "$benchtime"
		fi
	fi
done
