# Sourced by the benchmarks that run PyTorch: PyTorch at its best on this
# machine.  OpenBLAS's Debian 12 build does not recognise the CPU without
# OPENBLAS_CORETYPE; glibc's malloc returns PyTorch's large buffers to the
# kernel after every step (mmap/munmap), and on this virtual machine the page
# faults of getting them back cost a 1-thread fp32 step 3.5x (53 against 188
# tokens/s): keep freed memory in the process instead.
TORCH_ENV="OPENBLAS_CORETYPE=SkylakeX MALLOC_MMAP_THRESHOLD_=4294967296
MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824"
